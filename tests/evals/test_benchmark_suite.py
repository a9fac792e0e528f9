"""A public benchmark's file becomes an eval suite in one line (recipe or builder)."""

from __future__ import annotations

from pathlib import Path

from verticalize import Adapter
from verticalize.run import validate

ORIG = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "benchmarks" / "original"


def test_benchmark_file_is_a_suite_in_one_line() -> None:
    mmlu = {"preset": "mmlu", "path": str(ORIG / "abstract_algebra_test.csv"), "name": "mmlu-algebra"}
    pubmed = {"preset": "pubmedqa", "path": str(ORIG / "ori_pqal.json"),
              "split_file": str(ORIG / "test_ground_truth.json"), "role": "retention"}
    a = Adapter(base="tiny").with_domain("finance").evaluate_with(mmlu, pubmed, max_examples=50)
    report = a.evaluate()
    before = report.stages["before"]
    alg = before["mmlu-algebra"]
    assert alg["role"] == "domain" and {t["kind"] for t in alg["tasks"].values()} == {"mc"}
    assert alg["n"] == sum(1 for line in (ORIG / "abstract_algebra_test.csv").read_text().splitlines() if line.strip())
    pq = before["pubmedqa"]
    assert pq["role"] == "retention" and {t["kind"] for t in pq["tasks"].values()} == {"classification"}
    assert 0.0 <= alg["score"] <= 1.0 and 0.0 <= pq["score"] <= 1.0


def test_recipe_with_a_benchmark_suite_validates_and_round_trips(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(f"base: tiny\ndomain: finance\neval:\n  suites:\n"
                 f"    - {{preset: mmlu, path: {ORIG / 'abstract_algebra_test.csv'}, max_examples: 2}}\n"
                 f"    - {{preset: medqa, path: {tmp_path / 'missing.jsonl'}}}\n"
                 f"    - {{preset: mmlu, path: {ORIG / 'abstract_algebra_test.csv'}, layout: hubb}}\n")
    problems = validate(p)
    assert len(problems) == 2, problems
    assert problems[0].startswith(f"{p}:") and "eval.suites[1].path: file not found" in problems[0]
    assert "eval.suites[2]" in problems[1] and "hubb" in problems[1]
    a = Adapter.from_yaml(p)
    assert Adapter(recipe=a.recipe).to_yaml() == a.to_yaml() and Adapter.from_yaml(p) == a
