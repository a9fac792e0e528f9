"""Hostile recipes (issue 15, item 5): whatever the bytes of a recipe file, an ``extends:`` chain or a ``--set``
override, the only outcomes are a Recipe or a VerticalizeError naming the file (and the line where there is
one), within bounded time and memory; ``verticalize validate`` never prints a traceback.

Property-based (hypothesis): a few dozen examples per property in the default suite, many more under
``-m slow``. Plus the cases seen in the wild: YAML alias bombs, 5000-digit integers, 20,000-deep nesting,
``!!python`` tags, NUL bytes, BOMs, invalid UTF-8.
"""

from __future__ import annotations

import atexit
import codecs
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verticalize.cli.main import cli
from verticalize.errors import RecipeError, VerticalizeError
from verticalize.recipe import Recipe, apply_overrides, load_recipe, read_overlay

#: the longest one hostile recipe may take (generous: CI machines are shared)
TIME_BOUND_S = 5.0
_DIR = Path(tempfile.mkdtemp(prefix="vz-fuzz-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
_N = itertools.count()

VALID = """\
base: tiny
domain: finance
data:
  - {path: a.jsonl, format: alpaca}
method: {kind: lora, r: 8, alpha: 16}
train: {kind: sft, max_steps: 4, lr: 2.0e-4, batch_size: 2, max_length: 96}
eval: {suites: [finance], when: [before, after]}
output_dir: runs/x
"""


def _file(data: bytes, name: str = "r.yaml") -> Path:
    d = _DIR / str(next(_N))
    d.mkdir()
    p = d / name
    p.write_bytes(data)
    return p


def _outcome(fn: Callable[[], object], path: Path | None = None) -> object:
    """Run ``fn``: a Recipe or a VerticalizeError naming ``path`` -- nothing else -- within TIME_BOUND_S."""
    t = time.perf_counter()
    try:
        out = fn()
    except VerticalizeError as e:
        out = e
        if path is not None:
            assert str(path) in str(e) or path.name in str(e), f"the error does not name the file: {e}"
    took = time.perf_counter() - t
    assert took < TIME_BOUND_S, f"took {took:.1f} s"
    return out


def _both(strategy: st.SearchStrategy, check: Callable[[object], None], fast: int = 30, slow: int = 3000):
    """Two tests of one property: ``fast`` examples in the default suite, ``slow`` under -m slow."""
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


# --------------------------------------------------------------------------------------------- strategies
YAML_BITS = ["base: tiny\n", "domain: finance\n", "train: {max_steps: 4}\n", "method: lora\n", "data: [a.jsonl]\n",
             "&a ", "*a", "<<: *a\n", "[", "]", "{", "}", ": ", "- ", "\n", "  ", "'", '"', "#", "!!python/object:os.system",
             "!!binary ", "!!timestamp 2020-13-45", "!!int", "!!float", "!!set", "? ", "|", ">", "---\n", "...\n",
             "\0", "\t", "\ufeff", "\x85", "\u2028", "9" * 5000, "1e99999", "-.inf", ".nan", "0x", "0o", "~", "null",
             "extends: ", "extends: /proc/self/environ\n", "extends: r.yaml\n", "trust: [os]\n", "x" * 3000]

recipe_texts = st.lists(st.sampled_from(YAML_BITS) | st.text(max_size=40), max_size=40).map("".join)
recipe_bytes = st.one_of(
    st.binary(max_size=3000),
    recipe_texts.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.tuples(st.integers(0, len(VALID)), st.binary(max_size=20)).map(  # a valid recipe, cut and spliced
        lambda a: VALID.encode()[: a[0]] + a[1] + VALID.encode()[a[0]:]),
    st.tuples(st.sampled_from([codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, b""]),
              st.sampled_from(["utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "latin-1"])).map(
        lambda a: a[0] + VALID.encode(a[1], "replace")),
)


def _check_file(data: bytes) -> None:
    p = _file(data)
    out = _outcome(lambda: load_recipe(p), p)
    assert isinstance(out, (Recipe, VerticalizeError))


test_recipe_files_are_a_recipe_or_an_error, test_recipe_files_slow = _both(recipe_bytes, _check_file)


def _check_overlay(pair: tuple[bytes, bytes]) -> None:
    parent = _file(pair[1], "parent.yaml")
    child = parent.with_name("child.yaml")
    child.write_bytes(b"extends: parent.yaml\n" + pair[0])
    out = _outcome(lambda: read_overlay(child), None)
    if isinstance(out, VerticalizeError):
        assert "child.yaml" in str(out) or "parent.yaml" in str(out), str(out)
    out = _outcome(lambda: load_recipe(child), None)
    assert isinstance(out, (Recipe, VerticalizeError))


test_extends_chains_are_a_recipe_or_an_error, test_extends_chains_slow = _both(
    st.tuples(recipe_bytes, recipe_bytes), _check_overlay)

override_items = st.one_of(
    st.text(max_size=60),
    st.tuples(st.sampled_from(["train.lr", "base", "base.model", "data", "method.kind", "a.b.c", "", ".", "train..x",
                               "train", "method", "eval", "replay", "callbacks", "train.max_steps", "data[0]",
                               ".".join(["k"] * 40), "eval.suites", "output_dir"]),
              st.sampled_from(YAML_BITS) | recipe_texts).map(lambda kv: f"{kv[0]}={kv[1]}"),
)


def _check_overrides(items: list[str]) -> None:
    out = _outcome(lambda: apply_overrides({"base": "tiny", "train": {"lr": 1e-4}}, items))
    assert isinstance(out, (dict, RecipeError))
    if isinstance(out, RecipeError):
        assert "--set" in str(out)
    p = _file(b"base: tiny\ndomain: finance\n")
    out = _outcome(lambda: load_recipe(p, items), None)
    assert isinstance(out, (Recipe, VerticalizeError))


test_set_overrides_are_a_mapping_or_an_error, test_set_overrides_slow = _both(
    st.lists(override_items, max_size=5), _check_overrides)


# --------------------------------------------------------------------------------------------- the cases seen
def _bomb(width: int, levels: int) -> str:
    lines = ["base: tiny", "a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, where", [
    (_bomb(10, 10), r"r\.yaml:\d+: the YAML expands to more than 100,000 values \(aliases repeating anchors"),
    (_bomb(2, 40), r"r\.yaml:\d+: the YAML expands to more than"),
    ("base: tiny\na: &a [*a]\n", r"r\.yaml:2: the alias \*a refers to a value that contains it"),
    ("base: tiny\na: &a {b: *a}\n", r"r\.yaml:2: the alias \*a refers to a value that contains it"),
    ("base: tiny\ntrain: {max_steps: " + "9" * 5000 + "}\n",
     (r"r\.yaml:2:\d+: YAML error: cannot read the int value '9+\.\.\.9+ \(5000 characters\)': a number with 5000 "
      r"digits is out of range")),
    ("base: tiny\nx: " + "[" * 20000 + "]" * 20000 + "\n", r"r\.yaml:2: nested more than 64 levels deep"),
    ("base: tiny\nx: " + "{a: " * 20000 + "1" + "}" * 20000 + "\n", r"r\.yaml:2: nested more than 64 levels deep"),
    ("base: tiny\nx:\n" + "".join("  " * i + "- \n" for i in range(200)), r"r\.yaml:\d+: nested more than 64"),
    ("base: !!python/object/apply:os.system ['echo pwned']\n",
     r"r\.yaml:1:7: YAML error: could not determine a constructor for the tag 'tag:yaml.org,2002:python/object"),
    ("base: !!python/name:os.system\n", r"r\.yaml:1:7: YAML error: could not determine a constructor"),
    ("base: ti\0ny\n", r"r\.yaml:1:9: YAML syntax error: unacceptable character U\+0000 \(NUL\)"),
    ("base: tiny\ntrain: {max_steps: !!timestamp 2020-13-45}\n", r"r\.yaml:2:\d+: YAML error: cannot read the timestamp"),
    ("base: tiny\n---\nbase: tiny\n",
     r"r\.yaml:2:1: YAML syntax error: expected a single document in the stream, but found another document"),
], ids=["alias-bomb-10x10", "alias-bomb-2x40", "recursive-list", "recursive-map", "5000-digits", "deep-flow-list",
        "deep-flow-map", "deep-block", "python-apply", "python-name", "nul", "bad-timestamp", "two-documents"])
def test_hostile_recipes_fail_fast_naming_file_and_line(text: str, where: str) -> None:
    p = _file(text.encode("utf-8"))
    with pytest.raises(RecipeError, match=where):
        _raise(lambda: load_recipe(p))
    t = time.perf_counter()
    problems = __import__("verticalize.run", fromlist=["validate"]).validate(str(p))
    assert time.perf_counter() - t < TIME_BOUND_S and len(problems) == 1 and str(p) in problems[0]


def _raise(fn: Callable[[], object]) -> None:
    t = time.perf_counter()
    try:
        fn()
    finally:
        assert time.perf_counter() - t < TIME_BOUND_S


@pytest.mark.parametrize("data, ok", [
    (codecs.BOM_UTF8 + VALID.encode(), True),
    (codecs.BOM_UTF16_LE + VALID.encode("utf-16-le"), True),
    (codecs.BOM_UTF16_BE + VALID.encode("utf-16-be"), True),
    (VALID.encode("utf-16-le"), False),  # UTF-16 without its BOM: not UTF-8
    (b"base: \xff\xfetiny\n", False),
    (VALID.encode()[:-20] + b"\xe2\x82", False),  # truncated mid-character
], ids=["utf8-bom", "utf16le-bom", "utf16be-bom", "utf16-no-bom", "invalid-utf8", "truncated-char"])
def test_boms_and_encodings(data: bytes, ok: bool) -> None:
    p = _file(data)
    if ok:
        assert load_recipe(p).base.model == "tiny"
    else:  # not UTF-8: named with the line (UTF-16 without a BOM decodes as UTF-8 with NULs: refused for them)
        with pytest.raises(RecipeError, match=rf"^{p}:\d+(:\d+)?: .*(not UTF-8 text .*save the recipe as UTF-8|U\+0000)"):
            load_recipe(p)


@pytest.mark.parametrize("value", ["3", "-.inf", "true", "2020-01-01"])
def test_data_as_a_scalar_is_a_recipe_error(value: str) -> None:
    """Found by the --set property: ``data: 3`` (or any non-string scalar) must be a RecipeError naming data."""
    p = _file(f"base: tiny\ndata: {value}\n".encode())
    with pytest.raises(RecipeError, match="data"):
        load_recipe(p)


def test_overrides_out_of_bounds_are_refused_naming_set() -> None:
    with pytest.raises(RecipeError, match=r"--set x=.*nested more than 64 levels"):
        apply_overrides({}, ["x=" + "[" * 1000 + "]" * 1000])
    with pytest.raises(RecipeError, match=r"--set .*the key path has 40 parts"):
        apply_overrides({}, [".".join(["k"] * 40) + "=1"])
    # not YAML, or a value YAML cannot build: the text itself (the schema then names --set)
    assert apply_overrides({}, ["train.max_steps=" + "9" * 5000])["train"]["max_steps"] == "9" * 5000
    assert apply_overrides({}, ["a=2020-13-45"])["a"] == "2020-13-45"
    with pytest.raises(RecipeError, match="--set"):
        load_recipe(_file(b"base: tiny\n"), ["train.max_steps=" + "9" * 5000])


def test_line_index_is_bounded_on_an_alias_bomb() -> None:
    """line_index reads events, never expands aliases: an alias bomb costs what its text costs."""
    from verticalize.errors import line_index

    t = time.perf_counter()
    lines = line_index(_bomb(10, 12))
    assert time.perf_counter() - t < 2 and lines[("a11",)] == 13 and len(lines) < 200
    t = time.perf_counter()
    lines = line_index("x: " + "[" * 20000 + "]" * 20000)  # indexed down to 64 levels, in linear memory
    assert time.perf_counter() - t < 2 and lines == {("x",): 1, **{("x",) + (0,) * n: 1 for n in range(1, 64)}}


def test_validate_cli_never_prints_a_traceback() -> None:
    runner = CliRunner()
    texts = [_bomb(10, 10), "base: tiny\ntrain: {max_steps: " + "9" * 5000 + "}\n",
             "x: " + "[" * 20000 + "]" * 20000, "base: !!python/object/apply:os.system ['true']\n", "a: \0",
             "base: tiny\ndata: [{path: /proc/self/environ}]\n"]
    files = [str(_file(t.encode())) for t in texts] + [str(_file(b"\xff\xfe\x00garbage"))]
    r = runner.invoke(cli, ["validate", *files])
    assert r.exit_code == 2 and "Traceback" not in r.output and r.exception is None or isinstance(r.exception,
                                                                                                     SystemExit)
    for f in files:
        assert f"{f}: 1 problem(s)" in r.output or f"{f}: ok" in r.output, r.output


def test_validate_alias_bomb_in_bounded_memory(tmp_path: Path) -> None:
    """The alias bomb of the issue, through the real CLI under a 1 GiB address-space limit: one error line,
    within seconds (before: a minute, then a MemoryError traceback)."""
    p = tmp_path / "bomb.yaml"
    p.write_text(_bomb(10, 10))
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30));"
            "from verticalize.cli.main import main; main(sys.argv[1:])")
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code, "validate", str(p)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 2 and time.perf_counter() - t < 30, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "alias bomb" in r.stderr and f"{p}:" in r.stderr


def test_the_cli_turns_unexpected_errors_into_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug (an exception that is not a VerticalizeError) still prints one line, not a traceback."""
    v = sys.modules["verticalize.run.validate"]  # the module (verticalize.run.validate is also the function)

    def boom(*a: object, **k: object) -> list[str]:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(v, "validate", boom)
    r = CliRunner().invoke(cli, ["validate", "x.yaml"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.strip() == ("error: internal error (RecursionError): input nested too deeply. This is a bug in "
                                "verticalize; VERTICALIZE_TRACEBACK=1 shows the traceback")
