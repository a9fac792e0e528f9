"""Cleaning steps on converted examples: PII redaction, length filters, exact and near dedup,
and the train/eval overlap (contamination) check. Each step reports its counts in and out."""

from __future__ import annotations

import hashlib
from typing import Any

from verticalize.data.formats import to_messages
from verticalize.data.minhash import NUM_PERM, THRESHOLD, near_duplicates, normalise, signatures
from verticalize.data.pii import redact_pii
from verticalize.data.parallel import fork_map
from verticalize.data.sources import gc_paused

__all__ = ["example_text", "prompt_text", "normalise", "clean_examples", "drop_overlap", "near_dedup", "near_report",
           "dedup_key", "redact_example", "quality_problem", "example_facts", "example_label"]


def example_text(ex: dict[str, Any]) -> str:
    if "text" in ex and "messages" not in ex:
        return ex["text"]
    return "\n".join(m["content"] for m in to_messages(ex))


def prompt_text(ex: dict[str, Any]) -> str:
    """The non-assistant part of an example (what an eval question would share with it)."""
    if "text" in ex and "messages" not in ex:
        return ex["text"]
    return "\n".join(m["content"] for m in to_messages(ex) if m["role"] == "user")


def dedup_key(text: str) -> bytes:
    """The exact-duplicate key of a text (after :func:`normalise`)."""
    return hashlib.blake2b(normalise(text).encode(), digest_size=16).digest()


def example_label(ex: dict[str, Any]) -> str:
    """How the near-dedup report names an example: its id, else the start of its text."""
    if ex.get("id") is not None:
        return str(ex["id"])
    text = example_text(ex)
    return text if len(text) <= 60 else text[:57] + "..."


#: removed pairs listed in a dedup_near report row (the rest are counted in ``pairs_more``)
LISTED_PAIRS = 20


def near_dedup(examples: list[dict[str, Any]], threshold: float = THRESHOLD, num_perm: int = NUM_PERM,
               sigs: Any = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Drop near duplicates (MinHash LSH, see :mod:`verticalize.data.minhash`): each example whose
    estimated Jaccard similarity to an earlier kept one is at least ``threshold``. Returns the kept
    examples and the report keys: threshold, num_perm and the first removed pairs
    ``{removed, kept, jaccard}`` (examples named by id, else by the start of their text).
    ``sigs``: their signatures when already computed."""
    if sigs is None:
        sigs = signatures([example_text(ex) for ex in examples], num_perm)
    res = near_duplicates(sigs, threshold=threshold)
    kept = [ex for ex, k in zip(examples, res.keep.tolist()) if k]
    return kept, near_report(examples, res.pairs, threshold, num_perm)


def near_report(examples: list[dict[str, Any]], pairs: list[tuple[int, int, float]], threshold: float,
                num_perm: int) -> dict[str, Any]:
    """The dedup_near report keys for ``pairs`` of (removed, kept) positions in ``examples``."""
    listed = [{"removed": example_label(examples[r]), "kept": example_label(examples[k]), "jaccard": j}
              for r, k, j in pairs[:LISTED_PAIRS]]
    extra: dict[str, Any] = {"threshold": threshold, "num_perm": num_perm, "pairs": listed}
    if len(pairs) > LISTED_PAIRS:
        extra["pairs_more"] = len(pairs) - LISTED_PAIRS
    return extra


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
    for key in ("prompt", "chosen", "rejected", "completion"):
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
    return "repetitive" if repetitive(text) else None


def repetitive(text: str) -> bool:
    """Degenerate repetition: a text of 200+ characters with few distinct character 5-grams."""
    if len(text) < 200:
        return False
    need = 0.15 * (len(text) - 4)
    # enough distinct 5-grams in a prefix settle it for the whole text (ordinary text: almost always the
    # first need + 8, else twice as many)
    for stop in (int(need) + 8, int(2 * need) + 1):
        if len({text[i: i + 5] for i in range(0, min(len(text) - 4, stop))}) >= need:
            return False
    return len({text[i: i + 5] for i in range(0, len(text) - 4)}) < need


def example_facts(ex: dict[str, Any], spec: Any) -> tuple[Any, str, str | None, bytes | None]:
    """One example's cleaning facts under a CleanSpec: its redacted copy (None when redaction
    changed nothing), its text, its quality problem or None, its exact-dedup key or None."""
    red = None
    if spec.pii == "redact":
        copy, changed = redact_example(ex)
        if changed:
            red = ex = copy
    text = example_text(ex)
    reason = quality_problem(ex, text) if spec.quality else None
    key = dedup_key(text) if spec.dedup in ("exact", "near") else None
    return red, text, reason, key


@gc_paused
def _facts(examples: list[dict[str, Any]], lo: int, hi: int, spec: Any
           ) -> tuple[list[tuple[Any, int, str | None, bytes | None]], Any]:
    """Per example of examples[lo:hi]: (its redacted copy, or None when redaction changed nothing;
    the length of its text; its quality problem or None; its exact-dedup key); and with ``dedup:
    near`` their MinHash signatures (else None)."""
    out = []
    texts = []
    for ex in examples[lo:hi]:
        red, text, reason, key = example_facts(ex, spec)
        out.append((red, len(text), reason, key))
        if spec.dedup == "near":
            texts.append(text)
    return out, (signatures(texts, spec.num_perm) if spec.dedup == "near" else None)


@gc_paused
def clean_examples(examples: list[dict[str, Any]], spec: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Apply a CleanSpec; return the kept examples and one report row per step."""
    steps: list[dict[str, Any]] = []

    def step(name: str, before: int, after: int, **extra: Any) -> None:
        steps.append({"step": name, "in": before, "out": after, **extra})

    # the per-example work (redaction, text, quality verdict, dedup key, MinHash signature) runs in
    # forked workers on long lists; the filters below then apply it in order, as a serial pass would
    parts = fork_map(lambda exs, lo, hi: _facts(exs, lo, hi, spec), examples)
    facts = [f for part, _ in parts for f in part]
    if spec.pii == "redact":
        changed = sum(1 for f in facts if f[0] is not None)
        examples = [ex if f[0] is None else f[0] for ex, f in zip(examples, facts)]
        step("pii_redact", len(examples), len(examples), changed=changed)
    pos = list(range(len(examples)))  # positions of the kept examples in the input (for the signatures)
    n = len(examples)
    lo, hi = spec.min_length, spec.max_length
    keep = [lo <= f[1] and (hi is None or f[1] <= hi) for f in facts]
    examples, facts, pos = _keep(keep, examples, facts, pos)
    step("length", n, len(examples), min_chars=lo, max_chars=hi)
    if spec.quality:
        n = len(examples)
        reasons = [f[2] for f in facts]
        examples, facts, pos = _keep([r is None for r in reasons], examples, facts, pos)
        dropped = [r for r in reasons if r is not None]
        step("quality", n, len(examples), empty_response=dropped.count("empty_response"),
             repetitive=dropped.count("repetitive"))
    if spec.dedup in ("exact", "near"):
        n = len(examples)
        seen: set[bytes] = set()
        keep = []
        for f in facts:
            keep.append(f[3] not in seen)
            seen.add(f[3])
        examples, facts, pos = _keep(keep, examples, facts, pos)
        step("dedup_exact", n, len(examples))
    if spec.dedup == "near":
        import numpy as np

        n = len(examples)
        sigs = np.concatenate([s for _, s in parts])[pos]
        examples, extra = near_dedup(examples, spec.near_threshold, spec.num_perm, sigs=sigs)
        step("dedup_near", n, len(examples), **extra)
    return examples, steps


def _keep(keep: list[bool], *columns: list[Any]) -> tuple[list[Any], ...]:
    return tuple([x for x, k in zip(col, keep) if k] for col in columns)


def drop_overlap(train: list[dict[str, Any]], evals: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Remove training examples whose prompt also appears in the evaluation data."""
    held = {dedup_key(prompt_text(e)) for e in evals}
    kept = [ex for ex in train if dedup_key(prompt_text(ex)) not in held]
    return kept, {"step": "contamination", "in": len(train), "out": len(kept), "eval_prompts": len(held)}
