"""PoT formatting of examples: numeric questions answered by a fenced Python program."""

from __future__ import annotations

from typing import Any

__all__ = ["POT_SHORT_SYSTEM", "as_pot_example", "is_pot_example"]

# Short on purpose: every token of a system prompt is paid for in every training and eval example.
POT_SHORT_SYSTEM = {
    "en": "Answer with a Python program in a ```python block that binds the result to `answer`.",
    "zh": "请用一个 ```python 代码块写出 Python 程序作答，并把结果赋给变量 `answer`。",
}


def is_pot_example(ex: dict[str, Any]) -> bool:
    return ex.get("kind") == "numeric" and "messages" in ex


def as_pot_example(ex: dict[str, Any]) -> dict[str, Any]:
    """Swap the system prompt for the PoT one; answer with the gold program when there is one.

    >>> ex = {"kind": "numeric", "lang": "en", "program": "answer = 1 + 1",
    ...       "messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]}
    >>> as_pot_example(ex)["messages"][-1]["content"]
    '```python\\nanswer = 1 + 1\\n```'
    """
    if not is_pot_example(ex):
        return ex
    system = POT_SHORT_SYSTEM.get(ex.get("lang") or "en", POT_SHORT_SYSTEM["en"])
    msgs = [m for m in ex["messages"] if m["role"] != "system"]
    if ex.get("program") and msgs and msgs[-1]["role"] == "assistant":
        msgs[-1] = {"role": "assistant", "content": f"```python\n{str(ex['program']).strip()}\n```"}
    return {**ex, "messages": [{"role": "system", "content": system}, *msgs]}
