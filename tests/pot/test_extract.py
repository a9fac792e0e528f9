"""extract_program, majority_vote and pot_prompt (no sandbox needed)."""

from __future__ import annotations

import pytest

from verticalize.errors import UnknownNameError
from verticalize.pot import ExecResult, extract_program, majority_vote, pot_prompt
from verticalize.pot.prompts import POT_DOMAINS, POT_SYSTEM_PROMPT

FENCE = "```"


@pytest.mark.parametrize("tag", ["python", "py", "Python", "python3", ""])
def test_fenced_block(tag):
    text = f"Here is the program:\n{FENCE}{tag}\nx = 1.5 * 4\nanswer = round(x, 2)\n{FENCE}\nDone."
    assert extract_program(text) == "x = 1.5 * 4\nanswer = round(x, 2)\n"


def test_chinese_prose_around_block():
    text = f"解：\n{FENCE}python\nprice = 100\nanswer = price * 0.9\n{FENCE}\n所以答案是 90 元。"
    assert extract_program(text) == "price = 100\nanswer = price * 0.9\n"


def test_several_blocks_joined_up_to_last_binding_block():
    text = (f"First the helper:\n{FENCE}python\ndef rate(a, b):\n    return (b - a) / a\n{FENCE}\n"
            f"Then:\n{FENCE}python\nanswer = round(rate(80, 92) * 100, 2)\n{FENCE}\n"
            f"Test it:\n{FENCE}python\nassert rate(1, 2) == 1\n{FENCE}\n")
    code = extract_program(text)
    assert code == "def rate(a, b):\n    return (b - a) / a\n\nanswer = round(rate(80, 92) * 100, 2)\n"
    assert "assert" not in code


def test_correction_block_wins_when_run():
    text = (f"{FENCE}python\nanswer = 1 + 1\n{FENCE}\nOops, corrected:\n"
            f"{FENCE}python\nanswer = 2 + 2\n{FENCE}")
    ns: dict = {}
    exec(extract_program(text), ns)  # our own trusted test text
    assert ns["answer"] == 4


def test_unparsable_join_falls_back_to_last_binding_block():
    text = (f"{FENCE}python\nfor i in range(3):\n{FENCE}\n"
            f"{FENCE}python\nanswer = 7\n{FENCE}")
    assert extract_program(text) == "answer = 7\n"


def test_other_languages_ignored_and_unclosed_fence():
    assert extract_program(f'{FENCE}json\n{{"answer": 1}}\n{FENCE}') is None
    assert extract_program(f"{FENCE}text\nanswer = 3\n{FENCE}") is None
    assert extract_program(f"Sure.\n{FENCE}python\nx = 2\nanswer = x ** 3") == "x = 2\nanswer = x ** 3\n"
    assert extract_program("~~~python\nanswer = 5\n~~~") == "answer = 5\n"


def test_print_answer_program():
    text = f"{FENCE}python\nimport math\nprint(round(math.sqrt(2), 3))\n{FENCE}\nThe answer is 1.414"
    assert extract_program(text) == "import math\nprint(round(math.sqrt(2), 3))\n"


def test_bare_code():
    assert extract_program("x = 3\ny = 4\nprint(x * y)") == "x = 3\ny = 4\nprint(x * y)\n"
    assert extract_program("    a = 1\n    answer = a + 1\n") == "a = 1\nanswer = a + 1\n"


def test_bare_code_with_prose_around():
    text = "解：先计算总价。\nprice = 120\nqty = 3\nanswer = price * qty\n所以答案是 360 元。"
    assert extract_program(text) == "price = 120\nqty = 3\nanswer = price * qty\n"
    text = ("Let me compute the area.\nimport math\nr = 2\narea = math.pi * r ** 2\n"
            "print(round(area, 2))\nSo the area is 12.57.")
    assert extract_program(text) == ("import math\nr = 2\narea = math.pi * r ** 2\n"
                                     "print(round(area, 2))\n")


def test_repl_transcript():
    text = f"{FENCE}python\n>>> x = 2\n>>> print(x * 3)\n6\n{FENCE}"
    assert extract_program(text) == "x = 2\nprint(x * 3)\n"


@pytest.mark.parametrize("text", [None, "", "   ", "The answer is 42.", "Yes", "答案是 42。",
                                  "42", "Final answer: (B)", "x"])
def test_no_code(text):
    assert extract_program(text) is None


# ---------------------------------------------------------------- majority_vote
def _ok(answer):
    return ExecResult("ok", answer)


def test_majority_vote_groups_close_values():
    results = [_ok(10.0), _ok(10.00001), _ok(12.0), _ok(10.000005), _ok(12.0)]
    assert majority_vote(results) == pytest.approx(10.0, rel=1e-4)
    assert majority_vote(results, rel_tol=1e-9) == 12.0


def test_majority_vote_ignores_non_ok_and_none():
    results = [ExecResult("error", None, error="x"), ExecResult("timeout"), _ok(None),
               _ok(3), ExecResult("denied", 99), ExecResult("ok", 99.0, "", None)]
    assert majority_vote(results) in (3, 99.0)
    assert majority_vote([ExecResult("error"), ExecResult("memory")]) is None
    assert majority_vote([]) is None


def test_majority_vote_ties_and_types():
    assert majority_vote([_ok(1), _ok(2), _ok(2), _ok(1)]) == 1  # tie: first group seen
    assert majority_vote([_ok("12.5"), _ok(12.5), _ok(7)]) in ("12.5", 12.5)
    assert majority_vote([_ok("B"), _ok(" b "), _ok("A")]) == "B"
    assert majority_vote([_ok(True), _ok(True), _ok(1.0)]) is True
    assert majority_vote([_ok(float("nan")), _ok(2.0)]) == 2.0
    assert majority_vote([0.0, 1e-12, 5.0]) == 0.0  # plain values and the absolute floor
    assert majority_vote([_ok([1, 2]), _ok([1, 2]), _ok(3)]) == [1, 2]


# ---------------------------------------------------------------- prompts
@pytest.mark.parametrize("domain", POT_DOMAINS)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_prompts(domain, lang):
    text = pot_prompt(domain, lang)
    assert text.startswith(POT_SYSTEM_PROMPT[lang])
    assert "answer =" in text and text.count("```python\n") in (2, 3)
    q = pot_prompt(domain, lang, question="What is 2 + 2?")
    assert q.startswith(text.rstrip()) and "What is 2 + 2?" in q
    # the examples extract back to runnable programs
    block = text.split("```python\n")[1].split("```")[0]
    assert extract_program(f"```python\n{block}```") == block


def test_prompt_domains_and_errors():
    assert set(POT_DOMAINS) >= {"finance", "medical", "legal", "general"}
    assert "问题" in pot_prompt("medical", "zh")
    with pytest.raises(UnknownNameError, match="finance"):
        pot_prompt("finanse")
    with pytest.raises(UnknownNameError):
        pot_prompt("finance", "fr")
