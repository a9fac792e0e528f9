"""Name -> object lookups with good errors: domain packs, shipped recipes, bundled dirs."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from verticalize.errors import DataError, UnknownNameError

__all__ = ["bundled_dir", "DomainPack", "list_domains", "load_domain", "list_recipes", "find_recipe"]


def bundled_dir(kind: str) -> Path | None:
    """``domains`` or ``recipes``: the source checkout's top-level dir, else the installed copy."""
    env = os.environ.get(f"VERTICALIZE_{kind.upper()}")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    checkout = here.parent / kind
    if checkout.is_dir() and (here.parent / "pyproject.toml").is_file():
        return checkout
    spec = importlib.util.find_spec(f"verticalize._{kind}")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            if Path(loc).is_dir():
                return Path(loc)
    return checkout if checkout.is_dir() else None


@dataclass(frozen=True)
class DomainPack:
    name: str
    dir: Path
    description: str = ""
    languages: tuple[str, ...] = ("en",)
    system_prompt: dict[str, str] = field(default_factory=dict)
    pot: bool = False
    train: tuple[dict[str, Any], ...] = ()
    eval: tuple[dict[str, Any], ...] = ()
    corpus: tuple[dict[str, Any], ...] = ()      # raw text for continued pre-training
    preference: tuple[dict[str, Any], ...] = ()  # preference pairs for DPO
    suites: tuple[str, ...] = ()
    tasks: tuple[dict[str, Any], ...] = ()
    provenance: tuple[dict[str, Any], ...] = ()

    def system_for(self, lang: str | None) -> str | None:
        if not self.system_prompt:
            return None
        return self.system_prompt.get(lang or "", None) or next(iter(self.system_prompt.values()))

    def count(self, split: str) -> int:
        n = 0
        for src in getattr(self, split):
            p = self.dir / src["path"]
            if p.suffix == ".jsonl" and p.is_file():
                with p.open("rb") as fh:
                    n += sum(1 for line in fh if line.strip())
        return n


_PACK_KEYS = {"suite", "name", "description", "languages", "system_prompt", "pot", "train", "eval", "corpus",
              "preference", "suites", "tasks", "provenance"}


def _pack_dirs() -> dict[str, Path]:
    root = bundled_dir("domains")
    if root is None or not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / "domain.yaml").is_file()}


def list_domains() -> list[str]:
    return list(_pack_dirs())


def load_domain(name_or_path: str | Path) -> DomainPack:
    """A bundled pack by name, or a user's pack dir (holding domain.yaml)."""
    p = Path(name_or_path).expanduser()
    if (p / "domain.yaml").is_file():
        d = p
    else:
        dirs = _pack_dirs()
        if str(name_or_path) not in dirs:
            raise UnknownNameError("domain", str(name_or_path), dirs,
                                   hint="Or give the path of a pack dir holding domain.yaml")
        d = dirs[str(name_or_path)]
    f = d / "domain.yaml"
    try:
        raw = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise DataError(f"{f}:{mark.line + 1 if mark else '?'}: YAML syntax error: {getattr(e, 'problem', e)}") from None
    if not isinstance(raw, dict):
        raise DataError(f"{f}: expected a mapping of keys")
    unknown = set(raw) - _PACK_KEYS
    if unknown:
        from verticalize.errors import closest

        k = sorted(unknown)[0]
        near = closest(k, _PACK_KEYS)
        raise DataError(f"{f}: unknown key {k!r}" + (f"; did you mean {near!r}?" if near else "")
                        + f" Allowed: {', '.join(sorted(_PACK_KEYS))}")
    sp = raw.get("system_prompt") or {}
    if isinstance(sp, str):
        sp = {"en": sp}
    return DomainPack(
        name=str(raw.get("name", d.name)), dir=d, description=str(raw.get("description", "")),
        languages=tuple(raw.get("languages") or ("en",)), system_prompt=dict(sp), pot=bool(raw.get("pot", False)),
        train=tuple(raw.get("train") or ()), eval=tuple(raw.get("eval") or ()),
        corpus=tuple(raw.get("corpus") or ()), preference=tuple(raw.get("preference") or ()),
        suites=tuple(raw.get("suites") or ()), tasks=tuple(raw.get("tasks") or ()),
        provenance=tuple(raw.get("provenance") or ()),
    )


def list_recipes() -> dict[str, Path]:
    root = bundled_dir("recipes")
    if root is None or not root.is_dir():
        return {}
    return {p.stem: p for p in sorted(root.glob("*.yaml"))}


def find_recipe(name_or_path: str | Path) -> Path:
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    recipes = list_recipes()
    if str(name_or_path) in recipes:
        return recipes[str(name_or_path)]
    if p.suffix in (".yaml", ".yml") or "/" in str(name_or_path):
        from verticalize.errors import RecipeError

        raise RecipeError(f"recipe file not found: {p}")
    raise UnknownNameError("recipe", str(name_or_path), recipes, hint="Or give the path of a recipe YAML")


# ---- import paths, trust and plugins ----------------------------------------------------------
#: entry-point groups through which pip-installed packages add packs, suites and strategies
PLUGIN_GROUPS = ("verticalize.packs", "verticalize.suites", "verticalize.strategies")


def plugin_entry_points(group: str | None = None) -> list[Any]:
    """Installed plugins' entry points (``importlib.metadata.EntryPoint``), in ``group`` or all three."""
    from importlib.metadata import entry_points

    groups = [group] if group else list(PLUGIN_GROUPS)
    return [ep for g in groups for ep in entry_points(group=g)]


def trusted_modules() -> set[str]:
    """Top-level modules whose code recipes may import without ``--trust-code``: verticalize and the
    installed plugins (someone ran ``pip install`` for those)."""
    return {"verticalize"} | {ep.value.split(":", 1)[0].split(".", 1)[0] for ep in plugin_entry_points()}


def is_trusted(target: str, allow: list[str] | tuple[str, ...] = ()) -> bool:
    """Whether ``pkg.module:Name`` lies in verticalize, an installed plugin, or one of ``allow``'s
    module prefixes (``acme`` allows ``acme`` and ``acme.fin``)."""
    module = target.split(":", 1)[0]
    prefixes = trusted_modules() | set(allow)
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def import_target(target: str) -> Any:
    """The object at ``pkg.module:Name`` (``Name`` may be dotted: ``Outer.Inner``). Imports the module:
    check :func:`is_trusted` first for paths that come from a file."""
    import importlib

    from verticalize.errors import RecipeError

    module, _, name = target.partition(":")
    if not module or not name:
        raise RecipeError(f"{target!r}: expected an import path 'pkg.module:Name'")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as e:
        raise RecipeError(f"{target!r}: cannot import module {module!r} ({e})") from None
    for part in name.split("."):
        if not hasattr(obj, part):
            public = [n for n in dir(obj) if not n.startswith("_")]
            from verticalize.errors import closest

            near = closest(part, public)
            raise RecipeError(f"{target!r}: module {module!r} has no {part!r}"
                              + (f"; did you mean {near!r}?" if near else "")) from None
        obj = getattr(obj, part)
    return obj
