"""Tables printed by ``verticalize ls``: each entry with its origin (bundled, ``plugin <dist>
<version>``, or a path), so a team sees where a name it uses comes from."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

#: the Protocols of verticalize.strategies that ``ls strategies`` checks classes against
PROTOCOL_NAMES = ("DataSource", "Step", "Mixer", "Method", "Stage", "Executor", "Task", "Suite", "LanguageModel",
                  "Reporter")


def _table(rows: list[list[str]], head: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r).rstrip() for r in [head, ["-" * w for w in widths], *rows])


def _short(text: str, n: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def models() -> str:
    from verticalize.models.aliases import ALIASES

    rows = [[m.alias, "bundled", m.params, "offline" if m.offline else (m.hub_id or ""), m.family,
             "yes" if m.trust_remote_code else "", m.description] for m in ALIASES.values()]
    return _table(rows, ["alias", "origin", "params", "source", "family", "remote code", "description"])


def domains() -> str:
    from verticalize.errors import VerticalizeError
    from verticalize.packs import entries, load_domain

    rows = []
    for name, ref in entries("domain").items():
        try:
            p = load_domain(ref if ref.path is not None else name)
        except VerticalizeError as e:  # a broken plugin is listed, not fatal
            rows.append([name, ref.origin, "", "", "", "", "", "", "", f"error: {_short(e, 80)}"])
            continue
        rows.append([name, p.origin, str(p.count("train")), str(p.count("eval")), str(p.count("corpus") or ""),
                     str(p.count("preference") or ""), ",".join(p.languages), "yes" if p.pot else "",
                     str(len(p.tasks)), _short(p.description)])
    return _table(rows, ["domain", "origin", "train", "eval", "corpus docs", "pref pairs", "langs", "pot", "tasks",
                         "description"])


def _rows_in(files: list[Path]) -> tuple[int | None, set[str]]:
    """Rows and task kinds of jsonl files (None rows: not countable without loading)."""
    n, kinds = 0, set()
    for f in files:
        if f.suffix != ".jsonl" or not f.is_file():
            return None, kinds
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                n += 1
                try:
                    kinds.add(str(json.loads(line).get("kind", "generation")))
                except (ValueError, AttributeError):
                    pass
    return n, kinds


def suites() -> str:
    from verticalize.errors import VerticalizeError
    from verticalize.packs import entries, load_domain, read_suite_spec, resolve_ref

    rows = []
    for name, entry in entries("suite").items():
        try:
            ref = entry if entry.path is not None else resolve_ref("suite", name)
            assert ref is not None
            if ref.obj is not None:  # a plugin's Suite object
                tasks = list(ref.obj.tasks())
                rows.append([name, ref.origin, f"{len(tasks)} task(s)", "custom", str(getattr(ref.obj, "role", "")),
                             f"{type(ref.obj).__module__}:{type(ref.obj).__qualname__}"])
                continue
            assert ref.path is not None
            pack = load_domain(ref) if ref.is_pack else None
            f = pack.suite_path() if pack is not None else ref.path
            if f is None:  # a pack without suite.yaml: its eval split
                assert pack is not None
                n, kinds = _rows_in([pack.dir / e["path"] for e in pack.eval])
                role = "retention" if pack.name == "general" else "domain"
                rows.append([name, ref.origin, str(n if n is not None else "?"), ",".join(sorted(kinds)), role,
                             f"(eval split of {pack.dir})"])
                continue
            spec = read_suite_spec(f)
            n, kinds = _rows_in([f.parent / e.path for e in spec.data])
            if pack is not None and pack.tasks:
                kinds = {t.get("kind", "") for t in pack.tasks}
            rows.append([name, ref.origin, str(n if n is not None else "?"), ",".join(sorted(kinds)), spec.role, str(f)])
        except VerticalizeError as e:
            rows.append([name, entry.origin, "", "", "", f"error: {_short(e, 80)}"])
    return _table(rows, ["suite", "origin", "examples", "task kinds", "role", "file"])


def recipes() -> str:
    from verticalize.packs import entries

    rows = []
    for name, ref in entries("recipe").items():
        assert ref.path is not None
        desc = ""
        for line in ref.path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                desc = line.lstrip("# ").strip()
                break
        rows.append([name, ref.origin, desc])
    return _table(rows, ["recipe", "origin", "description"])


# ---- strategies ------------------------------------------------------------------------------
def strategies() -> str:
    """verticalize's own strategy classes (found in its source, without importing torch) and the
    installed plugins' (``verticalize.strategies`` entry points), each with the Protocols it meets."""
    from verticalize.errors import VerticalizeError
    from verticalize.packs import plugins

    rows = [[name, "bundled", ", ".join(protos), target] for name, target, protos in builtin_strategies()]
    for name, plug in sorted(plugins("verticalize.strategies").items()):
        try:
            obj = plug.load()
        except VerticalizeError as e:
            rows.append([name, plug.origin, f"error: {_short(e, 80)}", plug.value])
            continue
        protos = protocols_of(obj)
        rows.append([name, plug.origin, ", ".join(protos) or "(none: see verticalize.strategies)", plug.value])
    return _table(rows, ["strategy", "origin", "protocols", "target"])


Sig = tuple  # (positional parameters, *args?, names passable by keyword, **kwargs?, keyword-only names); no self


def _protocol_members() -> dict[str, tuple[set[str], dict[str, Sig]]]:
    """Protocol name -> (data attributes, methods with their signatures)."""
    import inspect

    from verticalize import strategies as st

    out = {}
    for name in PROTOCOL_NAMES:
        proto = getattr(st, name)
        members = getattr(proto, "__protocol_attrs__", None)
        if members is None:  # Python < 3.12
            from typing import _get_protocol_attrs  # type: ignore[attr-defined]

            members = _get_protocol_attrs(proto)
        methods = {m: _sig_of(inspect.signature(getattr(proto, m))) for m in members
                   if callable(getattr(proto, m, None))}
        out[name] = (set(members) - set(methods), methods)
    return out


def _sig_of(sig: Any) -> Sig:
    params = [p for p in sig.parameters.values() if p.name != "self"]
    return (sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params),
            any(p.kind == p.VAR_POSITIONAL for p in params),
            {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)},
            any(p.kind == p.VAR_KEYWORD for p in params),
            {p.name for p in params if p.kind == p.KEYWORD_ONLY})


def _sig_of_ast(fn: Any) -> Sig:
    a = fn.args
    pos = (a.posonlyargs + a.args)[1:]  # drop self
    by_name = {x.arg for x in a.args[1:] if x not in a.posonlyargs} | {x.arg for x in a.kwonlyargs}
    return (len(pos), a.vararg is not None, by_name, a.kwarg is not None, {x.arg for x in a.kwonlyargs})


def _fits(have: Sig | None, want: Sig) -> bool:
    """A method with signature ``have`` can be called the way the Protocol calls ``want``: as many
    positional arguments, and each keyword-only one by name (``mix(domain, replay, *, seed, length)``)."""
    if have is None:  # not introspectable (a builtin, a C slot): trust the name
        return True
    return (have[0] >= want[0] or have[1]) and (have[3] or want[4] <= have[2])


def _class_names(node: ast.ClassDef) -> tuple[set[str], dict[str, Sig]]:
    """(every name a class defines -- class attributes, dataclass fields, ``self.x = ...`` --, its methods)."""
    names: set[str] = set()
    methods: dict[str, Sig] = {}
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            is_property = any(isinstance(d, ast.Name) and d.id in ("property", "cached_property")
                              for d in item.decorator_list)
            if is_property:
                names.add(item.name)
            else:
                methods[item.name] = _sig_of_ast(item)
            for sub in ast.walk(item):
                targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target] if isinstance(
                    sub, (ast.AnnAssign, ast.AugAssign)) else []
                for t in targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                        names.add(t.attr)
        elif isinstance(item, ast.Assign):
            names |= {t.id for t in item.targets if isinstance(t, ast.Name)}
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            names.add(item.target.id)
    return names | set(methods), methods


def _satisfied(names: set[str], methods: dict[str, Sig | None]) -> list[str]:
    return [p for p, (attrs, wanted) in _protocol_members().items()
            if attrs <= names and all(m in methods and _fits(methods[m], sig) for m, sig in wanted.items())]


def protocols_of(obj: Any) -> list[str]:
    """The Protocols of verticalize.strategies a class (or an object's class) has every member of:
    its methods (callable the way the Protocol calls them), and its attributes as class attributes,
    properties or ``self.x = ...`` in a method."""
    import inspect
    import textwrap

    cls = obj if inspect.isclass(obj) else type(obj)
    names = {n for n in dir(cls) if not (n.startswith("__") and n.endswith("__"))}
    methods: dict[str, Sig | None] = {}
    for k in reversed(cls.__mro__):
        if k is object:
            continue
        for n, v in vars(k).items():
            if isinstance(v, (staticmethod, classmethod)):
                v = v.__func__
            if callable(v) and not isinstance(v, type):
                try:
                    methods[n] = _sig_of(inspect.signature(v))
                except (TypeError, ValueError):
                    methods[n] = None
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(k)))
        except (OSError, TypeError, SyntaxError):
            continue
        node = next((n for n in tree.body if isinstance(n, ast.ClassDef)), None)
        if node is not None:
            names |= _class_names(node)[0]
    return _satisfied(names | set(methods), methods)


def builtin_strategies() -> list[tuple[str, str, list[str]]]:
    """(class name, import path, Protocols) of each public class in verticalize's public modules that
    meets at least one Protocol -- read from the source (ast), so listing imports no torch."""
    import verticalize

    root = Path(verticalize.__file__).parent
    out = []
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        if (parts and parts[0] == "cli") or any(p.startswith("_") for p in parts):
            continue
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"))
        except SyntaxError:
            continue
        module = ".".join(["verticalize", *parts])
        for node in tree.body:
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue
            if any((isinstance(b, ast.Name) and b.id == "Protocol") or
                   (isinstance(b, ast.Attribute) and b.attr == "Protocol") for b in node.bases):
                continue
            names, methods = _class_names(node)
            protos = _satisfied(names, methods)
            if protos:
                out.append((node.name, f"{module}:{node.name}", protos))
    return out
