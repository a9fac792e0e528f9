"""Where named things come from: domain packs, eval suites, shipped recipes and plugins.

**One rule** (:func:`resolve_ref`) turns a reference into a thing, the same for ``domain:``,
``eval.suites``, ``replay.source``, ``extends:`` and every command that takes a name. In order:

1. a **path**: a pack dir holding ``domain.yaml``; for suites also a suite YAML file, or a dir
   holding ``suite.yaml``; for recipes a YAML file;
2. a **bundled** name: ``domains/<name>/`` (suites: the pack's suite) or ``recipes/<name>.yaml``;
3. a **plugin** name: an entry point of an installed package (groups below); a bundled name wins
   over a plugin of the same name, with a :class:`PluginClashWarning` naming both;
4. a **hub id**, ``hf:<org>/<name>``: a Hugging Face dataset repo holding ``domain.yaml`` (or a
   suite's ``suite.yaml``), downloaded once into the hub cache;
5. an **import path**, ``pkg.sub``: the directory of an importable package holding ``domain.yaml``
   (or ``suite.yaml``). It is found on disk without running the package's code.

Plugins are ordinary pip packages that declare entry points (see ``verticalize init plugin``)::

    [project.entry-points."verticalize.packs"]       # name -> a package whose dir holds domain.yaml,
    acme = "acme.pack"                                #   a str/Path of a pack dir, or a callable
                                                      #   returning one
    [project.entry-points."verticalize.suites"]      # name -> a package dir holding suite.yaml, a
    acme-exam = "acme.exam"                           #   str/Path of a suite YAML, or a callable
                                                      #   returning one or a Suite object
    [project.entry-points."verticalize.strategies"]  # name -> a class implementing one of
    acme-drop-marked = "acme.steps:DropMarked"        #   verticalize.strategies' Protocols

An installed plugin's modules are trusted: recipes may name them (``{target: acme.steps:DropMarked}``)
without ``--trust-code``.

``domain.yaml`` and suite YAML files are read into pydantic specs (:class:`DomainPackSpec`,
:class:`SuiteSpec`, ``extra="forbid"``): a bad file raises a :class:`SpecError` listing every
problem at once, each with its file:line and, for an unknown key, the closest valid one.
"""

from __future__ import annotations

import importlib.util
import os
import re
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from verticalize.errors import DataError, RecipeError, UnknownNameError, VerticalizeError, closest, first_model, line_index

__all__ = [
    "bundled_dir", "DomainPack", "list_domains", "load_domain", "list_suites", "list_recipes", "find_recipe",
    "resolve_ref", "entries", "Resolved", "REF_KINDS",
    "DomainPackSpec", "SuiteSpec", "PackDataSpec", "PackTaskSpec", "ProvenanceSpec", "read_pack_spec",
    "read_suite_spec", "SpecError", "TASK_KINDS", "DATA_FORMATS",
    "PLUGIN_GROUPS", "Plugin", "PluginError", "PluginClashWarning", "plugins", "plugin_entry_points",
    "trusted_modules", "is_trusted", "import_target",
]


def bundled_dir(kind: str) -> Path | None:
    """``domains`` or ``recipes``: ``$VERTICALIZE_<KIND>``, else the source checkout's top-level dir,
    else the installed copy."""
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


def _bundled_origin(kind: str) -> str:
    env = os.environ.get(f"VERTICALIZE_{kind.upper()}")
    return f"path {env} (VERTICALIZE_{kind.upper()})" if env else "bundled"


# ---- the specs of domain.yaml and suite YAML files -------------------------------------------
class SpecError(DataError):
    """A domain.yaml or suite YAML file is invalid. ``problems`` holds every problem found, each
    starting with ``file:line:``."""

    def __init__(self, message: str, problems: list[str] | None = None, source: str | None = None):
        self.problems = problems or [message]
        self.source = source
        super().__init__(message)


DataFormat = Literal["auto", "alpaca", "sharegpt", "messages", "text", "prompt_completion", "preference", "kto"]
TaskKind = Literal["mc", "mc_multi", "classification", "numeric", "generation"]
#: the example formats a pack or suite data file may declare (the recipe's data formats)
DATA_FORMATS: tuple[str, ...] = typing.get_args(DataFormat)
#: how a task is scored: mc / classification by log-likelihood, numeric by tolerance (or PoT), generation by ROUGE-L
TASK_KINDS: tuple[str, ...] = typing.get_args(TaskKind)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_entries(v: Any) -> Any:
    """``[train.jsonl, {path: x.jsonl, format: alpaca}]``: a bare string is a path; null is none."""
    if v is None:
        return []
    if isinstance(v, (str, dict)):
        v = [v]
    if isinstance(v, list):
        return [{"path": e} if isinstance(e, str) else e for e in v]
    return v


class PackDataSpec(_Spec):
    """One data file of a pack or suite (the keys of a recipe's ``data:`` entries, minus ``source``:
    a pack is data, it names no code)."""

    path: str = Field(description="jsonl/json/csv/parquet file relative to the pack dir (or a dataset dir / hub id).")
    format: DataFormat = Field("auto", description="Example format; auto detects it from the columns.")
    split: str = Field("train", description="Split to read for hub ids and dataset dirs.")
    config: str | None = Field(None, description="Dataset config (subset) for hub ids.")
    columns: dict[str, str] | None = Field(None, description="Rename columns before format conversion: {theirs: ours}.")
    preset: str | None = Field(None, description="A public benchmark's schema (see the recipe's data.preset).")
    layout: str | None = Field(None, description="The preset's file layout (original | hub ...); None: detected.")
    encoding: str | None = Field(None, description="Text encoding; None: detected (BOM, UTF-8, the preset's own).")
    split_file: str | None = Field(None, description="A file naming the split's ids (PubMedQA's test ground truth).")
    weight: float = Field(1.0, gt=0, description="Relative weight when several datasets are mixed.")
    limit: int | None = Field(None, ge=1, description="Read at most this many examples.")
    on_error: Literal["raise", "skip"] = Field("raise", description="Bad rows: raise, or skip and count them.")


class PackTaskSpec(_Spec):
    """A task of the pack: every row's ``task`` names one; its ``kind`` says how it is scored."""

    name: str
    kind: TaskKind = Field("generation", description="mc | mc_multi | classification | numeric | generation")
    description: str = ""
    templated: bool = Field(False, description="The rows are generated from templates (say so in provenance).")


class ProvenanceSpec(_Spec):
    """Where one data file comes from, and under which license."""

    file: str | None = None
    source: str = ""
    license: str = ""
    url: str | None = None
    notes: str | None = None


def _str_name(v: Any) -> Any:
    if v is not None and not isinstance(v, str):
        raise ValueError(f"expected a string, got {type(v).__name__} {v!r}: quote it (YAML reads yes/no/on/off "
                         "and numbers as non-strings)")
    return v


class DomainPackSpec(_Spec):
    """``domain.yaml``: what a domain pack holds. Paths are relative to the pack dir."""

    name: str | None = Field(None, description="The pack's name (default: its dir's name).")
    description: str = ""
    languages: list[str] = Field(default_factory=lambda: ["en"], description="Languages of the rows (their `lang`).")
    system_prompt: dict[str, str] = Field(
        default_factory=dict, description="Put before every conversation, per language (a string: English).")
    pot: bool = Field(False, description="Numeric rows carry a gold Python `program` (Program-of-Thoughts).")
    train: list[PackDataSpec] = Field(default_factory=list, description="Training data (SFT).")
    eval: list[PackDataSpec] = Field(default_factory=list, description="Held-out data; never trained on.")
    corpus: list[PackDataSpec] = Field(default_factory=list, description="Raw text for continued pre-training.")
    preference: list[PackDataSpec] = Field(default_factory=list, description="Preference pairs for DPO.")
    suite: str | None = Field(None, description="The pack's suite YAML (default: suite.yaml when present).")
    suites: list[str] = Field(default_factory=list, description="Suites this pack defines or is meant for.")
    tasks: list[PackTaskSpec] = Field(default_factory=list, description="Every `task` used in the rows.")
    provenance: list[ProvenanceSpec] = Field(default_factory=list, description="Source and license per file.")

    _name = field_validator("name", mode="before")(_str_name)
    _entries = field_validator("train", "eval", "corpus", "preference", mode="before")(_as_entries)

    @field_validator("languages", "suites", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else ([] if v is None else v)

    @field_validator("system_prompt", mode="before")
    @classmethod
    def _prompts(cls, v: Any) -> Any:
        if v is None:
            return {}
        if isinstance(v, str):
            return {"en": v}
        if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
            raise ValueError("expected a string or a mapping language -> prompt (en: ..., zh: ...)")
        return v


class SuiteSpec(_Spec):
    """A suite YAML file: a named set of eval examples, scored per task by each row's ``kind``."""

    name: str | None = Field(None, description="The suite's name in reports (default: the name it was found by).")
    role: Literal["domain", "retention"] = Field(
        "domain", description="domain: a gain is the goal; retention: general ability, its drop is forgetting.")
    description: str = ""
    system_prompt: str | dict[str, str] | None = Field(
        None, description="'pack': the pack's per-language prompt; a string; or a mapping language -> prompt.")
    pot: bool | None = Field(None, description="Numeric tasks may be answered by programs (default: the pack's).")
    data: list[PackDataSpec] = Field(default_factory=list, description="The eval files, relative to the suite file.")

    _name = field_validator("name", mode="before")(_str_name)
    _entries = field_validator("data", mode="before")(_as_entries)

    @field_validator("system_prompt", mode="before")
    @classmethod
    def _prompts(cls, v: Any) -> Any:
        if v is None or isinstance(v, str):
            return v
        if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
            raise ValueError("expected 'pack', a string, or a mapping language -> prompt (en: ..., zh: ...)")
        return v


_FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".txt", ".yaml", ".yml")


def _spec_problems(err: ValidationError, model: type[BaseModel], lines: dict[tuple, int], source: str) -> list[str]:
    """One message per pydantic error: ``file:line: key.path: what is wrong; did you mean ...? Allowed: ...``."""
    out = []
    for e in err.errors():
        loc = tuple(e["loc"])
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[") or "(top)"
        line, probe = None, loc
        while probe and line is None:
            line = lines.get(probe)
            probe = probe[:-1]
        where = f"{source}:{line}: " if line else f"{source}: "
        if e["type"] == "extra_forbidden":
            owner = _owner(model, loc[:-1])
            allowed = sorted(owner.model_fields) if owner else []
            near = closest(str(loc[-1]), allowed)
            out.append(f"{where}{path}: unknown key" + (f" (did you mean {near!r}?)" if near else "")
                       + f"; allowed: {', '.join(allowed)}")
        elif e["type"] == "literal_error":
            expected = str(e.get("ctx", {}).get("expected", ""))
            choices = [t.strip(" '") for t in expected.replace(" or ", ",").split(",")]
            near = closest(str(e.get("input")), choices)
            out.append(f"{where}{path}: {e.get('input')!r} is not allowed" + (f" (did you mean {near!r}?)" if near else "")
                       + f"; allowed: {', '.join(choices)}")
        elif e["type"] == "missing":
            out.append(f"{where}{path}: required key is missing")
        elif e["type"] == "value_error":
            out.append(f"{where}{path}: {str(e['msg']).removeprefix('Value error, ')}")
        else:
            out.append(f"{where}{path}: {e['msg']} (got {e.get('input')!r})")
    return out


def _owner(model: Any, loc: tuple) -> type[BaseModel] | None:
    for part in loc:
        if isinstance(part, int):
            continue
        f = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if f is None:
            return None
        model = first_model(f.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _read_spec(f: Path, model: type[BaseModel], what: str, files_of: tuple[str, ...]) -> Any:
    """Parse and validate one YAML file; every problem at once (keys, values, missing data files)."""
    try:
        text = f.read_text(encoding="utf-8")
    except OSError as e:
        raise DataError(f"{f}: cannot read the {what}: {e.strerror or e}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise SpecError(f"{f}:{mark.line + 1 if mark else '?'}: YAML syntax error: {getattr(e, 'problem', e)}",
                        source=str(f)) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError(f"{f}:1: a {what} is a mapping of keys ({', '.join(sorted(model.model_fields))}), "
                        f"got a {type(raw).__name__}", source=str(f))
    lines = line_index(text)
    problems: list[str] = []
    spec = None
    try:
        spec = model.model_validate(raw)
    except ValidationError as err:
        problems += _spec_problems(err, model, lines, str(f))
    for key in files_of:  # data files that are plainly local files must exist
        entries = _as_entries(raw.get(key)) if isinstance(raw.get(key), (list, str, dict)) else []
        for i, e in enumerate(entries):
            p = e.get("path") if isinstance(e, dict) else None
            if isinstance(p, str) and Path(p).suffix.lower() in _FILE_SUFFIXES and not (f.parent / p).exists():
                line = lines.get((key, i, "path")) or lines.get((key, i)) or lines.get((key,))
                problems.append(f"{f}:{line}: {key}[{i}].path: file not found: {f.parent / p}")
    suite = raw.get("suite") if model is DomainPackSpec else None
    if isinstance(suite, str) and not (f.parent / suite).is_file():
        problems.append(f"{f}:{lines.get(('suite',))}: suite: file not found: {f.parent / suite}")
    if problems:
        problems.sort(key=lambda m: int(n) if (n := m[len(str(f)) + 1:].split(":", 1)[0]).isdigit() else 0)
        head = problems[0] if len(problems) == 1 else f"{len(problems)} problem(s) in {f}:\n  " + "\n  ".join(problems)
        raise SpecError(head, problems=problems, source=str(f))
    return spec


def read_pack_spec(pack_dir: str | Path) -> DomainPackSpec:
    """A pack dir's ``domain.yaml``, validated (raises :class:`SpecError` with every problem)."""
    return _read_spec(Path(pack_dir) / "domain.yaml", DomainPackSpec, "domain.yaml",
                      ("train", "eval", "corpus", "preference"))


def read_suite_spec(path: str | Path) -> SuiteSpec:
    """A suite YAML file, validated (raises :class:`SpecError` with every problem)."""
    return _read_spec(Path(path), SuiteSpec, "suite file", ("data",))


# ---- domain packs ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DomainPack:
    """A loaded domain pack: its ``domain.yaml`` (as plain values) plus where it was found."""

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
    suite: str | None = None                     # the pack's suite YAML, relative to dir (None: suite.yaml if any)
    origin: str = "path"                         # bundled | plugin <dist> <version> | path | hub <id> | import path

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

    def suite_path(self) -> Path | None:
        """The pack's suite YAML: ``suite:`` of domain.yaml, else ``suite.yaml`` when present."""
        if self.suite:
            return self.dir / self.suite
        f = self.dir / "suite.yaml"
        return f if f.is_file() else None


def _pack_dirs() -> dict[str, Path]:
    root = bundled_dir("domains")
    if root is None or not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / "domain.yaml").is_file()}


def list_domains() -> list[str]:
    """The pack names: bundled ones, then installed plugins' (a bundled name wins a clash)."""
    return list(entries("domain"))


def load_domain(ref: str | Path | Resolved) -> DomainPack:
    """A domain pack by any reference :func:`resolve_ref` knows: pack dir, bundled name, plugin name,
    ``hf:<org>/<name>`` or import path."""
    r = ref if isinstance(ref, Resolved) else resolve_ref("domain", ref)
    if r.path is None or not (r.path / "domain.yaml").is_file():
        raise DataError(f"{r.kind} {r.name!r} ({r.origin}) is not a domain pack: no domain.yaml in {r.path}")
    d = r.path
    spec = read_pack_spec(d)
    dump = lambda xs: tuple(x.model_dump(exclude_unset=True) for x in xs)  # as written in the file
    return DomainPack(
        name=spec.name or d.name, dir=d, description=spec.description, languages=tuple(spec.languages or ("en",)),
        system_prompt=dict(spec.system_prompt), pot=spec.pot, train=dump(spec.train), eval=dump(spec.eval),
        corpus=dump(spec.corpus), preference=dump(spec.preference), suites=tuple(spec.suites),
        tasks=tuple(t.model_dump() for t in spec.tasks), provenance=dump(spec.provenance), suite=spec.suite,
        origin=r.origin,
    )


def list_suites() -> list[str]:
    """The suite names: every bundled pack's, installed plugin suites and plugin packs' suites."""
    return list(entries("suite"))


# ---- recipes ---------------------------------------------------------------------------------
def list_recipes() -> dict[str, Path]:
    root = bundled_dir("recipes")
    if root is None or not root.is_dir():
        return {}
    return {p.stem: p for p in sorted(root.glob("*.yaml"))}


def find_recipe(name_or_path: str | Path) -> Path:
    """A recipe YAML by path or shipped name (``verticalize ls recipes``)."""
    r = resolve_ref("recipe", name_or_path)
    assert r.path is not None
    return r.path


# ---- the one resolve rule --------------------------------------------------------------------
REF_KINDS = ("domain", "suite", "recipe", "strategy")


@dataclass(frozen=True)
class Resolved:
    """What a reference names. ``path``: the pack dir (domain; a suite taken from a pack), the suite
    YAML or the recipe file; ``obj``: a plugin's object (a Suite object from a suites callable, a
    strategy class). ``origin``: ``bundled`` | ``plugin <dist> <version>`` | ``path`` | ``hub <id>`` |
    ``import path <pkg>``."""

    kind: str
    name: str
    origin: str
    path: Path | None = None
    obj: Any = None
    plugin: Plugin | None = None

    @property
    def is_pack(self) -> bool:
        return self.path is not None and self.path.is_dir() and (self.path / "domain.yaml").is_file()


_HUB = re.compile(r"^hf:([A-Za-z0-9][\w.-]*/[\w.-]+)$")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def resolve_ref(kind: str, ref: str | Path, *, missing_ok: bool = False) -> Resolved | None:
    """The one rule: ``ref`` as a path, a bundled name, a plugin name, ``hf:<org>/<name>`` or an
    import path (see the module doc), for ``kind`` in domain | suite | recipe | strategy.

    Raises an :class:`~verticalize.errors.UnknownNameError` listing the known names and the closest
    one (or a DataError / RecipeError for a path that is not what it should be); with
    ``missing_ok`` returns None instead when nothing matches.
    """
    if kind not in REF_KINDS:
        raise UnknownNameError("reference kind", kind, REF_KINDS)
    text = str(ref)
    try:
        found = _RESOLVERS[kind](text, Path(text).expanduser())
    except _Missing as miss:
        if missing_ok:
            return None
        raise miss.error from None
    return found


class _Missing(Exception):
    def __init__(self, error: VerticalizeError):
        self.error = error


def _clash(kind: str, name: str, plugin: Plugin | None, winner: str) -> None:
    if plugin is not None:
        warnings.warn(f"{kind} {name!r}: the {winner} {kind} and the plugin one from {plugin.dist} {plugin.version} "
                      f"(entry point {plugin.group}: {name} = {plugin.value}) share the name; the {winner} one is "
                      "used. Rename the plugin's entry point to reach it.", PluginClashWarning, stacklevel=4)


def _resolve_domain(text: str, p: Path) -> Resolved:
    if (p / "domain.yaml").is_file():
        return Resolved("domain", text, "path", p)
    bundled = _pack_dirs()
    if text in bundled:
        _clash("domain", text, plugins("verticalize.packs").get(text), "bundled")
        return Resolved("domain", text, _bundled_origin("domains"), bundled[text])
    plug = plugins("verticalize.packs").get(text)
    if plug is not None:
        return Resolved("domain", text, plug.origin, _plugin_dir(plug, "domain.yaml"), plugin=plug)
    hub = _HUB.match(text)
    if hub:
        return Resolved("domain", text, f"hub {hub.group(1)}", _hub_dir(hub.group(1), "domain.yaml"))
    mod = _module_dir(text) if _DOTTED.match(text) else None
    if mod is not None and (mod / "domain.yaml").is_file():
        return Resolved("domain", text, f"import path {text}", mod)
    if p.exists() or "/" in text or os.sep in text:
        what = "a file" if p.is_file() else "a dir without domain.yaml" if p.is_dir() else "no such dir"
        raise _Missing(DataError(f"domain {text!r}: {what}; a pack dir holds domain.yaml "
                                 f"(verticalize init domain writes one). Known packs: {', '.join(list_domains())}"))
    raise _Missing(UnknownNameError(
        "domain", text, list_domains(),
        hint="Or give a pack dir holding domain.yaml, hf:<org>/<name> (a hub dataset holding one) or the import "
             "path of a package dir holding one"))


def _resolve_suite(text: str, p: Path) -> Resolved:
    if p.suffix in (".yaml", ".yml"):
        if not p.is_file():
            raise _Missing(DataError(f"suite file not found: {p}"))
        return Resolved("suite", text, "path", p)
    if (p / "domain.yaml").is_file():
        return Resolved("suite", text, "path", p)
    if (p / "suite.yaml").is_file():
        return Resolved("suite", text, "path", p / "suite.yaml")
    bundled = _pack_dirs()
    if text in bundled:
        _clash("suite", text, plugins("verticalize.suites").get(text) or plugins("verticalize.packs").get(text),
               "bundled")
        return Resolved("suite", text, _bundled_origin("domains"), bundled[text])
    plug = plugins("verticalize.suites").get(text)
    if plug is not None:
        return _plugin_suite(text, plug)
    plug = plugins("verticalize.packs").get(text)
    if plug is not None:
        return Resolved("suite", text, plug.origin, _plugin_dir(plug, "domain.yaml"), plugin=plug)
    hub = _HUB.match(text)
    if hub:
        d = _hub_dir(hub.group(1), None)
        if not (d / "domain.yaml").is_file() and not (d / "suite.yaml").is_file():
            raise _Missing(DataError(f"{text}: the dataset repo holds neither domain.yaml nor suite.yaml at its top"))
        return Resolved("suite", text, f"hub {hub.group(1)}", d if (d / "domain.yaml").is_file() else d / "suite.yaml")
    mod = _module_dir(text) if _DOTTED.match(text) else None
    if mod is not None and (mod / "domain.yaml").is_file():
        return Resolved("suite", text, f"import path {text}", mod)
    if mod is not None and (mod / "suite.yaml").is_file():
        return Resolved("suite", text, f"import path {text}", mod / "suite.yaml")
    raise _Missing(UnknownNameError(
        "suite", text, list_suites(),
        hint="Or give a suite YAML, a pack dir, hf:<org>/<name> or the import path of a package dir holding "
             "suite.yaml or domain.yaml"))


def _plugin_suite(name: str, plug: Plugin) -> Resolved:
    import inspect

    obj = plug.load()
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        try:
            obj = obj()
        except Exception as e:  # noqa: BLE001 -- the plugin's code failed: say whose
            raise PluginError(f"{plug.describe()}: calling it failed: {type(e).__name__}: {e}") from None
    if isinstance(obj, type):
        raise PluginError(f"{plug.describe()} is a class; point the entry point at a suite YAML, a package dir "
                          "holding suite.yaml, or a function returning one or a Suite object")
    if callable(getattr(obj, "tasks", None)) and hasattr(obj, "name"):  # a Suite object (strategies.Suite)
        return Resolved("suite", name, plug.origin, None, obj=obj, plugin=plug)
    path = _plugin_path(plug, obj)
    if path.is_dir():
        if (path / "domain.yaml").is_file():
            return Resolved("suite", name, plug.origin, path, plugin=plug)
        path = path / "suite.yaml"
    if not path.is_file():
        raise PluginError(f"{plug.describe()}: no suite file at {path} (a suites entry point names a suite YAML, "
                          "a package dir holding suite.yaml, or a function returning one or a Suite object)")
    return Resolved("suite", name, plug.origin, path, plugin=plug)


def _resolve_recipe(text: str, p: Path) -> Resolved:
    if p.is_file():
        return Resolved("recipe", text, "path", p)
    recipes = list_recipes()
    if text in recipes:
        return Resolved("recipe", text, _bundled_origin("recipes"), recipes[text])
    if p.suffix in (".yaml", ".yml") or "/" in text:
        raise _Missing(RecipeError(f"recipe file not found: {p}"))
    raise _Missing(UnknownNameError("recipe", text, recipes, hint="Or give the path of a recipe YAML"))


def _resolve_strategy(text: str, p: Path) -> Resolved:
    plug = plugins("verticalize.strategies").get(text)
    if plug is not None:
        return Resolved("strategy", text, plug.origin, None, obj=plug.load(), plugin=plug)
    if ":" in text:
        return Resolved("strategy", text, f"import path {text.split(':', 1)[0]}", None, obj=import_target(text))
    raise _Missing(UnknownNameError("strategy plugin", text, plugins("verticalize.strategies"),
                                    hint="Or give an import path pkg.module:Name"))


_RESOLVERS = {"domain": _resolve_domain, "suite": _resolve_suite, "recipe": _resolve_recipe,
              "strategy": _resolve_strategy}


def _module_dir(dotted: str) -> Path | None:
    """The directory of package ``pkg.sub``, found on disk: no code of the package runs."""
    parts = dotted.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        return None
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        d = Path(root).joinpath(*parts[1:])
        if d.is_dir():
            return d
    return None


def _hub_dir(repo_id: str, must_hold: str | None) -> Path:
    try:
        from huggingface_hub import snapshot_download

        d = Path(snapshot_download(repo_id, repo_type="dataset"))
    except ImportError:
        raise _Missing(DataError(f"hf:{repo_id}: reading a pack from the hub needs huggingface_hub "
                                 "(pip install huggingface_hub)")) from None
    except Exception as e:  # noqa: BLE001 -- offline, no such repo, gated...: the hub's own reason
        why = " ".join(str(e).split())
        raise _Missing(DataError(f"hf:{repo_id}: cannot get the hub dataset ({type(e).__name__}: {why}). Download it "
                                 f"yourself (huggingface-cli download --repo-type dataset {repo_id} --local-dir D) "
                                 "and give the dir")) from None
    if must_hold and not (d / must_hold).is_file():
        raise _Missing(DataError(f"hf:{repo_id}: the dataset repo holds no {must_hold} at its top"))
    return d


# ---- plugins ---------------------------------------------------------------------------------
#: entry-point groups through which pip-installed packages add packs, suites and strategies
PLUGIN_GROUPS = ("verticalize.packs", "verticalize.suites", "verticalize.strategies")
_KIND_GROUP = {"domain": "verticalize.packs", "suite": "verticalize.suites", "strategy": "verticalize.strategies"}


class PluginError(VerticalizeError, RuntimeError):
    """An installed plugin's entry point cannot be loaded or does not name what its group expects."""


class PluginClashWarning(UserWarning):
    """Two things share a name (a bundled pack and a plugin, or two plugins): which one is used is said."""


@dataclass(frozen=True)
class Plugin:
    """One entry point of an installed distribution in one of :data:`PLUGIN_GROUPS`."""

    group: str
    name: str
    value: str               # "pkg.module" or "pkg.module:attr"
    dist: str = "?"          # the distribution that declares it
    version: str = "?"
    entry_point: Any = field(default=None, compare=False, repr=False)

    @property
    def origin(self) -> str:
        return f"plugin {self.dist} {self.version}"

    @property
    def module(self) -> str:
        return self.value.split(":", 1)[0].strip()

    def describe(self) -> str:
        return f"plugin {self.name!r} of {self.dist} {self.version} (entry point {self.group}: {self.name} = {self.value})"

    def load(self) -> Any:
        """The object the entry point names (imports the plugin's module: installed plugins are trusted)."""
        try:
            if self.entry_point is not None:
                return self.entry_point.load()
            import importlib

            module, _, attr = self.value.partition(":")
            obj: Any = importlib.import_module(module.strip())
            for part in filter(None, attr.strip().split(".")):
                obj = getattr(obj, part)
            return obj
        except Exception as e:  # noqa: BLE001 -- ImportError, AttributeError, or the plugin's own failure
            raise PluginError(f"{self.describe()} failed to load: {type(e).__name__}: {e}") from None


def plugin_entry_points(group: str | None = None) -> list[Any]:
    """Installed plugins' entry points (``importlib.metadata.EntryPoint``), in ``group`` or all three."""
    from importlib.metadata import entry_points

    groups = [group] if group else list(PLUGIN_GROUPS)
    return [ep for g in groups for ep in entry_points(group=g)]


def plugins(group: str) -> dict[str, Plugin]:
    """The installed plugins of one group by name; when two distributions declare the same name the
    first found is kept, with a :class:`PluginClashWarning` naming both."""
    out: dict[str, Plugin] = {}
    for ep in plugin_entry_points(group):
        dist = getattr(ep, "dist", None)
        p = Plugin(group, ep.name, ep.value, getattr(dist, "name", None) or "?",
                   getattr(dist, "version", None) or "?", entry_point=ep)
        if p.name in out and (out[p.name].dist, out[p.name].value) != (p.dist, p.value):
            first = out[p.name]
            warnings.warn(f"{group} {p.name!r} is declared by {first.dist} {first.version} ({first.value}) and by "
                          f"{p.dist} {p.version} ({p.value}); the first is used", PluginClashWarning, stacklevel=2)
            continue
        out.setdefault(p.name, p)
    return out


def _plugin_path(plug: Plugin, obj: Any) -> Path:
    """A plugin object as a path: a package or module (its dir), a str/Path (relative to the plugin's
    module dir) -- after calling it when it is a function."""
    import inspect

    if inspect.isfunction(obj) or inspect.ismethod(obj):
        try:
            obj = obj()
        except Exception as e:  # noqa: BLE001 -- the plugin's code failed: say whose
            raise PluginError(f"{plug.describe()}: calling it failed: {type(e).__name__}: {e}") from None
    if hasattr(obj, "__path__"):  # a package
        return Path(next(iter(obj.__path__)))
    if inspect.ismodule(obj) and getattr(obj, "__file__", None):
        return Path(obj.__file__).parent
    if isinstance(obj, (str, os.PathLike)):
        p = Path(obj).expanduser()
        if not p.is_absolute():
            import sys

            base = getattr(sys.modules.get(plug.module), "__file__", None)
            p = (Path(base).parent / p) if base else p
        return p
    raise PluginError(f"{plug.describe()} names a {type(obj).__name__}; expected a package, a path or a function "
                      "returning a path")


def _plugin_dir(plug: Plugin, must_hold: str) -> Path:
    obj = plug.load()
    if isinstance(obj, DomainPack):
        return obj.dir
    d = _plugin_path(plug, obj)
    if not (d / must_hold).is_file():
        raise PluginError(f"{plug.describe()}: no {must_hold} in {d}")
    return d


def entries(kind: str) -> dict[str, Resolved]:
    """Every name of ``kind`` (domain | suite | recipe | strategy) that a bare name reaches, with its
    origin -- bundled first, then plugins; runs no plugin code (``path`` is None for plugins until
    :func:`resolve_ref` loads them). Clashes warn (:class:`PluginClashWarning`)."""
    out: dict[str, Resolved] = {}
    if kind in ("domain", "suite"):
        origin = _bundled_origin("domains")
        out = {n: Resolved(kind, n, origin, d) for n, d in _pack_dirs().items()}
    elif kind == "recipe":
        origin = _bundled_origin("recipes")
        return {n: Resolved(kind, n, origin, p) for n, p in list_recipes().items()}
    elif kind not in REF_KINDS:
        raise UnknownNameError("reference kind", kind, REF_KINDS)
    groups = [_KIND_GROUP[kind]] + (["verticalize.packs"] if kind == "suite" else [])
    for group in groups:
        for name, plug in sorted(plugins(group).items()):
            if name in out:
                if out[name].plugin is None:
                    _clash(kind, name, plug, "bundled")
                continue  # a suites entry point wins over a pack of the same name
            out[name] = Resolved(kind, name, plug.origin, None, plugin=plug)
    return out


# ---- import paths and trust ------------------------------------------------------------------
def trusted_modules() -> set[str]:
    """Top-level modules whose code recipes may import without ``--trust-code``: verticalize and the
    installed plugins (someone ran ``pip install`` for those)."""
    return {"verticalize"} | {ep.value.split(":", 1)[0].split(".", 1)[0].strip() for ep in plugin_entry_points()}


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
            near = closest(part, public)
            raise RecipeError(f"{target!r}: module {module!r} has no {part!r}"
                              + (f"; did you mean {near!r}?" if near else "")) from None
        obj = getattr(obj, part)
    return obj

