"""The built-in cleaning steps as Step objects (see verticalize.strategies.Step).

A recipe's ``clean:`` keys run these in one fused pass (``clean_examples``: the per-example work in
forked workers, the filters after it), which is several times faster on large data. The objects
here do the same work one step at a time, for composing with your own steps in
``clean.steps`` or in your own pipeline::

    from verticalize.data.steps import ExactDedup, PiiRedact
    adapter.clean(dedup="none", pii="keep", steps=[PiiRedact(), MyFilter(), ExactDedup()])

Run in the order of :func:`default_steps`, they give exactly what ``clean_examples`` gives (tested).
"""

from __future__ import annotations

from typing import Any

from verticalize.data.clean import dedup_key, example_label, example_text, quality_problem, redact_example
from verticalize.data.minhash import NUM_PERM, THRESHOLD, MinHashIndex, signatures

__all__ = ["Select", "PiiRedact", "LengthFilter", "QualityFilter", "ExactDedup", "NearDedup", "default_steps"]

Example = dict[str, Any]


class Select:
    """Keep examples in ``languages`` and of ``tasks`` (None keeps all)."""

    name = "select"

    def __init__(self, languages: list[str] | None = None, tasks: list[str] | None = None):
        self.languages = languages
        self.tasks = tasks

    def __call__(self, batch: list[Example]) -> list[Example]:
        return [ex for ex in batch if (not self.languages or ex.get("lang") in self.languages)
                and (not self.tasks or ex.get("task") in self.tasks)]

    def counts(self) -> dict[str, int]:
        return {}


class PiiRedact:
    """Replace phone numbers, e-mails, ID and bank-card numbers (checksum-validated) in every text."""

    name = "pii_redact"

    def __init__(self) -> None:
        self._changed = 0

    def __call__(self, batch: list[Example]) -> list[Example]:
        out = []
        for ex in batch:
            red, changed = redact_example(ex)
            self._changed += changed
            out.append(red if changed else ex)
        return out

    def counts(self) -> dict[str, int]:
        return {"changed": self._changed}


class LengthFilter:
    """Keep examples whose text has between ``min_chars`` and ``max_chars`` characters."""

    name = "length"

    def __init__(self, min_chars: int = 1, max_chars: int | None = None):
        self.min_chars = min_chars
        self.max_chars = max_chars

    def __call__(self, batch: list[Example]) -> list[Example]:
        return [ex for ex in batch if self.min_chars <= len(example_text(ex))
                and (self.max_chars is None or len(example_text(ex)) <= self.max_chars)]

    def counts(self) -> dict[str, int]:
        return {}


class QualityFilter:
    """Drop examples with an empty response or degenerate repetition."""

    name = "quality"

    def __init__(self) -> None:
        self._dropped = {"empty_response": 0, "repetitive": 0}

    def __call__(self, batch: list[Example]) -> list[Example]:
        out = []
        for ex in batch:
            reason = quality_problem(ex, example_text(ex))
            if reason is None:
                out.append(ex)
            else:
                self._dropped[reason] += 1
        return out

    def counts(self) -> dict[str, int]:
        return dict(self._dropped)


class ExactDedup:
    """Drop examples whose normalised text (case, width, whitespace) was seen before, in any batch."""

    name = "dedup_exact"

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def __call__(self, batch: list[Example]) -> list[Example]:
        out = []
        for ex in batch:
            key = dedup_key(example_text(ex))
            if key not in self._seen:
                self._seen.add(key)
                out.append(ex)
        return out

    def counts(self) -> dict[str, int]:
        return {"distinct": len(self._seen)}


class NearDedup:
    """Drop near duplicates of earlier kept examples, in any batch: MinHash LSH over character
    5-grams, estimated Jaccard similarity >= ``threshold`` (see :mod:`verticalize.data.minhash`).
    ``pairs``: every removed example with the kept one it duplicates and their similarity."""

    name = "dedup_near"

    def __init__(self, threshold: float = THRESHOLD, num_perm: int = NUM_PERM):
        self.threshold = threshold
        self.num_perm = num_perm
        self._index = MinHashIndex(threshold, num_perm)
        self.pairs: list[tuple[str, str, float]] = []

    def __call__(self, batch: list[Example]) -> list[Example]:
        res = self._index.add(signatures([example_text(ex) for ex in batch], self.num_perm),
                              ids=[example_label(ex) for ex in batch])
        self.pairs += res.pairs
        return [ex for ex, k in zip(batch, res.keep.tolist()) if k]

    def counts(self) -> dict[str, int]:
        return {"removed": len(self.pairs)}


def default_steps(spec: Any) -> list[Any]:
    """The Step objects equivalent to a ``CleanSpec``'s keys, in the order ``clean_examples`` applies them."""
    steps: list[Any] = []
    if spec.pii == "redact":
        steps.append(PiiRedact())
    steps.append(LengthFilter(spec.min_length, spec.max_length))
    if spec.quality:
        steps.append(QualityFilter())
    if spec.dedup in ("exact", "near"):
        steps.append(ExactDedup())
    if spec.dedup == "near":
        steps.append(NearDedup(spec.near_threshold, spec.num_perm))
    return steps
