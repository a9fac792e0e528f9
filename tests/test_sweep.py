"""Replay sweep end to end on the tiny base."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import tiny_adapter


def test_sweep_two_ratios(tmp_path: Path) -> None:
    a = tiny_adapter(tmp_path, None, max_steps=2).evaluate_with(
        "finance", "general", max_examples=4, languages=["en"], tasks=["term_mc", "headline_sentiment",
                                                                       "capital", "science_mc"],
        generation={"max_new_tokens": 4})
    res = a.sweep(replay=[0.0, 0.2], output_dir=tmp_path / "sweep", quiet=True)
    assert [r["ratio"] for r in res.rows] == [0.0, 0.2]
    assert set(res.before) == {"finance", "general"}
    for r in res.rows:
        assert abs(r["forgetting"] - (res.before["general"] - r["general"])) < 1e-3
    assert res.best(tolerance=1.0) == 0.0
    for f in ("sweep.json", "sweep.md", "sweep.png"):
        assert (tmp_path / "sweep" / f).is_file()
    assert "| 0.2 |" in res.to_markdown()
    mix = [s for s in (tmp_path / "sweep" / "replay-0.2" / "manifest.json").read_text().split('"step"') if "replay" in s]
    assert mix
