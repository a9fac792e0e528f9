"""Eval history: every evaluation of a run kept under its label, an index in order, one page showing all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verticalize.errors import RunError, VerticalizeError
from verticalize.evals import EvalReport
from verticalize.evals.history import EvalHistory


def _report(after: float, before: float | None = None, created: str = "2025-01-01T00:00:00+00:00",
            suites: tuple[str, ...] = ("finance",)) -> EvalReport:
    def stage(score: float) -> dict:
        task = {"kind": "numeric", "n": 8, "primary": "numeric_match", "score": score, "metrics": {},
                "samples": [{"id": "q1", "question": "Revenue went from 100 to 125. Percent change?",
                             "prediction": "The answer is 25.", "answer": 25.0, "correct": True},
                            {"id": "q2", "question": "A | B?", "prediction": "", "answer": 3.0, "correct": False}]}
        return {s: {"score": score, "role": "domain", "n": 8, "tasks": {"percent_change": task}} for s in suites}

    stages = {"before": stage(before)} if before is not None else {}
    stages["after"] = stage(after)
    return EvalReport(stages, meta={"created": created, "source": "test", "recipe_sha256": "abc123",
                                    "settings": {"generation": {"max_new_tokens": 8, "temperature": 0.0}}})


def test_labels_in_order_nothing_overwritten(tmp_path: Path) -> None:
    h = EvalHistory(tmp_path / "eval")
    h.add(_report(0.5, 0.25), "train", reserved_ok=True)
    saved, d = h.add(_report(0.625))
    assert saved.meta["label"] == "eval-1" and d == tmp_path / "eval" / "eval-1"
    h.add(_report(0.75, suites=("finance", "general")), "mine")
    h.add(_report(0.875))
    assert h.labels() == ["train", "eval-1", "mine", "eval-3"]
    index = json.loads((tmp_path / "eval" / "index.json").read_text())
    assert [e["label"] for e in index["evaluations"]] == ["train", "eval-1", "mine", "eval-3"]
    assert index["evaluations"][0]["suites"]["finance"] == {"n": 8, "role": "domain", "before": 0.25, "after": 0.5}
    for label in h.labels():
        assert {p.name for p in (tmp_path / "eval" / label).iterdir()} == {"report.json", "report.md", "report.png"}
    assert h.training().scores["finance"]["after"] == 0.5 and h.latest().scores["finance"]["after"] == 0.875
    assert h.report("mine").meta["label"] == "mine" and set(h.reports()) == set(h.labels())
    page = (tmp_path / "eval" / "report.md").read_text()
    for i, label in enumerate(h.labels(), 1):
        assert f"## {i}. {label}" in page
    assert "| suite | train | eval-1 | mine | eval-3 |" in page
    assert "0.500 [" in page and "n=8" in page and "Sample predictions (after)" in page
    assert "A \\| B?" in page and "(empty)" in page and "| yes |" in page and "| no |" in page
    assert "Sample predictions" in (tmp_path / "eval" / "mine" / "report.md").read_text()


def test_reused_label_is_an_error_naming_the_labels(tmp_path: Path) -> None:
    h = EvalHistory(tmp_path / "eval")
    h.add(_report(0.5), "train", reserved_ok=True)
    h.add(_report(0.5), "a")
    with pytest.raises(RunError, match=r"labelled 'a' exists already \(labels: train, a\).*--force"):
        h.add(_report(0.9), "A")  # case-insensitive: one dir per label on any file system
    with pytest.raises(VerticalizeError, match="kept for the evaluation made during training"):
        h.new_label("train")
    for bad in ("a b", "../x", "", "report.md", "-x"):
        with pytest.raises(VerticalizeError, match="letters, digits"):
            h.new_label(bad)
    h.add(_report(0.9), "a", force=True)  # replaces that one, now the latest
    assert h.labels() == ["train", "a"] and h.report("a").scores["finance"]["after"] == 0.9
    assert not [p for p in (tmp_path / "eval").iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_old_single_report_reads_as_train_and_is_kept(tmp_path: Path) -> None:
    ev = tmp_path / "eval"
    _report(0.5, 0.25).save(ev)  # a run from before the history: eval/report.{json,md,png}
    h = EvalHistory(ev)
    assert h.labels() == ["train"] and h.main().scores["finance"]["delta"] == 0.25
    h.add(_report(0.75), "later")
    assert h.labels() == ["train", "later"] and (ev / "report.json").is_file() and (ev / "later").is_dir()
    assert h.training().scores["finance"]["after"] == 0.5
    assert "## 1. train" in (ev / "report.md").read_text() and "## 2. later" in (ev / "report.md").read_text()


def test_missing_index_is_rebuilt_from_the_reports(tmp_path: Path) -> None:
    h = EvalHistory(tmp_path / "eval")
    h.add(_report(0.5, created="2025-01-01T00:00:00+00:00"), "train", reserved_ok=True)
    h.add(_report(0.6, created="2025-01-03T00:00:00+00:00"), "zz")
    h.add(_report(0.7, created="2025-01-02T00:00:00+00:00"), "aa")
    (tmp_path / "eval" / "index.json").write_text("{not json")
    assert h.labels() == ["train", "aa", "zz"]  # by creation time, training first
