"""The Arrow engine (verticalize.data.arrow / stream) builds what the Python path builds: the same
examples in the same order, the same report; bad lines named by file:line across parallel byte ranges;
a cache that is hit when nothing changed and missed when something did; a stream for cpt corpora."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from verticalize import Adapter
from verticalize.data import arrow, shards
from verticalize.data.pipeline import build_training_data
from verticalize.errors import DataError

CORE = {"sft": ("messages",), "cpt": ("text",), "dpo": ("prompt", "chosen", "rejected")}


def _rows(train, kind):
    return [[ex.get(k) for k in CORE[kind]] + [None if ex.get(k) is None else str(ex[k])
                                                for k in ("id", "lang", "task", "_origin")] for ex in train]


def _both(adapter, tmp_path, kind, length=None, **processing):
    r = adapter.recipe
    py = build_training_data(r, kind=kind, length=length)
    ar = build_training_data(adapter.processing(engine="arrow", cache_dir=str(tmp_path / "cache"), **processing).recipe,
                             kind=kind, length=length)
    return py, ar


def _chars(ex):
    from verticalize.data.clean import example_text

    return len(example_text(ex))


@pytest.mark.parametrize("make,kind,length", [
    (lambda: Adapter(base="tiny").with_domain("finance").replay("general", ratio=0.2), "sft", None),
    (lambda: Adapter(base="tiny").with_domain("legal").clean(pii="redact", dedup="near", languages=["zh"])
     .replay("general", ratio=0.3, by="tokens"), "sft", _chars),
    (lambda: Adapter(base="tiny").with_domain("medical").pot()
     .clean(steps=[{"target": "tests.user_strategies:DropMentions", "args": {"word": "dose"}}]), "sft", None),
    (lambda: Adapter(base="tiny").with_domain("legal").cpt(max_steps=2, reading_comprehension=True)
     .replay("general", ratio=0.1), "cpt", None),
])
def test_arrow_engine_builds_what_the_python_path_builds(tmp_path, make, kind, length):
    py, ar = _both(make(), tmp_path, kind, length)
    assert _rows(py.train, kind) == _rows(ar.train, kind)
    assert len(ar.train) > 0
    assert py.report["steps"] == ar.report["steps"]
    assert py.report["sources"] == ar.report["sources"]
    assert ar.report["engine"] == "arrow" and ar.report["cache"]["hit"] is False
    assert type(ar.train).__name__ == "Dataset"


def _messy(path: Path) -> dict[int, str]:
    """A JSON Lines file with bad lines scattered through it: {line: what is wrong}."""
    bad = {}
    with path.open("wb") as fh:
        for i in range(1, 601):
            if i % 97 == 0:
                fh.write(b'{"instruction": "broken", "output": \n')
                bad[i] = "malformed JSON"
            elif i % 131 == 0:
                fh.write(b'{"instruction": "caf\xe9", "output": "x"}\n')
                bad[i] = "not UTF-8"
            elif i % 151 == 0:
                fh.write(json.dumps({"instruction": f"q{i}"}).encode() + b"\n")
                bad[i] = "missing field 'output'"
            else:
                fh.write(json.dumps({"instruction": f"What is {i} plus {i}?", "output": f"{2 * i}",
                                     "lang": "en"}).encode() + b"\n")
    return bad


def test_parallel_byte_ranges_name_every_bad_line_as_the_python_path_does(tmp_path, monkeypatch):
    data = tmp_path / "messy.jsonl"
    bad = _messy(data)
    monkeypatch.setattr(shards, "SHARD_BYTES", 2048)  # many ranges in a small file, read by 2 forked workers
    a = Adapter(base="tiny").with_data(str(data), format="alpaca", on_error="skip")
    py, ar = _both(a, tmp_path, "sft", num_proc=2)
    assert _rows(py.train, "sft") == _rows(ar.train, "sft")
    (src_py,), (src_ar,) = py.report["sources"], ar.report["sources"]
    assert src_ar["skipped_examples"] == src_py["skipped_examples"]
    assert sorted(int(m.split(":")[1]) for m in src_ar["skipped_examples"]) == sorted(bad)
    assert src_ar["skipped"] == len(bad) and src_ar["read"] == src_py["read"]
    parts = shards.plan_part(a.recipe.data[0], None, False, 2)
    assert len(parts.shards) == 2  # the file really was cut, one range per worker
    # on_error: raise names the bad line the Python path names (the first undecodable one), file and line
    strict = Adapter(base="tiny").with_data(str(data), format="alpaca")
    with pytest.raises(DataError) as py_err:
        build_training_data(strict.recipe, kind="sft")
    with pytest.raises(DataError) as ar_err:
        build_training_data(strict.processing(engine="arrow", num_proc=2, cache_dir=str(tmp_path / "c2")).recipe,
                            kind="sft")
    assert str(ar_err.value) == str(py_err.value) and f"{data.name}:131: not UTF-8" in str(ar_err.value)


def test_cache_is_hit_when_nothing_changed_and_missed_when_data_or_recipe_did(tmp_path, chat_jsonl):
    a = Adapter(base="tiny").with_data(str(chat_jsonl)).processing(engine="arrow", cache_dir=str(tmp_path / "c"))
    first = build_training_data(a.recipe, kind="sft")
    again = build_training_data(a.recipe, kind="sft")
    assert first.report["cache"]["hit"] is False and again.report["cache"]["hit"] is True
    assert _rows(first.train, "sft") == _rows(again.train, "sft")
    changed = a.clean(pii="redact")
    assert build_training_data(changed.recipe, kind="sft").report["cache"]["hit"] is False
    lines = chat_jsonl.read_text("utf-8").splitlines()
    chat_jsonl.write_text("\n".join(lines[:10]) + "\n", "utf-8")
    os.utime(chat_jsonl, ns=(1, 1))
    fewer = build_training_data(a.recipe, kind="sft")
    assert fewer.report["cache"]["hit"] is False and len(fewer.train) == 10
    off = a.processing(engine="arrow", cache=False, cache_dir=str(tmp_path / "c"))
    assert build_training_data(off.recipe, kind="sft").report["cache"]["hit"] is False


def test_auto_engine_switches_to_arrow_at_the_size_threshold(tmp_path, chat_jsonl, monkeypatch):
    a = Adapter(base="tiny").with_data(str(chat_jsonl)).processing(cache_dir=str(tmp_path / "c"))
    assert not arrow.use_arrow(a.recipe)
    monkeypatch.setattr(arrow, "AUTO_BYTES", chat_jsonl.stat().st_size)
    assert arrow.use_arrow(a.recipe)
    assert build_training_data(a.recipe, kind="sft").report["engine"] == "arrow"
    assert not arrow.use_arrow(a.processing(engine="python").recipe)


def test_stream_yields_the_built_examples_and_mixes_replay_by_probability(tmp_path):
    a = Adapter(base="tiny").with_domain("legal").cpt(max_steps=2)
    built = build_training_data(a.recipe, kind="cpt")
    streamed = build_training_data(a.processing(streaming=True).recipe, kind="cpt")
    assert type(streamed.train).__name__ == "IterableDataset" and streamed.report["streaming"] is True
    assert [e["text"] for e in streamed.train] == [e["text"] for e in built.train]
    mixed = build_training_data(Adapter(base="tiny").with_domain("finance").replay("general", ratio=0.25)
                                .processing(streaming=True).recipe, kind="sft")
    origins = [e["_origin"] for e in mixed.train]
    share = origins.count("general") / len(origins)
    assert origins.count("domain") > 1000 and 0.21 < share < 0.29  # 0.25 in expectation
    with pytest.raises(DataError, match="near.*cannot stream"):
        build_training_data(a.clean(dedup="near").processing(streaming=True).recipe, kind="cpt")


def test_streamed_corpus_trains_cpt_and_needs_max_steps(tmp_path):
    a = (Adapter(base="tiny").with_domain("legal").cpt(max_steps=2, batch_size=2, max_length=64, overlap=8,
                                                       save_steps=1000)
         .processing(streaming=True))
    run = a.train(output_dir=str(tmp_path / "run"), quiet=True)
    assert run.metrics["global_step"] == 2 and run.metrics["examples"] == "streamed"
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text("utf-8"))
    assert manifest["data"]["streaming"] is True
