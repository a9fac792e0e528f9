"""Replay for cpt stages (by tokens, from the replay pack's text) and reading comprehension through
the recipe, the pipeline and a tiny training run."""

from __future__ import annotations

import json
from pathlib import Path

from verticalize import Adapter
from verticalize.data.pipeline import as_text, build_training_data
from verticalize.recipe import parse_recipe

CPT = dict(max_steps=2, max_length=64, overlap=8, batch_size=2, grad_accum=1, logging_steps=1, save_steps=1000)


def test_cpt_replay_uses_text_and_hits_the_token_ratio(tmp_path: Path) -> None:
    r = parse_recipe({"domain": "legal", "train": {"kind": "cpt"},
                      "replay": {"source": "general", "ratio": 0.2, "by": "tokens"}})
    data = build_training_data(r, length=lambda e: len(e["text"]))
    rep = data.report["steps"][-1]
    assert rep["step"] == "replay" and rep["replay_data"] == "chat rendered as text"  # general has no corpus:
    assert rep["ratio_target"] == 0.2 and abs(rep["ratio_tokens"] - 0.2) <= 0.005
    general = [e for e in data.train if e["_origin"] == "general"]
    assert general and all(set(e) <= {"text", "id", "lang", "task", "_origin"} for e in general)
    assert any(s.get("role") == "replay" for s in data.report["sources"])
    # by examples: the exact count, and a text file as the replay source keeps its rows as they are
    f = tmp_path / "general.jsonl"
    f.write_text("".join(json.dumps({"text": f"general text number {i}."}) + "\n" for i in range(50)), "utf-8")
    r = parse_recipe({"domain": "legal", "train": {"kind": "cpt"}, "replay": {"source": str(f), "ratio": 0.2}})
    rep = build_training_data(r).report["steps"][-1]
    assert rep["replay_data"] == "text" and rep["general_examples"] == 6 and rep["domain_examples"] == 24
    chat = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                         {"role": "assistant", "content": "A"}], "lang": "en"}
    assert as_text(chat) == {"text": "S\nU\nA", "lang": "en"}


def test_cpt_with_replay_by_tokens_trains(tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"  # a small domain corpus keeps the tokenizing short
    docs.write_text("".join(json.dumps({"text": f"Article {i}. A member bank shall report its insured deposits to "
                                                f"the insurer every quarter; reports are due on day {i}."}) + "\n"
                            for i in range(40)), "utf-8")
    run = (Adapter(base="tiny").with_data(str(docs), format="text").replay(source="general", ratio=0.2, by="tokens")
           .cpt(**CPT).train(output_dir=tmp_path / "r", quiet=True))
    step = next(s for s in run.manifest["data"]["steps"] if s["step"] == "replay")
    assert step["by"] == "tokens" and step["ratio_target"] == 0.2
    assert abs(step["ratio_tokens"] - 0.2) <= 0.02
    assert step["general_examples"] > 0 and run.adapter_path.is_dir()


def test_cpt_reading_comprehension_trains_and_reports_counts(tmp_path: Path) -> None:
    a = Adapter(base="tiny").with_domain("legal").cpt(reading_comprehension=True, **CPT)
    assert a.recipe.stages[0].reading_comprehension is True
    assert "reading_comprehension: true" in a.to_yaml()
    run = a.train(output_dir=tmp_path / "rc", quiet=True)
    step = next(s for s in run.manifest["data"]["steps"] if s["step"] == "reading_comprehension")
    assert step["in"] == step["out"] == step["documents"] == step["with_tasks"] == 24
    assert step["qa"] > 0 and step["definition"] > 0 and step["tasks"] > 24
    assert run.adapter_path.is_dir()
    # off by default: no step
    plain = build_training_data(parse_recipe({"domain": "legal", "train": {"kind": "cpt"}}))
    assert all(s["step"] != "reading_comprehension" for s in plain.report["steps"])
