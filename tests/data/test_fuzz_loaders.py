"""Hostile data files (issue 15, item 5): whatever the bytes of a .jsonl/.json/.csv/.tsv/.txt file, the public
loader ``verticalize.data.sources.read_examples`` returns rows or raises a VerticalizeError naming the file,
within bounded time -- never another exception (RecursionError, ValueError, UnicodeDecodeError...).

Property-based (hypothesis): a few dozen derandomized examples per property in the default suite, thousands
under ``-m slow``; plus the cases seen in the wild (200,000-deep JSON, huge lines, NUL bytes, BOMs, invalid
UTF-8, numbers out of range).
"""

from __future__ import annotations

import atexit
import codecs
import itertools
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verticalize.data.sources import read_examples
from verticalize.errors import VerticalizeError

TIME_BOUND_S = 10.0
SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt")
_DIR = Path(tempfile.mkdtemp(prefix="vz-fuzz-data-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
_N = itertools.count()

ROW = {"instruction": "Revenue went from 100 to 120. What is the percent change?", "input": "", "output": "20.0"}
JSONL = "".join(json.dumps({**ROW, "id": i}) + "\n" for i in range(5))
CSV = "instruction,input,output\n" + "".join(f"q{i},,a{i}\n" for i in range(5))


def _file(data: bytes, suffix: str) -> Path:
    d = _DIR / str(next(_N))
    d.mkdir()
    p = d / f"data{suffix}"
    p.write_bytes(data)
    return p


def _read(p: Path, on_error: str = "raise") -> object:
    """rows, or the VerticalizeError -- anything else fails the test; within TIME_BOUND_S."""
    t = time.perf_counter()
    try:
        rows, _report = read_examples(p, on_error=on_error)
        out: object = rows
        assert isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
    except VerticalizeError as e:
        out = e
        assert p.name in str(e), f"the error does not name the file: {e}"
    took = time.perf_counter() - t
    assert took < TIME_BOUND_S, f"{p.name}: took {took:.1f} s"
    return out


def _both(strategy: st.SearchStrategy, check: Callable[[object], None], fast: int = 25, slow: int = 2000):
    common = {"deadline": None, "database": None,
              "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]}

    @settings(max_examples=fast, derandomize=True, **common)  # the default suite: the same examples every run
    @given(strategy)
    def quick(x: object) -> None:
        check(x)

    @pytest.mark.slow
    @settings(max_examples=slow, **common)
    @given(strategy)
    def many(x: object) -> None:
        check(x)

    return quick, many


BITS = ['{"', '"}', "{", "}", "[", "]", ",", ":", '"instruction": ', '"output": ', '"messages": [', '{"role": "user", ',
        '"content": ', "null", "true", "1e999", "-1e999", "NaN", "Infinity", "9" * 5000, "\\u0000", "\\ud800", "\0",
        "\n", "\r\n", "\r", "\t", '"', "'", "\ufeff", "\x85", "\u2028", "instruction,input,output\n", "a,b", '"a""b"',
        "\\", "x" * 2000]
texts = st.lists(st.sampled_from(BITS) | st.text(max_size=30), max_size=60).map("".join)
payloads = st.one_of(
    st.binary(max_size=3000),
    texts.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.tuples(st.sampled_from([JSONL, CSV]), st.integers(0, 400), st.binary(max_size=12)).map(  # valid, spliced
        lambda a: a[0].encode()[: a[1]] + a[2] + a[0].encode()[a[1]:]),
    st.tuples(st.sampled_from([codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, b""]),
              st.sampled_from(["utf-8", "utf-16-le", "utf-16-be", "gb18030", "latin-1"]),
              st.sampled_from([JSONL, CSV])).map(lambda a: a[0] + a[2].encode(a[1], "replace")),
)


def _check(args: tuple[bytes, str, str]) -> None:
    data, suffix, on_error = args
    _read(_file(data, suffix), on_error)


test_data_files_are_rows_or_an_error, test_data_files_slow = _both(
    st.tuples(payloads, st.sampled_from(SUFFIXES), st.sampled_from(["raise", "skip"])), _check)


# --------------------------------------------------------------------------------------------- the cases seen
DEEP = 200_000
HOSTILE = {
    "deep-json-line": ("[" * DEEP + "]" * DEEP + "\n", ".jsonl"),
    "deep-json-object": ('{"a": ' * DEEP + "1" + "}" * DEEP, ".json"),
    "deep-in-a-row": (json.dumps(ROW)[:-1] + ', "x": ' + "[" * DEEP + "]" * DEEP + "}\n", ".jsonl"),
    "5000-digit-int": (json.dumps(ROW)[:-1] + ', "n": ' + "9" * 5000 + "}\n", ".jsonl"),
    "1e999": (json.dumps(ROW)[:-1] + ', "n": 1e999}\n', ".jsonl"),
    "huge-line": (json.dumps({**ROW, "output": "x" * 5_000_000}) + "\n", ".jsonl"),
    "nul-bytes": (JSONL.replace("Revenue", "Rev\0enue"), ".jsonl"),
    "nul-in-csv": (CSV.replace("q1", "q\0 1"), ".csv"),
    "lone-surrogate-escape": (json.dumps(ROW)[:-1] + ', "s": "\\ud800"}\n', ".jsonl"),
    "invalid-utf8": (JSONL.encode()[:50].decode() + "\udcff", ".jsonl"),
    "truncated": (JSONL[: len(JSONL) // 2], ".jsonl"),
    "csv-huge-field": ('instruction,input,output\n"' + "x" * 300_000 + '",,a\n', ".csv"),
    "txt-huge-line": ("x" * 5_000_000, ".txt"),
}


#: found by these tests, reported to the owner of verticalize/data/ (json.loads' RecursionError and the ValueError of
#: int()'s 4300-digit limit escape _jsonl/_json); strict: remove a mark once its case passes
KNOWN: set[str] = set()  # every case found so far is fixed
_XFAIL = pytest.mark.xfail(strict=True, reason="data/sources.py lets RecursionError / ValueError escape (reported)")


@pytest.mark.parametrize("name", [pytest.param(n, marks=_XFAIL) if n in KNOWN else n for n in HOSTILE])
@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_hostile_data_files(name: str, on_error: str) -> None:
    text, suffix = HOSTILE[name]
    _read(_file(text.encode("utf-8", "surrogateescape"), suffix), on_error)


@pytest.mark.parametrize("bom, enc", [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                                      (codecs.BOM_UTF16_BE, "utf-16-be")], ids=["utf8", "utf16le", "utf16be"])
@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_boms_read_as_the_same_rows(bom: bytes, enc: str, suffix: str) -> None:
    text = JSONL if suffix == ".jsonl" else CSV
    plain = _read(_file(text.encode(), suffix))
    with_bom = _read(_file(bom + text.encode(enc), suffix))
    strip = lambda rows: [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    assert isinstance(plain, list) and isinstance(with_bom, list) and strip(with_bom) == strip(plain)
