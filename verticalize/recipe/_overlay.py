"""Recipe overlays: ``extends:`` chains resolved by a deep merge that remembers where each value came from.

A recipe may start with ``extends: <path or shipped recipe name>``; the path is relative to the
directory of the file that says it, a shipped name (``verticalize ls recipes``) is looked up in
the registry. Chains are allowed (A extends B extends C). Precedence, child over parent:

- a mapping merges key by key, recursively;
- a list replaces a list (``data:``, ``eval.suites``... are never concatenated);
- a scalar replaces a scalar, and ``null`` in the child sets null;
- ``method:`` and ``train:`` are tagged by ``kind``: a child that changes the kind replaces the
  whole section, since the keys of one kind are not valid for another;
- shorthands (``base: tiny``, ``method: qlora``, ``replay: general``, ``data: x.jsonl``) are expanded
  before merging, so ``base: {source: offline}`` in a child keeps the parent's ``base: tiny``.

``resolve_extends(path)`` returns the merged mapping (without ``extends``) and its provenance:
each dotted key path of a set value (``train.lr``, ``method.kind``, ``data``) mapped to the
:class:`Origin` -- file and line -- that set its final value. ``--set`` overrides have the origin
``--set``. Validation errors of a merged recipe name the file and line that set the bad key.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from verticalize.errors import RecipeError, closest
from verticalize.recipe._errors import line_index, problems_of
from verticalize.recipe._io import apply_overrides, read_recipe_text
from verticalize.recipe.schema import Recipe

__all__ = ["SET", "Origin", "Overlay", "annotated_yaml", "read_overlay", "resolve_extends", "load_recipe", "untrusted"]

_SHORTHAND = {"base": "model", "method": "kind", "train": "kind", "replay": "source"}
_KIND_DEFAULT = {"method": "lora", "train": "sft"}


@dataclass(frozen=True)
class Origin:
    """Where a value was set: a recipe file and line, or ``--set``."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


SET = Origin("--set")


@dataclass(frozen=True)
class Overlay:
    """A resolved recipe mapping, its provenance and the chain of files it came from (child first)."""

    data: dict[str, Any]
    provenance: dict[str, Origin]
    chain: tuple[str, ...]
    texts: dict[str, str] = field(default_factory=dict, repr=False)

    def with_overrides(self, overrides: list[str] | tuple[str, ...] | None) -> Overlay:
        """Apply ``--set key.path=value`` overrides; their keys get the origin ``--set``."""
        if not overrides:
            return self
        data = _normalise(apply_overrides(self.data, list(overrides)))
        prov = dict(self.provenance)
        for item in overrides:
            parts = tuple(p for p in item.split("=", 1)[0].strip().split(".") if p)
            node: Any = data
            for p in parts:
                node = node.get(p) if isinstance(node, dict) else None
            _drop(prov, parts)
            _record(node, parts, prov, {}, SET.file)
        return Overlay(data, prov, self.chain, self.texts)

    def origin(self, key: str) -> Origin | None:
        """The origin of a dotted key path, or of the nearest enclosing value that was set whole."""
        parts = key.split(".")
        for n in range(len(parts), 0, -1):
            hit = self.provenance.get(".".join(parts[:n]))
            if hit is not None:
                return hit
        return None

    def parse(self) -> Recipe:
        """Validate into a Recipe; every problem names the file and line (or ``--set``) that set it."""
        try:
            return Recipe.model_validate(self.data)
        except ValidationError as err:
            origins = [self._error_origin(e["loc"]) for e in err.errors()]
            per_source: dict[str, list[str]] = {}
            for src in {o.file for o in origins}:
                lines = line_index(self.texts[src]) if src in self.texts else {}
                per_source[src] = problems_of(err, lines, src)
            problems = [per_source[o.file][i] for i, o in enumerate(origins)]
            where = self.chain[0] + (f" (extends {' -> '.join(self.chain[1:])})" if len(self.chain) > 1 else "")
            head = f"{len(problems)} problem(s) in {where}:\n  " if len(problems) > 1 else ""
            raise RecipeError(head + "\n  ".join(problems), problems=problems, source=self.chain[0]) from None

    def _error_origin(self, loc: tuple) -> Origin:
        parts: list[str] = []
        node: Any = self.data
        for i, part in enumerate(loc):
            if isinstance(node, dict) and isinstance(part, str) and part not in node and (
                    "[" in part or i < len(loc) - 1):
                continue  # a union's branch or tag in pydantic's loc, not a key of the recipe
            parts.append(str(part))
            node = node.get(part) if isinstance(node, dict) else (
                node[part] if isinstance(node, list) and isinstance(part, int) and part < len(node) else None)
        key = ".".join(parts)
        hit = self.origin(key) or self.provenance.get(key + ".kind")
        under = [o for k, o in self.provenance.items() if k.startswith(key + ".")]
        return hit or (under[0] if under else Origin(self.chain[0]))


def resolve_extends(path: str | Path) -> tuple[dict[str, Any], dict[str, Origin]]:
    """The merged recipe mapping of ``path`` and its ``extends:`` chain, and the provenance of each value."""
    ov = read_overlay(path)
    return ov.data, ov.provenance


def read_overlay(path: str | Path) -> Overlay:
    """Read a recipe file and every file it extends; merge them, parents first."""
    files: list[tuple[str, dict[str, Any], str]] = []  # (display name, mapping, text), child first
    seen: list[Path] = []
    cur = Path(path)
    while True:
        name = _display(cur)
        chain = [f[0] for f in files] + [name]
        try:
            data, text = read_recipe_text(cur)
        except RecipeError as e:
            if not files:
                raise
            raise RecipeError(f"{e} (chain: {' -> '.join(chain)})") from None
        if not isinstance(data, dict):
            raise RecipeError(f"{name}: a recipe must be a mapping of keys, got {type(data).__name__}"
                              + (f" (chain: {' -> '.join(chain)})" if files else ""))
        seen.append(cur.resolve())
        files.append((name, data, text))
        if "extends" not in data:
            break
        parent = _parent_of(cur, data["extends"], line_index(text).get(("extends",)), chain)
        if parent.resolve() in seen:
            raise RecipeError(f"extends cycle: {' -> '.join(chain + [_display(parent)])}")
        cur = parent
    merged: dict[str, Any] = {}
    prov: dict[str, Origin] = {}
    for name, data, text in reversed(files):
        body = _normalise({k: v for k, v in data.items() if k != "extends"})
        merged = _merge(merged, body, prov, line_index(text), name, ())
    return Overlay(merged, prov, tuple(f[0] for f in files), {f[0]: f[2] for f in files})


def _display(p: Path) -> str:
    return os.path.normpath(str(p))


def _parent_of(child: Path, ref: Any, line: int | None, chain: list[str]) -> Path:
    where = f"{chain[-1]}:{line}" if line else chain[-1]
    if not isinstance(ref, str) or not ref.strip():
        raise RecipeError(f"{where}: extends must be one recipe path (relative to {_display(child.parent)}) or a "
                          f"shipped recipe name, got {ref!r} (chain: {' -> '.join(chain)})")
    from verticalize.packs import list_recipes

    cand = Path(ref).expanduser()
    if not cand.is_absolute():
        cand = child.parent / cand
    if cand.is_file():
        return cand
    shipped = list_recipes()
    if ref in shipped:
        return shipped[ref]
    near = closest(Path(ref).stem, shipped)
    hint = f"; did you mean the shipped recipe {near!r}?" if near else ""
    raise RecipeError(f"{where}: extends {ref!r}: no such file (chain: {' -> '.join(chain)}){hint} Allowed: a path "
                      f"relative to {_display(child.parent) or '.'} or a shipped recipe name "
                      f"({', '.join(shipped) or 'none'})")


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    """Expand the top-level shorthands, as the Recipe's validators do, so that sections merge."""
    out = dict(data)
    for key, sub in _SHORTHAND.items():
        if isinstance(out.get(key), str):
            out[key] = {sub: out[key]}
    if isinstance(out.get("data"), (str, dict)):
        out["data"] = [out["data"]]
    return out


def _merge(base: dict[str, Any], over: dict[str, Any], prov: dict[str, Origin], lines: dict[tuple, int],
           file: str, path: tuple) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        p = path + (key,)
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict) and not _kind_changed(p, old, value):
            out[key] = _merge(old, value, prov, lines, file, p)
        else:
            _drop(prov, p)
            out[key] = copy.deepcopy(value)
            _record(value, p, prov, lines, file)
    return out


def _kind_changed(path: tuple, old: dict[str, Any], new: dict[str, Any]) -> bool:
    if ("target" in new or "target" in old) and new.get("target") != old.get("target"):
        return True  # a strategy object replaces a built-in section (or another object) whole
    if len(path) != 1 or path[0] not in _KIND_DEFAULT or "kind" not in new:
        return False
    return new["kind"] != old.get("kind", _KIND_DEFAULT[path[0]])


def _drop(prov: dict[str, Origin], path: tuple) -> None:
    key = ".".join(map(str, path))
    for k in [k for k in prov if k == key or k.startswith(key + ".")]:
        del prov[k]


def _record(value: Any, path: tuple, prov: dict[str, Origin], lines: dict[tuple, int], file: str) -> None:
    """Give every leaf under ``path`` (scalars, lists, nulls, empty mappings) the origin ``file``."""
    for n in range(1, len(path)):  # an enclosing value set whole earlier (a null, ``{}``) is now a mapping
        prov.pop(".".join(map(str, path[:n])), None)
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _record(v, path + (k,), prov, lines, file)
        return
    line = None
    probe = path
    while probe and line is None:
        line = lines.get(probe)
        probe = probe[:-1]
    prov[".".join(map(str, path))] = Origin(file, line)


def annotated_yaml(ov: Overlay, recipe: Recipe, show_defaults: bool = False) -> str:
    """The resolved recipe as YAML, each value that a file or ``--set`` gave followed by a comment
    naming its origin (``# from base.yaml:7``, ``# --set``); defaults get ``# default`` only with
    ``show_defaults``. The text loads back as the same recipe (it has no ``extends``)."""
    head = [f"# resolved from {' -> '.join(ov.chain)}" if len(ov.chain) > 1 else f"# resolved from {ov.chain[0]}"]
    if any(o == SET for o in ov.provenance.values()):
        head.append("# with --set overrides")
    return "\n".join(head + _yaml_lines(recipe.to_dict(), (), 0, ov, show_defaults)) + "\n"


def _comment(ov: Overlay, path: tuple, show_defaults: bool) -> str:
    hit = ov.provenance.get(".".join(map(str, path)))
    if hit is None:
        return "  # default" if show_defaults else ""
    return "  # --set" if hit == SET else f"  # from {hit}"


def _yaml_lines(value: dict[str, Any], path: tuple, depth: int, ov: Overlay, show_defaults: bool) -> list[str]:
    pad = "  " * depth
    lines = []
    for key, v in value.items():
        p = path + (key,)
        if isinstance(v, dict) and v:
            lines.append(f"{pad}{_flow(key)}:{_comment(ov, p, False)}")
            lines += _yaml_lines(v, p, depth + 1, ov, show_defaults)
        elif isinstance(v, list) and any(isinstance(x, dict) for x in v):
            lines.append(f"{pad}{_flow(key)}:{_comment(ov, p, show_defaults)}")
            lines += [f"{pad}- {_flow(x)}" for x in v]
        else:
            lines.append(f"{pad}{_flow(key)}: {_flow(v)}{_comment(ov, p, show_defaults)}")
    return lines


def _flow(v: Any) -> str:
    s = yaml.safe_dump(v, default_flow_style=True, width=1 << 30, allow_unicode=True, sort_keys=False).strip()
    return s[:-3].rstrip() if s.endswith("\n...") else s


def load_recipe(path: str | Path, overrides: list[str] | None = None, *, trust_code: bool = False) -> Recipe:
    """Read a recipe file (following its ``extends:`` chain), apply ``--set`` overrides, validate;
    every problem names the file and line (or ``--set``) that set the bad value.

    Strategy objects named by import path run code when the recipe trains. Like transformers'
    ``trust_remote_code``, a path outside verticalize and the installed plugins needs
    ``trust_code=True`` (``--trust-code``) or a ``trust:`` entry in a base recipe the file extends;
    without it this raises, naming each module it would import, before importing anything."""
    ov = read_overlay(path).with_overrides(overrides)
    recipe = ov.parse()
    if not trust_code:
        problems = untrusted(recipe, ov)
        if problems:
            raise RecipeError("\n  ".join(problems) if len(problems) == 1 else
                              f"{len(problems)} problem(s) in {ov.chain[0]}:\n  " + "\n  ".join(problems),
                              problems=problems, source=ov.chain[0])
    return recipe


def untrusted(recipe: Recipe, ov: Overlay) -> list[str]:
    """One problem per strategy ref whose module is not trusted (see :func:`load_recipe`)."""
    from verticalize.packs import is_trusted

    origin = ov.origin("trust")
    allow = recipe.trust if origin is not None and origin.file != ov.chain[0] else []
    problems = []
    for key, ref in recipe.refs():
        if is_trusted(ref.target, allow):
            continue
        dotted = key.replace("[", ".").replace("]", "")
        under = [o for k, o in ov.provenance.items() if k.startswith(dotted + ".") and o.line]
        where = min(under, key=lambda o: o.line or 0) if under else ov.origin(dotted) or Origin(ov.chain[0])
        module = ref.target.split(":", 1)[0]
        own = " (a trust: list in the recipe itself does not count)" if recipe.trust and not allow else ""
        problems.append(f"{where}: {key}: {ref.target} would import module {module!r}, which is neither verticalize "
                        f"nor an installed plugin; pass --trust-code (trust_code=True) if you trust this recipe, or "
                        f"list {module.split('.')[0]!r} under trust: in a base recipe it extends{own}")
    return problems
