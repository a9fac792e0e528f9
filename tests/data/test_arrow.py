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


def _tricky(path: Path, n: int = 2400) -> None:
    """Alpaca rows with what the columnar path must get exactly right: blank and real inputs, system
    columns (empty too), PII (incl. non-ASCII digits Python's \\d matches), empty and repetitive answers,
    duplicates only NFKC/whitespace/case tell apart, nested extra keys, blank lines; and a few rows
    (a numeric id, a number as output) that send their block down the per-example path."""
    out = []
    for i in range(n):
        r: dict = {"instruction": f"Question {i % 1500}: what is {i % 1500} times 3?", "output": f"{(i % 1500) * 3}",
                   "lang": "en" if i % 3 else "zh", "task": f"t{i % 4}", "id": f"x{i}"}
        if i % 11 == 0:
            r["input"] = "  \t "
        if i % 13 == 0:
            r["input"] = f"context {i}"
        if i % 17 == 0:
            r["system"] = "You are careful."
        if i % 19 == 0:
            r["system"] = ""
        if i % 23 == 0:
            r["output"] = f"mail a{i}@example.com or call 138 1234 5678"
        if i % 29 == 0:
            r["output"] = f"call 13８1234567{i % 10} now"
        if i % 31 == 0:
            r["output"] = "ab" * 150
        if i % 37 == 0:
            r["output"] = "   "
        if i % 41 == 0:
            r["instruction"] = ["Ｗｉｄｅ  Text\u3000spaces", "wide text spaces"][i % 2]
            r["output"] = "same"
        if i % 43 == 0:
            r["extra"] = {"nested": [1, 2]}
        if i == 1900:
            r["id"] = 1900
        if i == 2100:
            r["output"] = 42
        line = json.dumps(r, ensure_ascii=i % 2 == 0)
        if i == 1300:
            line = "  " + line  # indented: read right, by the per-example path
        if i == 1700:
            line = line + " " + line  # two objects on a line: malformed, named by its line
        out.append(line + ("\n\n" if i % 53 == 0 else "\n"))
    path.write_text("".join(out), encoding="utf-8")


@pytest.mark.parametrize("kind", ["sft", "cpt"])
def test_columnar_blocks_build_what_the_python_path_builds(tmp_path, monkeypatch, kind):
    """The columnar path (pyarrow's JSON reader and Arrow kernels) is used for clean blocks and yields to
    the per-example path for the others; either way the result is the Python path's."""
    from verticalize.data import columnar

    data = tmp_path / "d.jsonl"
    _tricky(data)
    if kind == "cpt":
        def text(line: str) -> str:
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                return line  # kept malformed
            return json.dumps({"text": f"{r['instruction']}\n{r['output']}", "id": r["id"], "lang": r["lang"]},
                              ensure_ascii=False)

        data.write_text("".join(text(ln) + "\n" for ln in data.read_text().splitlines()))
    monkeypatch.setattr(shards, "_BLOCK", 16 << 10)  # many blocks
    used: list[bool] = []
    real = columnar.fact_table

    def spy(*a, **kw):
        t = real(*a, **kw)
        used.append(t is not None)
        return t

    monkeypatch.setattr(columnar, "fact_table", spy)
    a = Adapter(base="tiny").with_data(data, format="alpaca" if kind == "sft" else "text", on_error="skip").clean(
        pii="redact", dedup="exact", languages=["en", "zh"], min_length=3)
    if kind == "sft":
        a = a.clean(tasks=["t0", "t1", "t2"])
    else:
        a = a.cpt(max_steps=1)
    py, ar = _both(a.processing(num_proc=1), tmp_path, kind)
    assert any(used) and not all(used)  # both paths ran
    assert _rows(py.train, kind) == _rows(ar.train, kind)
    assert py.report["steps"] == ar.report["steps"] and py.report["sources"] == ar.report["sources"]
    assert any(f"{data}:1734: malformed JSON (Extra data" in p for p in ar.report["sources"][0]["skipped_examples"])
    steps = {s["step"]: s for s in ar.report["steps"]}
    assert steps["pii_redact"]["changed"] > 0 and steps["dedup_exact"]["out"] < steps["dedup_exact"]["in"]
    if kind == "cpt":  # streamed: the same examples, read by the same two paths
        used.clear()
        st = build_training_data(a.processing(streaming=True).recipe, kind="cpt")
        assert _rows(list(st.train), kind) == _rows(py.train, kind) and any(used) and not all(used)
    if kind == "sft":
        assert steps["quality"]["empty_response"] > 0 and steps["quality"]["repetitive"] > 0
        assert any("[PHONE]" in m["content"] for ex in ar.train for m in ex["messages"])
        assert any(m["role"] == "system" for ex in ar.train for m in ex["messages"])


def test_columnar_pii_prefilter_holds_every_text_redaction_changes():
    """The RE2 prefilter decides which rows Python's redact_pii sees: it must match every text that
    redaction changes (fuzzed: digit runs of any decimal script, separators, brackets, e-mails)."""
    import random

    import pyarrow as pa
    import pyarrow.compute as pc

    from verticalize.data.columnar import _MAYBE_PII
    from verticalize.data.pii import redact_pii

    rng = random.Random(0)
    digits = "0123456789" * 6 + "０１２３４５６７８９٠١٢٣٤٥٦٧٨٩"

    def token() -> str:
        r = rng.random()
        if r < 0.55:
            run = "".join(rng.choice(digits) for _ in range(rng.randint(1, 19)))
            return ("1" + rng.choice("3456789") + run) if rng.random() < 0.2 else run
        return rng.choice([" ", "-", ".", "(", ")", "+", "+86 ", "\n", "\u3000", "a.b@example.com", "x@y", "X",
                           "word", ",", "0", "(0", "86"])

    texts = ["张三 身份证 11010519491231002X 手机 138-1234-5678 邮箱 zs@example.cn 卡号 6222 0212 3456 7890 3 "
             "call +1 (415) 555-2671.", "card 4111 1111 1111 1111", "(010)12345678", "0755-12345678",
             "415.555.2671", "(415)\u3000555-2671"]
    texts += ["".join(token() for _ in range(rng.randint(1, 9))) for _ in range(30_000)]
    changed = [t for t in texts if redact_pii(t) != t]
    assert len(changed) > 500
    hit = pc.match_substring_regex(pa.array(changed), _MAYBE_PII).to_pylist()
    missed = [t for t, h in zip(changed, hit) if not h]
    assert not missed, missed[:5]
    # and it is selective: most number-heavy texts are not candidates
    assert sum(pc.match_substring_regex(pa.array(texts), _MAYBE_PII).to_pylist()) < 0.8 * len(texts)


@pytest.mark.parametrize("by,steps", [("examples", False), ("tokens", False), ("examples", True)])
def test_replay_file_is_read_by_the_shard_jobs_as_the_python_path_loads_it(tmp_path, monkeypatch, by, steps):
    """A replay file (JSON Lines, cut into byte ranges) goes through the same parallel jobs as the domain
    data, never through load_replay, and gives the Python path's examples, draws and report; a bad line
    in it is the same error, naming file and line."""
    from verticalize.data import loading
    from verticalize.recipe import DataSpec

    general = tmp_path / "general.jsonl"
    _messy(general)
    clean = tmp_path / "general-clean.jsonl"
    clean.write_bytes(b"".join(ln for i, ln in enumerate(general.read_bytes().splitlines(keepends=True), 1)
                               if i % 97 and i % 131 and i % 151))
    monkeypatch.setattr(shards, "SHARD_BYTES", 2048)
    length = _chars if by == "tokens" else None

    def adapter(path):
        a = Adapter(base="tiny").with_domain("finance").replay(str(path), ratio=0.3, by=by)
        if steps:
            a = a.clean(steps=[{"target": "tests.user_strategies:DropMentions", "args": {"word": "dose"}}])
        return a

    def arrow_recipe(a, cache):
        return a.processing(engine="arrow", num_proc=2, cache_dir=str(tmp_path / cache)).recipe

    py = build_training_data(adapter(clean).recipe, kind="sft", length=length)
    calls = []
    real = loading.load_replay
    monkeypatch.setattr(loading, "load_replay", lambda *x, **k: calls.append(x) or real(*x, **k))
    ar = build_training_data(arrow_recipe(adapter(clean), "c"), kind="sft", length=length)
    assert calls == []
    assert _rows(py.train, "sft") == _rows(ar.train, "sft")
    assert py.report["steps"] == ar.report["steps"] and py.report["sources"] == ar.report["sources"]
    mix = ar.report["steps"][-1]
    assert mix["step"] == "replay" and mix["general_examples"] > 0
    assert len(shards.plan_part(DataSpec(path=str(clean)), None, False, 2).shards) == 2  # really cut in two
    with pytest.raises(DataError) as py_err:
        build_training_data(adapter(general).recipe, kind="sft", length=length)
    with pytest.raises(DataError) as ar_err:
        build_training_data(arrow_recipe(adapter(general), "c2"), kind="sft", length=length)
    assert str(ar_err.value) == str(py_err.value) and f"{general.name}:131: not UTF-8" in str(ar_err.value)


def test_rows_gathered_in_place_when_the_table_is_too_large_to_combine(tmp_path, monkeypatch):
    """Above COMBINE_BYTES the final take reads the memory-mapped chunks as they are: the same rows."""
    from verticalize.data import arrowmix

    a = Adapter(base="tiny").with_domain("finance").replay("general", ratio=0.2)
    combined = build_training_data(a.processing(engine="arrow", cache_dir=str(tmp_path / "c1")).recipe, kind="sft")
    monkeypatch.setattr(arrowmix, "COMBINE_BYTES", 0)
    in_place = build_training_data(a.processing(engine="arrow", cache_dir=str(tmp_path / "c2")).recipe, kind="sft")
    assert _rows(combined.train, "sft") == _rows(in_place.train, "sft") and len(in_place.train) > 0
