"""Run.evaluate keeps each evaluation under its label; quiet=True from Python leaves stderr empty."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import tiny_adapter
from verticalize.errors import RunError


def test_quiet_python_run_and_labelled_evaluations(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    a = tiny_adapter(tmp_path, None, max_steps=1).evaluate_with(
        "finance", max_examples=3, tasks=["percent_change", "term_mc"], languages=["en"],
        generation={"max_new_tokens": 4}, when=["after"])
    run = a.train(output_dir=tmp_path / "run", quiet=True)
    assert capfd.readouterr().err == ""  # no bar of ours, no library bar or warning: those are in run.log
    log = (run.output_dir / "run.log").read_text()
    assert "sft:lora step 1: loss" in log and "eval after: finance: 2/2 questions, score" in log

    rep = run.evaluate(label="again", before=False, quiet=True)
    assert capfd.readouterr().err == ""
    assert rep.meta["label"] == "again" and set(rep.stages) == {"after"}
    assert rep.meta["recipe_sha256"] == run.manifest["recipe_sha256"] and rep.meta["settings"]["max_examples"] == 3
    samples = rep.samples()["finance"]
    assert {s["task"] for s in samples} == {"percent_change", "term_mc"}
    assert all(s["question"] and "correct" in s for s in samples)
    assert list(run.evaluations) == ["train", "again"]
    assert run.report.meta["label"] == "train"  # the run's report: the one made in training, not the latest
    with pytest.raises(RunError, match=r"'again' exists already \(labels: train, again\)"):
        run.evaluate(label="again", quiet=True)
    index = json.loads((run.output_dir / "eval" / "index.json").read_text())["evaluations"]
    assert [e["label"] for e in index] == ["train", "again"]
    assert "## 2. again" in (run.output_dir / "eval" / "report.md").read_text()
