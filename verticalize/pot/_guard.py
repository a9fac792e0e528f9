"""Python-level guard of a PoT program (runs inside the worker; no verticalize imports).

Three layers, all deny-by-default:

* :func:`check_source` - static AST check: imports of dangerous modules (other modules outside
  the allowlist fail at run time with an ImportError, which a program may catch),
  dunder attribute/name access (``__subclasses__``, ``__globals__``, ``__builtins__``...),
  private ``_x`` attributes of anything but ``self``/``cls``, frame/code attributes
  (``f_globals``, ``gi_frame``...), escape hatches (``breakpoint``, ``globals``, ``vars``...)
  and string literals naming dangerous dunders.
* :func:`safe_builtins` - the builtins a program sees: ``__import__`` limited to the allowlist,
  ``getattr``/``setattr``/``delattr``/``hasattr`` refusing the names the AST check refuses,
  ``eval``/``exec`` accepting only source strings that pass the same AST check (so arithmetic
  strings can be evaluated), no ``compile``, ``globals``, ``locals``, ``vars``, ``breakpoint``,
  ``input``, ``help``; ``exit``/``quit`` raise ``SystemExit``. Imported modules are
  per-program stand-ins (``_state.module_view``).
* :func:`make_audit_hook` - a PEP 578 audit hook (cannot be removed once added): ``open`` only
  inside the program's temp dir (read-only also in the Python installation, for lazy imports),
  no sockets, processes, signals, ctypes, ``gc`` introspection, env changes, rlimit changes,
  imports of dangerous modules, or any event not explicitly allowed.

Every refusal is recorded in a list; a program that triggered one ends with status "denied" even
if it caught the exception.
"""

from __future__ import annotations

import ast
import builtins
import os
import re

if __package__:  # imported as verticalize.pot._guard (by the parent, for the constants)
    from . import _state
else:  # inside the worker, where the pot modules are top-level
    import _state

ALLOWED_MODULES = frozenset({
    "math", "cmath", "decimal", "fractions", "datetime", "statistics", "re", "random",
    "itertools", "functools", "collections", "operator", "string", "json", "heapq", "bisect",
    "calendar", "numbers", "typing", "dataclasses", "enum", "copy", "textwrap", "time",
    "__future__",
})
OPTIONAL_MODULES = ("numpy", "sympy", "mpmath")  # allowed when installed

# Importing these is a rule break even inside try/except (others just raise ImportError).
DANGEROUS_MODULES = frozenset({
    "os", "posix", "nt", "sys", "subprocess", "_posixsubprocess", "socket", "_socket", "ssl",
    "ctypes", "_ctypes", "cffi", "multiprocessing", "_multiprocessing", "concurrent", "pty",
    "tty", "termios", "signal", "_signal", "threading", "_thread", "asyncio", "selectors",
    "select", "mmap", "fcntl", "resource", "importlib", "imp", "pkgutil", "runpy", "zipimport",
    "builtins", "gc", "inspect", "code", "codeop", "pdb", "bdb", "trace", "traceback",
    "faulthandler", "tracemalloc", "shutil", "tempfile", "glob", "pathlib", "io", "_io",
    "fileinput", "pickle", "_pickle", "marshal", "shelve", "dbm", "sqlite3", "http", "urllib",
    "ftplib", "smtplib", "poplib", "imaplib", "telnetlib", "xmlrpc", "webbrowser", "socketserver",
    "platform", "sysconfig", "site", "pwd", "grp", "spwd", "crypt", "syslog", "types",
    "weakref", "_weakref", "atexit", "linecache", "_imp", "posixpath", "genericpath", "_thread",
    "readline", "rlcompleter", "ensurepip", "venv", "distutils", "setuptools", "pip",
    "_guard", "_worker", "_seccomp", "_state", "_proto", "_runner",
})

# What the audit hook refuses to *load* (libraries may lazily import harmless modules from the
# list above; the effects of those - file access etc. - are audited on their own).
HOOK_DENIED_IMPORTS = frozenset({
    "socket", "_socket", "ssl", "_ssl", "ctypes", "_ctypes", "cffi", "mmap", "fcntl",
    "resource", "pty", "tty", "termios", "subprocess", "_posixsubprocess", "multiprocessing",
    "_multiprocessing", "asyncio", "selectors", "http", "urllib", "ftplib", "smtplib", "poplib",
    "imaplib", "telnetlib", "xmlrpc", "webbrowser", "socketserver", "sqlite3", "_sqlite3", "dbm",
    "pdb", "bdb", "faulthandler", "tracemalloc", "readline", "_thread",
})

SAFE_DUNDER_ATTRS = frozenset({
    "__init__", "__name__", "__qualname__", "__doc__", "__len__", "__str__", "__repr__",
    "__iter__", "__next__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
    "__hash__", "__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__", "__mod__",
    "__pow__", "__neg__", "__abs__", "__round__", "__float__", "__int__", "__bool__",
    "__contains__", "__getitem__", "__setitem__", "__enter__", "__exit__", "__post_init__",
})
SAFE_DUNDER_NAMES = frozenset({"__name__", "__doc__", "__file__", "__debug__"})
DENIED_ATTRS = frozenset({
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "f_trace", "gi_frame", "gi_code",
    "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code", "tb_frame",
    "tb_next", "co_code", "func_globals", "func_code", "mro", "attrgetter", "methodcaller",
    "get_objects", "get_referrers", "get_referents", "os", "sys", "subprocess", "ctypes",
    "builtins", "modules", "environ", "system", "popen", "importlib", "pythonapi", "dlopen",
    "cdll", "CDLL", "PyDLL", "pydll", "socket", "signal", "kill", "killpg", "setrlimit",
    "load_module", "exec_module", "open_code", "ctypeslib", "f2py", "testing", "distutils",
})
DENIED_NAMES = frozenset({
    "breakpoint", "globals", "locals", "vars", "compile", "input", "help", "copyright",
    "credits", "license",
})
DANGEROUS_DUNDERS = (
    "__subclasses__", "__globals__", "__builtins__", "__bases__", "__base__", "__mro__",
    "__code__", "__closure__", "__import__", "__dict__", "__class__", "__getattribute__",
    "__reduce__", "__reduce_ex__", "__self__", "__func__", "__loader__", "__spec__",
    "__traceback__", "__defaults__", "__kwdefaults__", "__wrapped__", "__init_subclass__",
)
_DANGEROUS_STR = re.compile("|".join(re.escape(d) for d in DANGEROUS_DUNDERS))


class SandboxViolation(PermissionError):
    """Raised inside the program when it breaks a sandbox rule."""


class DeniedImport(ImportError):
    """Raised for an import outside the allowlist (a rule break only if left uncaught)."""


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def attr_problem(name: str, owner_is_self: bool = False) -> str | None:
    """Why accessing attribute ``name`` is refused, or None when it is fine."""
    if _is_dunder(name):
        return None if name in SAFE_DUNDER_ATTRS else f"access to attribute {name!r}"
    if name.startswith("_") and not owner_is_self:
        return f"access to private attribute {name!r}"
    if name in DENIED_ATTRS:
        return f"access to attribute {name!r}"
    return None


def import_problem(name: str, allowed: frozenset[str]) -> str | None:
    top = name.partition(".")[0]
    if top in allowed and not any(p.startswith("_") and not _is_dunder(p) for p in name.split(".")):
        return None
    return f"import of {name!r}"


class _Checker(ast.NodeVisitor):
    def __init__(self, allowed: frozenset[str]):
        self.allowed, self.problems = allowed, []

    def _bad(self, node: ast.AST, what: str) -> None:
        msg = f"line {getattr(node, 'lineno', '?')}: {what} is not allowed"
        if what.startswith("import of"):
            msg += f" (allowed modules: {', '.join(sorted(self.allowed))})"
        self.problems.append(msg)

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.name.partition(".")[0] in DANGEROUS_MODULES:
                self._bad(node, import_problem(a.name, self.allowed))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self._bad(node, "relative import")
            return
        mod = node.module or ""
        if mod.partition(".")[0] in DANGEROUS_MODULES:
            self._bad(node, import_problem(mod, self.allowed))
        for a in node.names:
            if a.name != "*" and mod != "__future__" and attr_problem(a.name):
                self._bad(node, f"import of {a.name!r} from {mod!r}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        owner_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
        why = attr_problem(node.attr, owner_self)
        if why:
            self._bad(node, why)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if _is_dunder(node.id) and node.id not in SAFE_DUNDER_NAMES:
            self._bad(node, f"use of name {node.id!r}")
        elif node.id in DENIED_NAMES:
            self._bad(node, f"use of {node.id!r}")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, (str, bytes)):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            m = _DANGEROUS_STR.search(text)
            if m:
                self._bad(node, f"string naming {m.group(0)!r}")


def check_source(tree: ast.AST, allowed: frozenset[str]) -> list[str]:
    """Return the rule breaks found in a parsed program (empty list: fine)."""
    c = _Checker(allowed)
    c.visit(tree)
    return c.problems


def safe_builtins(allowed: frozenset[str], record, program_globals: dict,
                  shared: dict | None = None) -> dict:
    """The ``__builtins__`` dict of a program. ``record(reason)`` logs a denial; imported
    modules are :func:`_state.module_view` objects, ``shared["dirty"]`` tells whether the program
    may have touched state shared with later programs."""
    real_import, real_getattr = builtins.__import__, builtins.getattr
    real_setattr, real_delattr, real_eval, real_exec = (
        builtins.setattr, builtins.delattr, builtins.eval, builtins.exec)
    shared = shared if shared is not None else {}

    def deny(reason: str):
        record(reason)
        raise SandboxViolation(f"sandbox: {reason} is not allowed")

    def _import(name, globals=None, locals=None, fromlist=(), level=0):
        if level:
            deny("relative import")
        why = import_problem(name, allowed)
        if why is None:
            for f in fromlist or ():
                if f != "*" and name != "__future__" and attr_problem(f):
                    why = f"import of {f!r} from {name!r}"
        if why:
            if name.partition(".")[0] in DANGEROUS_MODULES:
                deny(why)
            raise DeniedImport(f"sandbox: {why} is not allowed "
                               f"(allowed modules: {', '.join(sorted(allowed))})")
        mod = real_import(name, globals, locals, fromlist, level)
        if fromlist and "*" in fromlist:
            shared["dirty"] = True  # star import hands out the real module's objects
            return mod
        return _state.module_view(mod, shared)

    def _check_attr(name):
        if not isinstance(name, str):
            raise TypeError("attribute name must be string")
        why = attr_problem(name)
        if why:
            deny(why)

    def _getattr(obj, name, *default):
        _check_attr(name)
        return real_getattr(obj, name, *default)

    def _hasattr(obj, name):
        _check_attr(name)
        return builtins.hasattr(obj, name)

    def _setattr(obj, name, value):
        _check_attr(name)
        real_setattr(obj, name, value)

    def _delattr(obj, name):
        _check_attr(name)
        real_delattr(obj, name)

    def _code(source, mode):
        if not isinstance(source, str):
            deny(f"{mode} of a non-string (code objects)")
        tree = ast.parse(source.strip() if mode == "eval" else source, "<string>", mode)
        problems = check_source(tree, allowed)
        if problems:
            record(f"{problems[0]} (in {mode})")
            raise SandboxViolation(f"sandbox: {problems[0]} (in {mode})")
        if not _state.reusable(tree):
            shared["dirty"] = True
        return compile(tree, "<string>", mode)

    def _ns(g):
        if g is None:
            return program_globals
        if not isinstance(g, dict):
            raise TypeError("globals must be a dict")
        g["__builtins__"] = table
        return g

    def _eval(source, globals=None, locals=None):
        return real_eval(_code(source, "eval"), _ns(globals), locals)

    def _exec(source, globals=None, locals=None):
        real_exec(_code(source, "exec"), _ns(globals), locals)

    def _exit(code=None):
        raise SystemExit(code)

    table = {k: v for k, v in vars(builtins).items()
             if not k.startswith("_") or k in ("__build_class__", "__debug__")}
    for k in DENIED_NAMES | {"exit", "quit", "open"}:
        table.pop(k, None)
    table.update(__import__=_import, getattr=_getattr, hasattr=_hasattr, setattr=_setattr,
                 delattr=_delattr, eval=_eval, exec=_exec, exit=_exit, quit=_exit,
                 open=builtins.open, __name__="builtins")
    return table


# --------------------------------------------------------------------------- audit hook
_ALWAYS_OK = frozenset({
    "exec", "compile", "builtins.id", "object.__getattr__", "object.__setattr__",
    "object.__delattr__", "marshal.loads", "marshal.load", "sys._getframe",
    "sys._getframemodulename", "time.sleep", "array.__new__", "code.__new__", "function.__new__",
    "sys.excepthook", "sys.unraisablehook", "random.seed", "cpython._PySys_ClearAuditHooks",
    "sys.set_asyncgen_hooks_firstiter", "sys.set_asyncgen_hooks_finalizer", "datetime.strptime",
})
_FS_WRITE_EVENTS = {  # event -> indexes of path arguments
    "os.mkdir": (0,), "os.remove": (0,), "os.rmdir": (0,), "os.rename": (0, 1),
    "os.truncate": (0,), "os.utime": (0,), "os.chmod": (0,), "os.chdir": (0,),
    "tempfile.mkstemp": (0,), "tempfile.mkdtemp": (0,),
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def make_audit_hook(state: dict, read_roots: tuple[str, ...]):
    """Build the audit hook. ``state["tmp"]`` is the current program's temp dir (writable);
    ``read_roots`` may be read; refusals are appended to ``state["denials"]``."""
    roots = tuple(os.path.realpath(r) for r in read_roots)
    realpath, fspath, sep = os.path.realpath, os.fspath, os.sep

    def inside(path, bases) -> bool:
        if path is None:
            path = "."
        if isinstance(path, int) or not isinstance(path, (str, bytes, os.PathLike)):
            return False
        p = fspath(path)
        if isinstance(p, bytes):
            p = p.decode("utf-8", "surrogateescape")
        p = realpath(p)
        return any(p == b or p.startswith(b + sep) for b in bases)

    def hook(event, args):
        if event in _ALWAYS_OK:
            return
        try:
            if event == "open":
                path, mode, flags = (tuple(args) + (None, None, None))[:3]
                if isinstance(mode, str):
                    write = any(c in mode for c in "wax+")
                else:
                    write = bool((flags or 0) & _WRITE_FLAGS)
                if inside(path, (state["tmp"],)) or (not write and inside(path, roots)):
                    return
            elif event == "import":
                if args[0].partition(".")[0] not in HOOK_DENIED_IMPORTS:
                    return
            elif event in ("os.listdir", "os.scandir"):
                if inside(args[0] if args else None, (state["tmp"],) + roots):
                    return
            elif event in _FS_WRITE_EVENTS:
                if all(inside(args[i], (state["tmp"],)) for i in _FS_WRITE_EVENTS[event]):
                    return
        except Exception:  # noqa: BLE001 - malformed arguments: refuse
            pass
        detail = ""
        if args and isinstance(args[0], (str, bytes, int)):
            detail = f" {args[0]!r}"[:120]
        reason = f"{event}{detail}"
        state["denials"].append(reason)
        raise SandboxViolation(f"sandbox: {reason} is not allowed")

    return hook
