"""The data path on Arrow (``datasets``), for data too large to hold comfortably as Python lists.

What :func:`verticalize.data.pipeline.build_training_data` builds, built differently
(``processing.engine: arrow``, or ``auto`` with 64 MiB of data files or more):

- **Read in parallel.** A JSON Lines or text file is cut into byte ranges on line boundaries; forked
  workers (``processing.num_proc``) each parse, convert, add the system prompt and work out the
  per-example cleaning facts (PII redaction, length, quality verdict, duplicate keys) of one range, and
  write them to an Arrow file. Other sources (presets, DataSource objects, hub ids, csv/json/xlsx/parquet)
  load as in the Python path and are written as one range. Every bad line is still named by file:line.
- **Filter on columns.** Selection, length, quality and exact dedup run as vectorised masks over the
  memory-mapped fact columns, in the Python path's order, so both keep the same examples (tested).
- **Cached.** The result is kept under ``processing.cache_dir`` keyed by the recipe's data keys and the
  (path, size, mtime) of every file read; a second run with nothing changed memory-maps it.
- **Streaming** (``processing.streaming: true``): the same steps as a ``datasets.IterableDataset`` the
  trainer reads lazily, in constant memory, for cpt corpora larger than RAM. Counts are not known
  before training reads the stream; replay is mixed in by probability (exact in expectation).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verticalize.data import shards
from verticalize.data.arrowmix import _open, _replay, _take_to
from verticalize.data.clean import dedup_key, prompt_text
from verticalize.data.shards import Facts, Part, plan_part, shard_job, write_rows
from verticalize.recipe import CleanSpec
from verticalize.data.sources import _resolve
from verticalize.errors import DataError

log = logging.getLogger("verticalize")

__all__ = ["ARROW_KINDS", "AUTO_BYTES", "ArrowBuild", "build_dataset", "cache_root", "use_arrow"]

#: the training kinds the Arrow engine builds; grpo prompts and kto rows are built on the Python path
ARROW_KINDS = ("sft", "cpt", "dpo")
#: ``engine: auto`` switches to Arrow at this much data (bytes of the data files)
AUTO_BYTES = 64 << 20
_FORMAT = 1  # bump when what is cached changes shape
_BATCH = 1000  # examples per dict-level step call


@dataclass
class ArrowBuild:
    """A built (``datasets.Dataset``, memory-mapped) or streamed (``IterableDataset``) training set."""

    train: Any
    report: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    path: Path | None = None


def cache_root(spec: Any = None) -> Path:
    if spec is not None and getattr(spec, "cache_dir", None):
        return Path(spec.cache_dir).expanduser()
    root = os.environ.get("VERTICALIZE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "verticalize")
    return Path(root) / "datasets"


def use_arrow(recipe: Any) -> bool:
    """Whether a recipe's data is built on Arrow (``processing.engine``; ``auto``: streaming, or 64 MiB+)."""
    p = recipe.processing
    if recipe.clean.executor is not None:  # the cleaning runs on datatrove's executors, over the Python path
        if p.engine == "arrow" or p.streaming:
            raise DataError("clean.executor runs the cleaning on datatrove's executors; it does not combine with "
                            "processing.engine: arrow or streaming. Drop one of them")
        return False
    if p.engine != "auto":
        return p.engine == "arrow" or p.streaming
    if p.streaming:
        return True
    total = 0
    for src, base in _entries(recipe):
        if src.path is not None and src.source is None:
            f = _resolve(src.path, base)
            total += f.stat().st_size if f.is_file() else 0
    return total >= AUTO_BYTES


# ------------------------------------------------------------------------------------------ sources


def _entries(recipe: Any, kind: str | None = None) -> list[tuple[Any, Path | None]]:
    from verticalize.data.loading import KIND_DATA
    from verticalize.packs import load_domain
    from verticalize.recipe import DataSpec

    kind = kind or recipe.stages[0].kind
    out: list[tuple[Any, Path | None]] = []
    if recipe.domain:
        pack = load_domain(recipe.domain)
        out += [(DataSpec(**e), pack.dir) for e in getattr(pack, KIND_DATA[kind][0])]
    return out + [(s, None) for s in recipe.data]


def _num_proc(spec: Any) -> int:
    import multiprocessing

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return spec.num_proc or max(1, min(8, os.cpu_count() or 1))


def _stat(p: Path) -> list[Any]:
    if p.is_dir():
        return [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in sorted(p.rglob("*")) if f.is_file()]
    return [str(p), p.stat().st_size, p.stat().st_mtime_ns] if p.exists() else [str(p), None]


def _cache_key(recipe: Any, kind: str, stage: Any, entries: list[tuple[Any, Path | None]]) -> str | None:
    """The recipe keys the data depends on and the stat of every file it reads; None when something in it
    has no stable identity (an object without an import path, a hub id)."""
    from verticalize.packs import load_domain, resolve_ref

    keys: dict[str, Any] = {"format": _FORMAT, "kind": kind}
    try:
        dump = recipe.to_dict() if hasattr(recipe, "to_dict") else recipe.model_dump(mode="json")
    except Exception:  # an object with no import path: nothing to key it by
        return None
    for k in ("domain", "data", "mix", "clean", "replay", "pot", "base"):
        keys[k] = dump.get(k)
    keys["seed"] = recipe.seed
    keys["reading_comprehension"] = bool(getattr(stage, "reading_comprehension", False))
    files: list[Any] = []
    if recipe.domain:
        files.append(_stat(load_domain(recipe.domain).dir))
    for spec, base in entries:
        if spec.source is not None:
            return None
        p = _resolve(spec.path, base)
        if not p.exists():
            return None  # a hub id: its revision is not known here
        files.append(_stat(p))
    rep = recipe.replay
    if rep is not None and rep.ratio > 0:
        if not isinstance(rep.source, str):
            return None
        r = resolve_ref("domain", rep.source, missing_ok=True)
        p = load_domain(rep.source).dir if r is not None else Path(rep.source)
        files.append(_stat(p))
    for _, ref in recipe.refs():
        mod = (ref.target or "").split(":")[0]
        spec_ = _find_spec(mod)
        if spec_ is None:
            return None
        files.append(_stat(Path(spec_)))
    keys["files"] = files
    return hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()


def _find_spec(module: str) -> str | None:
    import importlib.util

    try:
        s = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return s.origin if s is not None and s.origin else None


def _load_cached(entry: Path) -> ArrowBuild | None:
    from datasets import Dataset, concatenate_datasets

    meta = entry / "build.json"
    if not meta.is_file():
        return None
    try:
        info = json.loads(meta.read_text("utf-8"))
        parts = [Dataset.from_file(str(entry / f)) for f in info["files"]]
    except (OSError, ValueError, KeyError):
        return None  # a damaged entry is rebuilt
    ds = parts[0] if len(parts) == 1 else concatenate_datasets(parts)
    report = {**info["report"], "cache": {"hit": True, "dir": str(entry)}}
    return ArrowBuild(train=ds, report=report, cached=True, path=entry)


def build_dataset(recipe: Any, kind: str | None = None, *, length: Callable[[dict[str, Any]], int] | None = None,
                  stage: Any = None) -> ArrowBuild:
    """The training data of ``recipe`` for one training kind, on Arrow (see the module docstring);
    the same examples and report as the Python path."""
    kind = kind or recipe.stages[0].kind
    spec = stage if stage is not None else next((st for st in recipe.stages if getattr(st, "kind", None) == kind), None)
    proc = recipe.processing
    entries = _entries(recipe, kind)
    key = _cache_key(recipe, kind, spec, entries) if proc.cache else None
    root = cache_root(proc)
    if key is not None:
        hit = _load_cached(root / key[:24])
        if hit is not None:
            return hit
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        files, report = _build(recipe, kind, spec, length, entries, work)
        report["fingerprint"] = key or _content_sha(work, files)
        (work / "build.json").write_text(json.dumps({"files": files, "report": report}, ensure_ascii=False,
                                                    default=str), "utf-8")
        for f in work.glob("shard-*.arrow"):
            f.unlink()
        entry = root / (key[:24] if key else f"nocache-{report['fingerprint'][:16]}-{os.getpid()}")
        if entry.exists():
            shutil.rmtree(entry, ignore_errors=True)
        os.replace(work, entry)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    built = _load_cached(entry)
    assert built is not None
    built.cached = False
    built.report = {**report, "cache": {"hit": False, "dir": str(entry)}}
    return built


def _content_sha(work: Path, files: list[str]) -> str:
    h = hashlib.sha256()
    for f in files:
        with (work / f).open("rb") as fh:
            for chunk in iter(lambda: fh.read(8 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _build(recipe: Any, kind: str, spec: Any, length: Any, entries: list[tuple[Any, Path | None]], work: Path
           ) -> tuple[list[str], dict[str, Any]]:
    import numpy as np
    from datasets import concatenate_datasets

    from verticalize.data.loading import KIND_DATA, load_pack_split
    from verticalize.data.mix import mix_sources
    from verticalize.data.parallel import fork_map
    from verticalize.packs import load_domain

    workers = _num_proc(recipe.processing)
    pack = load_domain(recipe.domain) if recipe.domain else None
    held = load_pack_split(pack, "eval")[0] if pack is not None and pack.eval else None
    parts = [plan_part(s, b, b is not None, workers) for s, b in entries]
    jobs: list[tuple[int, Part, Any, str]] = []
    for i, part in enumerate(parts):
        for j, shard in enumerate(part.shards or [None]):
            jobs.append((i, part, shard, str(work / f"shard-{i:03d}-{j:03d}.arrow")))
    dicts = bool(recipe.clean.steps) or (recipe.pot.enabled and kind == "sft") or (
        kind == "cpt" and bool(getattr(spec, "reading_comprehension", False)))
    rpart = _replay_part(recipe, kind, workers)
    if rpart is not None:
        for j, shard in enumerate(rpart.shards):
            jobs.append((len(parts), rpart, shard, str(work / f"shard-replay-{j:03d}.arrow")))
        shards.FACTS_OF[len(parts)] = Facts(kind, None, CleanSpec(pii="keep", quality=False, dedup="none"), False,
                                            full=False)
    shards.FACTS = Facts(kind, pack, recipe.clean, held is not None, full=dicts)
    try:
        done = [r for chunk in fork_map(shard_job, jobs, workers=min(workers, len(jobs)), min_items=1) for r in chunk]
    finally:
        shards.FACTS = None
        shards.FACTS_OF.clear()
    # per source: its report, in the Python path's shape
    sources: list[dict[str, Any]] = []
    groups: list[Any] = []
    weights: list[float] = []
    for i, part in enumerate(parts):
        info, ds = _part_read([r for r in done if r["index"] == i], part)
        used = len(ds) if ds is not None else 0
        if part.from_pack:
            info["used_by"] = kind
        else:
            info.update(used_by=kind, used=used)
        sources.append(info)
        if used:
            groups.append(ds)
            weights.append(1.0 if part.from_pack else part.spec.weight)
    general = None
    if rpart is not None:  # the replay file, read by the same jobs: its rows as they are, and its report
        ginfo, gds = _part_read([r for r in done if r["index"] == len(parts)], rpart)
        general = (gds, ginfo) if gds is not None else None  # no chat rows: loaded as the Python path does
    if not groups:
        pack_key, wanted = KIND_DATA[kind]
        where = f"the pack {pack.name!r} has no {pack_key}: entry and " if pack is not None else ""
        raise DataError(f"{kind} trains on {wanted}; {where}no data: source holds any. "
                        f"Add data: [{{path: ..., format: {'text' if kind == 'cpt' else 'preference' if kind == 'dpo' else 'alpaca'}}}]")
    offsets = np.cumsum([0] + [len(g) for g in groups])
    order, mix_report = mix_sources([[(g, i) for i in range(len(ds))] for g, ds in enumerate(groups)], weights,
                                    recipe.mix.strategy, seed=recipe.seed)
    facts = groups[0] if len(groups) == 1 else concatenate_datasets(groups)
    rows = np.fromiter((offsets[g] + i for g, i in order), dtype=np.int64, count=len(order))
    steps: list[dict[str, Any]] = [mix_report]
    rows = _filter(facts, rows, recipe.clean, kind, steps)
    return _finish(recipe, kind, spec, length, facts, rows, held, steps, sources, work, workers, dicts, general)


def _replay_part(recipe: Any, kind: str, workers: int) -> Part | None:
    """The replay source as one more part for the shard jobs, when it is a JSON Lines file of chat
    examples that the Python path would load whole (``load_replay``: no pack, no mixer, an sft stage);
    None: the replay is loaded as the Python path does."""
    from verticalize.packs import resolve_ref
    from verticalize.recipe import DataSpec

    r = recipe.replay
    if (r is None or r.ratio <= 0 or kind != "sft" or r.mixer is not None or not isinstance(r.source, str)
            or resolve_ref("domain", r.source, missing_ok=True) is not None):
        return None
    part = plan_part(DataSpec(path=r.source), None, False, workers)
    return part if part.file is not None and part.file.suffix.lower() == ".jsonl" and part.shards else None


def _part_read(rs: list[dict[str, Any]], part: Part) -> tuple[dict[str, Any], Any]:
    """One source's report (as ``load_source`` gives it) and its fact rows (None: none), from its jobs'
    results; its errors raised as the Python path raises them."""
    from datasets import Dataset, concatenate_datasets

    failed = next((r["error"] for r in rs if "error" in r), None)
    if failed is not None:
        raise DataError(failed)
    label = rs[0]["sha256"] and str(part.file) if part.file is not None else None
    src = label or _label(part)
    converted = sum(r["converted"] for r in rs)
    problems = ([p for phase in range(3) for r in rs for p in r["problems"][phase]] if part.file is not None
                else [p for r in rs for p in r["problems"]])
    skipped = sum(r["skipped"] for r in rs)
    if problems and part.file is not None and part.spec.on_error == "raise":
        raise DataError(problems[0])
    if not converted:
        raise DataError(f"{src}: no usable examples ({skipped} skipped: {'; '.join(problems[:3])})")
    fmt = part.fmt if part.file is not None else ("alpaca" if part.spec.preset else part.spec.format)
    info: dict[str, Any] = {"source": src, "format": fmt, "read": sum(r["read"] for r in rs), "skipped": skipped,
                            "converted": converted, "sha256": part.sha256 or rs[0]["sha256"]}
    enc = rs[0]["encoding"]
    if enc:
        info["encoding"] = enc
    if rs[0]["layout"]:
        info["layout"] = rs[0]["layout"]
    if rs[0]["filtered"] or rs[0]["notes"]:
        info["filtered"], info["notes"] = rs[0]["filtered"], rs[0]["notes"]
    if problems:
        info["skipped_examples"] = problems
    ds = [Dataset.from_file(r["file"]) for r in rs if r["rows"]]
    return info, (None if not ds else ds[0] if len(ds) == 1 else concatenate_datasets(ds))


def _label(part: Part) -> str:
    spec = part.spec
    if spec.path is not None:
        p = _resolve(spec.path, part.base_dir)
        return str(p) if p.exists() else str(spec.path)
    return spec.label


def _column(ds: Any, name: str) -> Any:
    return ds.data.column(name)


def _filter(facts: Any, rows: Any, c: Any, kind: str, steps: list[dict[str, Any]]) -> Any:
    """Select, PII count, length, quality and dedup as masks over the fact columns, in the Python path's
    order and with its report rows."""
    import numpy as np
    import pyarrow as pa

    def col(name: str) -> Any:
        return _column(facts, name).to_numpy(zero_copy_only=False)

    if c.languages or c.tasks:
        n = len(rows)
        rows = rows[col("_sel")[rows]]
        steps.append({"step": "select", "in": n, "out": len(rows), "languages": c.languages, "tasks": c.tasks})
    n = len(rows)
    if c.pii == "redact":
        steps.append({"step": "pii_redact", "in": n, "out": n, "changed": int(col("_red")[rows].sum())})
    lens = col("_len")[rows]
    keep = lens >= c.min_length
    if c.max_length is not None:
        keep &= lens <= c.max_length
    rows = rows[keep]
    steps.append({"step": "length", "in": n, "out": len(rows), "min_chars": c.min_length, "max_chars": c.max_length})
    if c.quality:
        n = len(rows)
        q = _column(facts, "_q").take(pa.array(rows))
        bad = q.is_valid().to_numpy(zero_copy_only=False)
        reasons = q.filter(q.is_valid()).to_pylist()
        rows = rows[~bad]
        steps.append({"step": "quality", "in": n, "out": len(rows), "empty_response": reasons.count("empty_response"),
                      "repetitive": reasons.count("repetitive")})
    if c.dedup in ("exact", "near"):
        n = len(rows)
        keys = _column(facts, "_key").take(pa.array(rows)).cast(pa.binary(16)).combine_chunks()
        raw = np.frombuffer(keys.buffers()[1], dtype=np.uint64, count=2 * len(keys)).reshape(-1, 2)
        rows = rows[_first_of_each(raw[:, 0], raw[:, 1])]
        steps.append({"step": "dedup_exact", "in": n, "out": len(rows)})
    if c.dedup == "near":
        from verticalize.data.clean import near_report
        from verticalize.data.minhash import near_duplicates

        n = len(rows)
        sig = _column(facts, "_sig").take(pa.array(rows)).combine_chunks()
        sigs = np.asarray(sig.flatten()).reshape(len(rows), c.num_perm)
        res = near_duplicates(sigs, threshold=c.near_threshold)
        extra = near_report(_Rows(facts, rows), res.pairs, c.near_threshold, c.num_perm)
        rows = rows[res.keep]
        steps.append({"step": "dedup_near", "in": n, "out": len(rows), **extra})
    return rows


def _first_of_each(a: Any, b: Any) -> Any:
    """The positions, ascending, of the first occurrence of each distinct (a, b) pair: a stable lexsort
    puts each pair's first occurrence first in its run (np.unique's return_index, 3x faster)."""
    import numpy as np

    if not len(a):
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((b, a))
    sa, sb = a[order], b[order]
    start = np.ones(len(order), dtype=bool)
    start[1:] = (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])
    return np.sort(order[start])


class _Rows:
    """``rows`` of ``facts`` as examples, read one at a time when asked for (a report names a few)."""

    def __init__(self, facts: Any, rows: Any):
        self.facts, self.rows = facts, rows

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.facts[int(self.rows[i])]


def _decoded(facts: Any, rows: Any) -> Iterator[list[dict[str, Any]]]:
    import pyarrow as pa

    for lo in range(0, len(rows), _BATCH):
        yield [json.loads(s) for s in _column(facts, "_ex").take(pa.array(rows[lo: lo + _BATCH])).to_pylist()]


def _finish(recipe: Any, kind: str, spec: Any, length: Any, facts: Any, rows: Any, held: Any,
            steps: list[dict[str, Any]], sources: list[dict[str, Any]], work: Path, workers: int, dicts: bool,
            general: tuple[Any, dict[str, Any]] | None = None) -> tuple[list[str], dict[str, Any]]:
    """User steps, contamination, PoT format, reading comprehension and replay, then the final Arrow
    files; the report in the Python path's shape. Without steps that need dicts, the final rows are
    taken from the fact files' columns as they are."""
    import numpy as np

    from verticalize.data.dictsteps import DictSteps

    replay = recipe.replay is not None and recipe.replay.ratio > 0 and kind != "dpo"
    dom_file = "train-domain.arrow" if replay else "train.arrow"
    if dicts:
        chain = DictSteps(recipe, kind, spec, held)
        n = write_rows(str(work / dom_file), kind, "domain" if replay else None, chain.run(_decoded(facts, rows)))
        steps += chain.reports(len(rows))
    else:
        if held is not None:
            keys = {dedup_key(prompt_text(e)) for e in held}
            pk = _column(facts, "_pkey").to_pylist()
            m = len(rows)
            rows = rows[np.fromiter((pk[r] not in keys for r in rows), dtype=bool, count=len(rows))]
            steps.append({"step": "contamination", "in": m, "out": len(rows), "eval_prompts": len(keys)})
        n = len(rows)
        if n and replay and recipe.replay.mixer is None and recipe.replay.by == "examples":
            files, mix = _replay(recipe, kind, length, work, dom_file, n, sources, domain_rows=(facts, rows),
                                 read=general)
            steps.append(mix)
            return files, _report(kind, sources, steps, work, files, workers)
        if n:
            _take_to(facts, rows.tolist(), work / dom_file, kind, "domain" if replay else None)
    if not n:
        raise DataError("cleaning removed every training example; loosen clean: (min_length/max_length/dedup)")
    files = [dom_file]
    if recipe.replay is not None and recipe.replay.ratio > 0 and kind == "dpo":
        steps.append({"step": "replay", "in": n, "out": n,
                      "skipped": "replay mixes general data into sft and cpt stages, not dpo"})
    elif replay:
        files, mix = _replay(recipe, kind, length, work, dom_file, n, sources, read=general)
        steps.append(mix)
    return files, _report(kind, sources, steps, work, files, workers)


def _report(kind: str, sources: list[dict[str, Any]], steps: list[dict[str, Any]], work: Path, files: list[str],
            workers: int) -> dict[str, Any]:
    total = sum(len(_open(work / f)) for f in files)
    return {"kind": kind, "sources": sources, "steps": steps, "train_examples": total, "engine": "arrow",
            "num_proc": workers}
