"""Scores carry their uncertainty: n and a 95% interval per suite, before, after and for the change."""

from __future__ import annotations

import random

from verticalize.evals import EvalReport


def _suite(scores: list[float], n: int, role: str = "domain") -> dict:
    tasks = {f"t{i}": {"score": s, "n": n, "primary": "acc", "kind": "mc"} for i, s in enumerate(scores)}
    return {"score": sum(scores) / len(scores), "tasks": tasks, "role": role, "n": n * len(scores)}


def test_interval_widths_follow_n_and_the_verdict_follows_the_interval() -> None:
    small = EvalReport({"before": {"s": _suite([0.0] * 6, 4)}, "after": {"s": _suite([0.75, .5, .5, .25, .25, 0], 4)}})
    iv = small.intervals["s"]
    assert iv["n"] == 24 and iv["after"][0] < 0.375 < iv["after"][1] and iv["delta"][0] > 0
    assert "domain gain on **s**: +0.375, 95% interval" in small.to_markdown()
    assert "not shown" not in small.to_markdown()
    noisy = EvalReport({"before": {"g": _suite([0.5], 24, "retention")}, "after": {"g": _suite([0.45], 24, "retention")}})
    md = noisy.to_markdown()
    assert "forgetting on **g**: +0.050 (dropped), 95% interval" in md and "not shown by this many questions" in md
    big = EvalReport({"before": {"g": _suite([0.5], 2400, "retention")}, "after": {"g": _suite([0.45], 2400, "retention")}})
    assert "not shown" not in big.to_markdown()  # the same drop over 100x the questions is a real one
    w = lambda r: r.intervals["g"]["after"][1] - r.intervals["g"]["after"][0]  # noqa: E731
    assert 8 < w(noisy) / w(big) < 12  # width ~ 1/sqrt(n)


def test_interval_covers_the_true_rate_about_95_percent_of_the_time() -> None:
    rng, p, n, hits, trials = random.Random(0), 0.3, 40, 0, 400
    for _ in range(trials):
        k = sum(rng.random() < p for _ in range(n))
        lo, hi = EvalReport({"after": {"s": _suite([k / n], n)}}).intervals["s"]["after"]
        hits += lo <= p <= hi
    assert 0.92 <= hits / trials <= 0.99, hits / trials
