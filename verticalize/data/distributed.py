"""``clean:`` on datatrove's executors (``clean.executor``): local processes, a Slurm cluster or a Ray
cluster, from the same recipe.

Two dependent datatrove pipelines over a work folder::

    input/NNNNN.jsonl        the examples, cut into ``tasks`` shards ({"i": position, "example": {...}})
    stage 1 (tasks tasks)    ExampleReader -> CleanShard (PII, length, quality, exact key, MinHash
                             signature) -> JsonlWriter  => cleaned/NNNNN.jsonl, counts/NNNNN.json
    stage 2 (one task)       ExampleReader -> DedupAll (exact, then MinHash LSH near dedup over all
                             shards, in input order) -> JsonlWriter  => output/00000.jsonl, report.json
    logs/stage1, logs/stage2 datatrove's logs, stats and completion marks

The per-example work (the costly part) runs in parallel; the dedup decision sees every example's
key and signature (16 + 4 x num_perm bytes each) in one task, so the kept examples, their order and
every count equal the in-process :func:`~verticalize.data.clean.clean_examples` (tested).
Needs ``pip install 'verticalize[scale]'`` (datatrove; ``[ray]`` adds Ray).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from verticalize.data.clean import example_facts, near_report
from verticalize.data.minhash import near_duplicates, signatures
from verticalize.errors import DataError, MissingDependencyError

try:
    from datatrove.data import Document
    from datatrove.io import get_datafolder
    from datatrove.pipeline.base import PipelineStep
    from datatrove.pipeline.writers import JsonlWriter
except ImportError as e:  # pragma: no cover - depends on the install
    raise MissingDependencyError(f"clean.executor runs on datatrove, which is not installed ({e}): "
                                 "pip install 'verticalize[scale]' (Ray: 'verticalize[ray]')") from e

__all__ = ["CleanRun", "clean_distributed", "run_clean", "write_shards", "build_executors", "ExampleReader",
           "CleanShard", "DedupAll"]

#: seconds between two looks at a Slurm run's progress
SLURM_POLL_S = 15.0
_SIGN_BATCH = 1000  # examples per signatures() call in a stage-1 task


def _line(self: Any, doc: Document) -> dict[str, Any]:
    """JsonlWriter adapter: a document is written as its metadata (position, example, key, signature)."""
    return doc.metadata


class ExampleReader(PipelineStep):
    """Reads this task's share of the ``*.jsonl`` files of ``folder`` (file k goes to task k mod
    tasks), one document per line; an empty folder is an empty shard."""

    name = "verticalize examples"
    type = "📖 - READER"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = get_datafolder(folder)

    def run(self, data: Any = None, rank: int = 0, world_size: int = 1) -> Iterator[Document]:
        for path in self.folder.get_shard(rank, world_size, glob_pattern="*.jsonl") or []:
            with self.folder.open(path, "r", encoding="utf-8") as fh:
                for line in fh:
                    row = json.loads(line)
                    self.stat_update("documents")
                    yield Document(text="", id=str(row["i"]), metadata=row)


class CleanShard(PipelineStep):
    """Stage 1: PII redaction, length and quality filters of one shard (the clean pass's own
    functions), each kept example with its exact-dedup key and MinHash signature; writes this
    task's counts to ``counts/NNNNN.json``."""

    name = "verticalize clean"
    type = "🔻 - FILTER"

    def __init__(self, clean: Any, counts_folder: str):
        super().__init__()
        self.clean = clean
        self.counts_folder = get_datafolder(counts_folder)

    def run(self, data: Any = None, rank: int = 0, world_size: int = 1) -> Iterator[Document]:
        c = self.clean
        n = {"in": 0, "changed": 0, "length": 0, "quality": 0, "empty_response": 0, "repetitive": 0}
        batch: list[tuple[Document, str]] = []
        for doc in data or ():
            ex = doc.metadata["example"]
            red, text, reason, key = example_facts(ex, c)
            n["in"] += 1
            n["changed"] += red is not None
            if not (c.min_length <= len(text) and (c.max_length is None or len(text) <= c.max_length)):
                continue
            n["length"] += 1
            if reason is not None:
                n[reason] += 1
                continue
            n["quality"] += 1
            doc.metadata = {"i": doc.metadata["i"], "example": ex if red is None else red}
            if key is not None:
                doc.metadata["key"] = key.hex()
            batch.append((doc, text))
            if len(batch) >= _SIGN_BATCH:
                yield from self._signed(batch)
                batch = []
        yield from self._signed(batch)
        for k, v in n.items():
            self.stat_update(k, value=v)
        with self.counts_folder.open(f"{rank:05d}.json", "w") as fh:
            json.dump(n, fh)

    def _signed(self, batch: list[tuple[Document, str]]) -> Iterator[Document]:
        if self.clean.dedup == "near" and batch:
            sigs = signatures([t for _, t in batch], self.clean.num_perm).astype("<u4")
            for (doc, _), sig in zip(batch, sigs):
                doc.metadata["sig"] = base64.b64encode(sig.tobytes()).decode("ascii")
        for doc, _ in batch:
            yield doc


class DedupAll(PipelineStep):
    """Stage 2 (one task): every cleaned example back in input order; exact dedup by key, then
    MinHash LSH near dedup over the signatures; the kept ones go on, the report rows to
    ``report_file``."""

    name = "verticalize dedup"
    type = "🫂 - DEDUP"

    def __init__(self, clean: Any, report_file: str):
        super().__init__()
        self.clean = clean
        folder, _, name = report_file.rpartition("/")
        self.report_folder, self.report_name = get_datafolder(folder), name

    def run(self, data: Any = None, rank: int = 0, world_size: int = 1) -> Iterator[Document]:
        c = self.clean
        docs = sorted(data or (), key=lambda d: d.metadata["i"])
        rows: list[dict[str, Any]] = []
        if c.dedup in ("exact", "near"):
            n = len(docs)
            seen: set[str] = set()
            kept = []
            for d in docs:
                if d.metadata["key"] not in seen:
                    seen.add(d.metadata["key"])
                    kept.append(d)
            docs = kept
            rows.append({"step": "dedup_exact", "in": n, "out": len(docs)})
        if c.dedup == "near":
            n = len(docs)
            sigs = np.stack([np.frombuffer(base64.b64decode(d.metadata["sig"]), dtype="<u4") for d in docs]) if docs \
                else np.empty((0, c.num_perm), dtype=np.uint32)
            res = near_duplicates(sigs, threshold=c.near_threshold)
            extra = near_report([d.metadata["example"] for d in docs], res.pairs, c.near_threshold, c.num_perm)
            docs = [d for d, k in zip(docs, res.keep.tolist()) if k]
            rows.append({"step": "dedup_near", "in": n, "out": len(docs), **extra})
        with self.report_folder.open(self.report_name, "w") as fh:
            json.dump(rows, fh, ensure_ascii=False)
        for d in docs:
            d.metadata = {"i": d.metadata["i"], "example": d.metadata["example"]}
            self.stat_update("kept")
            yield d


def write_shards(examples: list[dict[str, Any]], folder: Path, tasks: int) -> None:
    """The examples as ``tasks`` consecutive JSONL shards ``NNNNN.jsonl`` of {"i": position, "example"}."""
    folder.mkdir(parents=True, exist_ok=True)
    n = len(examples)
    for k in range(tasks):
        lo, hi = n * k // tasks, n * (k + 1) // tasks
        with (folder / f"{k:05d}.jsonl").open("w", encoding="utf-8") as fh:
            for i in range(lo, hi):
                try:
                    line = json.dumps({"i": i, "example": examples[i]}, ensure_ascii=False)
                except (TypeError, ValueError) as e:
                    raise DataError(f"example {i} cannot be written as JSON for clean.executor ({e}); its values "
                                    "must be strings, numbers, booleans, null, lists and dicts") from e
                fh.write(line + "\n")


@dataclass(frozen=True)
class _Keys:
    """The CleanSpec keys the tasks use (the spec itself may hold live Step objects, not picklable)."""

    pii: str
    quality: bool
    dedup: str
    min_length: int
    max_length: int | None
    near_threshold: float
    num_perm: int


def build_executors(clean: Any, work: Path) -> tuple[Any, Any]:
    """The two datatrove executors of ``clean.executor`` over the work folder ``work`` (holding
    ``input/``): stage 1 (``tasks`` tasks) and stage 2 (one task, depending on stage 1)."""
    ex = clean.executor
    w = str(work)
    keys = _Keys(**{k: getattr(clean, k) for k in _Keys.__dataclass_fields__})
    first = [ExampleReader(f"{w}/input"), CleanShard(keys, f"{w}/counts"),
             JsonlWriter(f"{w}/cleaned", output_filename="${rank}.jsonl", compression=None, adapter=_line)]
    last = [ExampleReader(f"{w}/cleaned"), DedupAll(keys, f"{w}/report.json"),
            JsonlWriter(f"{w}/output", output_filename="${rank}.jsonl", compression=None, adapter=_line)]
    if ex.kind == "local":
        import multiprocessing
        import os

        from datatrove.executor import LocalPipelineExecutor

        workers = ex.workers or min(ex.tasks, os.cpu_count() or 1)
        # fork, not datatrove's default forkserver: that one re-imports the caller's __main__, which re-runs a
        # script without an `if __name__ == "__main__":` guard (and its cleaning) in every worker
        start = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        one = LocalPipelineExecutor(first, tasks=ex.tasks, workers=workers, logging_dir=f"{w}/logs/stage1",
                                    start_method=start)
        return one, LocalPipelineExecutor(last, tasks=1, workers=1, logging_dir=f"{w}/logs/stage2", depends=one)
    if ex.kind == "ray":
        from datatrove.executor import RayPipelineExecutor

        kw = {"cpus_per_task": ex.cpus_per_task, "mem_per_cpu_gb": ex.mem_per_cpu_gb}
        one = RayPipelineExecutor(first, tasks=ex.tasks, workers=ex.workers or -1, logging_dir=f"{w}/logs/stage1", **kw)
        return one, RayPipelineExecutor(last, tasks=1, logging_dir=f"{w}/logs/stage2", depends=one, **kw)
    from datatrove.executor import SlurmPipelineExecutor

    kw = {"time": ex.time, "partition": ex.partition, "cpus_per_task": ex.cpus_per_task,
          "mem_per_cpu_gb": int(ex.mem_per_cpu_gb), "qos": ex.qos, "env_command": ex.env_command,
          "sbatch_args": dict(ex.sbatch_args)}
    one = SlurmPipelineExecutor(first, tasks=ex.tasks, workers=ex.workers or -1, job_name=f"{ex.job_name}-1",
                                logging_dir=f"{w}/logs/stage1", slurm_logs_folder=f"{w}/logs/slurm/stage1", **kw)
    return one, SlurmPipelineExecutor(last, tasks=1, job_name=f"{ex.job_name}-2", logging_dir=f"{w}/logs/stage2",
                                      slurm_logs_folder=f"{w}/logs/slurm/stage2", depends=one, **kw)


@dataclass
class CleanRun:
    """A finished distributed clean: its work folder and its report rows (one per clean step)."""

    work: Path
    steps: list[dict[str, Any]]

    @property
    def output_files(self) -> list[Path]:
        """The kept examples, as JSONL of {"i": input position, "example": {...}}, in input order."""
        return sorted((self.work / "output").glob("*.jsonl"))

    def examples(self) -> list[dict[str, Any]]:
        out = []
        for path in self.output_files:
            with path.open(encoding="utf-8") as fh:
                out += [json.loads(line)["example"] for line in fh]
        return out


def run_clean(clean: Any, work: Path) -> CleanRun:
    """Run both stages of ``clean.executor`` over ``work/input/`` (see :func:`write_shards`) and wait
    for them; a failed task raises a DataError naming its logs."""
    ex = clean.executor
    one, last = build_executors(clean, work)
    if ex.kind == "local":
        try:
            last.run()
        except Exception as e:
            raise DataError(f"clean.executor local: a task failed ({type(e).__name__}: {e}); logs in "
                            f"{work}/logs/stage1/logs and {work}/logs/stage2/logs") from e
    elif ex.kind == "ray":
        _run_ray(last, ex.address)
    else:
        try:
            last.run()  # sbatch: stage 1's job array, then stage 2's job depending on it
        except (OSError, subprocess.CalledProcessError) as e:
            raise DataError(f"clean.executor slurm: sbatch failed ({e}); run it from a Slurm login node") from e
        _wait_slurm(one, last)
    for name, executor in (("stage 1", one), ("stage 2", last)):
        missing = executor.get_incomplete_ranks(skip_completed=True)
        if missing:
            raise DataError(f"clean.executor {ex.kind}: {len(missing)} of {executor.world_size} {name} task(s) did "
                            f"not finish (ranks {missing[:10]}); logs in {executor.logging_dir.path}/logs")
    return CleanRun(work, _steps(clean, work))


def _run_ray(last: Any, address: str | None) -> None:
    try:
        import ray
    except ImportError as e:
        raise MissingDependencyError(f"clean.executor kind ray needs Ray ({e}): pip install 'verticalize[ray]'") from e

    started = not ray.is_initialized()
    if started:
        ray.init(address=address, log_to_driver=False)
    try:
        last.run()
    finally:
        if started:
            ray.shutdown()


def _wait_slurm(one: Any, last: Any) -> None:
    """Wait for the last job; a job that left the queue unfinished is a failure (and stage 2,
    waiting on a failed stage 1 forever, is cancelled)."""
    while last.get_incomplete_ranks(skip_completed=True):
        queued = subprocess.run(["squeue", "-h", "-o", "%A", "-j", f"{one.job_id},{last.job_id}"],
                                capture_output=True, text=True, check=False).stdout.split()
        if one.get_incomplete_ranks(skip_completed=True) and str(one.job_id) not in queued:
            subprocess.run(["scancel", str(last.job_id)], capture_output=True, check=False)
            break
        if str(last.job_id) not in queued and last.get_incomplete_ranks(skip_completed=True):
            break
        time.sleep(SLURM_POLL_S)


def _steps(clean: Any, work: Path) -> list[dict[str, Any]]:
    """The clean report rows of a finished run, shaped as clean_examples' (plus ``executor``)."""
    n = {"in": 0, "changed": 0, "length": 0, "quality": 0, "empty_response": 0, "repetitive": 0}
    for path in sorted((work / "counts").glob("*.json")):
        for k, v in json.loads(path.read_text()).items():
            n[k] += v
    where = f"{clean.executor.kind}, {clean.executor.tasks} tasks"
    rows: list[dict[str, Any]] = []
    if clean.pii == "redact":
        rows.append({"step": "pii_redact", "in": n["in"], "out": n["in"], "changed": n["changed"]})
    rows.append({"step": "length", "in": n["in"], "out": n["length"], "min_chars": clean.min_length,
                 "max_chars": clean.max_length})
    if clean.quality:
        rows.append({"step": "quality", "in": n["length"], "out": n["quality"],
                     "empty_response": n["empty_response"], "repetitive": n["repetitive"]})
    rows += json.loads((work / "report.json").read_text(encoding="utf-8"))
    return [{**r, "executor": where} for r in rows]


def clean_distributed(examples: list[dict[str, Any]], clean: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """:func:`~verticalize.data.clean.clean_examples` on ``clean.executor``: the same kept examples
    and report rows (each row also names the executor). With ``work_dir`` the run keeps its
    subfolder (logs, report, output); without, it runs in a temporary folder removed after (kept
    when a task fails: the error names its logs)."""
    ex = clean.executor
    if ex.work_dir:
        run_name = f"clean-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        work = Path(ex.work_dir).expanduser().resolve() / run_name
    else:
        work = Path(tempfile.mkdtemp(prefix="verticalize-clean-"))
    write_shards(examples, work / "input", ex.tasks)
    run = run_clean(clean, work)  # on failure the folder stays, with the logs the error names
    kept = run.examples()
    if ex.work_dir:  # the shards are copies of the data: keep only logs, report and output
        for sub in ("input", "cleaned"):
            shutil.rmtree(work / sub, ignore_errors=True)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return kept, run.steps
