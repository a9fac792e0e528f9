"""Cleaning steps on converted examples: PII redaction, length filters, exact and near dedup,
and the train/eval overlap (contamination) check. Each step reports its counts in and out."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

from verticalize.data.formats import to_messages
from verticalize.data.pii import redact_pii

__all__ = ["example_text", "normalise", "clean_examples", "drop_overlap"]

_WS = re.compile(r"\s+")


def example_text(ex: dict[str, Any]) -> str:
    if "text" in ex and "messages" not in ex:
        return ex["text"]
    return "\n".join(m["content"] for m in to_messages(ex))


def prompt_text(ex: dict[str, Any]) -> str:
    """The non-assistant part of an example (what an eval question would share with it)."""
    if "text" in ex and "messages" not in ex:
        return ex["text"]
    return "\n".join(m["content"] for m in to_messages(ex) if m["role"] == "user")


def normalise(text: str) -> str:
    """Case-, width- and whitespace-insensitive form used for duplicate keys.

    >>> normalise("  Hello,\\tＷorld ")
    'hello, world'
    """
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def _key(text: str) -> bytes:
    return hashlib.blake2b(normalise(text).encode(), digest_size=16).digest()


def _simhash(text: str, n: int = 4) -> int:
    t = normalise(text)
    grams = {t[i: i + n] for i in range(max(1, len(t) - n + 1))}
    acc = [0] * 64
    for g in grams:
        h = int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "big")
        for b in range(64):
            acc[b] += 1 if (h >> b) & 1 else -1
    return sum(1 << b for b in range(64) if acc[b] > 0)


_BANDS = ((0, 11), (11, 11), (22, 11), (33, 11), (44, 10), (54, 10))  # (shift, width): 6 bands over 64 bits


def _near_dedup(examples: list[dict[str, Any]], max_distance: int = 5) -> list[dict[str, Any]]:
    """SimHash near-duplicate removal: 64-bit fingerprints of character 4-grams; two examples are
    near duplicates within Hamming distance ``max_distance`` (5: a changed word in a paragraph).
    Candidates come from 6 bands -- by pigeonhole, fingerprints within 5 bits share a band."""
    buckets: list[dict[int, list[int]]] = [{} for _ in _BANDS]
    kept: list[dict[str, Any]] = []
    prints: list[int] = []
    for ex in examples:
        h = _simhash(example_text(ex))
        bands = [(h >> shift) & ((1 << width) - 1) for shift, width in _BANDS]
        dup = any(bin(prints[j] ^ h).count("1") <= max_distance
                  for i, band in enumerate(bands) for j in buckets[i].get(band, ()))
        if dup:
            continue
        idx = len(kept)
        kept.append(ex)
        prints.append(h)
        for i, band in enumerate(bands):
            buckets[i].setdefault(band, []).append(idx)
    return kept


def _redact(ex: dict[str, Any]) -> dict[str, Any]:
    ex = dict(ex)
    if "messages" in ex:
        ex["messages"] = [{**m, "content": redact_pii(m["content"])} for m in ex["messages"]]
    if "text" in ex:
        ex["text"] = redact_pii(ex["text"])
    for key in ("prompt", "chosen", "rejected"):
        if isinstance(ex.get(key), list):
            ex[key] = [{**m, "content": redact_pii(m["content"])} for m in ex[key]]
    return ex


def clean_examples(examples: list[dict[str, Any]], spec: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Apply a CleanSpec; return the kept examples and one report row per step."""
    steps: list[dict[str, Any]] = []

    def step(name: str, before: int, after: int, **extra: Any) -> None:
        steps.append({"step": name, "in": before, "out": after, **extra})

    if spec.pii == "redact":
        n = len(examples)
        redacted = [_redact(ex) for ex in examples]
        changed = sum(1 for a, b in zip(examples, redacted) if a != b)
        examples = redacted
        step("pii_redact", n, len(examples), changed=changed)
    n = len(examples)
    lo, hi = spec.min_length, spec.max_length
    examples = [ex for ex in examples if lo <= len(example_text(ex)) and (hi is None or len(example_text(ex)) <= hi)]
    step("length", n, len(examples), min_chars=lo, max_chars=hi)
    if spec.dedup in ("exact", "near"):
        n = len(examples)
        seen: set[bytes] = set()
        kept = []
        for ex in examples:
            k = _key(example_text(ex))
            if k not in seen:
                seen.add(k)
                kept.append(ex)
        examples = kept
        step("dedup_exact", n, len(examples))
    if spec.dedup == "near":
        n = len(examples)
        examples = _near_dedup(examples)
        step("dedup_near", n, len(examples))
    return examples, steps


def drop_overlap(train: list[dict[str, Any]], evals: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Remove training examples whose prompt also appears in the evaluation data."""
    held = {_key(prompt_text(e)) for e in evals}
    kept = [ex for ex in train if _key(prompt_text(ex)) not in held]
    return kept, {"step": "contamination", "in": len(train), "out": len(kept), "eval_prompts": len(held)}
