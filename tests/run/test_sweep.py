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


def test_user_suite_file_and_roles(tmp_path: Path) -> None:
    import json

    from verticalize import DataError
    from verticalize.evals.suite import load_suite

    rows = [{"instruction": "Capital of France?\nA. Paris\nB. Rome", "output": "A. Paris", "kind": "mc",
             "choices": ["Paris", "Rome"], "answer": "A", "task": "geo", "lang": "en"}]
    (tmp_path / "q.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "mine.yaml").write_text("name: mine\nrole: retention\nsystem_prompt: Be brief.\n"
                                        "data: [{path: q.jsonl, format: alpaca}]\n")
    s = load_suite(tmp_path / "mine.yaml")
    assert s.name == "mine" and s.role == "retention" and s.examples[0]["messages"][0]["content"] == "Be brief."
    (tmp_path / "bad.yaml").write_text("name: bad\nrol: domain\ndata: [q.jsonl]\n")
    try:
        load_suite(tmp_path / "bad.yaml")
    except DataError as e:
        assert "rol" in str(e) and "allowed" in str(e)
    else:
        raise AssertionError("unknown key accepted")
    assert load_suite("general").role == "retention" and load_suite("finance").role == "domain"
