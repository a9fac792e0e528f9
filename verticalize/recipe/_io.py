"""Recipe IO: validate a mapping (every problem at once), read YAML text, ``--set`` overrides, JSON Schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from verticalize.errors import RecipeError
from verticalize.recipe._errors import line_index, problems_of
from verticalize.recipe.schema import Recipe

__all__ = ["parse_recipe", "read_recipe_text", "apply_overrides", "recipe_json_schema", "load_yaml", "special_file",
           "MAX_DEPTH", "MAX_VALUES", "MAX_RECIPE_BYTES"]


def parse_recipe(data: Any, source: str | None = None, text: str | None = None) -> Recipe:
    """Validate a mapping into a Recipe, reporting every problem at once."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{source or 'recipe'}: a recipe must be a mapping of keys, got {type(data).__name__}")
    try:
        return Recipe.model_validate(data)
    except ValidationError as err:
        problems = problems_of(err, line_index(text) if text else {}, source)
        head = f"{len(problems)} problem(s) in {source or 'recipe'}:\n  " if len(problems) > 1 else ""
        raise RecipeError(head + "\n  ".join(problems), problems=problems, source=source) from None


#: Limits on a recipe file: recipes are a few hundred values; a hostile file hits a limit long before it
#: costs time or memory. Aliases count as often as they are used (what a loader would build).
MAX_RECIPE_BYTES = 4 << 20
MAX_DEPTH = 64
MAX_VALUES = 100_000
#: kernel and device files: never a recipe, never read because a shared recipe names them
_SPECIAL_ROOTS = ("/proc", "/dev", "/sys")


class _Checked:
    """A safe loader (no ``!!python`` tags) whose scalar errors -- a 5000-digit integer, a bad timestamp or
    base64 -- become YAML errors that carry the line."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (yaml.YAMLError, RecursionError, MemoryError):
            raise
        except Exception as e:  # noqa: BLE001 -- a constructor's own failure (int(), base64, dates, an empty !!float)
            value = node.value if isinstance(node, yaml.ScalarNode) else ""
            shown = value if len(value) <= 40 else f"{value[:20]}...{value[-10:]} ({len(value)} characters)"
            why = _one_line(e)
            if "integer string conversion" in why:  # Python's int() limit (sys.get_int_max_str_digits)
                why = f"a number with {len(value)} digits is out of range"
            raise yaml.constructor.ConstructorError(None, None, f"cannot read the {node.tag.rsplit(':', 1)[-1]} value "
                                                    f"{shown!r}: {why}", node.start_mark) from None


class _Loader(_Checked, yaml.SafeLoader):  # pure Python: the reference, and the one that words the errors
    pass


#: libyaml's parser when installed (PyYAML's own is 20x slower); SafeConstructor either way
_FastLoader = type("_FastLoader", (_Checked, yaml.CSafeLoader), {}) if getattr(yaml, "__with_libyaml__", False) \
    else _Loader


def _one_line(e: object) -> str:
    return " ".join(str(e).split())


def _yaml_error(where: str, e: yaml.YAMLError, text: str) -> RecipeError:
    """A YAML error as one line naming ``file:line:column`` (the reader's errors carry a position only)."""
    mark = getattr(e, "problem_mark", None)
    if mark is not None:
        at = f"{where}:{mark.line + 1}:{mark.column + 1}"
        what = ", ".join(str(x) for x in (getattr(e, "context", None), getattr(e, "problem", None)) if x) or e
    elif isinstance(e, yaml.reader.ReaderError):
        line = text.count("\n", 0, e.position) + 1
        col = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        at = f"{where}:{line}:{col}"
        ch = e.character if isinstance(e.character, int) else ord(e.character)
        what = f"unacceptable character U+{ch:04X}" + (" (NUL)" if ch == 0 else "") + ": YAML allows no control characters"
    else:
        at, what = where, e
    kind = "YAML error" if isinstance(e, yaml.constructor.ConstructorError) else "YAML syntax error"
    return RecipeError(f"{at}: {kind}: {_one_line(what)}")


class _ShapeError(RecipeError):
    """Too deep, or too many values: refused wherever the YAML comes from (a file or ``--set``)."""


def _check_shape(text: str, where: str, loader: type | None = None) -> None:
    """Walk the parser's events (no tree is built, no recursion): refuse nesting deeper than
    ``MAX_DEPTH`` and documents whose aliases expand past ``MAX_VALUES`` values, naming the line."""
    sizes: dict[str, int] = {}  # anchor -> how many values it stands for
    stack: list[list] = []  # per open collection: [values so far, anchor]
    total = 0
    for ev in yaml.parse(text, Loader=loader or _FastLoader):
        if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(stack) >= MAX_DEPTH:
                raise _ShapeError(f"{where}:{ev.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep; "
                                  "a recipe is a few levels of keys")
            stack.append([1, ev.anchor])
            continue
        if isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            n, anchor = stack.pop()
            if anchor is not None:
                sizes[anchor] = n
            if stack:
                stack[-1][0] += n
            continue
        if isinstance(ev, yaml.ScalarEvent):
            n = 1
            if ev.anchor is not None:
                sizes[ev.anchor] = 1
        elif isinstance(ev, yaml.AliasEvent):
            if any(a == ev.anchor for _, a in stack):
                raise _ShapeError(f"{where}:{ev.start_mark.line + 1}: the alias *{ev.anchor} refers to a value that "
                                  "contains it (a recursive value); a recipe cannot be one")
            n = sizes.get(ev.anchor, 1)
        else:
            continue
        total += n
        if stack:
            stack[-1][0] += n
        if total > MAX_VALUES:
            raise _ShapeError(f"{where}:{ev.start_mark.line + 1}: the YAML expands to more than {MAX_VALUES:,} values "
                              + ("(aliases repeating anchors: an alias bomb?)" if isinstance(ev, yaml.AliasEvent)
                                 else "(a recipe holds a few hundred)"))


def load_yaml(text: str, where: str) -> Any:
    """Parse one YAML document safely and within bounds: plain data only (no ``!!python`` tags), at most
    ``MAX_DEPTH`` levels and ``MAX_VALUES`` values with aliases expanded. Every failure is a one-line
    :class:`RecipeError` naming ``where`` and the line."""
    try:
        try:
            _check_shape(text, where)
            return yaml.load(text, Loader=_FastLoader)  # safe: no !!python tags
        except yaml.YAMLError:
            if _FastLoader is _Loader:
                raise
            _check_shape(text, where, _Loader)  # libyaml said no: PyYAML's parser words the error (file:line:col)
            return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise _yaml_error(where, e, text) from None
    except RecursionError:  # not reached within MAX_DEPTH; kept so a parser change cannot crash the CLI
        raise _ShapeError(f"{where}: nested too deeply to read") from None


def special_file(p: Path) -> str | None:
    """Why ``p`` is a kernel or device file that a recipe must not make verticalize read (None: it is not):
    anything under /proc, /dev or /sys (after symlinks), a device, a FIFO or a socket."""
    import os
    import stat

    try:
        real = os.path.realpath(p)
    except (OSError, ValueError):
        return None
    for root in _SPECIAL_ROOTS:
        if real == root or real.startswith(root + "/"):
            return f"{real} is a kernel/device file (under {root})"
    try:
        mode = os.stat(real).st_mode
    except (OSError, ValueError):
        return None
    kind = ("a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode) else
            "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else None)
    return f"{real} is {kind}" if kind else None


def _decode(raw: bytes, p: Path) -> str:
    """UTF-8 (a UTF-8 BOM is dropped); UTF-16/32 only with their BOM."""
    import codecs

    for bom, enc in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
                     (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            break
    else:
        enc = "utf-8"
    try:
        return raw.decode(enc)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise RecipeError(f"{p}:{line}: not {enc.upper().replace('-SIG', '')} text ({e.reason} at byte {e.start}); "
                          "save the recipe as UTF-8") from None


def read_recipe_text(path: str | Path) -> tuple[dict[str, Any], str]:
    """Read and parse a recipe file (bounded: see :func:`load_yaml`); returns (mapping, text)."""
    p = Path(path)
    why = special_file(p)
    if why:
        raise RecipeError(f"{p}: not a recipe file: {why}")
    if not p.is_file():
        raise RecipeError(f"recipe file not found: {p}")
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_RECIPE_BYTES + 1)
    except OSError as e:
        raise RecipeError(f"{p}: cannot read the recipe: {e.strerror or e}") from None
    if len(raw) > MAX_RECIPE_BYTES:
        raise RecipeError(f"{p}: larger than {MAX_RECIPE_BYTES >> 20} MiB; a recipe is a few KiB of YAML "
                          "(put data in data files)")
    text = _decode(raw, p)
    data = load_yaml(text, str(p))
    return ({} if data is None else data), text


#: at most this many dotted parts in a ``--set`` key
MAX_KEY_PARTS = 16


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides (values parsed as YAML, bounded like a recipe file) to a recipe mapping."""
    data = _copy_tree(data)
    for item in overrides or []:
        if not isinstance(item, str) or "=" not in item:
            raise RecipeError(f"--set {item!r}: expected key.path=value, e.g. train.lr=1e-4")
        key, raw = item.split("=", 1)
        try:
            value = load_yaml(raw, f"--set {_short(item)}")
        except _ShapeError:
            raise  # too deep, too many values: refused
        except RecipeError:
            value = raw  # not YAML (or a value YAML cannot build, e.g. 2020-13-45): the text itself
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise RecipeError(f"--set {_short(item)!r}: empty key path")
        if len(parts) > MAX_KEY_PARTS:
            raise RecipeError(f"--set {_short(item)!r}: the key path has {len(parts)} parts; at most {MAX_KEY_PARTS}")
        node: Any = data
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            elif isinstance(nxt, str) and part == "base":
                nxt = node[part] = {"model": nxt}
            if not isinstance(nxt, dict):
                raise RecipeError(f"--set {_short(item)!r}: {'.'.join(parts[: i + 1])} is not a mapping")
            node = nxt
        node[parts[-1]] = value
    return data


def _short(s: str, n: int = 80) -> str:
    return s if len(s) <= n else f"{s[:n - 20]}...{s[-10:]}"


def recipe_json_schema() -> dict[str, Any]:
    schema = Recipe.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "verticalize recipe"
    return schema


def _copy_tree(v: Any) -> Any:
    """A copy of the dicts and lists of a recipe mapping; leaves (and strategy objects) are shared."""
    if isinstance(v, dict):
        return {k: _copy_tree(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy_tree(x) for x in v]
    return v
