"""Loaders, formats, bad data, cleaning, PII and replay mixing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verticalize import DataError, UnknownNameError
from verticalize.data import redact_pii, replay_mix
from verticalize.data.clean import clean_examples, drop_overlap
from verticalize.data.formats import detect_format
from verticalize.data.pipeline import build_training_data, load_source
from verticalize.recipe import CleanSpec, DataSpec, parse_recipe

ALPACA = [{"instruction": f"Q{i}", "input": "", "output": f"A{i}"} for i in range(5)]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_every_file_type(tmp_path: Path) -> None:
    import csv

    from datasets import Dataset

    _write(tmp_path / "a.jsonl", ALPACA)
    (tmp_path / "a.json").write_text(json.dumps(ALPACA))
    with (tmp_path / "a.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["instruction", "input", "output"])
        w.writeheader()
        w.writerows(ALPACA)
    Dataset.from_list(ALPACA).to_parquet(str(tmp_path / "a.parquet"))
    Dataset.from_list(ALPACA).save_to_disk(str(tmp_path / "hfdir"))
    for name in ("a.jsonl", "a.json", "a.csv", "a.parquet", "hfdir"):
        ex, info = load_source(DataSpec(path=str(tmp_path / name)))
        assert info["format"] == "alpaca" and len(ex) == 5, name
        assert ex[2]["messages"] == [{"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}]


@pytest.mark.parametrize("row,fmt", [
    ({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}, "sharegpt"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}, "messages"),
    ({"text": "raw domain text"}, "text"),
    ({"prompt": "hi", "completion": "yo"}, "prompt_completion"),
    ({"prompt": "hi", "chosen": "good", "rejected": "bad"}, "preference"),
    ({"instruction": "hi", "output": "yo"}, "alpaca"),
])
def test_formats_detected_and_converted(tmp_path: Path, row: dict, fmt: str) -> None:
    assert detect_format(row) == fmt
    ex, info = load_source(DataSpec(path=str(_write(tmp_path / "d.jsonl", [row]))))
    assert info["format"] == fmt
    if fmt == "text":
        assert ex[0]["text"] == "raw domain text"
    elif fmt == "preference":
        assert ex[0]["chosen"][0]["content"] == "good" and ex[0]["prompt"][0]["role"] == "user"
    else:
        assert ex[0]["messages"][-1] == {"role": "assistant", "content": "yo"}


def test_explicit_format_and_columns(tmp_path: Path) -> None:
    p = _write(tmp_path / "d.jsonl", [{"q": "hi", "a": "yo"}])
    ex, _ = load_source(DataSpec(path=str(p), format="prompt_completion", columns={"q": "prompt", "a": "completion"}))
    assert ex[0]["messages"][0]["content"] == "hi"
    with pytest.raises(DataError, match=r"d.jsonl:1: cannot tell the format"):
        load_source(DataSpec(path=str(p)))


def test_malformed_json_line_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": \n{"instruction": "d", "output": "e"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: malformed JSON"):
        load_source(DataSpec(path=str(p)))
    ex, info = load_source(DataSpec(path=str(p), on_error="skip"))
    assert len(ex) == 2 and info["skipped"] == 1 and "bad.jsonl:2" in info["skipped_examples"][0]


def test_missing_and_mistyped_fields(tmp_path: Path) -> None:
    p = _write(tmp_path / "m.jsonl", [{"instruction": "a", "output": "b"}, {"instruction": "c"}])
    with pytest.raises(DataError, match=r"m.jsonl:2: missing field 'output'"):
        load_source(DataSpec(path=str(p), format="alpaca"))
    p = _write(tmp_path / "t.jsonl", [{"instruction": "a", "output": ["not", "text"]}])
    with pytest.raises(DataError, match=r"t.jsonl:1: field 'output' must be text"):
        load_source(DataSpec(path=str(p), format="alpaca"))
    ex, info = load_source(DataSpec(path=str(_write(tmp_path / "s.jsonl", [{"instruction": "a", "output": "b"},
                                                                          {"instruction": "c"}])),
                                      format="alpaca", on_error="skip"))
    assert len(ex) == 1 and info["skipped"] == 1


def test_empty_and_non_utf8_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(DataError, match="holds no examples"):
        load_source(DataSpec(path=str(tmp_path / "empty.jsonl")))
    (tmp_path / "latin.jsonl").write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"latin.jsonl:2: not UTF-8"):
        load_source(DataSpec(path=str(tmp_path / "latin.jsonl")))
    with pytest.raises(DataError, match="data file not found"):
        load_source(DataSpec(path=str(tmp_path / "nope.jsonl")))
    (tmp_path / "x.doc").write_text("hi")
    with pytest.raises(DataError, match="unsupported file type '.doc'"):
        load_source(DataSpec(path=str(tmp_path / "x.doc")))
    with pytest.raises(UnknownNameError, match="data format"):
        from verticalize.data.formats import convert

        convert([{"text": "a"}], "alpacca", "x")


def test_pii_redaction() -> None:
    text = ("张三 身份证 11010519491231002X 手机 138-1234-5678 邮箱 zs@example.cn 卡号 6222 0212 3456 7890 3 "
            "call +1 (415) 555-2671. 2024-03-05 转账 1,234,567.89 元，依据第一百二十条、第120条")
    out = redact_pii(text)
    for ph in ("[ID]", "[PHONE]", "[EMAIL]"):
        assert ph in out
    assert "11010519491231002X" not in out and "zs@example.cn" not in out and "138-1234-5678" not in out
    assert "2024-03-05" in out and "1,234,567.89" in out and "第120条" in out
    assert redact_pii("card 4111 1111 1111 1111") == "card [BANK_CARD]"
    assert redact_pii("card 4111 1111 1111 1112") == "card 4111 1111 1111 1112"  # Luhn fails: left alone
    assert redact_pii("id 110105194912310021") == "id 110105194912310021"  # checksum fails: left alone


def _msgs(q: str, a: str = "ok") -> dict:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def test_cleaning_steps_report_counts() -> None:
    para = ("EBITDA is earnings before interest, taxes, depreciation and amortization. Analysts use it to compare "
            "the operating profitability of companies with different capital structures and tax situations.")
    ex = [_msgs(para), _msgs(para.upper()), _msgs(para.replace("Analysts use", "Analysts often use")),
          _msgs("x" * 900), _msgs("mail me at a@b.com")]
    out, steps = clean_examples(ex, CleanSpec(dedup="near", pii="redact", max_length=800))
    by = {s["step"]: s for s in steps}
    assert by["pii_redact"]["changed"] == 1
    assert by["length"]["out"] == 4
    assert by["dedup_exact"]["out"] == 3  # case and whitespace folded
    assert by["dedup_near"]["out"] == 2  # the one-word variant is a near duplicate
    assert any("[EMAIL]" in e["messages"][0]["content"] for e in out)


def test_contamination_check() -> None:
    train = [_msgs("q1"), _msgs("q2"), _msgs("Q3 ")]
    evals = [_msgs("q3", "different answer")]
    kept, rep = drop_overlap(train, evals)
    assert len(kept) == 2 and rep["out"] == 2


@pytest.mark.parametrize("ratio", [0.05, 0.2, 0.5])
def test_replay_ratio_by_examples_is_exact(ratio: float) -> None:
    dom = [_msgs(f"d{i}") for i in range(1000)]
    gen = [_msgs(f"g{i}") for i in range(300)]
    mixed, rep = replay_mix(dom, gen, ratio, seed=1)
    share = sum(e["_origin"] == "general" for e in mixed) / len(mixed)
    assert abs(share - ratio) <= 0.01 and rep["ratio_examples"] == round(share, 4)
    again, _ = replay_mix(dom, gen, ratio, seed=1)
    assert [e["messages"][0]["content"] for e in again] == [e["messages"][0]["content"] for e in mixed]


def test_replay_ratio_by_tokens() -> None:
    dom = [_msgs("d" * 50) for _ in range(200)]
    gen = [_msgs("g" * (5 + i % 40)) for i in range(500)]
    length = lambda e: len(e["messages"][0]["content"])  # noqa: E731
    mixed, rep = replay_mix(dom, gen, 0.2, by="tokens", length=length, seed=3)
    assert abs(rep["ratio_tokens"] - 0.2) <= 0.01


def test_build_training_data_from_recipe(tmp_path: Path) -> None:
    r = parse_recipe({"domain": "finance", "replay": {"source": "general", "ratio": 0.2},
                      "clean": {"languages": ["en"], "tasks": ["percent_change", "term_mc"]}, "pot": {"enabled": True}})
    data = build_training_data(r)
    steps = {s["step"]: s for s in data.report["steps"]}
    assert steps["select"]["out"] < steps["select"]["in"]
    assert abs(steps["replay"]["ratio_examples"] - 0.2) <= 0.01
    pot = [e for e in data.train if e.get("task") == "percent_change"]
    assert pot and pot[0]["messages"][-1]["content"].startswith("```python")
    assert all(s["sha256"] for s in data.report["sources"])


def test_mix_strategies(tmp_path: Path) -> None:
    from verticalize.data.mix import mix_sources

    a = [{"src": "a", "i": i} for i in range(100)]
    b = [{"src": "b", "i": i} for i in range(20)]
    out, rep = mix_sources([a, b], [1.0, 2.0], "concat", seed=0)
    assert len(out) == 140 and sum(e["src"] == "b" for e in out) == 40
    out, _ = mix_sources([a, b], [1.0, 1.0], "interleave_first", seed=0)
    assert sum(e["src"] == "b" for e in out) == 20 and len({e["i"] for e in out if e["src"] == "a"}) < 100
    out, _ = mix_sources([a, b], [1.0, 1.0], "interleave_all", seed=0)
    assert len({e["i"] for e in out if e["src"] == "a"}) == 100 and sum(e["src"] == "b" for e in out) > 20
    # the recipe drives it: two weighted datasets through the real pipeline
    f1 = _write(tmp_path / "one.jsonl", [{"instruction": f"one {i}", "output": "x"} for i in range(30)])
    f2 = _write(tmp_path / "two.jsonl", [{"instruction": f"two {i}", "output": "y"} for i in range(10)])
    r = parse_recipe({"data": [{"path": str(f1)}, {"path": str(f2), "weight": 0.5}], "mix": {"strategy": "concat"}})
    data = build_training_data(r)
    assert data.report["train_examples"] == 35 and data.report["steps"][0]["step"] == "mix"


def test_quality_filter_counts_reasons() -> None:
    ex = [_msgs("fine question", "a fine answer"), _msgs("q", "   "), _msgs("loop", "spam " * 80)]
    out, steps = clean_examples(ex, CleanSpec(dedup="none"))
    q = {s["step"]: s for s in steps}["quality"]
    assert len(out) == 1 and q["empty_response"] == 1 and q["repetitive"] == 1
    out, _ = clean_examples(ex, CleanSpec(dedup="none", quality=False))
    assert len(out) == 3


def test_cleaning_in_forked_workers_equals_the_serial_pass(monkeypatch) -> None:
    """Above 20k examples the per-example work runs in forked workers: same examples, same counts."""
    import verticalize.data.parallel as par
    from verticalize.data.clean import clean_examples
    from verticalize.recipe import CleanSpec

    exs = []
    for i in range(21_000):
        q = f"Question {i % 19_000}: call 13812345678 or mail a{i}@x.com?" if i % 50 == 0 else f"Question {i % 19_000}"
        a = "ha" * 150 if i % 997 == 0 else ("" if i % 1009 == 0 else f"Answer {i % 19_000}")
        exs.append({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
    spec = CleanSpec(pii="redact", dedup="exact", max_length=400)
    assert par.default_workers(len(exs)) > 1 or (__import__("os").cpu_count() or 1) == 1
    fast, fast_steps = clean_examples(exs, spec)
    monkeypatch.setattr(par, "default_workers", lambda n, min_items=0: 1)
    slow, slow_steps = clean_examples(exs, spec)
    assert fast == slow and fast_steps == slow_steps
    counts = {s["step"]: s for s in slow_steps}
    assert counts["pii_redact"]["changed"] == 420 and counts["quality"]["in"] > counts["quality"]["out"]
    assert counts["dedup_exact"]["in"] > counts["dedup_exact"]["out"]
