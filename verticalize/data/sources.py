"""Read examples from files (jsonl/json/csv/parquet), local HF dataset dirs, HF hub ids and ModelScope ids.

Every bad row raises a :class:`DataError` naming the file and line, or, under ``on_error="skip"``,
is skipped and counted: nothing is lost silently.
"""

from __future__ import annotations

import csv
import functools
import gc
import importlib.util
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from verticalize.errors import DataError, MissingDependencyError

__all__ = ["LoadReport", "read_examples", "FileSource"]

FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")

_F = TypeVar("_F", bound=Callable[..., Any])


def gc_paused(fn: _F) -> _F:
    """Run ``fn`` with the cyclic garbage collector paused (then restored as it was).

    The data steps build hundreds of thousands of small dicts and lists and no reference cycles;
    meanwhile the collector's passes, over a heap that keeps growing, cost ~20-30% of their time
    at 100k examples (benchmarks/data_pipeline.py). Plain reference counting still frees memory.
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()
    return wrapper  # type: ignore[return-value]


@dataclass
class LoadReport:
    source: str
    read: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)  # first few skipped rows, for the manifest

    def skip(self, msg: str) -> None:
        self.skipped += 1
        if len(self.problems) < 20:
            self.problems.append(msg)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{e.object[e.start]:02x}); re-save the file as UTF-8") from None


def _jsonl(path: Path, on_error: str, rep: LoadReport) -> list[dict[str, Any]]:
    rows = []
    for i, line in enumerate(_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            msg = f"{path}:{i}: malformed JSON ({e.msg} at column {e.colno})"
            if on_error == "raise":
                raise DataError(msg) from None
            rep.skip(msg)
            continue
        if not isinstance(row, dict):
            msg = f"{path}:{i}: expected a JSON object per line, got {type(row).__name__}"
            if on_error == "raise":
                raise DataError(msg)
            rep.skip(msg)
            continue
        row["_line"] = i
        rows.append(row)
    return rows


def _json(path: Path, on_error: str, rep: LoadReport) -> list[dict[str, Any]]:
    try:
        data = json.loads(_text(path))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: malformed JSON ({e.msg})") from None
    if isinstance(data, dict):  # {"data": [...]}, or {id: {...}, ...} as PubMedQA ships
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1 and len(data) <= 3:
            data = lists[0]
        elif data and all(isinstance(v, dict) for v in data.values()):
            data = [{"id": k, **v} for k, v in data.items()]
        else:
            raise DataError(f"{path}: expected a JSON list of objects, one key holding it, or objects keyed by id")
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
    rows = []
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            msg = f"{path}: item {i}: expected an object, got {type(row).__name__}"
            if on_error == "raise":
                raise DataError(msg)
            rep.skip(msg)
            continue
        rows.append({**row, "_line": i + 1})
    return rows


def _csv(path: Path, on_error: str, rep: LoadReport) -> list[dict[str, Any]]:
    text = _text(path)
    # newline="" keeps line breaks inside quoted fields; TSV is CSV with tabs
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    rows = []
    for row in reader:
        line = reader.line_num
        if None in row or any(v is None for v in row.values()):
            msg = f"{path}:{line}: row has {len(row) - (None in row)} fields, header has {len(reader.fieldnames or [])}"
            if on_error == "raise":
                raise DataError(msg)
            rep.skip(msg)
            continue
        rows.append({**row, "_line": line})
    return rows


def _parquet(path: Path) -> list[dict[str, Any]]:
    from datasets import Dataset

    try:
        ds = Dataset.from_parquet(str(path))
    except Exception as e:
        raise DataError(f"{path}: not a readable parquet file ({e})") from None
    return [{**row, "_line": i + 1} for i, row in enumerate(ds)]


def _hf_dataset(ref: str, split: str, limit: int | None, config: str | None = None) -> list[dict[str, Any]]:
    """A local ``save_to_disk`` dir, an HF hub id or 'modelscope:<id>'."""
    if ref.startswith("modelscope:"):
        if importlib.util.find_spec("modelscope") is None:
            raise MissingDependencyError(f"{ref}: ModelScope datasets need: pip install 'verticalize[modelscope]'")
        from modelscope.msdatasets import MsDataset

        try:
            ds = MsDataset.load(ref.removeprefix("modelscope:"), split=split).to_hf_dataset()
        except Exception as e:
            raise DataError(f"{ref}: could not load from ModelScope ({e})") from e
    else:
        import datasets

        p = Path(ref)
        try:
            if p.is_dir():
                ds = datasets.load_from_disk(str(p))
                if isinstance(ds, datasets.DatasetDict):
                    if split not in ds:
                        raise DataError(f"{ref}: no split {split!r}; splits: {', '.join(ds)}")
                    ds = ds[split]
            else:
                ds = datasets.load_dataset(ref, config, split=split)
        except DataError:
            raise
        except Exception as e:
            raise DataError(f"{ref}: could not load dataset (split {split!r}): {str(e).splitlines()[0][:300]}") from e
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    return [{**row, "_line": i + 1} for i, row in enumerate(ds)]


@gc_paused
def read_examples(ref: str | Path, *, split: str = "train", limit: int | None = None,
                  on_error: str = "raise", base_dir: Path | None = None, config: str | None = None) -> tuple[list[dict[str, Any]], LoadReport]:
    """Read raw rows (each with a ``_line`` key for error messages) and a load report."""
    ref_s = str(ref)
    p = Path(ref_s).expanduser()
    if base_dir is not None and not p.is_absolute() and not p.exists() and (base_dir / p).exists():
        p = base_dir / p
    rep = LoadReport(source=str(p) if p.exists() else ref_s)
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix not in FILE_SUFFIXES:
            raise DataError(f"{p}: unsupported file type {suffix!r}; allowed: {', '.join(FILE_SUFFIXES)}")
        reader = {".jsonl": _jsonl, ".json": _json, ".csv": _csv, ".tsv": _csv}.get(suffix)
        rows = reader(p, on_error, rep) if reader else _parquet(p)
        if not rows and rep.skipped == 0:
            raise DataError(f"{p}: the file holds no examples")
    elif p.is_dir() or ref_s.startswith("modelscope:") or (not p.suffix and ref_s.count("/") == 1):
        rows = _hf_dataset(str(p) if p.is_dir() else ref_s, split, limit, config)
        if not rows:
            raise DataError(f"{ref_s}: the dataset holds no examples (split {split!r})")
    else:
        raise DataError(f"data file not found: {ref_s}" + (f" (also looked in {base_dir})" if base_dir else ""))
    if limit is not None:
        rows = rows[:limit]
    rep.read = len(rows)
    return rows, rep


class FileSource:
    """The built-in DataSource (see verticalize.strategies.DataSource) behind a recipe's ``path:``: a
    jsonl/json/csv/tsv/parquet file, a dataset dir, an HF hub id or 'modelscope:<id>'. Rows carry a
    ``_line`` key for error messages; :attr:`report` counts what was read and skipped."""

    def __init__(self, path: str, split: str = "train", config: str | None = None, limit: int | None = None,
                 on_error: str = "raise", base_dir: str | None = None):
        self.path, self.split, self.config, self.limit, self.on_error = path, split, config, limit, on_error
        self.base_dir = base_dir
        self._rows: list[dict[str, Any]] | None = None
        self._report: LoadReport | None = None

    def _load(self) -> tuple[list[dict[str, Any]], LoadReport]:
        if self._rows is None:
            self._rows, self._report = read_examples(self.path, split=self.split, limit=self.limit,
                                                     on_error=self.on_error, config=self.config,
                                                     base_dir=Path(self.base_dir) if self.base_dir else None)
        return self._rows, self._report  # type: ignore[return-value]

    @property
    def report(self) -> LoadReport:
        return self._load()[1]

    @property
    def provenance(self) -> dict[str, Any]:
        source = self._report.source if self._report is not None else self.path  # reading waits for __iter__
        return {"source": source, "split": self.split, "config": self.config}

    def __iter__(self):
        return iter(self._load()[0])

    def fingerprint(self) -> str:
        """sha256 of the file's bytes; for dataset dirs and hub ids, of the reference (path, split, config)."""
        import hashlib

        src = Path(self.report.source)
        h = hashlib.sha256()
        if src.is_file():
            with src.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        else:
            h.update(f"{self.report.source}|{self.split}|{self.config}".encode())
        return h.hexdigest()
