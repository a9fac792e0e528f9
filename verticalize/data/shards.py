"""Reading for the Arrow engine (:mod:`verticalize.data.arrow`): one source cut into byte ranges on
line boundaries, each range parsed, converted and turned into an Arrow file of the examples' final
columns and their cleaning facts (PII redaction, length, quality verdict, duplicate keys, MinHash
signatures) by a forked worker. Every bad record is named by file and line, as on the Python path.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verticalize.data import columnar
from verticalize.data.clean import dedup_key, example_text, prompt_text, quality_problem, redact_example
from verticalize.data.formats import convert, detect_format
from verticalize.data.sources import _HINT, LoadReport, _bad, _bom, _jsonl, _resolve, normalize_encoding
from verticalize.errors import DataError

__all__ = ["Part", "plan_part", "Facts", "converted", "shard_job", "fact_features", "final_features", "final_row",
           "table_of", "write_rows", "FACTS", "SHARD_BYTES"]

log = logging.getLogger("verticalize")

SHARD_BYTES = 16 << 20  # a byte range per worker, at least this long
_LINES = 20_000  # lines parsed per batch
_BLOCK = 4 << 20  # bytes read at a time
_STREAMABLE = (".jsonl", ".txt")


@dataclass
class Part:
    spec: Any
    base_dir: Path | None
    from_pack: bool
    file: Path | None = None  # a file read in byte ranges; None: read by the Python path
    encoding: str = "utf-8"
    sha256: str | None = None
    shards: list[tuple[int, int, int]] = field(default_factory=list)  # (start, end, first line)
    fmt: str = "auto"


def plan_part(spec: Any, base_dir: Path | None, from_pack: bool, workers: int, scan: bool = True) -> Part:
    part = Part(spec, base_dir, from_pack)
    if spec.source is not None or spec.preset or spec.limit is not None or spec.path is None:
        return part
    f = _resolve(spec.path, base_dir)
    if not f.is_file() or f.suffix.lower() not in _STREAMABLE:
        return part
    with f.open("rb") as fh:
        head = fh.read(4)
    bom = _bom(head)
    enc = normalize_encoding(spec.encoding) or ("utf-8-sig" if bom == "utf-8-sig" else "utf-8")
    if bom not in (None, "utf-8-sig") or not _ascii_compatible(enc):
        return part  # utf-16/32: the Python path decodes those
    part.file, part.encoding = f, enc
    if scan:
        part.sha256, part.shards = _scan(f, workers, skip=3 if bom == "utf-8-sig" else 0)
    if spec.format == "auto" and f.suffix.lower() == ".jsonl":
        part.fmt = _first_format(f, enc, spec)
    else:
        part.fmt = spec.format
    return part


def _ascii_compatible(enc: str) -> bool:
    from verticalize.data.sources import _ascii_compatible as ok

    return ok(enc)


def _scan(f: Path, workers: int, skip: int = 0) -> tuple[str, list[tuple[int, int, int]]]:
    """One pass over the file: its sha256 and ``workers`` byte ranges cut after a line break, each with
    the number of its first line."""
    size = f.stat().st_size
    k = max(1, min(workers, size // SHARD_BYTES))
    targets = [size * i // k for i in range(1, k)]
    h = hashlib.sha256()
    cuts: list[tuple[int, int]] = []  # (byte after a line break, lines before it)
    pos = lines = 0
    want = 0
    with f.open("rb") as fh:
        for chunk in iter(lambda: fh.read(8 << 20), b""):
            h.update(chunk)
            while want < len(targets) and targets[want] < pos + len(chunk):
                nl = chunk.find(b"\n", max(0, targets[want] - pos))
                if nl < 0:
                    break  # the line goes on into the next chunk
                cut = pos + nl + 1
                if not cuts or cut > cuts[-1][0]:
                    cuts.append((cut, lines + chunk.count(b"\n", 0, nl + 1)))
                want += 1
                while want < len(targets) and targets[want] < cut:
                    want += 1
            lines += chunk.count(b"\n")
            pos += len(chunk)
    starts = [(skip, 0), *cuts]
    ends = [c for c, _ in cuts] + [size]
    return h.hexdigest(), [(s, e, n + 1) for (s, n), e in zip(starts, ends) if e > s]


def _blocks(path: Path, start: int, end: int, first: int) -> Iterator[tuple[int, int, bytes]]:
    """The bytes [start, end) in blocks of whole lines (about 4 MiB), each with the number of its first
    line and its byte offset."""
    line, pos, buf = first, start, b""
    with path.open("rb") as fh:
        fh.seek(start)
        left = end - start
        while left > 0 or buf:
            chunk = fh.read(min(_BLOCK, left)) if left > 0 else b""
            left = left - len(chunk) if chunk else 0  # a file cut short while read: what is there
            buf += chunk
            cut = buf.rfind(b"\n") + 1 if left > 0 else len(buf)
            if cut == 0:
                continue  # a line longer than a block: read on
            block, buf = buf[:cut], buf[cut:]
            yield line, pos, block
            line += block.count(b"\n")
            pos += len(block)


def _decode(path: Path, line: int, pos: int, block: bytes, codec: str, rep: LoadReport, on_error: str
            ) -> Iterator[list[tuple[int, str]]]:
    """Batches of (line number, text) of one block, split on \\n only; a line that does not decode is a bad
    record (file:line, byte offset), as in the Python path."""
    out: list[tuple[int, str]] = []
    for raw in block.split(b"\n"):
        try:
            out.append((line, raw.decode(codec).removesuffix("\r")))
        except UnicodeDecodeError as e:
            off = pos + e.start
            _bad(f"{path}:{line}: not {codec.upper()} text: byte 0x{raw[e.start]:02x} at byte offset {off} "
                 f"cannot be decoded (tried {codec}: {e.reason}); {_HINT}", on_error, rep)
        line += 1
        pos += len(raw) + 1
        if len(out) >= _LINES:
            yield out
            out = []
    if out:
        yield out


def _lines(path: Path, start: int, end: int, first: int, enc: str, rep: LoadReport, on_error: str
           ) -> Iterator[list[tuple[int, str]]]:
    """Batches of (line number, text) of the bytes [start, end)."""
    codec = "utf-8" if enc == "utf-8-sig" else enc
    for line, pos, block in _blocks(path, start, end, first):
        yield from _decode(path, line, pos, block.removesuffix(b"\n"), codec, rep, on_error)


def _first_format(f: Path, enc: str, spec: Any) -> str:
    from verticalize.data.formats import remap

    rep = LoadReport(source=str(f))
    for lines in _lines(f, 0, min(f.stat().st_size, 1 << 20), 1, enc, rep, "skip"):
        rows = _jsonl(f, "skip", rep, lines=lines[:50])
        for row in rows:
            try:
                return detect_format(remap(row, spec.columns) if spec.columns else row)
            except ValueError:
                return "auto"  # the converter names the problem with its line
    return "auto"


# ------------------------------------------------------------------------------------------- facts

FACTS: Any = None
FACTS_OF: dict[int, Any] = {}  # a job index with its own Facts (the replay file: read, not cleaned)


_FACT_KEYS = ("_ex", "_len", "_q", "_key", "_pkey", "_sel", "_red")


def fact_features(kind: str, num_perm: int | None = None) -> Any:
    """The final columns of a training example of ``kind``, then the facts the filters read (``_ex``: the
    whole example as JSON, for the steps that need dicts, null when none runs; ``_sig``: its MinHash
    signature, with near dedup)."""
    from datasets import Features, List, Value

    sig = {"_sig": List(Value("uint32"), length=num_perm)} if num_perm else {}
    return Features({**final_features(kind, False), "_ex": Value("large_string"), "_len": Value("int64"),
                     "_q": Value("string"), "_key": Value("binary"), "_pkey": Value("binary"), "_sel": Value("bool"),
                     "_red": Value("bool"), **sig})


@dataclass
class Facts:
    """What every worker needs to turn converted examples into fact rows."""

    kind: str
    pack: Any
    clean: Any
    prompt_keys: bool
    full: bool = True  # keep each whole example (as JSON) for the steps that see dicts

    def rows(self, examples: list[dict[str, Any]]) -> tuple[dict[str, list[Any]], int]:
        from verticalize.data.loading import _fits, _system_for_kind

        fit = [ex for ex in examples if _fits(self.kind, ex)]
        fit = _system_for_kind(fit, self.pack, self.kind)
        c = self.clean
        langs, tasks = c.languages, (c.tasks if self.kind != "cpt" else None)
        final = list(final_features(self.kind, False))
        cols: dict[str, list[Any]] = {k: [] for k in (*final, *_FACT_KEYS)}
        texts: list[str] = []
        for ex in fit:
            red = False
            if c.pii == "redact":
                copy, changed = redact_example(ex)
                if changed:
                    ex, red = copy, True
            text = example_text(ex)
            for k, v in final_row(ex, self.kind, None).items():
                cols[k].append(v)
            cols["_ex"].append(json.dumps(ex, ensure_ascii=False) if self.full else None)
            cols["_len"].append(len(text))
            cols["_q"].append(quality_problem(ex, text) if c.quality else None)
            cols["_key"].append(dedup_key(text) if c.dedup in ("exact", "near") else None)
            cols["_pkey"].append(dedup_key(prompt_text(ex)) if self.prompt_keys else None)
            cols["_sel"].append((not langs or ex.get("lang") in langs) and (not tasks or ex.get("task") in tasks))
            cols["_red"].append(red)
            texts.append(text)
        if c.dedup == "near":
            from verticalize.data.minhash import signatures

            cols["_sig"] = signatures(texts, c.num_perm)  # type: ignore[assignment]
        return cols, len(examples) - len(fit)


def converted(part: Part, shard: tuple[int, int, int] | None, rep: LoadReport, log_skips: bool = False,
              fast: Callable[[bytes], Any] | None = None) -> Iterator[Any]:
    """Batches of converted examples of one byte range of a file (or of a whole non-range source); with
    ``fast``, each block of lines it turns into a fact table (:mod:`verticalize.data.columnar`) comes as
    that table instead."""
    spec = part.spec
    if part.file is None:
        from verticalize.data.loading import load_source

        examples, info = load_source(spec, base_dir=part.base_dir)
        rep.read, rep.skipped = info["read"], info["skipped"]
        rep.problems = list(info.get("skipped_examples", []))
        rep.encoding = info.get("encoding")
        rep.filtered, rep.notes = info.get("filtered", 0), list(info.get("notes", []))
        rep.layout = info.get("layout")
        part.sha256 = info.get("sha256")
        yield examples
        return
    assert shard is not None
    start, end, first = shard
    rep.encoding = part.encoding
    is_txt = part.file.suffix.lower() == ".txt"
    # the Python path lists problems as it finds them: decoding, then JSON, then the format's fields. Ranges
    # record them all; under on_error: raise, _build raises the first in that order (the Python path's)
    phases = [LoadReport(source=rep.source) for _ in range(3)]
    on_error = "raise" if log_skips and spec.on_error == "raise" else "skip"
    codec = "utf-8" if part.encoding == "utf-8-sig" else part.encoding
    for line, pos, block in _blocks(part.file, start, end, first):
        table = fast(block) if fast is not None else None
        if table is not None:  # the columnar path read it: the fact table, ready to write
            rep.read += table.num_rows
            yield table
            continue
        yield from _examples(part, line, pos, block, codec, phases, on_error, rep, is_txt, log_skips)
    for ph in phases:
        rep.skipped += ph.skipped
    rep.problems = [[p for p in ph.problems] for ph in phases]  # merged across ranges by _build


def _examples(part: Part, line: int, pos: int, block: bytes, codec: str, phases: list[LoadReport], on_error: str,
              rep: LoadReport, is_txt: bool, log_skips: bool) -> Iterator[list[dict[str, Any]]]:
    spec = part.spec
    assert part.file is not None
    for lines in _decode(part.file, line, pos, block.removesuffix(b"\n"), codec, phases[0], on_error):
        if is_txt:
            rows = [{"text": ln, "_line": i} for i, ln in lines if ln.strip()]
        else:
            rows = _jsonl(part.file, on_error, phases[1], lines=lines)
        rep.read += len(rows)
        examples, _ = convert(rows, part.fmt, str(part.file), columns=spec.columns, on_error=on_error,
                              report=phases[2])
        if log_skips:  # a stream keeps no report: each skipped record is logged when it is found
            for ph in phases:
                for msg in ph.problems:
                    log.warning("skipped: %s", msg)
                ph.problems.clear()
        yield examples


def shard_job(jobs: list[tuple[int, Part, Any, str]], lo: int, hi: int) -> list[dict[str, Any]]:
    from datasets.arrow_writer import ArrowWriter

    out = []
    for index, part, shard, dest in jobs[lo:hi]:
        rep = LoadReport(source=str(part.file or part.spec.label))
        n_converted = unfit = rows = 0
        facts = FACTS_OF.get(index, FACTS)
        features = fact_features(facts.kind, facts.clean.num_perm if facts.clean.dedup == "near" else None)
        writer = ArrowWriter(path=dest, features=features, writer_batch_size=10_000)
        fast = columnar.reader(part, facts, features.arrow_schema)
        try:
            for examples in converted(part, shard, rep, fast=fast):
                if not isinstance(examples, list):  # a fact table from the columnar path
                    n_converted += examples.num_rows
                    rows += examples.num_rows
                    writer.write_table(examples)
                    continue
                n_converted += len(examples)
                cols, n_unfit = facts.rows(examples)
                unfit += n_unfit
                rows += len(cols["_ex"])
                if cols["_ex"]:
                    writer.write_table(table_of(cols, writer))
        except DataError as e:  # a source read whole (on_error: raise): the parent raises it, in order
            out.append({"index": index, "error": str(e)})
            continue
        finally:
            writer.finalize()
        out.append({"index": index, "file": dest, "rows": rows, "converted": n_converted, "unfit": unfit,
                    "read": rep.read, "skipped": rep.skipped, "problems": rep.problems, "encoding": rep.encoding,
                    "filtered": rep.filtered, "notes": rep.notes, "layout": rep.layout, "sha256": part.sha256})
    return out


# ------------------------------------------------------------------------------------- final rows


def table_of(cols: dict[str, list[Any]], writer: Any) -> Any:
    """Columns as a table of the writer's exact schema (pyarrow converts; datasets' per-value cast of
    nested features costs ten times more)."""
    import pyarrow as pa

    schema = writer._features.arrow_schema
    sigs = cols.pop("_sig", None)
    if sigs is not None:  # an (n, num_perm) array: one fixed-size list per row, without a Python list per value
        cols["_sig"] = pa.FixedSizeListArray.from_arrays(pa.array(sigs.ravel(), type=pa.uint32()), sigs.shape[1])
    return pa.Table.from_pydict(cols, schema=schema)


def final_features(kind: str, origin: bool) -> Any:
    from datasets import Features, List, Value

    turn = {"role": Value("string"), "content": Value("string")}
    core = {"sft": {"messages": List(turn)}, "cpt": {"text": Value("large_string")},
            "dpo": {"prompt": List(turn), "chosen": List(turn), "rejected": List(turn)}}[kind]
    meta = {k: Value("string") for k in ("id", "lang", "task")}
    return Features({**core, **meta, **({"_origin": Value("string")} if origin else {})})


def final_row(ex: dict[str, Any], kind: str, origin: str | None) -> dict[str, Any]:
    keys = {"sft": ("messages",), "cpt": ("text",), "dpo": ("prompt", "chosen", "rejected")}[kind]
    row = {k: ex[k] for k in keys}  # turns keep role and content: pyarrow drops other keys of a struct
    for k in ("id", "lang", "task"):
        v = ex.get(k)
        row[k] = None if v is None else str(v)
    if origin is not None:
        row["_origin"] = origin
    return row


def write_rows(dest: str, kind: str, origin: str | None, batches: Iterator[list[dict[str, Any]]]) -> int:
    from datasets.arrow_writer import ArrowWriter

    n = 0
    writer = ArrowWriter(path=dest, features=final_features(kind, origin is not None), writer_batch_size=10_000)
    try:
        for batch in batches:
            rows = [final_row(ex, kind, origin) for ex in batch]
            if rows:
                writer.write_table(table_of({k: [r[k] for r in rows] for k in rows[0]}, writer))
                n += len(rows)
    finally:
        writer.finalize()
    return n


# ------------------------------------------------------------------------------------------- build
