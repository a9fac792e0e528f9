"""Replay and the final take on the Arrow engine (:mod:`verticalize.data.arrow`): general examples
mixed in as the Python path mixes them (the same draws, the same shuffle, so both engines give the same
order), and the kept rows written to the final Arrow file with pyarrow's take."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from verticalize.data.shards import final_features, write_rows
from verticalize.errors import DataError

__all__: list[str] = []

_BATCH = 1000  # examples per batch read back as dicts


def _open(path: Path) -> Any:
    from datasets import Dataset

    return Dataset.from_file(str(path))


def _replay(recipe: Any, kind: str, length: Any, work: Path, dom_file: str, n: int, sources: list[dict[str, Any]],
            domain_rows: tuple[Any, Any] | None = None, read: tuple[Any, dict[str, Any]] | None = None
            ) -> tuple[list[str], dict[str, Any]]:
    """Replay mixed in as the Python path does (the same draws, the same shuffle). ``domain_rows``: the
    domain examples as (fact dataset, kept rows), not yet written (replay by examples, no mixer): the
    final set is then one take from the fact columns and the general rows. ``read``: the replay file
    already read by the shard jobs (its fact rows, its report); None: loaded here as the Python path
    loads it."""
    from datasets import concatenate_datasets

    from verticalize.data.loading import load_replay
    from verticalize.data.mix import _draw, fill_tokens

    r = recipe.replay
    if read is not None:
        general, ginfo = read
        ginfos, origin = [ginfo], "chat"
    else:
        general, ginfos, origin = load_replay(r.source, kind)
    sources += [{**i, "role": "replay"} for i in ginfos]
    domain = _open(work / dom_file) if domain_rows is None else None
    if r.mixer is not None:  # the user's Mixer sees Python lists
        from verticalize.strategies import build

        mixed, report = build(r.mixer, "replay.mixer").mix(list(domain), general, seed=recipe.seed, length=length)
        write_rows(str(work / "train.arrow"), kind, None, iter([mixed]))
        (work / dom_file).unlink()
        return ["train.arrow"], {"step": "replay", "in": n, "out": len(mixed), "replay_data": origin,
                                 **dict(report or {}), "mixer": r.mixer.target}
    if r.by == "tokens" and length is None:
        raise DataError("replay by tokens counts tokens with the base's tokenizer: pass "
                        "build_training_data(..., length=fn) or use replay.by: examples")
    if isinstance(general, list):
        write_rows(str(work / "train-general.arrow"), kind, "general", iter([general]))
    else:  # fact rows: their final columns, at the Arrow level
        _take_to(general, list(range(len(general))), work / "train-general.arrow", kind, "general")
    rng = random.Random(recipe.seed)
    pool = list(range(len(general)))
    glen: dict[int, int] = {}

    def gl(j: int) -> int:
        if j not in glen:
            glen[j] = length(general[j])
        return glen[j]

    if r.by == "examples":
        picked = _draw(pool, round(r.ratio * n / (1 - r.ratio)), rng)
        dom_tokens = None
    else:  # the Python path's rule (verticalize.data.mix.replay_mix), on indices
        dom_tokens = sum(length(ex) for batch in _batches(domain) for ex in batch)
        target = r.ratio * dom_tokens / (1 - r.ratio)
        picked = fill_tokens(_draw(pool, len(pool), rng), gl, target)
    mixed = list(range(n)) + [n + j for j in picked]
    rng.shuffle(mixed)
    if domain_rows is not None:
        _take_mixed(*domain_rows, _open(work / "train-general.arrow"), mixed, work / "train.arrow", kind)
    else:
        _take_to(concatenate_datasets([domain, _open(work / "train-general.arrow")]), mixed, work / "train.arrow",
                 kind, None)
        (work / dom_file).unlink()
    (work / "train-general.arrow").unlink()
    total = len(mixed)
    report: dict[str, Any] = {"step": "replay", "in": n, "out": total, "replay_data": origin, "by": r.by,
                              "ratio_target": r.ratio, "domain_examples": n, "general_examples": len(picked),
                              "ratio_examples": round(len(picked) / total, 4) if total else 0.0}
    if length is not None:
        if dom_tokens is None:
            dom_tokens = sum(length(ex) for batch in _batches(domain) for ex in batch)
        g = sum(gl(j) for j in picked)
        report["ratio_tokens"] = round(g / (g + dom_tokens), 4) if g + dom_tokens else 0.0
    return ["train.arrow"], report


def _take_to(ds: Any, order: list[int], dest: Path, kind: str, origin: str | None) -> None:
    """The rows ``order`` of ``ds``'s final columns written to ``dest`` (pyarrow take, in slices: no
    per-value cast); ``origin``: a constant ``_origin`` column added (None: ``ds`` has its own or none)."""
    import pyarrow as pa
    from datasets.arrow_writer import ArrowWriter

    has = "_origin" in ds.column_names
    feats = final_features(kind, has or origin is not None)
    table = _gatherable(_table(ds).select([k for k in feats if k in ds.column_names]))
    writer = ArrowWriter(path=str(dest), features=feats, writer_batch_size=10_000)
    try:
        for lo in range(0, len(order), 50_000):
            part = table.take(pa.array(order[lo: lo + 50_000], type=pa.int64()))
            if origin is not None:
                part = part.append_column("_origin", pa.array([origin] * part.num_rows, type=pa.string()))
            writer.write_table(part)
    finally:
        writer.finalize()


def _take_mixed(facts: Any, rows: Any, general: Any, mixed: list[int], dest: Path, kind: str) -> None:
    """``mixed`` (domain example i < len(rows): fact row rows[i]; then general rows) written to ``dest``
    with the ``_origin`` of each, in one take."""
    import numpy as np
    import pyarrow as pa

    feats = final_features(kind, True)
    names = [k for k in feats if k != "_origin"]
    dom = _table(facts).select(names)
    dom = dom.append_column("_origin", pa.repeat(pa.scalar("domain", pa.string()), dom.num_rows))
    both = pa.concat_tables([dom.cast(feats.arrow_schema), _table(general).select(list(feats)).cast(feats.arrow_schema)])
    m = np.asarray(mixed, dtype=np.int64)
    n = len(rows)
    idx = np.where(m < n, np.asarray(rows, dtype=np.int64)[np.minimum(m, n - 1)], dom.num_rows + (m - n))
    _write_taken(_gatherable(both), idx, dest, feats)


#: a table up to this size is made contiguous before rows are gathered from it in mixed order: Arrow's
#: take on one chunk is 2.3x faster than across the ~100 record batches of a memory-mapped file (1.1M
#: chat rows, 344 MiB: 2.57 s -> 1.10 s + 0.06 s to combine); larger ones are gathered in place, so a
#: corpus never has to fit in memory
COMBINE_BYTES = 1 << 30


def _gatherable(table: Any) -> Any:
    return table.combine_chunks() if table.nbytes <= COMBINE_BYTES else table


def _table(ds: Any) -> Any:
    return ds.data.table if hasattr(ds.data, "table") else ds.data


def _write_taken(table: Any, idx: Any, dest: Path, feats: Any) -> None:
    import pyarrow as pa
    from datasets.arrow_writer import ArrowWriter

    writer = ArrowWriter(path=str(dest), features=feats, writer_batch_size=10_000)
    try:
        for lo in range(0, len(idx), 50_000):
            writer.write_table(table.take(pa.array(idx[lo: lo + 50_000], type=pa.int64())))
    finally:
        writer.finalize()


def _batches(ds: Any) -> Iterator[list[dict[str, Any]]]:
    for lo in range(0, len(ds), _BATCH):
        chunk = ds[lo: lo + _BATCH]
        keys = list(chunk)
        yield [{k: chunk[k][i] for k in keys} for i in range(len(chunk[keys[0]]))]
