"""Self-consistency voting over k sampled PoT programs.

:func:`majority_vote` ignores results whose status is not "ok" and answers that are ``None``.
Numeric answers (int/float, numeric strings such as ``"12.5"``; not bools, NaN or infinities) are
grouped greedily: a value joins the first group whose first value is within ``rel_tol``
(relative, with an absolute floor ``abs_tol`` for values near zero). Other answers (strings,
lists...) are grouped by exact equality after whitespace/case normalisation of strings. The
largest group wins; a tie goes to the group that appeared first. The value returned is the most
frequent exact value inside the winning group (first seen on a tie).
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable

__all__ = ["majority_vote", "as_number"]


def as_number(value: Any) -> float | None:
    """The finite number ``value`` stands for (int, float, numeric string), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        x = float(value) if not isinstance(value, int) or abs(value) < 1 << 1000 else None
    elif isinstance(value, str):
        try:
            x = float(value.strip().replace(",", ""))
        except ValueError:
            return None
    else:
        return None
    return x if x is not None and math.isfinite(x) else None


def majority_vote(results: Iterable[Any], rel_tol: float = 1e-4, abs_tol: float = 1e-9) -> Any:
    """Most common answer among ok results (see the module docstring); None when there is none.

    ``results`` holds :class:`~verticalize.pot.ExecResult` objects; plain values are accepted too
    and treated as ok answers.
    """
    groups: list[dict] = []  # {"key": float|str, "numeric": bool, "values": [...], "first": i}
    for i, r in enumerate(results):
        if hasattr(r, "status") and hasattr(r, "answer"):
            if r.status != "ok":
                continue
            value = r.answer
        else:
            value = r
        if value is None:
            continue
        x = as_number(value)
        if x is not None:
            g = next((g for g in groups if g["numeric"] and
                      math.isclose(x, g["key"], rel_tol=rel_tol, abs_tol=abs_tol)), None)
            key: Any = x
        else:
            if isinstance(value, float):  # NaN / inf: not a usable answer
                continue
            key = " ".join(value.split()).lower() if isinstance(value, str) else \
                json.dumps(value, sort_keys=True, default=str)
            g = next((g for g in groups if not g["numeric"] and g["key"] == key), None)
        if g is None:
            g = {"key": key, "numeric": x is not None, "values": [], "first": i}
            groups.append(g)
        g["values"].append(value)
    if not groups:
        return None
    best = max(groups, key=lambda g: (len(g["values"]), -g["first"]))
    counts: dict[str, list] = {}
    for v in best["values"]:
        counts.setdefault(json.dumps(v, sort_keys=True, default=str), [0, v])[0] += 1
    return max(counts.values(), key=lambda c: c[0])[1]
