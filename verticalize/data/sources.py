"""Read examples from files (jsonl/json/csv/tsv/txt/xlsx/parquet), local HF dataset dirs, HF hub ids and
ModelScope ids.

Every record is accounted for: it is read, or it raises a :class:`DataError` naming the file and line
(or key), or -- under ``on_error="skip"`` -- it is skipped and its reason kept in the :class:`LoadReport`
(all of them, not the first few). Nothing is dropped silently.

Text files and encodings (``encoding=None`` is "detect")::

    BOM (utf-8-sig, utf-16, utf-32) > strict utf-8 > the preset's original-release encoding (``fallback``,
    e.g. ISO-8859-1 for Financial PhraseBank) when the bytes do not look like UTF-8 > an error naming the
    file, the byte offset, the line and the encodings tried.

A line-based file (.jsonl, .txt) in an ASCII-compatible encoding is decoded line by line when the whole
file does not decode: each undecodable line is a bad record (file:line, byte offset), the others load --
a damaged copy loses only its damaged lines, and says which. JSON Lines are split on ``\\n`` only (U+2028
and U+2029 inside a string are text, not line breaks). ``.txt`` gives one row ``{"text": line}`` per
non-empty line. ``.xlsx`` needs openpyxl (``pip install 'verticalize[xlsx]'``); ``config`` names the
sheet (default: the first). A ``.json`` file holding JSON Lines (MedMCQA's train.json) is read as such.
"""

from __future__ import annotations

import codecs
import csv
import functools
import gc
import importlib.util
import io
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from verticalize.errors import DataError, MissingDependencyError

__all__ = ["LoadReport", "read_examples", "FileSource", "FILE_SUFFIXES", "TEXT_SUFFIXES", "decode_text",
           "normalize_encoding", "check_file"]

FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt", ".xlsx", ".parquet")
TEXT_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt")  # what ``encoding`` applies to
_LINE_SUFFIXES = (".jsonl", ".txt")  # one record per line: a bad line costs only itself
_HINT = "set encoding: in the data entry (e.g. latin-1, cp1252, gb18030, utf-16)"

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
    """What became of every record of one source.

    ``read`` rows came out of the reader; ``skipped`` records were bad, each with its reason in
    ``problems`` (every one of them -- file:line or file[key], and why -- in the order found: reading,
    then mapping); ``filtered``
    records were left out on purpose (e.g. not in a ``split_file``), summed up in ``notes``.
    ``encoding`` is the text encoding used (None for parquet/xlsx/datasets), ``layout`` the benchmark
    layout a preset read, ``columns`` the header of a CSV/TSV/XLSX file.
    """

    source: str
    read: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    filtered: int = 0
    notes: list[str] = field(default_factory=list)
    encoding: str | None = None
    layout: str | None = None
    columns: list[str] | None = None

    def skip(self, msg: str) -> None:
        self.skipped += 1
        self.problems.append(msg)


def _bad(msg: str, on_error: str, rep: LoadReport) -> None:
    if on_error == "raise":
        raise DataError(msg)
    rep.skip(msg)


# ------------------------------------------------------------------------------------------ encodings


def normalize_encoding(name: str | None) -> str | None:
    """The codec's canonical name (``latin-1`` -> ``iso8859-1``); None or "auto" -> None (detect).

    >>> normalize_encoding("Latin-1"), normalize_encoding("UTF8"), normalize_encoding("auto")
    ('iso8859-1', 'utf-8', None)
    """
    if name is None or name.strip().lower() in ("", "auto"):
        return None
    try:
        return codecs.lookup(name.strip()).name
    except LookupError:
        raise DataError(f"unknown encoding {name!r}; e.g. utf-8, utf-8-sig, latin-1 (iso-8859-1), cp1252, gb18030, "
                        "utf-16, or auto (detect)") from None


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_UTF8_MULTI = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_HIGH = re.compile(rb"[\x80-\xff]")


def _bom(data: bytes) -> str | None:
    return next((enc for bom, enc in _BOMS if data.startswith(bom)), None)


def _looks_utf8(data: bytes) -> bool:
    """Most non-ASCII bytes form valid UTF-8 sequences: a (damaged) UTF-8 file, not a latin-1 one."""
    high = len(_HIGH.findall(data))
    if not high:
        return True
    in_seqs = sum(len(m) for m in _UTF8_MULTI.findall(data))
    return in_seqs >= high / 2


def _ascii_compatible(enc: str) -> bool:
    try:
        return "\n@,\t\"".encode(enc) == b"\n@,\t\"" and codecs.lookup(enc).name not in ("utf-16", "utf-32")
    except (LookupError, UnicodeError):
        return False


def _decode_error(path: Path, data: bytes, e: UnicodeDecodeError, tried: list[str], base: int = 0) -> str:
    off = base + e.start
    line = data[:off].count(b"\n") + 1
    names = " or ".join(t.upper() for t in tried)
    return (f"{path}:{line}: not {names} text: byte 0x{data[off]:02x} at byte offset {off} cannot be decoded "
            f"(tried {', '.join(tried)}: {e.reason}); {_HINT}")


def decode_text(path: Path, encoding: str | None = None, fallback: str | None = None) -> tuple[str, str]:
    """The whole text of a file and the encoding used (see the module docstring for detection).

    A failure raises a DataError naming the file, line, byte offset and encoding(s) tried.
    """
    data = path.read_bytes()
    enc = normalize_encoding(encoding)
    tried: list[str] = []
    candidates = [enc] if enc else [_bom(data) or "utf-8"]
    if not enc and fallback and candidates[0] == "utf-8" and not _looks_utf8(data):
        candidates.append(normalize_encoding(fallback))  # type: ignore[arg-type]
    err = None
    for c in candidates:
        try:
            return data.decode(c), c
        except UnicodeDecodeError as e:
            tried.append(c)
            err = err or e
    assert err is not None
    raise DataError(_decode_error(path, data, err, tried))


def _decode_lines(path: Path, encoding: str | None, fallback: str | None, on_error: str, rep: LoadReport
                  ) -> list[tuple[int, str]]:
    """(line number, text) of every line, split on \\n only; a line that does not decode is a bad record."""
    data = path.read_bytes()
    enc = normalize_encoding(encoding)
    bom = _bom(data)
    try:
        text, used = decode_text(path, encoding, fallback)
    except DataError:
        used = enc or bom or "utf-8"
        if not _ascii_compatible(used):
            raise
        text = None
    rep.encoding = used
    if text is not None:
        return [(i, ln.removesuffix("\r")) for i, ln in enumerate(text.split("\n"), 1)]
    out, start = [], len(codecs.BOM_UTF8) if used == "utf-8-sig" else 0
    for i, raw in enumerate(data[start:].split(b"\n"), 1):
        try:
            out.append((i, raw.decode("utf-8" if used == "utf-8-sig" else used).removesuffix("\r")))
        except UnicodeDecodeError as e:
            _bad(_decode_error(path, data, e, [used], base=start), on_error, rep)
        start += len(raw) + 1
    return out


# -------------------------------------------------------------------------------------------- readers


def _jsonl(path: Path, on_error: str, rep: LoadReport, encoding: str | None = None, fallback: str | None = None,
           lines: list[tuple[int, str]] | None = None) -> list[dict[str, Any]]:
    rows = []
    for i, line in lines if lines is not None else _decode_lines(path, encoding, fallback, on_error, rep):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            _bad(f"{path}:{i}: malformed JSON ({e.msg} at column {e.colno})", on_error, rep)
            continue
        except (RecursionError, ValueError) as e:  # nesting past Python's limit; a number past int()'s 4300 digits
            _bad(f"{path}:{i}: unreadable JSON ({_json_limit(e)})", on_error, rep)
            continue
        if not isinstance(row, dict):
            _bad(f"{path}:{i}: expected a JSON object per line, got {type(row).__name__}", on_error, rep)
            continue
        row["_line"] = i
        rows.append(row)
    return rows


def _json_limit(e: BaseException) -> str:
    if isinstance(e, RecursionError):
        return "nested deeper than Python's recursion limit"
    return "a number with more digits than Python reads (4300)" if "digits" in str(e) else str(e).split("\n")[0]


def _txt(path: Path, on_error: str, rep: LoadReport, encoding: str | None = None, fallback: str | None = None
         ) -> list[dict[str, Any]]:
    return [{"text": line, "_line": i} for i, line in _decode_lines(path, encoding, fallback, on_error, rep)
            if line.strip()]


_WS = re.compile(r"[ \t\n\r]*")


def _list_lines(text: str) -> list[int] | None:
    """The line each item of a top-level JSON list starts on (None if the text is not one such list)."""
    dec = json.JSONDecoder()
    pos = _WS.match(text).end()  # type: ignore[union-attr]
    if not text.startswith("[", pos):
        return None
    pos, line, seen, out = pos + 1, 1, 0, []
    try:
        while True:
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if text.startswith("]", pos):
                return out
            line += text.count("\n", seen, pos)
            seen = pos
            out.append(line)
            _, pos = dec.raw_decode(text, pos)
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if text.startswith(",", pos):
                pos += 1
    except (ValueError, IndexError):
        return None


def _json(path: Path, on_error: str, rep: LoadReport, encoding: str | None = None, fallback: str | None = None
          ) -> list[dict[str, Any]]:
    text, rep.encoding = decode_text(path, encoding, fallback)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data" and text.lstrip().startswith("{"):  # JSON Lines named .json (MedMCQA's train.json)
            lines = [(i, ln.removesuffix("\r")) for i, ln in enumerate(text.split("\n"), 1)]
            return _jsonl(path, on_error, rep, lines=lines)
        raise DataError(f"{path}:{e.lineno}: malformed JSON ({e.msg} at column {e.colno})") from None
    except (RecursionError, ValueError) as e:
        raise DataError(f"{path}: unreadable JSON ({_json_limit(e)})") from None
    if isinstance(data, dict):  # {"data": [...]}, or {id: {...}, ...} as PubMedQA and FiQA ship
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1 and len(data) <= 3:
            data = lists[0]
        elif data and all(isinstance(v, dict) for v in data.values()):
            return [{"id": k, **v, "_key": k, "_line": i + 1} if "id" not in v else {**v, "_key": k, "_line": i + 1}
                    for i, (k, v) in enumerate(data.items())]
        else:
            bad = next((k for k, v in data.items() if not isinstance(v, dict)), None)
            raise DataError(f"{path}: expected a JSON list of objects, one key holding it, or objects keyed by id "
                            f"(key {bad!r} holds a {type(data.get(bad)).__name__})")
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
    starts = _list_lines(text)  # "file:line" names the line each item starts on
    if starts is None or len(starts) != len(data):
        starts = list(range(1, len(data) + 1))
    rows = []
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            _bad(f"{path}:{starts[i]}: item {i + 1}: expected an object, got {type(row).__name__}", on_error, rep)
            continue
        rows.append({**row, "_line": starts[i], "_item": i + 1})
    return rows


def _header(names: list[Any], path: Path, line: int) -> list[str]:
    cols = ["" if n is None else str(n).strip() for n in names]
    while len(cols) > 1 and cols[-1] == "":  # a trailing comma in the header names no column
        cols.pop()
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise DataError(f"{path}:{line}: duplicate column name(s) {', '.join(map(repr, dup))} in the header")
    return cols


def _fit(values: list[Any], cols: list[str], where: str, on_error: str, rep: LoadReport) -> dict[str, Any] | None:
    """A row of cells against the header: more cells than columns is fine only when the extra ones are empty."""
    n = len(values)
    extra = values[len(cols):]
    if n < len(cols) or any(v not in (None, "") for v in extra):
        real = len(values) - next((i for i, v in enumerate(reversed(extra)) if v not in (None, "")), 0)
        _bad(f"{where}: row has {real} field{'s' * (real != 1)}, header has {len(cols)}", on_error, rep)
        return None
    return dict(zip(cols, values))


def _csv(path: Path, on_error: str, rep: LoadReport, encoding: str | None = None, fallback: str | None = None,
         header: bool = True) -> list[dict[str, Any]]:
    text, rep.encoding = decode_text(path, encoding, fallback)
    # newline="" keeps line breaks inside quoted fields; TSV is CSV with tabs
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    rows: list[dict[str, Any]] = []
    cols: list[str] | None = None
    limit = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # LegalBench / CaseHOLD fields pass the 128 KiB default
    try:
        start = 1
        for values in reader:
            line, start = start, reader.line_num + 1  # a record may span lines: name its first
            if not values or (len(values) == 1 and not values[0].strip()):
                continue  # a blank line is no record
            if not header:
                rows.append({"_fields": values, "_line": line})
                continue
            if cols is None:
                cols = rep.columns = _header(values, path, line)
                continue
            row = _fit(values, cols, f"{path}:{line}", on_error, rep)
            if row is not None:
                rows.append({**row, "_line": line})
    except csv.Error as e:
        raise DataError(f"{path}:{reader.line_num}: unreadable {path.suffix[1:].upper()} ({e})") from None
    finally:
        csv.field_size_limit(limit)
    return rows


def _xlsx(path: Path, on_error: str, rep: LoadReport, sheet: str | None = None) -> list[dict[str, Any]]:
    if importlib.util.find_spec("openpyxl") is None:
        raise MissingDependencyError(f"{path}: reading .xlsx needs openpyxl: pip install 'verticalize[xlsx]' "
                                     "(or pip install openpyxl)")
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # a zip that is not a workbook, a password-protected file...
        raise DataError(f"{path}: not a readable .xlsx workbook ({type(e).__name__}: {e})") from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise DataError(f"{path}: no sheet {sheet!r}; sheets: {', '.join(wb.sheetnames)}")
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        rows: list[dict[str, Any]] = []
        cols: list[str] | None = None
        for line, cells in enumerate(ws.iter_rows(values_only=True), 1):
            values = [None if isinstance(c, str) and not c.strip() else c for c in cells]  # "" and " " are empty
            while values and values[-1] is None:
                values.pop()
            if not values:
                continue  # an empty row is no record
            if cols is None:
                cols = rep.columns = _header(values, path, line)
                continue
            row = _fit(values + [None] * (len(cols) - len(values)), cols, f"{path}:{line}", on_error, rep)
            if row is not None:
                rows.append({k: (str(v) if hasattr(v, "isoformat") else v) for k, v in row.items()} | {"_line": line})
        return rows
    finally:
        wb.close()


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


def _resolve(ref: str | Path, base_dir: Path | None) -> Path:
    p = Path(str(ref)).expanduser()
    if base_dir is not None and not p.is_absolute() and not p.exists() and (base_dir / p).exists():
        p = base_dir / p
    return p


def _unsupported(p: Path) -> str:
    hint = "; re-save it as .xlsx or .csv" if p.suffix.lower() in (".xls", ".xlsm", ".ods") else ""
    return f"{p}: unsupported file type {p.suffix.lower() or '(none)'!r}; allowed: {', '.join(FILE_SUFFIXES)}{hint}"


@gc_paused
def read_examples(ref: str | Path, *, split: str = "train", limit: int | None = None,
                  on_error: str = "raise", base_dir: Path | None = None, config: str | None = None,
                  encoding: str | None = None, fallback_encoding: str | None = None, header: bool = True
                  ) -> tuple[list[dict[str, Any]], LoadReport]:
    """Read raw rows (each with a ``_line`` key for error messages; ``_key`` for JSON objects keyed by id,
    ``_item``, the 1-based position, for JSON list items) and a load report.

    ``encoding``: the text encoding of a text file (None: detect); ``fallback_encoding``: tried when the
    bytes do not look like UTF-8 (a preset's original release encoding). ``config``: the dataset config of
    a hub id, or the sheet of an .xlsx file. ``header=False``: a CSV/TSV without a header row; each row
    is ``{"_fields": [...], "_line": n}``.
    """
    ref_s = str(ref)
    p = _resolve(ref, base_dir)
    rep = LoadReport(source=str(p) if p.exists() else ref_s)
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix not in FILE_SUFFIXES:
            raise DataError(_unsupported(p))
        if encoding not in (None, "auto") and suffix not in TEXT_SUFFIXES:
            raise DataError(f"{p}: encoding: {encoding!r} applies to text files ({', '.join(TEXT_SUFFIXES)}), "
                            f"not {suffix}; remove it")
        if suffix in (".csv", ".tsv"):
            rows = _csv(p, on_error, rep, encoding, fallback_encoding, header)
        elif suffix == ".xlsx":
            rows = _xlsx(p, on_error, rep, config)
        elif suffix == ".parquet":
            rows = _parquet(p)
        else:
            rows = {".jsonl": _jsonl, ".json": _json, ".txt": _txt}[suffix](p, on_error, rep, encoding,
                                                                            fallback_encoding)
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
    jsonl/json/csv/tsv/txt/xlsx/parquet file, a dataset dir, an HF hub id or 'modelscope:<id>'. Rows carry a
    ``_line`` key for error messages; :attr:`report` counts what was read and skipped."""

    def __init__(self, path: str, split: str = "train", config: str | None = None, limit: int | None = None,
                 on_error: str = "raise", base_dir: str | None = None, encoding: str | None = None,
                 fallback_encoding: str | None = None, header: bool = True):
        self.path, self.split, self.config, self.limit, self.on_error = path, split, config, limit, on_error
        self.base_dir, self.encoding, self.fallback_encoding, self.header = base_dir, encoding, fallback_encoding, header
        self._rows: list[dict[str, Any]] | None = None
        self._report: LoadReport | None = None

    def _load(self) -> tuple[list[dict[str, Any]], LoadReport]:
        if self._rows is None:
            self._rows, self._report = read_examples(
                self.path, split=self.split, limit=self.limit, on_error=self.on_error, config=self.config,
                base_dir=Path(self.base_dir) if self.base_dir else None, encoding=self.encoding,
                fallback_encoding=self.fallback_encoding, header=self.header)
        return self._rows, self._report  # type: ignore[return-value]

    @property
    def report(self) -> LoadReport:
        return self._load()[1]

    @property
    def provenance(self) -> dict[str, Any]:
        source = self._report.source if self._report is not None else self.path  # reading waits for __iter__
        out = {"source": source, "split": self.split, "config": self.config}
        if self._report is not None and self._report.encoding:
            out["encoding"] = self._report.encoding
        return out

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


# ------------------------------------------------------------------------------- checks for validate()


def check_file(ref: str | Path, *, encoding: str | None = None, fallback_encoding: str | None = None,
               base_dir: Path | None = None) -> list[str]:
    """Problems that stop a data file from being read, found without parsing it: unsupported type,
    an encoding that does not decode the file (file, line, byte offset), a missing openpyxl for .xlsx.
    Hub ids, dataset dirs and missing files give no problem here (validate checks existence itself).
    For a recipe's ``data:`` entry, :func:`verticalize.data.benchmarks.check_spec` adds its preset's checks."""
    p = _resolve(ref, base_dir)
    if not p.is_file():
        return []
    suffix = p.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        return [_unsupported(p)]
    try:
        normalize_encoding(encoding)
        if encoding not in (None, "auto") and suffix not in TEXT_SUFFIXES:
            return [f"{p}: encoding: {encoding!r} applies to text files ({', '.join(TEXT_SUFFIXES)}), not {suffix}"]
        if suffix == ".xlsx" and importlib.util.find_spec("openpyxl") is None:
            return [f"{p}: reading .xlsx needs openpyxl: pip install 'verticalize[xlsx]' (or pip install openpyxl)"]
        if suffix in TEXT_SUFFIXES:
            decode_text(p, encoding, fallback_encoding)
    except DataError as e:
        return [str(e)]
    return []

