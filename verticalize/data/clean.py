"""Cleaning steps on converted examples: PII redaction, length filters, exact and near dedup,
and the train/eval overlap (contamination) check. Each step reports its counts in and out."""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any

from verticalize.data.formats import to_messages
from verticalize.data.pii import redact_pii
from verticalize.data.parallel import fork_map
from verticalize.data.sources import gc_paused

__all__ = ["example_text", "prompt_text", "normalise", "clean_examples", "drop_overlap", "NearIndex",
           "dedup_key", "redact_example", "quality_problem"]


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
    # str.split() splits on the characters the regex \s matches: same as re.sub(r"\s+", " ", t).strip()
    return " ".join(unicodedata.normalize("NFKC", text).split()).lower()


def dedup_key(text: str) -> bytes:
    """The exact-duplicate key of a text (after :func:`normalise`)."""
    return hashlib.blake2b(normalise(text).encode(), digest_size=16).digest()


def _simhash(text: str, n: int = 4) -> int:
    """64-bit SimHash of the distinct character n-grams: bit b is set when more gram hashes have it
    set than clear."""
    import numpy as np

    t = normalise(text)
    grams = {t[i: i + n] for i in range(max(1, len(t) - n + 1))}
    blake = hashlib.blake2b
    hashes = np.fromiter((int.from_bytes(blake(g.encode(), digest_size=8).digest(), "big") for g in grams),
                         dtype=np.uint64, count=len(grams))
    # per bit: how many gram hashes have it set; +1 for each set, -1 for each clear
    ones = ((hashes[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).sum(axis=0)
    acc = 2 * ones.astype(np.int64) - len(grams)
    return sum(1 << b for b in range(64) if acc[b] > 0)


_BANDS = ((0, 11), (11, 11), (22, 11), (33, 11), (44, 10), (54, 10))  # (shift, width): 6 bands over 64 bits


class NearIndex:
    """SimHash near-duplicate index: 64-bit fingerprints of character 4-grams; two texts are near
    duplicates within Hamming distance ``max_distance`` (5: a changed word in a paragraph).
    Candidates come from 6 bands -- by pigeonhole, fingerprints within 5 bits share a band."""

    def __init__(self, max_distance: int = 5):
        self.max_distance = max_distance
        self.buckets: list[dict[int, list[int]]] = [{} for _ in _BANDS]
        self.prints: list[int] = []

    def add(self, text: str) -> bool:
        """Index ``text`` unless it is a near duplicate of one already indexed; True when it was new."""
        h = _simhash(text)
        bands = [(h >> shift) & ((1 << width) - 1) for shift, width in _BANDS]
        if any(bin(self.prints[j] ^ h).count("1") <= self.max_distance
               for i, band in enumerate(bands) for j in self.buckets[i].get(band, ())):
            return False
        idx = len(self.prints)
        self.prints.append(h)
        for i, band in enumerate(bands):
            self.buckets[i].setdefault(band, []).append(idx)
        return True


def _near_dedup(examples: list[dict[str, Any]], max_distance: int = 5) -> list[dict[str, Any]]:
    index = NearIndex(max_distance)
    return [ex for ex in examples if index.add(example_text(ex))]


def _redact_turns(turns: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    out = []
    changed = False
    for m in turns:
        content = m["content"]
        red = redact_pii(content)
        changed = changed or red != content
        out.append({**m, "content": red})
    return out, changed


def redact_example(ex: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The redacted copy of an example, and whether any text in it changed."""
    ex = dict(ex)
    changed = False
    if "messages" in ex:
        ex["messages"], ch = _redact_turns(ex["messages"])
        changed = changed or ch
    if "text" in ex:
        text = ex["text"]
        ex["text"] = redact_pii(text)
        changed = changed or ex["text"] != text
    for key in ("prompt", "chosen", "rejected"):
        if isinstance(ex.get(key), list):
            ex[key], ch = _redact_turns(ex[key])
            changed = changed or ch
    return ex, changed


def quality_problem(ex: dict[str, Any], text: str) -> str | None:
    """Why an example is unfit to train on, or None.

    >>> quality_problem({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": " "}]}, "q")
    'empty_response'
    >>> quality_problem({"text": "ha" * 200}, "ha" * 200)
    'repetitive'
    """
    msgs = ex.get("messages")
    if msgs and msgs[-1]["role"] == "assistant" and not msgs[-1]["content"].strip():
        return "empty_response"
    if len(text) >= 200:  # degenerate repetition: few distinct character 5-grams
        need = 0.15 * (len(text) - 4)
        # enough distinct 5-grams in a prefix settle it for the whole text (ordinary text: always)
        if len({text[i: i + 5] for i in range(0, min(len(text) - 4, int(2 * need) + 1))}) >= need:
            return None
        if len({text[i: i + 5] for i in range(0, len(text) - 4)}) < need:
            return "repetitive"
    return None


@gc_paused
def _facts(examples: list[dict[str, Any]], lo: int, hi: int, spec: Any) -> list[tuple[Any, int, str | None, bytes | None]]:
    """Per example of examples[lo:hi]: (its redacted copy, or None when redaction changed nothing;
    the length of its text; its quality problem or None; its exact-dedup key)."""
    out = []
    for ex in examples[lo:hi]:
        red = None
        if spec.pii == "redact":
            copy, changed = redact_example(ex)
            if changed:
                red = ex = copy
        text = example_text(ex)
        reason = quality_problem(ex, text) if spec.quality else None
        key = dedup_key(text) if spec.dedup in ("exact", "near") else None
        out.append((red, len(text), reason, key))
    return out


@gc_paused
def clean_examples(examples: list[dict[str, Any]], spec: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Apply a CleanSpec; return the kept examples and one report row per step."""
    steps: list[dict[str, Any]] = []

    def step(name: str, before: int, after: int, **extra: Any) -> None:
        steps.append({"step": name, "in": before, "out": after, **extra})

    # the per-example work (redaction, text, quality verdict, dedup key) runs in forked workers on
    # long lists; the filters below then apply it in order, exactly as a serial pass would
    facts = [f for part in fork_map(lambda exs, lo, hi: _facts(exs, lo, hi, spec), examples) for f in part]
    if spec.pii == "redact":
        changed = sum(1 for f in facts if f[0] is not None)
        examples = [ex if f[0] is None else f[0] for ex, f in zip(examples, facts)]
        step("pii_redact", len(examples), len(examples), changed=changed)
    n = len(examples)
    lo, hi = spec.min_length, spec.max_length
    keep = [lo <= f[1] and (hi is None or f[1] <= hi) for f in facts]
    examples = [ex for ex, k in zip(examples, keep) if k]
    facts = [f for f, k in zip(facts, keep) if k]
    step("length", n, len(examples), min_chars=lo, max_chars=hi)
    if spec.quality:
        n = len(examples)
        reasons = [f[2] for f in facts]
        examples = [ex for ex, r in zip(examples, reasons) if r is None]
        facts = [f for f, r in zip(facts, reasons) if r is None]
        dropped = [r for r in reasons if r is not None]
        step("quality", n, len(examples), empty_response=dropped.count("empty_response"),
             repetitive=dropped.count("repetitive"))
    if spec.dedup in ("exact", "near"):
        n = len(examples)
        seen: set[bytes] = set()
        kept = []
        for ex, f in zip(examples, facts):
            if f[3] not in seen:
                seen.add(f[3])
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
    held = {dedup_key(prompt_text(e)) for e in evals}
    kept = [ex for ex in train if dedup_key(prompt_text(ex)) not in held]
    return kept, {"step": "contamination", "in": len(train), "out": len(kept), "eval_prompts": len(held)}
