"""Before/after on the same questions: paired statistics.

The same questions are asked before and after training, so the change of a suite's score is best
judged pair by pair: a paired bootstrap interval of the change (questions resampled within each task,
the suite score recomputed as the mean of its task scores), and McNemar's exact test on the questions
that flipped (right -> wrong against wrong -> right) for tasks scored right or wrong. Both are narrower
and more honest than treating before and after as independent samples when the answers are correlated.

Per-question outcomes come from the evaluation runner (``tasks[task]["outcomes"]``: ``{id: score}``, a
score in [0, 1]; 1.0/0.0 for right/wrong).
"""

from __future__ import annotations

import math
import random
from typing import Any

__all__ = ["paired_change", "mcnemar_p"]


def mcnemar_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: ``b`` questions went right -> wrong, ``c`` wrong -> right.

    >>> mcnemar_p(0, 10) < 0.01, mcnemar_p(5, 5)
    (True, 1.0)
    """
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return round(min(1.0, 2 * tail), 6)


def paired_change(before: dict[str, Any], after: dict[str, Any], *, boot: int = 2000, seed: int = 0
                  ) -> dict[str, Any] | None:
    """The paired statistics of one suite's two results (``run_suites`` rows), or None when they carry no
    per-question outcomes to pair. ``{"n": paired questions, "delta": after - before (on the paired
    questions), "interval": [lo, hi] (95%, paired bootstrap), "flips": [right->wrong, wrong->right],
    "p_value": McNemar's exact p (binary tasks only; None without any)}``."""
    tasks = []
    for name, t_after in after.get("tasks", {}).items():
        t_before = before.get("tasks", {}).get(name)
        oa, ob = (t_after.get("outcomes") or {}), ((t_before or {}).get("outcomes") or {})
        ids = [i for i in oa if i in ob]
        if ids:
            tasks.append(([float(ob[i]) for i in ids], [float(oa[i]) for i in ids]))
    if not tasks:
        return None

    def score(pairs: list[tuple[list[float], list[float]]]) -> float:
        return sum(sum(a) / len(a) - sum(b) / len(b) for b, a in pairs) / len(pairs)

    delta = score(tasks)
    rng = random.Random(seed)
    draws = []
    for _ in range(boot):
        sample = []
        for b, a in tasks:
            idx = [rng.randrange(len(b)) for _ in b]
            sample.append(([b[i] for i in idx], [a[i] for i in idx]))
        draws.append(score(sample))
    draws.sort()
    lo, hi = draws[int(0.025 * boot)], draws[min(boot - 1, int(0.975 * boot))]
    down = up = 0
    binary = False
    for b, a in tasks:
        if all(x in (0.0, 1.0) for x in b + a):
            binary = True
            down += sum(1 for x, y in zip(b, a) if x == 1.0 and y == 0.0)
            up += sum(1 for x, y in zip(b, a) if x == 0.0 and y == 1.0)
    return {"n": sum(len(b) for b, _ in tasks), "delta": round(delta, 4), "interval": [round(lo, 4), round(hi, 4)],
            "flips": [down, up], "p_value": mcnemar_p(down, up) if binary else None}
