"""Architecture rules of DESIGN.md section 4, checked on the source with ``ast`` (lazy imports included).

* no import circles among verticalize's modules (Tarjan SCC, the same edges as shared/hooks/import-circles);
* layering: models/data/train/evals/pot/recipe never import run/ or cli/; nothing outside cli/ imports cli/;
* recipe/ imports only errors, packs and recipe/ -- and no heavy third-party module, even lazily;
* no private module or private name is imported from outside the package that owns it;
* ``verticalize validate`` and ``verticalize --help`` never import torch (run in a fresh interpreter);
* ``verticalize.__all__`` is exactly the public surface (httpx style).

The edge-building logic is a copy of shared/hooks/import-circles (kept here on purpose: CI's copy of shared/
may differ). Every import statement counts -- module level, inside functions, under ``if TYPE_CHECKING`` --
plus ``importlib.import_module("verticalize...")`` with a literal string.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "verticalize"

HEAVY = ("torch", "transformers", "peft", "trl", "datasets", "bitsandbytes", "accelerate")


# --------------------------------------------------------------------------------------------- the import graph
@dataclass(frozen=True)
class Imp:
    """One imported target of one statement: ``module`` is absolute; ``name`` is set for ``from M import name``."""

    importer: str
    module: str
    name: str | None
    lineno: int
    context: str = ""  # "" (module level) | "lazy" (inside a function) | "TYPE_CHECKING"

    def where(self) -> str:
        what = f"from {self.module} import {self.name}" if self.name else f"import {self.module}"
        return f"{self.importer}:{self.lineno} ({what}){f' [{self.context}]' if self.context else ''}"


@dataclass
class Graph:
    mods: dict[str, Path]  # module name -> file
    imports: dict[str, list[Imp]] = field(default_factory=dict)
    unparsable: dict[str, str] = field(default_factory=dict)

    def is_pkg(self, m: str) -> bool:
        return self.mods[m].name == "__init__.py"

    def resolve(self, target: str) -> str:
        """The longest prefix of ``target`` that is one of our modules ('' if none) -- the hook's rule."""
        t = target
        while t and t not in self.mods:
            t = t.rsplit(".", 1)[0] if "." in t else ""
        return t

    def targets(self, imp: Imp) -> list[str]:
        """The hook's targets of one import: ``from B import n`` -> [B, B.n]; ``import B`` -> [B]."""
        return [imp.module] + ([f"{imp.module}.{imp.name}"] if imp.name and imp.name != "*" else [])

    def edges(self) -> dict[str, dict[str, list[Imp]]]:
        """module -> {imported module -> the statements}; self edges and edges to one's own parent packages
        dropped (importing ``verticalize.x.y`` runs ``verticalize/x/__init__`` anyway) -- as in the hook."""
        out: dict[str, dict[str, list[Imp]]] = {m: {} for m in self.mods}
        for m, imps in self.imports.items():
            for imp in imps:
                for t in self.targets(imp):
                    r = self.resolve(t)
                    if r and r != m and not (m.startswith(r + ".") and self.is_pkg(r)):
                        seen = out[m].setdefault(r, [])
                        if imp not in seen:
                            seen.append(imp)
        return out


def _module_names(root: Path) -> dict[str, Path]:
    mods = {}
    for f in sorted(root.rglob("*.py")):
        if "__pycache__" in f.parts:
            continue
        name = ".".join(f.relative_to(root.parent).with_suffix("").parts)
        mods[name[: -len(".__init__")] if name.endswith(".__init__") else name] = f
    return mods


def _collect(m: str, f: Path, tree: ast.AST) -> list[Imp]:
    pkg = m if f.name == "__init__.py" else m.rsplit(".", 1)[0]
    context: dict[int, str] = {}  # id(node) -> where it sits; only to label messages, every import counts

    def mark(node: ast.AST, ctx: str) -> None:
        for child in ast.iter_child_nodes(node):
            c = ctx
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                c = "lazy"
            elif isinstance(node, ast.If) and child in node.body and "TYPE_CHECKING" in ast.unparse(node.test):
                c = "TYPE_CHECKING"
            context[id(child)] = c
            mark(child, c)

    mark(tree, "")
    out: list[Imp] = []
    for node in ast.walk(tree):
        c = context.get(id(node), "")
        if isinstance(node, ast.Import):
            out += [Imp(m, a.name, None, node.lineno, c) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            out += [Imp(m, base, a.name, node.lineno, c) for a in node.names]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and node.args[0].value.startswith("verticalize")
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))):
            out.append(Imp(m, node.args[0].value, None, node.lineno, c or "import_module"))
    return out


def build_graph(root: Path = PKG) -> Graph:
    g = Graph(_module_names(root))
    for m, f in g.mods.items():
        try:
            tree = ast.parse(f.read_text("utf-8"), filename=str(f))
        except (SyntaxError, UnicodeDecodeError) as e:
            g.unparsable[m] = f"{type(e).__name__}: {e}"
            g.imports[m] = []
            continue
        g.imports[m] = _collect(m, f, tree)
    return g


def tarjan_circles(g: Graph, edges: dict[str, dict[str, list[Imp]]]) -> list[list[str]]:
    """Strongly connected components with more than one non-package module (the hook's definition of a circle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:  # iterative would be nicer; the graph is ~100 modules deep at most
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if sum(1 for x in comp if not g.is_pkg(x)) > 1:
                found.append(sorted(comp))

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10000))
    try:
        for v in sorted(edges):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(old)
    return found


def lazy_attributes(f: Path) -> dict[str, str]:
    """Names a module's ``__getattr__`` provides lazily -> the module it imports them from.

    Understands ``if name == "X": from M import X`` and ``if name in ("X", "Y"): ...`` branches.
    """
    tree = ast.parse(f.read_text("utf-8"))
    out: dict[str, str] = {}
    for fn in tree.body:
        if not (isinstance(fn, ast.FunctionDef) and fn.name == "__getattr__"):
            continue
        for node in ast.walk(fn):
            if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
                continue
            comp = node.test.comparators[0] if node.test.comparators else None
            names: list[str] = []
            if isinstance(comp, ast.Constant) and isinstance(comp.value, str):
                names = [comp.value]
            elif isinstance(comp, (ast.Tuple, ast.List, ast.Set)):
                names = [e.value for e in comp.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            src = next((s.module for s in ast.walk(ast.Module(body=node.body, type_ignores=[]))
                        if isinstance(s, ast.ImportFrom) and s.module), "")
            for n in names:
                out[n] = src
    return out


@pytest.fixture(scope="module")
def graph() -> Graph:
    g = build_graph()
    # sanity: the walk really found the package, so an empty graph cannot pass every rule
    for must in ("verticalize", "verticalize.errors", "verticalize.recipe", "verticalize.cli.main"):
        assert must in g.mods, f"{must} not found under {PKG}: the architecture tests look at the wrong tree"
    return g


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _fmt(lines: list[str]) -> str:
    return "\n  " + "\n  ".join(sorted(set(lines)))


# ---------------------------------------------------------------------------------------------------------- tests
def test_every_module_parses(graph: Graph) -> None:
    assert not graph.unparsable, "modules that do not parse (the import rules skip them):" + _fmt(
        [f"{m}: {e}" for m, e in graph.unparsable.items()])


def shortest_cycle(comp: list[str], edges: dict[str, dict[str, list[Imp]]]) -> list[str]:
    """The shortest closed path inside one strongly connected component (BFS from each member)."""
    members, best = set(comp), []
    for start in comp:
        prev: dict[str, str] = {}
        frontier, seen = [start], {start}
        while frontier and start not in prev:
            nxt = []
            for v in frontier:
                for w in sorted(edges[v]):
                    if w in members and w == start and start not in prev:
                        prev[start] = v
                    elif w in members and w not in seen:
                        seen.add(w)
                        prev[w] = v
                        nxt.append(w)
            frontier = nxt
        if start in prev:
            back, v = [], prev[start]
            while v != start:
                back.append(v)
                v = prev[v]
            path = [start] + back[::-1] + [start]
            if not best or len(path) < len(best):
                best = path
    return best


def test_no_import_circles(graph: Graph) -> None:
    edges = graph.edges()
    circles = tarjan_circles(graph, edges)
    if circles:
        lines = []
        for comp in circles:
            cyc = shortest_cycle(comp, edges)
            steps = [f"{a} -> {b}: " + "; ".join(i.where() for i in edges[a][b][:2]) for a, b in zip(cyc, cyc[1:])]
            members = set(comp)
            detail = sorted({imp.where() for a in comp for b, imps in edges[a].items() if b in members for imp in imps})
            more = f"\n        ... and {len(detail) - 40} more" if len(detail) > 40 else ""
            lines.append("import circle: " + " <-> ".join(comp)
                         + "\n      shortest cycle:\n        " + "\n        ".join(steps)
                         + "\n      edges inside it:" + _fmt(detail[:40]).replace("\n  ", "\n        ") + more)
        pytest.fail(f"{len(circles)} import circle(s) among verticalize's modules (lazy imports count):\n"
                    + "\n".join(lines))



def _synthetic(spec: list[tuple[str, bool]]) -> Graph:
    g = Graph({m: Path(f"/x/{m.replace('.', '/')}{'/__init__' if p else ''}.py") for m, p in spec})
    g.imports = {m: [] for m in g.mods}
    return g


def test_circle_checker_catches_a_circle() -> None:
    """The checker itself, on a synthetic graph: a lazy a -> b -> c -> a circle is found and its shortest cycle
    named; a package __init__ importing its own child (the child's edge to its parent is dropped) is not."""
    g = _synthetic([("verticalize", True), ("verticalize.pot", True), ("verticalize.pot.a", False),
                    ("verticalize.pot.b", False), ("verticalize.pot.c", False), ("verticalize.errors", False)])
    g.imports["verticalize.pot"] = [Imp("verticalize.pot", "verticalize.pot.a", "x", 1)]
    g.imports["verticalize.pot.a"] = [Imp("verticalize.pot.a", "verticalize.pot", "b", 1),  # from . import b
                                      Imp("verticalize.pot.a", "verticalize.errors", "E", 2)]
    g.imports["verticalize.pot.b"] = [Imp("verticalize.pot.b", "verticalize.pot.c", None, 1)]
    assert tarjan_circles(g, g.edges()) == []
    g.imports["verticalize.pot.c"] = [Imp("verticalize.pot.c", "verticalize.pot.a", "y", 9)]
    circles = tarjan_circles(g, g.edges())
    assert circles == [["verticalize.pot.a", "verticalize.pot.b", "verticalize.pot.c"]], circles
    assert shortest_cycle(circles[0], g.edges()) == ["verticalize.pot.a", "verticalize.pot.b", "verticalize.pot.c",
                                                     "verticalize.pot.a"]

LOWER = ("verticalize.models", "verticalize.data", "verticalize.train", "verticalize.evals", "verticalize.pot",
         "verticalize.recipe")


def _imported_modules(graph: Graph, imp: Imp, lazy: dict[str, dict[str, str]]) -> set[str]:
    """Every verticalize module name one import reaches directly: raw targets, their resolution, and
    ``from <pkg> import X`` where <pkg>'s ``__getattr__`` provides X from another module."""
    out = set()
    for t in graph.targets(imp):
        out.add(t)
        r = graph.resolve(t)
        if r:
            out.add(r)
    if imp.name and imp.name in lazy.get(imp.module, {}):
        out.add(lazy[imp.module][imp.name])
    return out


@pytest.fixture(scope="module")
def lazy(graph: Graph) -> dict[str, dict[str, str]]:
    return {m: lazy_attributes(f) for m, f in graph.mods.items() if graph.is_pkg(m)}


def test_lower_layers_do_not_import_run_or_cli(graph: Graph, lazy: dict[str, dict[str, str]]) -> None:
    bad = []
    for m, imps in graph.imports.items():
        if not any(_inside(m, low) for low in LOWER):
            continue
        for imp in imps:
            hit = sorted(t for t in _imported_modules(graph, imp, lazy)
                         if _inside(t, "verticalize.run") or _inside(t, "verticalize.cli"))
            if hit:
                bad.append(f"{imp.where()} -> {hit[0]}")
    assert not bad, ("models/data/train/evals/pot/recipe must not import verticalize.run or verticalize.cli "
                     "(section 4: run/ composes them, never the reverse):" + _fmt(bad))


# ``python -m verticalize`` / ``python -m verticalize.cli``: entry scripts that nothing imports
ENTRY_SCRIPTS = ("verticalize.__main__",)


def test_nothing_outside_cli_imports_cli(graph: Graph, lazy: dict[str, dict[str, str]]) -> None:
    bad = []
    for m, imps in graph.imports.items():
        if _inside(m, "verticalize.cli") or m in ENTRY_SCRIPTS:
            continue
        for imp in imps:
            if any(_inside(t, "verticalize.cli") for t in _imported_modules(graph, imp, lazy)):
                bad.append(imp.where())
    assert not bad, "nothing outside verticalize.cli may import verticalize.cli (section 4):" + _fmt(bad)


RECIPE_MAY_IMPORT = ("verticalize.errors", "verticalize.packs", "verticalize.recipe")


def test_recipe_imports_only_errors_packs_and_itself(graph: Graph, lazy: dict[str, dict[str, str]]) -> None:
    bad = []
    recipe_mods = [m for m in graph.mods if _inside(m, "verticalize.recipe")]
    assert recipe_mods
    for m in recipe_mods:
        for imp in graph.imports[m]:
            if not _inside(imp.module, "verticalize") and imp.module != "":
                continue
            reached = {graph.resolve(t) or t for t in graph.targets(imp)}
            if imp.name and imp.name in lazy.get(imp.module, {}):
                reached.add(lazy[imp.module][imp.name])
            # ``from verticalize.errors import X`` reaches verticalize.errors; the parent package edge
            # (``verticalize``) that resolution would add for ``from verticalize import errors`` is fine only
            # when what is imported is itself an allowed module
            reached = {r for r in reached if not (r == "verticalize" and imp.module == "verticalize" and imp.name
                                                  and any(_inside(f"verticalize.{imp.name}", a)
                                                          for a in RECIPE_MAY_IMPORT))}
            off = sorted(r for r in reached if not any(_inside(r, a) for a in RECIPE_MAY_IMPORT))
            if off:
                bad.append(f"{imp.where()} -> {', '.join(off)}")
    assert not bad, ("verticalize.recipe may import only verticalize.errors, verticalize.packs and "
                     "verticalize.recipe.* (config is data; section 4):" + _fmt(bad))


def test_recipe_imports_no_heavy_library(graph: Graph) -> None:
    bad = []
    for m, imps in graph.imports.items():
        if _inside(m, "verticalize.recipe"):
            bad += [imp.where() for imp in imps if imp.module.split(".")[0] in HEAVY]
    assert not bad, f"verticalize.recipe must not import {', '.join(HEAVY)} (not even lazily):" + _fmt(bad)


def _is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def private_violations(graph: Graph) -> list[str]:
    bad = []
    for m, imps in graph.imports.items():
        for imp in imps:
            if imp.module == "__future__" or not _inside(imp.module, "verticalize"):
                continue
            # a private module anywhere on the imported path: owned by the package that contains it
            full = f"{imp.module}.{imp.name}" if imp.name and imp.name != "*" else imp.module
            parts = full.split(".")
            is_module_name = imp.name is not None and f"{imp.module}.{imp.name}" in graph.mods
            n_mod_parts = len(parts) if (imp.name is None or is_module_name) else len(parts) - 1
            for i in range(1, n_mod_parts):
                if _is_private(parts[i]):
                    owner = ".".join(parts[:i])
                    if not _inside(m, owner):
                        bad.append(f"{imp.where()}: private module {'.'.join(parts[: i + 1])} belongs to {owner}")
                    break
            else:
                # a private name from a module: owned by the package containing the defining file
                if imp.name and not is_module_name and _is_private(imp.name):
                    d = graph.resolve(imp.module) or imp.module
                    owner = d if (d in graph.mods and graph.is_pkg(d)) else d.rsplit(".", 1)[0]
                    if not _inside(m, owner):
                        bad.append(f"{imp.where()}: private name {imp.name} of {d} belongs to {owner}")
    return bad


def test_private_names_stay_in_their_package(graph: Graph) -> None:
    bad = private_violations(graph)
    assert not bad, ("private modules and names are used only inside the package that owns them "
                     "(section 4: e.g. train/_hf.py stays private to train/):" + _fmt(bad))


def test_private_rule_catches_what_it_should() -> None:
    """The rule itself, on a synthetic tree: so a bug in the checker cannot make the real test vacuous."""
    g = _synthetic([("verticalize", True), ("verticalize.train", True), ("verticalize.train._hf", False),
                    ("verticalize.train.sft", False), ("verticalize.run", True), ("verticalize.run.execute", False),
                    ("verticalize.recipe", True), ("verticalize.recipe._io", False),
                    ("verticalize.recipe._overlay", False), ("verticalize.errors", False)])
    g.imports["verticalize.run.execute"] = [Imp("verticalize.run.execute", "verticalize.train._hf", "load", 1),
                                            Imp("verticalize.run.execute", "verticalize.train", "_hf", 2),
                                            Imp("verticalize.run.execute", "verticalize.train.sft", "_step", 3),
                                            Imp("verticalize.run.execute", "verticalize.errors", "_closest", 4)]
    g.imports["verticalize.train.sft"] = [Imp("verticalize.train.sft", "verticalize.train._hf", None, 1)]
    g.imports["verticalize.recipe._overlay"] = [Imp("verticalize.recipe._overlay", "verticalize.recipe._io", "x", 1)]
    bad = private_violations(g)
    assert [b.split(" (")[0] for b in bad] == ["verticalize.run.execute:1", "verticalize.run.execute:2",
                                               "verticalize.run.execute:3"], bad


# ------------------------------------------------------------------------------------------- runtime: no torch
_PROBE = textwrap.dedent("""
    import json, sys, traceback
    HEAVY = {heavy!r}
    first = {{}}

    class Spy:  # records who first asks for a heavy module; never loads anything itself
        def find_spec(self, name, path=None, target=None):
            top = name.split(".")[0]
            if top in HEAVY and top not in first:
                first[top] = [f"{{f.filename}}:{{f.lineno}} {{f.name}}" for f in traceback.extract_stack()[:-1]
                              if "verticalize" in f.filename][-6:]
            return None

    sys.meta_path.insert(0, Spy())
    from verticalize.cli.main import cli
    results = []
    for args in {argv!r}:
        try:
            rc = cli.main(args=args, prog_name="verticalize", standalone_mode=False)
        except SystemExit as e:
            rc = e.code
        except Exception as e:
            rc = f"{{type(e).__name__}}: {{e}}"
        results.append([args, rc])
    print("@@" + json.dumps({{"results": results, "loaded": sorted(m for m in HEAVY if m in sys.modules),
                             "first": first}}))
""")


def _probe(argv: list[list[str]]) -> dict:
    code = _PROBE.format(heavy=HEAVY, argv=argv)
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("@@")), None)
    assert line is not None, f"probe crashed (rc {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}"
    return json.loads(line[2:])


def _heavy_report(out: dict) -> str:
    return "\n".join(f"  {m} first imported via:\n    " + "\n    ".join(out["first"].get(m, ["?"]))
                     for m in out["loaded"])


def test_validate_does_not_import_torch() -> None:
    assert (REPO / "recipes" / "quickstart.yaml").is_file()
    out = _probe([["validate", "recipes/quickstart.yaml"]])
    (args, rc), = out["results"]
    assert rc in (0, None), f"`verticalize validate recipes/quickstart.yaml` failed: {rc!r}"
    assert "torch" not in out["loaded"] and "transformers" not in out["loaded"], (
        f"`verticalize validate` imported {out['loaded']} (section 1: validate never loads a model):\n"
        + _heavy_report(out))


def test_help_does_not_import_torch() -> None:
    from verticalize.cli.main import cli

    argv = [["--help"]]
    for name, cmd in sorted(cli.commands.items()):  # every command's --help too: option defs must stay light
        argv.append([name, "--help"])
        for sub in sorted(getattr(cmd, "commands", {}) or {}):
            argv.append([name, sub, "--help"])
    out = _probe(argv)
    failed = [f"{' '.join(a)} -> {rc!r}" for a, rc in out["results"] if rc not in (0, None)]
    assert not failed, "help failed:" + _fmt(failed)
    assert "torch" not in out["loaded"] and "transformers" not in out["loaded"], (
        f"`verticalize --help` (and each command's --help) imported {out['loaded']}:\n" + _heavy_report(out))


# ---------------------------------------------------------------------------------------- public API, httpx style
def _init_public_names() -> tuple[set[str], set[str]]:
    """(public names bound at top level of verticalize/__init__.py, names its __getattr__ provides lazily)."""
    f = PKG / "__init__.py"
    tree = ast.parse(f.read_text("utf-8"))
    bound: set[str] = set()

    def bind(target: ast.AST) -> None:
        for n in ast.walk(target):
            if isinstance(n, ast.Name):
                bound.add(n.id)

    def walk(body: list[ast.stmt], type_checking: bool) -> None:
        for s in body:
            if isinstance(s, ast.ImportFrom) and s.module == "__future__":
                continue
            if isinstance(s, (ast.Import, ast.ImportFrom)) and not type_checking:
                for a in s.names:
                    bound.add(a.asname or a.name.split(".")[0])
            elif isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(s.name)
            elif isinstance(s, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                for t in (s.targets if isinstance(s, ast.Assign) else [s.target]):
                    bind(t)
            elif isinstance(s, ast.If):
                tc = isinstance(s.test, ast.Name) and s.test.id == "TYPE_CHECKING" or (
                    isinstance(s.test, ast.Attribute) and s.test.attr == "TYPE_CHECKING")
                walk(s.body, type_checking or tc)
                walk(s.orelse, type_checking)
            elif isinstance(s, (ast.Try, ast.With)):
                for part in (getattr(s, "body", []), getattr(s, "orelse", []), getattr(s, "finalbody", []),
                             *[h.body for h in getattr(s, "handlers", [])]):
                    walk(part, type_checking)

    walk(tree.body, False)
    return {n for n in bound if not n.startswith("_")}, set(lazy_attributes(f))


def test_all_is_exactly_the_public_surface() -> None:
    import verticalize

    declared = list(verticalize.__all__)
    dupes = sorted({n for n in declared if declared.count(n) > 1})
    assert not dupes, f"verticalize.__all__ lists names twice: {dupes}"
    public_all = {n for n in declared if not n.startswith("_")}
    bound, lazy_names = _init_public_names()
    # a public name bound in __init__ is either exported or a submodule (``from verticalize import adapter``)
    bound_non_modules = {n for n in bound if not isinstance(getattr(verticalize, n, None), types.ModuleType)}
    expected = bound_non_modules | lazy_names
    missing, extra = sorted(expected - public_all), sorted(public_all - expected)
    assert not missing and not extra, (
        "verticalize.__all__ must equal the public names of verticalize/__init__.py (imported/defined there, "
        f"plus the lazy ones of its __getattr__):\n  public but not in __all__: {missing}\n"
        f"  in __all__ but neither bound nor lazily provided: {extra}")


def test_no_public_attribute_outside_all() -> None:
    """What a user sees with dir(verticalize) is the contract: every public non-module attribute is in __all__,
    and every dunder in __all__ resolves (test_public_api covers the other names)."""
    verticalize = importlib.import_module("verticalize")
    leaked = sorted(n for n in dir(verticalize) if not n.startswith("_") and n not in verticalize.__all__
                    and not isinstance(getattr(verticalize, n), types.ModuleType)
                    and n != "annotations")  # ``from __future__ import annotations`` binds this; exempt
    assert not leaked, (f"public attributes of verticalize missing from __all__: {leaked} "
                        "(export them, or bind them under a private name)")
    unresolved = [n for n in verticalize.__all__ if n.startswith("_") and not hasattr(verticalize, n)]
    assert not unresolved, f"dunder names in __all__ that do not resolve: {unresolved}"
