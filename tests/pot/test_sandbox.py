"""Functional tests of the PoT sandbox: answers, errors, order, timeouts, respawn."""

from __future__ import annotations

import dataclasses
import os
import signal
import time

import pytest

from verticalize.errors import SandboxError
from verticalize.pot import ExecResult, PythonSandbox, pot_prompt
from verticalize.pot.prompts import POT_DOMAINS, POT_EXAMPLES, POT_LANGS


@pytest.fixture(scope="module")
def sb():
    with PythonSandbox(timeout_s=2.0, memory_mb=256, workers=2) as box:
        yield box


def test_answer_binding(sb):
    r = sb.run("x = 1.5 * 4\nanswer = round(x, 2)")
    assert isinstance(r, ExecResult)
    assert (r.status, r.answer, r.error) == ("ok", 6.0, None)
    assert r.duration_s > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.status = "error"  # type: ignore[misc]


def test_print_fallback_and_stdout(sb):
    r = sb.run("print('working...')\nprint(6 * 7)\nprint()")
    assert r.status == "ok" and r.answer == 42
    assert r.stdout == "working...\n42\n\n"
    assert sb.run("print(2.5)").answer == 2.5
    assert sb.run("print('1,234.5')").answer == 1234.5
    assert sb.run("print('hello world')").answer == "hello world"
    both = sb.run("print(1)\nanswer = 'bound wins'")
    assert both.answer == "bound wins" and both.stdout == "1\n"
    assert sb.run("x = 1").answer is None


def test_answer_conversion(sb):
    r = sb.run("import numpy as np\nanswer = np.float64(2.5) * 2")
    assert r.answer == 5.0 and type(r.answer) is float
    assert sb.run("import numpy as np\nanswer = np.int64(7)").answer == 7
    assert sb.run("import numpy as np\nanswer = np.array([1, 2]) * 2").answer == [2, 4]
    assert sb.run("import numpy as np\nanswer = np.bool_(True)").answer is True
    assert sb.run("from fractions import Fraction\nanswer = Fraction(1, 4)").answer == 0.25
    assert sb.run("from decimal import Decimal\nanswer = Decimal('1.10') * 2").answer == 2.2
    assert sb.run("answer = (1, [2, 3.5], 'x', None)").answer == [1, [2, 3.5], "x", None]
    assert sb.run("answer = {'a': 1}").answer == {"a": 1}
    assert sb.run("answer = 3 + 0j").answer == 3.0
    assert sb.run("class A:\n    pass\nanswer = A()").answer.startswith("<")


def test_numpy_and_sympy_programs(sb):
    programs = [
        ("import math\nanswer = round(math.sqrt(2) * 100, 2)", 141.42),
        ("import numpy as np\nanswer = float(np.mean([1, 2, 3, 4]))", 2.5),
        ("import numpy as np\nx = np.linalg.solve([[3, 1], [1, 2]], [9, 8])\nanswer = float(x[0])",
         2.0),
        ("from sympy import Symbol, solve, Eq\nx = Symbol('x')\n"
         "answer = solve(Eq(2 * x + 3, 11), x)[0]", 4),
        ("from sympy import symbols, Eq, solve\nx, y = symbols('x y')\n"
         "s = solve([Eq(x + y, 10), Eq(x - y, 2)], [x, y])\nanswer = s[x] * s[y]", 24),
        ("import sympy as sp\nx = sp.Symbol('x')\nanswer = sp.integrate(x ** 2, (x, 0, 3))", 9),
        ("from datetime import date\nanswer = (date(2024, 3, 1) - date(2024, 1, 1)).days", 60),
        ("import statistics\nanswer = statistics.median([3, 1, 2])", 2),
        ("answer = eval('1.05 ** 2')", 1.1025),
    ]
    for (code, expected), r in zip(programs, sb.run_many([p for p, _ in programs])):
        assert r.status == "ok", (code, r)
        assert r.answer == pytest.approx(expected), (code, r)


def test_program_errors(sb):
    r = sb.run("answer = 1 / 0")
    assert r.status == "error" and r.error == "ZeroDivisionError: division by zero"
    r = sb.run("answer = (")
    assert r.status == "error" and r.error.startswith("SyntaxError")
    r = sb.run("import scipy")  # not allowed (and maybe not installed)
    assert r.status == "denied" and "scipy" in r.error
    ok = sb.run("try:\n    import scipy\nexcept ImportError:\n    scipy = None\nanswer = 5")
    assert (ok.status, ok.answer) == ("ok", 5)  # a caught ImportError of a harmless module
    assert sb.run("raise ValueError('bad input')").error == "ValueError: bad input"
    assert sb.run("import json\nanswer = json.loads('{')").status == "error"
    big = sb.run("#" + "x" * 5_000_000)
    assert big.status == "error" and "too large" in big.error
    assert sb.run("answer = list(range(10**9))[:3]").status == "memory"
    capped = sb.run("answer = range(10**9)")
    assert capped.status == "ok" and len(capped.answer) == 10001 and "more items" in capped.answer[-1]


def test_run_many_order_and_parallel(sb):
    programs = [f"answer = {i} * 2" for i in range(60)] + ["answer = 1/0", "while True: pass"]
    rs = sb.run_many(programs, timeout_s=1.0)
    assert [r.answer for r in rs[:60]] == [i * 2 for i in range(60)]
    assert [r.status for r in rs[60:]] == ["error", "timeout"]
    assert sb.run_many([]) == []


def test_timeout_and_recovery(sb):
    t0 = time.monotonic()
    r = sb.run("import time\ntime.sleep(30)", timeout_s=0.5)
    elapsed = time.monotonic() - t0
    assert r.status == "timeout" and "0.5" in r.error
    assert 0.5 <= r.duration_s < 1.0 and elapsed < 2.0
    r = sb.run("while True:\n    pass", timeout_s=0.3)
    assert r.status == "timeout"
    assert sb.run("answer = 41 + 1").answer == 42


def test_worker_respawn_after_kill(sb):
    pids = sb.info["worker_pids"]
    os.killpg(pids[0], signal.SIGKILL)  # the worker's whole session: worker + program process
    time.sleep(0.1)
    rs = sb.run_many([f"answer = {i}" for i in range(6)])
    assert all(r.status in ("ok", "error") for r in rs)  # at most the in-flight one fails
    assert [r.answer for r in sb.run_many([f"answer = {i}" for i in range(6)])] == list(range(6))
    assert sb.info["worker_pids"][0] != pids[0]


def test_no_state_between_programs(sb):
    first = sb.run("import math\nmath.pi = 3\nmy_global = 1\nanswer = math.pi")
    assert first.answer == 3
    for _ in range(3):  # whichever worker / program process runs next
        assert sb.run("import math\nanswer = math.pi").answer == pytest.approx(3.14159265)
        assert sb.run("answer = my_global").status == "error"


def test_private_temp_dir(sb):
    r = sb.run("with open('notes.txt', 'w') as f:\n    f.write('hi')\nanswer = open('notes.txt').read()")
    assert (r.status, r.answer) == ("ok", "hi")
    for _ in range(3):
        r = sb.run("answer = open('notes.txt').read()")
        assert r.status == "error" and "FileNotFoundError" in r.error


def test_stdout_capped(sb):
    r = sb.run("for i in range(100000):\n    print(i)")
    assert r.status == "ok" and r.answer == 99999
    assert len(r.stdout) < 64 * 1024 + 200 and "output truncated" in r.stdout


def test_closed_and_bad_input():
    box = PythonSandbox(timeout_s=1.0, workers=1)
    with pytest.raises(TypeError):
        box.run(b"answer = 1")  # type: ignore[arg-type]
    box.close()
    box.close()
    with pytest.raises(SandboxError):
        box.run("answer = 1")


def test_worker_cannot_start_is_sandbox_error(tmp_path):
    with pytest.raises(SandboxError):
        PythonSandbox(workers=1, python=str(tmp_path / "no-such-python"))
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(SandboxError, match="broken"):
        PythonSandbox(workers=1, python=str(fake))


@pytest.mark.parametrize("domain", POT_DOMAINS)
def test_prompt_examples_run(sb, domain):
    examples = POT_EXAMPLES[domain]
    assert 2 <= len(examples) <= 3
    for r, ex in zip(sb.run_many([ex["program"] for ex in examples]), examples):
        assert r.status == "ok", (ex["program"], r)
        if isinstance(ex["answer"], str):
            assert r.answer == ex["answer"]
        else:
            assert r.answer == pytest.approx(ex["answer"], rel=1e-9)
    for lang in POT_LANGS:
        text = pot_prompt(domain, lang)
        assert all(ex["question"][lang] in text and ex["program"] in text for ex in examples)
        assert text.count("```python\n") == len(examples)
