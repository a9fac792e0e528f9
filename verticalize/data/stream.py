"""The streamed training set.

:func:`stream_dataset` (``processing.streaming: true``) builds nothing: a ``datasets.IterableDataset``
reads the files as training goes, in constant memory. What differs from a built data set, by nature:
counts are known only once read; near dedup (it needs every example at once) is refused -- use
``dedup: exact`` or a datatrove executor; ``mix.strategy`` is ``concat`` and a fractional weight keeps
each example with that probability; replay is mixed by probability (``interleave_datasets``), its
ratio exact in expectation (by tokens: from the mean lengths of the first 1,000 examples of each side).
A bad line under ``on_error: skip`` is logged with its file:line when the trainer reaches it.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from verticalize.data.dictsteps import Batch, DictSteps
from verticalize.errors import DataError

__all__ = ["stream_dataset"]

log = logging.getLogger("verticalize")

def stream_dataset(recipe: Any, kind: str, stage: Any, length: Callable[[dict[str, Any]], int] | None) -> Any:
    """The training data as a ``datasets.IterableDataset`` (see the module docstring); an ArrowBuild."""
    from datasets import IterableDataset, interleave_datasets

    from verticalize.data.arrow import ArrowBuild, _entries
    from verticalize.data.shards import Facts, final_features, final_row, plan_part
    from verticalize.data.loading import load_pack_split, load_replay
    from verticalize.packs import load_domain

    c = recipe.clean
    if c.dedup == "near":
        raise DataError("clean.dedup: near needs every example at once and cannot stream; with processing.streaming "
                        "use dedup: exact (or none), or clean with a datatrove executor first")
    if recipe.mix.strategy != "concat":
        raise DataError(f"processing.streaming mixes sources by concat; mix.strategy {recipe.mix.strategy!r} needs "
                        "the whole data set (set processing.streaming: false)")
    r = recipe.replay
    if r is not None and r.ratio > 0 and r.mixer is not None:
        raise DataError("replay.mixer receives whole lists and cannot stream; drop replay.mixer or set "
                        "processing.streaming: false")
    pack = load_domain(recipe.domain) if recipe.domain else None
    held = load_pack_split(pack, "eval")[0] if pack is not None and pack.eval else None
    parts = [plan_part(s, b, b is not None, 1, scan=False) for s, b in _entries(recipe, kind)]
    dicts = bool(c.steps) or held is not None or (recipe.pot.enabled and kind == "sft") or (
        kind == "cpt" and bool(getattr(stage, "reading_comprehension", False)))
    facts = Facts(kind, pack, c, held is not None, full=dicts)
    final = list(final_features(kind, False))
    replay = r is not None and r.ratio > 0 and kind != "dpo"
    origin = "domain" if replay else None
    features = final_features(kind, replay)
    seed = recipe.seed

    def domain_batches() -> Iterator[Batch]:
        from verticalize.data.sources import LoadReport

        rng = random.Random(seed)
        seen: set[bytes] = set()
        lo, hi = c.min_length, c.max_length
        for part in parts:
            w = 1.0 if part.from_pack else part.spec.weight
            whole, frac = int(w), w - int(w)
            for rep_i in range(whole + (1 if frac else 0)):
                rep = LoadReport(source=str(part.file or part.spec.label))
                for examples in _streamconverted(part, rep, _fast(part, facts)):
                    if isinstance(examples, list):
                        cols, _ = facts.rows(examples)
                    else:  # a fact table from the columnar path
                        cols = {k: examples.column(k).to_pylist() for k in (*final, *_USED)}
                    batch = []
                    for i, raw in enumerate(cols["_ex"]):
                        n = cols["_len"][i]
                        if not cols["_sel"][i] or n < lo or (hi is not None and n > hi) or cols["_q"][i] is not None:
                            continue
                        key = cols["_key"][i]
                        if key is not None:
                            if key in seen:
                                continue
                            seen.add(key)
                        if rep_i == whole and rng.random() >= frac:
                            continue
                        if dicts:
                            batch.append(json.loads(raw))
                        else:  # nothing else sees the example: its final columns as they are
                            row = {k: cols[k][i] for k in final}
                            if origin is not None:
                                row["_origin"] = origin
                            batch.append(row)
                    if batch:
                        yield batch

    def rows() -> Iterator[dict[str, Any]]:
        if not dicts:
            for batch in domain_batches():
                yield from batch
            return
        chain = DictSteps(recipe, kind, stage, held)
        for batch in chain.run(domain_batches()):
            for ex in batch:
                yield final_row(ex, kind, origin)

    ds = IterableDataset.from_generator(rows, features=features)
    sources = [{"source": str(p.file) if p.file else p.spec.label, "format": p.fmt if p.file else p.spec.format,
                "streamed": p.file is not None, "used_by": kind} for p in parts]
    steps: list[dict[str, Any]] = [{"step": "stream", "strategy": "concat", "dedup": c.dedup, "pii": c.pii,
                                    "min_chars": c.min_length, "max_chars": c.max_length, "quality": c.quality}]
    if replay:
        general, ginfos, what = load_replay(r.source, kind)
        sources += [{**i, "role": "replay"} for i in ginfos]
        p = r.ratio
        if r.by == "tokens":
            if length is None:
                raise DataError("replay by tokens counts tokens with the base's tokenizer: pass length=fn or use "
                                "replay.by: examples")
            head = [ex for b in _take(domain_batches(), 1000) for ex in b][:1000]
            ld = sum(length(ex) for ex in head) / max(1, len(head))
            lg = sum(length(ex) for ex in general[:1000]) / max(1, min(1000, len(general)))
            p = r.ratio * ld / (r.ratio * ld + (1 - r.ratio) * lg) if ld and lg else r.ratio

        def cycle() -> Iterator[dict[str, Any]]:
            rng = random.Random(seed + 1)
            while general:
                for ex in rng.sample(general, len(general)):
                    yield final_row(ex, kind, "general")

        gen = IterableDataset.from_generator(cycle, features=features)
        ds = interleave_datasets([ds, gen], probabilities=[1 - p, p], seed=seed, stopping_strategy="first_exhausted")
        steps.append({"step": "replay", "by": r.by, "ratio_target": r.ratio, "probability": round(p, 4),
                      "replay_data": what, "general_pool": len(general), "exact": "in expectation (streamed)"})
    report = {"kind": kind, "engine": "arrow", "streaming": True, "sources": sources, "steps": steps,
              "train_examples": None}
    return ArrowBuild(train=ds, report=report)


def _take(batches: Iterator[Batch], n: int) -> list[Batch]:
    out, got = [], 0
    for b in batches:
        out.append(b)
        got += len(b)
        if got >= n:
            break
    return out


_USED = ("_ex", "_len", "_sel", "_q", "_key")  # the fact columns the stream reads


def _fast(part: Any, facts: Any) -> Any:
    """The columnar reader of ``part``'s blocks (see :mod:`verticalize.data.columnar`), or None."""
    from verticalize.data import columnar
    from verticalize.data.shards import fact_features

    return columnar.reader(part, facts, fact_features(facts.kind).arrow_schema)


def _streamconverted(part: Any, rep: Any, fast: Any = None) -> Iterator[Any]:
    from verticalize.data.shards import converted

    if part.file is None:
        yield from converted(part, None, rep)
        return
    skip = 3 if part.encoding == "utf-8-sig" else 0
    yield from converted(part, (skip, Path(part.file).stat().st_size, 1), rep, log_skips=True, fast=fast)
