"""Built-in verifiable rewards for GRPO: Reward objects (see :class:`verticalize.strategies.Reward`).

Each one scores a group of sampled completions against the example's gold ``answer`` with the same
checkers the evaluation uses, so training optimises what the suites measure:

- ``pot_answer`` (:class:`PotAnswer`): numeric examples -- the completion's Python program
  (:func:`~verticalize.pot.extract_program`), run in the PoT sandbox; 1.0 when its ``answer`` is within
  the evaluation's tolerance of the gold answer (``numeric_match``: ``|p - g| <= max(1e-3 * |g|, 0.01)``).
- ``numeric_answer`` (:class:`NumericAnswer`): numeric examples -- the last number of the text (as the
  evaluation reads a non-PoT answer), same tolerance.
- ``choice_match`` (:class:`ChoiceMatch`): multiple choice (``mc``, ``mc_multi``) -- the letters the answer
  picks (the evaluation's ``parse_letters``) equal the gold letters.
- ``format`` (:class:`AnswerFormat`): the answer has the form its example asks for -- a fenced Python block
  that binds ``answer`` (PoT examples), a number (other numeric ones), an option letter (multiple choice).

A reward returns ``None`` for an example it does not judge (another kind, no gold answer): TRL leaves
that reward out for it. Rewards are called as TRL calls reward functions:
``reward(prompts=..., completions=..., answer=[...], kind=[...], ...)``, one list entry per completion.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["REWARDS", "PotAnswer", "NumericAnswer", "ChoiceMatch", "AnswerFormat", "builtin_reward",
           "completion_text", "numeric_close"]

#: the evaluation's tolerance (verticalize/evals/metrics/numeric_match: rel_tol=1e-3, abs_tol=0.01)
REL_TOL, ABS_TOL = 1e-3, 0.01


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, or TRL's conversational form (a list of messages).

    >>> completion_text([{"role": "assistant", "content": "B. Beta"}]), completion_text("42")
    ('B. Beta', '42')
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content") or "") for m in completion if isinstance(m, dict))
    if isinstance(completion, dict):
        return str(completion.get("content") or "")
    return "" if completion is None else str(completion)


def numeric_close(pred: Any, gold: Any, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> bool:
    """True when ``pred`` is within the evaluation's tolerance of ``gold`` (both numbers or numeric text).

    >>> numeric_close(25.004, "25"), numeric_close("139", 139), numeric_close(26, 25), numeric_close(None, 1)
    (True, True, False, False)
    """
    p, g = _float(pred), _float(gold)
    if p is None or g is None:
        return False
    return abs(p - g) <= max(rel_tol * abs(g), abs_tol)


def _float(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(str(v).replace(",", "").strip()) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _column(kw: dict[str, Any], name: str, n: int) -> list[Any]:
    v = kw.get(name)
    return list(v) if isinstance(v, (list, tuple)) and len(v) == n else [None] * n


class PotAnswer:
    """``pot_answer``: run the completion's program in the PoT sandbox and compare its ``answer`` with the gold
    one. 1.0 right, 0.0 wrong (no program, an error, a timeout, a denied call, a wrong number); None for
    examples that are not numeric or have no gold answer.

    ``executor``: any Executor (e.g. ``verticalize.strategies.FakeExecutor`` in tests); default a
    :class:`~verticalize.pot.PythonSandbox` with ``timeout_s`` and ``memory_mb``, started at the first call
    and closed by :meth:`close` (the GRPO stage calls it when it ends).
    """

    name = "pot_answer"
    kinds = ("numeric",)

    def __init__(self, timeout_s: float = 2.0, memory_mb: int = 256, rel_tol: float = REL_TOL,
                 abs_tol: float = ABS_TOL, executor: Any = None):
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.rel_tol = rel_tol
        self.abs_tol = abs_tol
        self.executor = executor
        self._own: Any = None

    def _runner(self) -> Any:
        if self.executor is not None:
            return self.executor
        if self._own is None:
            from verticalize.pot import PythonSandbox

            self._own = PythonSandbox(timeout_s=self.timeout_s, memory_mb=self.memory_mb)
        return self._own

    def __call__(self, prompts: list[Any], completions: list[Any], **columns: Any) -> list[float | None]:
        from verticalize.pot import extract_program

        n = len(completions)
        answers, kinds = _column(columns, "answer", n), _column(columns, "kind", n)
        out: list[float | None] = [None] * n
        todo: list[tuple[int, str]] = []
        for i, (c, gold, kind) in enumerate(zip(completions, answers, kinds)):
            if kind not in self.kinds or _float(gold) is None:
                continue
            code = extract_program(completion_text(c))
            if code is None:
                out[i] = 0.0
            else:
                todo.append((i, code))
        if todo:
            results = self._runner().run_many([code for _, code in todo])
            for (i, _), r in zip(todo, results):
                ok = getattr(r, "status", None) == "ok"
                out[i] = 1.0 if ok and numeric_close(getattr(r, "answer", None), answers[i], self.rel_tol,
                                                     self.abs_tol) else 0.0
        return out

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
            self._own = None


class NumericAnswer:
    """``numeric_answer``: the last number in the completion's text against the gold answer (how the
    evaluation reads an answer without PoT). 1.0 / 0.0; None for non-numeric examples."""

    name = "numeric_answer"
    kinds = ("numeric",)

    def __init__(self, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL):
        self.rel_tol = rel_tol
        self.abs_tol = abs_tol

    def __call__(self, prompts: list[Any], completions: list[Any], **columns: Any) -> list[float | None]:
        from verticalize.evals.tasks import parse_number

        n = len(completions)
        out: list[float | None] = []
        for c, gold, kind in zip(completions, _column(columns, "answer", n), _column(columns, "kind", n)):
            if kind not in self.kinds or _float(gold) is None:
                out.append(None)
            else:
                out.append(1.0 if numeric_close(parse_number(completion_text(c)), gold, self.rel_tol,
                                                self.abs_tol) else 0.0)
        return out


def _gold_letters(answer: Any, kind: Any) -> str | None:
    text = str(answer or "").strip().upper()
    if not text:
        return None
    if kind == "mc":
        return text[:1] if text[:1].isalpha() else None
    letters = {ch for ch in text if "A" <= ch <= "Z"}
    return "".join(sorted(letters)) or None


class ChoiceMatch:
    """``choice_match``: the option letters the completion picks (``parse_letters``: after "Answer:" /
    "答案：", else a letter opening the text) equal the gold letters exactly -- one letter for ``mc``, the
    set for ``mc_multi``. 1.0 / 0.0; None for other kinds."""

    name = "choice_match"
    kinds = ("mc", "mc_multi")

    def __call__(self, prompts: list[Any], completions: list[Any], **columns: Any) -> list[float | None]:
        from verticalize.evals.tasks import parse_letters

        n = len(completions)
        out: list[float | None] = []
        for c, gold, kind, choices in zip(completions, _column(columns, "answer", n), _column(columns, "kind", n),
                                          _column(columns, "choices", n)):
            want = _gold_letters(gold, kind) if kind in self.kinds else None
            if want is None:
                out.append(None)
                continue
            got = parse_letters(completion_text(c), len(choices) if choices else 10)
            out.append(1.0 if got == want else 0.0)
        return out


_FENCE = re.compile(r"^[ \t]*(```|~~~)[ \t]*(python3?|py)?[ \t]*$", re.MULTILINE | re.IGNORECASE)


class AnswerFormat:
    """``format``: the answer has the form its example asks for. PoT examples (``pot`` true): a fenced
    Python block whose code binds ``answer`` (or prints); other numeric examples: a number; multiple choice:
    an option letter. 1.0 / 0.0; None for other kinds."""

    name = "format"
    kinds = ("numeric", "mc", "mc_multi")

    def __call__(self, prompts: list[Any], completions: list[Any], **columns: Any) -> list[float | None]:
        from verticalize.evals.tasks import parse_letters, parse_number
        from verticalize.pot import binds_answer, extract_program

        n = len(completions)
        out: list[float | None] = []
        for c, kind, pot, choices in zip(completions, _column(columns, "kind", n), _column(columns, "pot", n),
                                         _column(columns, "choices", n)):
            text = completion_text(c)
            if kind == "numeric" and pot:
                code = extract_program(text) if _FENCE.search(text) else None
                ok = code is not None and binds_answer(code)
            elif kind == "numeric":
                ok = parse_number(text) is not None
            elif kind in ("mc", "mc_multi"):
                ok = parse_letters(text, len(choices) if choices else 10) is not None
            else:
                out.append(None)
                continue
            out.append(1.0 if ok else 0.0)
        return out


#: the reward names a recipe may use -> their classes (the schema's GRPOSpec lists the same names)
REWARDS: dict[str, type] = {"pot_answer": PotAnswer, "numeric_answer": NumericAnswer, "choice_match": ChoiceMatch,
                            "format": AnswerFormat}


def builtin_reward(name: str) -> Any:
    """A new built-in reward object by its recipe name."""
    if name not in REWARDS:
        from verticalize.errors import UnknownNameError

        raise UnknownNameError("reward", name, list(REWARDS))
    return REWARDS[name]()
