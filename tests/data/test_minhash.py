"""MinHash LSH near dedup: datasketch's MinHash values, datasketch's LSH decisions, the threshold, the report."""

from __future__ import annotations

import random

import datasketch
import numpy as np
import pytest

from verticalize.data.clean import clean_examples
from verticalize.data.minhash import (
    LSH_WEIGHTS,
    MinHashIndex,
    _band_keys,
    _permutations,
    lsh_params,
    near_duplicates,
    shingle_hash,
    shingles,
    signatures,
)
from verticalize.errors import DataError
from verticalize.recipe import CleanSpec

EN = ("EBITDA is earnings before interest, taxes, depreciation and amortization. Analysts use it to compare the "
      "operating profitability of companies with different capital structures and tax situations, because it "
      "leaves out financing and accounting decisions.")
ZH = ("商业银行应当按照规定向中国人民银行交存存款准备金，留足备付金。商业银行不得违反规定提高或者降低利率以及采用其他不正当"
      "手段，吸收存款，发放贷款。商业银行应当遵守中国人民银行有关资产负债比例管理的规定。")


def _words(rng: random.Random, n: int) -> str:
    vocab = [f"w{i}" for i in range(3000)]
    return " ".join(rng.choice(vocab) for _ in range(n))


def _edit(text: str, rng: random.Random, changes: int) -> str:
    w = text.split(" ")
    for _ in range(changes):
        w[rng.randrange(len(w))] = f"x{rng.randrange(10**6)}"
    return " ".join(w)


def _jaccard(a: str, b: str) -> float:
    x, y = set(shingles(a)), set(shingles(b))
    return len(x & y) / len(x | y)


def test_signatures_are_datasketch_minhash() -> None:
    texts = ["", "a", "abcd", EN, ZH, EN.upper(), "x" * 20_000 + "y", "\ud800 lone surrogate", ZH * 30]
    sigs = signatures(texts)
    assert sigs.shape == (len(texts), 128) and sigs.dtype == np.uint32
    for text, sig in zip(texts, sigs):
        m = datasketch.MinHash(num_perm=128, hashfunc=shingle_hash)  # default seed and scheme (affine32)
        m.update_batch(shingles(text))
        assert (m.hashvalues == sig).all()
    a, b = _permutations(64, 7)
    m = datasketch.MinHash(num_perm=64, seed=7)
    assert (m.permutations[0] == a).all() and (m.permutations[1] == b).all()
    lsh = datasketch.MinHashLSH(0.8, 128, weights=LSH_WEIGHTS)
    assert lsh_params(0.8, 128) == (lsh.b, lsh.r)
    assert (sigs[3] == sigs[5]).all()  # case-insensitive: the normalised text is shingled


def test_changed_word_is_a_near_duplicate_in_english_and_chinese() -> None:
    en2 = EN.replace("Analysts use", "Analysts often use")
    zh2 = ZH.replace("留足备付金", "留足支付金")
    texts = [EN, ZH, en2, zh2, "A different paragraph about bond duration and convexity.", "完全不同的一段关于医疗的文字。"]
    res = near_duplicates(signatures(texts), ids=["en", "zh", "en2", "zh2", "bond", "med"])
    assert res.keep.tolist() == [True, True, False, False, True, True]
    assert [(r, k) for r, k, _ in res.pairs] == [("en2", "en"), ("zh2", "zh")]
    assert all(0.8 <= j <= 1 for _, _, j in res.pairs)


def _planted(seed: int = 0, n: int = 150) -> list[str]:
    """Distinct 60-word texts and edited copies of earlier ones (1 to 12 words changed: true Jaccard from about
    0.95 down to about 0.5, across the threshold)."""
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(n):
        if texts and rng.random() < 0.5:
            texts.append(_edit(rng.choice(texts), rng, rng.randint(1, 12)))
        else:
            texts.append(_words(rng, 60))
    return texts


def test_agrees_with_datasketch_minhash_lsh() -> None:
    texts = _planted()
    sigs = signatures(texts)
    res = near_duplicates(sigs)
    # datasketch's own index, the same greedy order: query the kept ones, verify, insert if kept
    lsh = datasketch.MinHashLSH(threshold=0.8, num_perm=128, weights=LSH_WEIGHTS)
    mins = [datasketch.LeanMinHash(seed=1, hashvalues=s, scheme="affine32") for s in sigs]
    keep, pairs = [], []
    for i, m in enumerate(mins):
        sims = sorted(((m.jaccard(mins[j]), -j) for j in lsh.query(m)), reverse=True)
        if sims and sims[0][0] >= 0.8:
            keep.append(False)
            pairs.append((i, -sims[0][1], round(sims[0][0], 4)))
        else:
            keep.append(True)
            lsh.insert(i, m)
    assert res.keep.tolist() == keep
    assert [(r, k) for r, k, _ in res.pairs] == [(r, k) for r, k, _ in pairs]
    assert [j for *_, j in res.pairs] == pytest.approx([j for *_, j in pairs])
    assert 10 < res.removed < 75  # the planted set has both kept and removed edits


def test_threshold_is_respected() -> None:
    rng = random.Random(1)
    base = [_words(rng, 60) for _ in range(150)]
    texts = base + [_edit(t, rng, rng.randint(1, 14)) for t in base]  # true Jaccard about 0.95 down to 0.45
    true = [_jaccard(a, b) for a, b in zip(base, texts[150:])]
    sigs = signatures(texts)
    res = near_duplicates(sigs, threshold=0.8)
    assert {r for r, _, _ in res.pairs} <= set(range(150, 300)) and all(k == r - 150 for r, k, _ in res.pairs)
    removed = {r - 150 for r, _, _ in res.pairs}
    assert all(true[i] > 0.72 for i in removed)  # the estimate errs by a few points, never by ten
    assert all(i in removed for i in range(150) if true[i] > 0.88)  # none missed well above the threshold
    # pairs well below the threshold stay, also those that are LSH candidates (share a band)
    keys = _band_keys(sigs, *lsh_params(0.8, 128))
    candidates = [i for i in range(150) if (keys[i] == keys[150 + i]).any()]
    assert any(true[i] < 0.65 for i in candidates)
    assert not any(true[i] < 0.65 for i in removed)
    assert near_duplicates(sigs, threshold=0.5).removed > res.removed


def test_streaming_index_equals_all_at_once() -> None:
    texts = _planted(seed=2)
    sigs = signatures(texts)
    whole = near_duplicates(sigs)
    index = MinHashIndex()
    parts = [index.add(sigs[lo: lo + 17]) for lo in range(0, len(sigs), 17)]
    assert np.concatenate([p.keep for p in parts]).tolist() == whole.keep.tolist()
    assert [p for part in parts for p in part.pairs] == whole.pairs
    # a datasets column comes back as uint64 (or int64): accepted when the values are 32-bit
    assert near_duplicates(sigs.astype(np.uint64)).pairs == whole.pairs
    with pytest.raises(DataError, match=r"\(n, num_perm\)"):
        near_duplicates(sigs[0])
    with pytest.raises(DataError, match="32-bit"):
        near_duplicates(sigs.astype(np.float64))
    with pytest.raises(DataError, match="between 0 and 1"):
        near_duplicates(sigs, threshold=1.0)


def test_clean_report_lists_removed_pairs() -> None:
    rng = random.Random(3)
    base = [{"id": f"doc{i}", "text": _words(rng, 80)} for i in range(30)]
    near = [{"id": f"near{i}", "text": _edit(ex["text"], rng, 1)} for i, ex in enumerate(base)]
    out, steps = clean_examples(base + near + [{"text": EN}, {"text": EN + " Indeed."}],
                                CleanSpec(dedup="near", near_threshold=0.85, num_perm=64))
    row = steps[-1]
    assert (row["step"], row["in"], row["out"], row["threshold"], row["num_perm"]) == ("dedup_near", 62, 31, 0.85, 64)
    assert len(row["pairs"]) == 20 and row["pairs_more"] == 11
    assert row["pairs"][0]["removed"] == "near0" and row["pairs"][0]["kept"] == "doc0"
    assert row["pairs"][0]["jaccard"] >= 0.85
    assert [p["removed"] for p in row["pairs"]] == [f"near{i}" for i in range(20)]
    assert [ex["id"] for ex in out[:30]] == [f"doc{i}" for i in range(30)]
    # no id: the report names the example by the start of its text
    _, steps = clean_examples([{"text": EN}, {"text": EN + " Indeed."}], CleanSpec(dedup="near"))
    assert steps[-1]["pairs"][0]["kept"].startswith("EBITDA is earnings") and steps[-1]["pairs"][0]["kept"].endswith("...")


def test_near_dedup_step_object_streams_across_batches() -> None:
    from verticalize.data.steps import NearDedup

    rng = random.Random(4)
    base = [{"id": f"doc{i}", "text": _words(rng, 80)} for i in range(20)]
    batch = base + [{"id": f"near{i}", "text": _edit(ex["text"], rng, 1)} for i, ex in enumerate(base)]
    step = NearDedup(threshold=0.8, num_perm=128)
    kept = [ex for lo in range(0, len(batch), 7) for ex in step(batch[lo: lo + 7])]
    assert [ex["id"] for ex in kept] == [f"doc{i}" for i in range(20)]
    assert step.counts() == {"removed": 20} and step.pairs[0][:2] == ("near0", "doc0")
