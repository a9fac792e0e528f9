"""Paired before/after statistics: McNemar's exact test and the paired bootstrap, on outcomes whose answer
is known, and the report's use of them."""

from __future__ import annotations

import math

from verticalize.evals import EvalReport
from verticalize.evals.paired import mcnemar_p, paired_change


def _suite(outcomes: dict[str, float], role: str = "domain") -> dict:
    score = sum(outcomes.values()) / len(outcomes)
    return {"score": score, "role": role, "n": len(outcomes),
            "tasks": {"t": {"kind": "mc", "n": len(outcomes), "primary": "accuracy", "score": score,
                            "outcomes": outcomes}}}


def test_mcnemar_matches_the_binomial_tail():
    # 2 of 12 discordant pairs one way: two-sided exact p = 2 * P(X <= 2), X ~ Bin(12, 1/2)
    expected = 2 * sum(math.comb(12, i) for i in range(3)) / 2 ** 12
    assert abs(mcnemar_p(2, 10) - expected) < 1e-6 and mcnemar_p(10, 2) == mcnemar_p(2, 10)
    assert mcnemar_p(0, 0) == 1.0


def test_paired_change_sees_what_the_unpaired_interval_cannot():
    # 200 questions; after training 30 more are right and none got worse: a real gain on the same questions
    before = {f"q{i}": 1.0 if i < 80 else 0.0 for i in range(200)}
    after = {f"q{i}": 1.0 if i < 110 else 0.0 for i in range(200)}
    res = paired_change(_suite(before), _suite(after))
    assert res["n"] == 200 and res["delta"] == 0.15 and res["flips"] == [0, 30]
    assert 0.09 < res["interval"][0] < res["interval"][1] < 0.21
    assert res["p_value"] < 1e-6
    # the same scores with the changes cancelling out (30 up, 30 down): no evidence of a change
    shuffled = {f"q{i}": (1.0 if i < 80 else 0.0) for i in range(200)}
    for i in range(30):
        shuffled[f"q{i}"] = 0.0
        shuffled[f"q{100 + i}"] = 1.0
    same = paired_change(_suite(before), _suite(shuffled))
    assert same["delta"] == 0.0 and same["p_value"] == 1.0 and same["interval"][0] < 0 < same["interval"][1]


def test_report_prefers_the_paired_interval_and_names_the_test():
    before = {f"q{i}": 1.0 if i < 80 else 0.0 for i in range(200)}
    after = {f"q{i}": 1.0 if i < 110 else 0.0 for i in range(200)}
    rep = EvalReport({"before": {"finance": _suite(before)}, "after": {"finance": _suite(after)}})
    assert rep.paired["finance"]["flips"] == [0, 30]
    md = rep.to_markdown()
    assert "paired 95% interval" in md and "McNemar" in md and "30 questions went wrong -> right" in md
    assert "paired" in rep.to_dict()
    # results without per-question outcomes (older reports): the independent interval, as before
    old = EvalReport({"before": {"finance": {**_suite(before), "tasks": {"t": {**_suite(before)["tasks"]["t"],
                                                                                "outcomes": None}}}},
                      "after": {"finance": {**_suite(after), "tasks": {"t": {**_suite(after)["tasks"]["t"],
                                                                              "outcomes": None}}}}})
    assert old.paired == {} and "paired" not in old.to_markdown() and "95% interval" in old.to_markdown()
