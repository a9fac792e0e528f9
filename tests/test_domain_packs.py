"""The bundled domain packs: counts, schema of every record, gold programs, no train/eval overlap,
deterministic generators."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from verticalize.packs import list_domains, load_domain

REPO = Path(__file__).resolve().parents[1]
VERTICALS = ("finance", "medical", "legal")


def _records(pack: str, split: str) -> list[dict]:
    return [json.loads(line) for line in (REPO / "domains" / pack / f"{split}.jsonl").read_text("utf-8").splitlines()]


def test_four_packs_listed() -> None:
    assert set(list_domains()) >= {"finance", "medical", "legal", "general"}


@pytest.mark.parametrize("pack", VERTICALS)
def test_vertical_sizes_and_languages(pack: str) -> None:
    p = load_domain(pack)
    assert p.count("train") >= 2000 and p.count("eval") >= 300
    langs = Counter(r["lang"] for r in _records(pack, "train"))
    assert set(langs) == {"en", "zh"}
    kinds = {r["kind"] for r in _records(pack, "train")}
    assert len({r["task"] for r in _records(pack, "train")}) >= 3 and len(kinds) >= 2
    assert p.system_prompt.get("en") and p.system_prompt.get("zh")
    assert all(e.get("license") for e in p.provenance)


@pytest.mark.parametrize("pack", ("finance", "medical", "legal", "general"))
def test_records_are_consistent(pack: str) -> None:
    letters = "ABCDEFGH"
    keys = {}
    for split in ("train", "eval"):
        seen = set()
        for r in _records(pack, split):
            assert r["lang"] in ("en", "zh") and r["task"] and r["instruction"]
            k = (r["instruction"], r["input"])
            assert k not in seen, r["id"]
            seen.add(k)
            if r["kind"] == "numeric":
                g: dict = {}
                exec(r["program"], g)  # gold programs are the pack's own, plain arithmetic
                assert g["answer"] == r["answer"], r["id"]
            elif r["kind"] == "mc":
                assert r["answer"] in letters[: len(r["choices"])]
            elif r["kind"] == "classification":
                assert r["answer"] in r["labels"] and r["output"] == r["answer"]
        keys[split] = seen
    assert not keys["train"] & keys["eval"]
    tasks = {t["name"] for t in load_domain(pack).tasks}
    assert {r["task"] for r in _records(pack, "eval")} == tasks


def test_legal_uses_real_statute_text() -> None:
    lookups = [r for r in _records("legal", "train") if r["task"] == "article_lookup"]
    assert len(lookups) > 100
    assert any("《" in r["instruction"] for r in lookups)


@pytest.mark.parametrize("pack", ("finance", "general"))
def test_generator_is_deterministic(pack: str, tmp_path: Path) -> None:
    src = REPO / "domains" / pack
    work = tmp_path / pack
    work.mkdir()
    (work / "generate.py").write_text((src / "generate.py").read_text("utf-8"), "utf-8")
    subprocess.run([sys.executable, str(work / "generate.py"), "--seed", "0"], check=True, cwd=work,
                   capture_output=True)
    for split in ("train", "eval"):
        a = hashlib.sha256((work / f"{split}.jsonl").read_bytes()).hexdigest()
        b = hashlib.sha256((src / f"{split}.jsonl").read_bytes()).hexdigest()
        assert a == b, f"{pack}/{split}.jsonl differs from a fresh generate.py run"


def test_legal_corpus_is_reproducible_and_holds_no_eval_article(tmp_path: Path) -> None:
    """corpus.jsonl (continued pre-training text) comes from corpus.py; eval articles stay out of it."""
    src = REPO / "domains" / "legal"
    subprocess.run([sys.executable, str(src / "corpus.py"), "--seed", "0", "--out", str(tmp_path)], check=True,
                   cwd=src, capture_output=True)
    assert (tmp_path / "corpus.jsonl").read_bytes() == (src / "corpus.jsonl").read_bytes()
    docs = [json.loads(line) for line in (src / "corpus.jsonl").read_text("utf-8").splitlines()]
    assert len(docs) >= 20 and max(len(d["text"]) for d in docs) > 50_000  # long laws: windows, not truncation
    corpus = "\n".join(d["text"] for d in docs)
    looked_up = [r["output"] for r in _records("legal", "eval") if r["task"] == "article_lookup"]
    in_corpus_laws = [t for t in looked_up if t[:30] in corpus]
    assert looked_up and not in_corpus_laws
    pack = load_domain("legal")
    assert pack.corpus and pack.count("corpus") == len(docs)


def test_finance_preference_pairs_are_reproducible_and_differ_only_in_the_answer(tmp_path: Path) -> None:
    src = REPO / "domains" / "finance"
    subprocess.run([sys.executable, str(src / "preference.py"), "--seed", "0", "--out", str(tmp_path)], check=True,
                   capture_output=True)
    assert (tmp_path / "preference.jsonl").read_bytes() == (src / "preference.jsonl").read_bytes()
    pairs = [json.loads(line) for line in (src / "preference.jsonl").read_text("utf-8").splitlines()]
    assert len(pairs) >= 500 and all(p["chosen"] != p["rejected"] for p in pairs)
    train_prompts = {r["instruction"] for r in _records("finance", "train")}
    eval_prompts = {r["instruction"] for r in _records("finance", "eval")}
    assert all(p["prompt"] in train_prompts and p["prompt"] not in eval_prompts for p in pairs)
    assert load_domain("finance").count("preference") == len(pairs)
