"""``verticalize chat RUN|EXPORT`` and ``verticalize serve RUN|EXPORT`` as a user runs them: one-shot and
piped conversations, the run's settings, help without torch or fastapi, the real command serving an
export to the ``openai`` client on a free port of 127.0.0.1, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import openai
import pytest
from click.testing import CliRunner

from tests.conftest import REPO, tiny_adapter
from verticalize.cli.main import cli

Q1 = "Revenue went from 100 to 120. What is the percent change?"
Q2 = "And from 120 to 150?"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chat")
    a = tiny_adapter(tmp, None, max_steps=1).evaluate_with(generation={"max_new_tokens": 10,
                                                                       "no_repeat_ngram_size": 1})
    return a.train(output_dir=tmp / "run", quiet=True)


@pytest.fixture(scope="module")
def export_dir(run, tmp_path_factory):
    return run.export(tmp_path_factory.mktemp("chat_export") / "fin-export")


@pytest.fixture(scope="module")
def cm(run):
    from verticalize.serve import load_chat_model

    return load_chat_model(run.output_dir)


def test_one_shot_conversation_uses_the_run(run, cm) -> None:
    r = CliRunner().invoke(cli, ["chat", str(run.output_dir), "-m", Q1, "-m", Q2])
    assert r.exit_code == 0, r.output
    a1 = cm.chat([{"role": "user", "content": Q1}])
    a2 = cm.chat([{"role": "user", "content": Q1}, {"role": "assistant", "content": a1},
                  {"role": "user", "content": Q2}])  # the second turn sees the first
    assert a1 == run.generate(Q1)[0] and a1.strip()
    assert r.stdout == f"{a1}\n{a2}\n"
    assert "cut at 10 tokens" in r.stderr  # the run's max_new_tokens, and the user is told


def test_piped_chat_with_commands(run, cm) -> None:
    stdin = f"{Q1}\n\n/reset\n{Q2}\n/system You answer in one word.\n{Q2}\n/exit\nnever read\n"
    r = CliRunner().invoke(cli, ["chat", str(run.output_dir), "--max-tokens", "4"], input=stdin)
    assert r.exit_code == 0, r.output
    a1 = cm.chat([{"role": "user", "content": Q1}], max_tokens=4)
    a2 = cm.chat([{"role": "user", "content": Q2}], max_tokens=4)  # /reset: a fresh conversation
    sys_prompt = [{"role": "system", "content": "You answer in one word."}]
    a3 = cm.chat(sys_prompt + [{"role": "user", "content": Q2}, {"role": "assistant", "content": a2},
                               {"role": "user", "content": Q2}], max_tokens=4)
    assert r.stdout == f"{a1}\n{a2}\n{a3}\n"
    assert "chatting with run" in r.stderr and "up to 4 tokens, greedy" in r.stderr
    assert "conversation cleared" in r.stderr and "system prompt set" in r.stderr


def test_a_turn_too_long_for_the_context_is_reported_and_the_chat_goes_on(run, cm) -> None:
    too_long = "profit " * (cm.context_length + 10)
    r = CliRunner().invoke(cli, ["chat", str(run.output_dir), "--max-tokens", "3"], input=f"{too_long}\n{Q1}\n")
    assert r.exit_code == 0, r.output
    assert f"the model's context is {cm.context_length} tokens" in r.stderr
    assert r.stdout == cm.chat([{"role": "user", "content": Q1}], max_tokens=3) + "\n"  # the long turn was dropped


def test_chat_an_export(export_dir, cm) -> None:
    r = CliRunner().invoke(cli, ["chat", str(export_dir), "-m", Q1, "--no-system"])
    assert r.exit_code == 0, r.output
    cm_sys = cm.system
    try:
        cm.system = None
        assert r.stdout == cm.chat([{"role": "user", "content": Q1}]) + "\n"
    finally:
        cm.system = cm_sys


@pytest.mark.parametrize("args,needle", [
    (["chat", "no/such/run"], "does not exist"),
    (["serve", "no/such/run", "--port", "0"], "does not exist"),
    (["serve", "no/such/run", "--port", "0", "--max-concurrency", "0"], "max-concurrency"),
])
def test_errors_are_one_line_exit_2(args, needle) -> None:
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    assert needle in r.output and "Traceback" not in r.output


def test_serve_without_fastapi_names_the_extra(run, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)
    r = CliRunner().invoke(cli, ["serve", str(run.output_dir), "--port", "0"])
    assert r.exit_code == 2
    assert r.stderr.strip() == "error: verticalize serve needs fastapi: pip install 'verticalize[serve]'"


def test_help_imports_no_torch_or_fastapi() -> None:
    code = ("import sys, json; from click.testing import CliRunner; from verticalize.cli.main import cli; "
            "rs=[CliRunner().invoke(cli, [c, '--help']) for c in ('chat', 'serve')]; "
            "print(json.dumps([[r.exit_code for r in rs], [r.output for r in rs], "
            "sorted(m for m in ('torch', 'transformers', 'fastapi', 'uvicorn', 'starlette') if m in sys.modules)]))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                       check=False)
    codes, outs, heavy = json.loads(p.stdout.strip().splitlines()[-1])
    assert codes == [0, 0] and heavy == [], (codes, heavy)
    assert "RUN|EXPORT" in outs[0] and "--max-queue" in outs[1] and "OpenAI-compatible" in outs[1]


def test_serve_command_answers_the_openai_client(export_dir) -> None:
    """The real command in its own process: --port 0 picks a free port and prints the URL; the openai
    client talks to it; Ctrl-C (SIGINT) stops it cleanly."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "verticalize", "serve", str(export_dir), "--host", "127.0.0.1",
                          "--port", "0", "--log-level", "warning"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=REPO, env=env)
    try:
        line = ""
        t0 = time.monotonic()
        while "serving" not in line:
            line = p.stdout.readline()
            assert line or p.poll() is None, p.stderr.read()[-3000:]
            assert time.monotonic() - t0 < 120
        url = line.split(" at ")[1].split(":", 2)
        url = ":".join(url[:2]) + ":" + url[2].split("/v1")[0] + "/v1"
        assert url.startswith("http://127.0.0.1:") and "'fin-export' (export" in line
        client = openai.OpenAI(base_url=url, api_key="none", max_retries=0, timeout=60)
        assert [m.id for m in client.models.list().data] == ["fin-export"]
        r = client.chat.completions.create(model="fin-export", messages=[{"role": "user", "content": Q1}])
        assert r.usage.completion_tokens == 10 and r.choices[0].finish_reason == "length"  # the run's settings
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="fin-export", messages=[{"role": "user", "content": Q1}], stream=True) if c.choices)
        assert text == r.choices[0].message.content
    finally:
        p.send_signal(signal.SIGINT)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            raise
    assert rc == 0, p.stderr.read()[-3000:]
