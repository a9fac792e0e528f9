"""Python-level guard of a PoT program: the first, *friendly* layer (no verticalize imports).

It exists to explain refusals ("denied: import of 'socket' is not allowed") - it is NOT what keeps
the caller safe. Each program runs in a fresh, confined process (``_runner.py``), so a program
that gets past this layer still meets the kernel layers (namespaces, dedicated uid, Landlock,
seccomp, rlimits) and cannot reach the next program. Layers, all deny-by-default:

* :func:`check_source` - static AST check: imports of dangerous modules or private submodules,
  dunder and private names/attributes (``__subclasses__``, ``__globals__``, ``np._core``...),
  dunder definitions other than ordinary operator methods (``def __array_interface__``...),
  frame/code attributes, escape hatches (``breakpoint``, ``globals``, ``vars``...), string
  literals naming dangerous dunders.
* :func:`rewrite` - ``self._x``/``cls._x`` become checked accesses that succeed only on objects of
  classes the program defined itself (binding ``self = np`` gains nothing); ``x.format`` and
  ``x.format_map`` go through a checker that refuses format strings reaching dunder or private
  attributes, whether the string is a literal or built at run time.
* :func:`safe_builtins` - ``__import__`` limited to the allowlist, ``getattr``/``setattr``/
  ``delattr``/``hasattr`` refusing what the AST check refuses (names built at run time included),
  ``eval``/``exec`` only on source strings that pass the AST check, with a real ``dict`` as
  globals (a dict subclass could keep CPython from installing these builtins); no ``compile``,
  ``globals``, ``locals``, ``vars``, ``breakpoint``, ``input``, ``help``.
* :func:`patch_libraries` - library entry points that evaluate strings or walk attributes with
  the real builtins are checked first: ``sympy.sympify``/``parse_expr`` (and their evaluate=False
  path), ``sympy.lambdify``, ``typing`` forward references (``get_type_hints``),
  ``string.Formatter.get_field``/``vformat``.
* :func:`make_audit_hook` - a PEP 578 audit hook: ``open`` only inside the program's temp dir
  (read-only also in the Python installation, for lazy imports), no sockets, processes, signals,
  ctypes, ``gc`` introspection, env or rlimit changes, file metadata changes, frame/code-object
  access through tracebacks or generators, code/function construction, or any event not
  explicitly allowed.

Every refusal is recorded; a program that triggered one ends "denied" even if it caught it.
"""

from __future__ import annotations

import _string
import ast
import builtins
import os
import re
import types

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
    "weakref", "_weakref", "atexit", "linecache", "_imp", "posixpath", "genericpath",
    "readline", "rlcompleter", "ensurepip", "venv", "distutils", "setuptools", "pip", "_string",
    "_guard", "_worker", "_seccomp", "_proto", "_runner", "_ns", "_landlock", "_zygote",
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
# Methods a program's own class may define (ordinary operator protocol; nothing that changes how
# attributes are looked up or how numpy/ctypes read raw memory).
SAFE_DUNDER_DEFS = SAFE_DUNDER_ATTRS | frozenset({
    "__call__", "__radd__", "__rsub__", "__rmul__", "__rtruediv__", "__rfloordiv__", "__rmod__",
    "__rpow__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__",
    "__ipow__", "__pos__", "__invert__", "__matmul__", "__rmatmul__", "__and__", "__or__",
    "__xor__", "__rand__", "__ror__", "__rxor__", "__lshift__", "__rshift__", "__divmod__",
    "__rdivmod__", "__index__", "__complex__", "__trunc__", "__floor__", "__ceil__",
    "__format__", "__delitem__", "__reversed__", "__missing__", "__del__",
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
    "stride_tricks", "as_strided",
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
    "__array_interface__", "__array_struct__",
)
_DANGEROUS_STR = re.compile("|".join(re.escape(d) for d in DANGEROUS_DUNDERS))
PRIVATE_HELPER, FORMAT_HELPER = "__sandbox_private__", "__sandbox_format__"


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


def format_problem(fmt: str, depth: int = 0) -> str | None:
    """Why a ``str.format`` format string is refused (a field reaching a dunder/private
    attribute, or a malformed string), or None."""
    try:
        parts = list(_string.formatter_parser(fmt))
    except (ValueError, TypeError):
        return None  # str.format will raise the same ValueError itself
    for _lit, field, spec, _conv in parts:
        if field:
            try:
                _first, rest = _string.formatter_field_name_split(field)
                rest = list(rest)
            except (ValueError, TypeError):
                continue
            for is_attr, key in rest:
                if is_attr:
                    why = attr_problem(str(key))
                    if why:
                        return f"{why} in a format string"
        if spec and depth < 2:
            why = format_problem(spec, depth + 1)
            if why:
                return why
    return None


class _Checker(ast.NodeVisitor):
    def __init__(self, allowed: frozenset[str]):
        self.allowed, self.problems = allowed, []

    def _bad(self, node: ast.AST, what: str) -> None:
        msg = f"line {getattr(node, 'lineno', '?')}: {what} is not allowed"
        if what.startswith("import of"):
            msg += f" (allowed modules: {', '.join(sorted(self.allowed))})"
        self.problems.append(msg)

    def _name(self, node: ast.AST, name: str | None, what: str) -> None:
        if name and _is_dunder(name) and name not in SAFE_DUNDER_NAMES:
            self._bad(node, f"{what} {name!r}")

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            why = import_problem(a.name, self.allowed)
            if a.name.partition(".")[0] in DANGEROUS_MODULES or (why and "._" in a.name):
                self._bad(node, why or f"import of {a.name!r}")
            self._name(node, a.asname, "use of name")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self._bad(node, "relative import")
            return
        mod = node.module or ""
        why = import_problem(mod, self.allowed)
        if mod.partition(".")[0] in DANGEROUS_MODULES or (why and "._" in mod):
            self._bad(node, why or f"import of {mod!r}")
        for a in node.names:
            if a.name != "*" and mod != "__future__" and attr_problem(a.name):
                self._bad(node, f"import of {a.name!r} from {mod!r}")
            self._name(node, a.asname, "use of name")

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

    def _def(self, node) -> None:
        if _is_dunder(node.name) and node.name not in SAFE_DUNDER_DEFS:
            self._bad(node, f"defining {node.name!r}")
        self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = _def

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._name(node, node.name, "class name")
        for k in node.keywords:
            if k.arg == "metaclass":
                self._bad(node, "a metaclass")
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        self._name(node, node.arg, "parameter")
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        self._name(node, node.name, "use of name")
        self.generic_visit(node)

    def visit_Global(self, node) -> None:
        for n in node.names:
            self._name(node, n, "use of name")

    visit_Nonlocal = visit_Global

    def visit_keyword(self, node: ast.keyword) -> None:
        self._name(node, node.arg, "keyword")
        self.generic_visit(node)

    def visit_MatchAs(self, node) -> None:
        self._name(node, node.name, "use of name")
        self.generic_visit(node)

    def visit_MatchStar(self, node) -> None:
        self._name(node, node.name, "use of name")

    def visit_MatchMapping(self, node) -> None:
        self._name(node, node.rest, "use of name")
        self.generic_visit(node)

    def visit_MatchClass(self, node) -> None:
        for a in node.kwd_attrs:
            why = attr_problem(a)
            if why:
                self._bad(node, why)
        self.generic_visit(node)

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


class _Rewriter(ast.NodeTransformer):
    """``self._x`` -> ``__sandbox_private__(self)['_x']`` (name-mangled like Python would);
    ``x.format``/``x.format_map`` -> ``__sandbox_format__(x).format``."""

    def __init__(self):
        self.classes: list[str] = []

    def visit_ClassDef(self, node):
        self.classes.append(node.name)
        try:
            return self.generic_visit(node)
        finally:
            self.classes.pop()

    def visit_Attribute(self, node: ast.Attribute):
        self.generic_visit(node)
        v = node.value
        if isinstance(v, ast.Name) and v.id in ("self", "cls") and node.attr.startswith("_") \
                and not _is_dunder(node.attr):
            attr = node.attr
            if attr.startswith("__") and self.classes and self.classes[-1].strip("_"):
                attr = f"_{self.classes[-1].lstrip('_')}{attr}"  # private name mangling
            call = ast.Call(ast.Name(PRIVATE_HELPER, ast.Load()), [v], [])
            return ast.copy_location(ast.Subscript(call, ast.Constant(attr), node.ctx), node)
        if node.attr in ("format", "format_map") and isinstance(node.ctx, ast.Load):
            call = ast.Call(ast.Name(FORMAT_HELPER, ast.Load()), [v], [])
            return ast.copy_location(ast.Attribute(call, node.attr, node.ctx), node)
        return node


_REWRITE_HINT = re.compile(r"\b(self|cls)\b|format")


def needs_rewrite(source: str) -> bool:
    """Cheap pre-check: only sources mentioning self/cls/format can contain what
    :func:`rewrite` changes."""
    return _REWRITE_HINT.search(source) is not None


def rewrite(tree: ast.AST) -> ast.AST:
    return ast.fix_missing_locations(_Rewriter().visit(tree))


def parse_checked(source: str, mode: str, allowed: frozenset[str]):
    """Parse + check + rewrite a source string; returns (tree, first problem or None)."""
    tree = ast.parse(source.strip() if mode == "eval" else source, "<string>", mode)
    problems = check_source(tree, allowed)
    if problems:
        return None, problems[0]
    return (rewrite(tree) if needs_rewrite(source) else tree), None


class _CheckedFormat:
    """What ``x.format`` sees when ``x`` is a str (or the str type)."""

    __slots__ = ("_deny", "_s")

    def __init__(self, s, deny):
        self._s, self._deny = s, deny

    def _check(self, fmt):
        if isinstance(fmt, str):
            why = format_problem(fmt)
            if why:
                self._deny(why)

    def format(self, *args, **kwargs):
        if self._s is str:  # str.format(fmt, ...)
            if not args:
                raise TypeError("descriptor 'format' of 'str' object needs an argument")
            self._check(args[0])
            return str.format(*args, **kwargs)
        self._check(self._s)
        return str.format(self._s, *args, **kwargs)

    def format_map(self, *args):
        if self._s is str:
            if not args:
                raise TypeError("descriptor 'format_map' of 'str' object needs an argument")
            self._check(args[0])
            return str.format_map(*args)
        self._check(self._s)
        return str.format_map(self._s, *args)


def safe_builtins(allowed: frozenset[str], record, program_globals: dict) -> dict:
    """The ``__builtins__`` dict of a program. ``record(reason)`` logs a denial."""
    real_import, real_getattr = builtins.__import__, builtins.getattr
    real_setattr, real_delattr, real_eval, real_exec = (
        builtins.setattr, builtins.delattr, builtins.eval, builtins.exec)
    real_build_class = builtins.__build_class__
    program_classes: set = set()

    def deny(reason: str):
        record(reason)
        raise SandboxViolation(f"sandbox: {reason} is not allowed")

    def _import(name, globals=None, locals=None, fromlist=(), level=0):
        if level:
            deny("relative import")
        if not isinstance(name, str):
            raise TypeError("module name must be str")
        why = import_problem(name, allowed)
        if why and name.partition(".")[0] in allowed and "._" in name \
                and name.partition(".")[0] not in DANGEROUS_MODULES:
            # a library's own private submodule, imported lazily through the C API from a program
            # frame (numpy 2.x: ndarray.max -> numpy._core._methods); programs cannot name
            # private modules themselves (AST check), so this is library code.
            why = None
        if why is None:
            for f in fromlist or ():
                if f != "*" and name != "__future__" and not _is_dunder(str(f)) \
                        and attr_problem(str(f)):
                    why = f"import of {f!r} from {name!r}"
        if why:
            if name.partition(".")[0] in DANGEROUS_MODULES:
                deny(why)
            raise DeniedImport(f"sandbox: {why} is not allowed "
                               f"(allowed modules: {', '.join(sorted(allowed))})")
        return real_import(name, globals, locals, fromlist, level)

    def _check_attr(name):
        if not isinstance(name, str):
            raise TypeError("attribute name must be string")
        why = attr_problem(name)
        if why:
            deny(why)

    def _fmt(obj):
        return _CheckedFormat(obj, deny) if obj is str or isinstance(obj, str) else obj

    def _getattr(obj, name, *default):
        _check_attr(name)
        if name in ("format", "format_map") and (obj is str or isinstance(obj, str)):
            return real_getattr(_fmt(obj), name)
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
        tree, why = parse_checked(source, mode, allowed)
        if why:
            deny(f"{why.replace(' is not allowed', '')} (in {mode})")
        return compile(tree, "<string>", mode)

    def _ns(g):
        if g is None:
            return program_globals
        if type(g) is not dict:  # a dict subclass could refuse our __builtins__
            raise TypeError("globals must be a real dict")
        dict.__setitem__(g, "__builtins__", table)
        return g

    def _eval(source, globals=None, locals=None):
        return real_eval(_code(source, "eval"), _ns(globals), locals)

    def _exec(source, globals=None, locals=None):
        real_exec(_code(source, "exec"), _ns(globals), locals)

    def _exit(code=None):
        raise SystemExit(code)

    def _build_class(func, name, *bases, **kw):
        if "metaclass" in kw:
            deny("a metaclass")
        cls = real_build_class(func, name, *bases, **kw)
        program_classes.add(cls)
        return cls

    class _Private:
        __slots__ = ("_obj",)

        def __init__(self, obj):
            t = obj if isinstance(obj, type) else type(obj)
            if not any(c in program_classes for c in type.__getattribute__(t, "__mro__")):
                deny(f"access to private attributes of {type(obj).__name__!r} objects")
            self._obj = obj

        def __getitem__(self, name):
            return real_getattr(self._obj, name)

        def __setitem__(self, name, value):
            real_setattr(self._obj, name, value)

        def __delitem__(self, name):
            real_delattr(self._obj, name)

    table = {k: v for k, v in vars(builtins).items()
             if not k.startswith("_") or k in ("__build_class__", "__debug__")}
    for k in DENIED_NAMES | {"exit", "quit", "open"}:
        table.pop(k, None)
    table.update(__import__=_import, getattr=_getattr, hasattr=_hasattr, setattr=_setattr,
                 delattr=_delattr, eval=_eval, exec=_exec, exit=_exit, quit=_exit,
                 open=builtins.open, __name__="builtins", __build_class__=_build_class)
    table[PRIVATE_HELPER], table[FORMAT_HELPER] = _Private, _fmt
    table["__sandbox_deny__"] = deny  # for patch_libraries (unreachable by name: a dunder)
    return table


def patch_libraries(table: dict, allowed: frozenset[str]) -> None:
    """Check the library routes that evaluate strings or walk attributes with real builtins.
    Called once in each program process, before its program runs (the patches die with it)."""
    import sys

    deny = table["__sandbox_deny__"]

    def check_expr(source, what: str) -> None:
        if isinstance(source, str):
            try:
                _tree, why = parse_checked(source, "eval", allowed)
            except SyntaxError:
                return  # the library raises its own error
            if why:
                deny(f"{why.replace(' is not allowed', '')} (in {what})")

    # string.Formatter: get_field walks attributes with the real getattr
    import string

    real_get_field = string.Formatter.get_field

    def get_field(self, field_name, args, kwargs):
        if isinstance(field_name, str):
            why = format_problem("{" + field_name.replace("}", "") + "}")
            if why:
                deny(why)
        return real_get_field(self, field_name, args, kwargs)

    string.Formatter.get_field = get_field

    # typing: forward references (string annotations) are eval'ed
    import typing

    real_evaluate = typing.ForwardRef._evaluate

    def _evaluate(self, globalns, localns, *args, **kwargs):
        check_expr(self.__forward_arg__, "a string annotation")
        if globalns is None and localns is None:
            globalns = localns = {"__builtins__": table}
        elif isinstance(globalns, dict) and "__builtins__" not in globalns:
            globalns = {**globalns, "__builtins__": table}
        return real_evaluate(self, globalns, localns, *args, **kwargs)

    typing.ForwardRef._evaluate = _evaluate

    sp = sys.modules.get("sympy.parsing.sympy_parser")
    if sp is not None:  # sympify("...") -> parse_expr -> eval with real builtins
        real_parse, real_eval_expr, real_false = sp.parse_expr, sp.eval_expr, sp.evaluateFalse
        real_exec = builtins.exec
        safe_names = {k: v for k, v in table.items() if not k.startswith("_")}

        def parse_expr(s, local_dict=None, transformations=sp.standard_transformations,
                       global_dict=None, evaluate=True):
            if global_dict is None:
                global_dict = {}
                real_exec("from sympy import *", global_dict)
                for name, obj in vars(builtins).items():  # as sympy does, with our versions
                    if isinstance(obj, types.BuiltinFunctionType) and name in safe_names:
                        global_dict[name] = safe_names[name]
                global_dict["max"], global_dict["min"] = global_dict["Max"], global_dict["Min"]
            if isinstance(global_dict, dict):
                global_dict["__builtins__"] = table
            return real_parse(s, local_dict, transformations, global_dict, evaluate)

        def eval_expr(code, local_dict, global_dict):
            check_expr(code, "sympify")  # a code object comes from the checked evaluateFalse
            if isinstance(global_dict, dict):
                global_dict["__builtins__"] = table
            return real_eval_expr(code, local_dict, global_dict)

        def evaluateFalse(s):
            check_expr(s, "sympify")
            return real_false(s)

        sp.parse_expr, sp.eval_expr, sp.evaluateFalse = parse_expr, eval_expr, evaluateFalse

    lm = sys.modules.get("sympy.utilities.lambdify")
    if lm is not None:  # lambdify compiles printed expressions (function names included)
        def lam_compile(source, filename, mode, *args, **kwargs):
            if isinstance(source, str):
                try:
                    tree = ast.parse(source, filename, mode)
                except SyntaxError:
                    tree = None
                if tree is not None:
                    problems = [p for p in check_source(tree, allowed) if "private" not in p]
                    if problems:
                        deny(f"{problems[0].replace(' is not allowed', '')} (in lambdify)")
            return compile(source, filename, mode, *args, **kwargs)

        def lam_exec(code, globals=None, locals=None):
            if type(globals) is dict:
                globals["__builtins__"] = table
            return builtins.exec(code, globals, locals)

        lm.compile, lm.exec = lam_compile, lam_exec


# --------------------------------------------------------------------------- audit hook
_ALWAYS_OK = frozenset({
    "exec", "compile", "builtins.id", "object.__setattr__", "object.__delattr__",
    "marshal.loads", "marshal.load", "sys._getframe", "sys._getframemodulename", "time.sleep",
    "array.__new__", "sys.excepthook", "sys.unraisablehook", "random.seed",
    "cpython._PySys_ClearAuditHooks", "sys.set_asyncgen_hooks_firstiter",
    "sys.set_asyncgen_hooks_finalizer", "datetime.strptime",
})
# object.__getattr__ events (PY_AUDIT_READ attributes) that hand out frames or code objects
_AUDITED_ATTRS_DENIED = frozenset({
    "tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_code", "gi_code", "cr_code", "ag_code",
})
_FS_WRITE_EVENTS = {  # event -> indexes of path arguments
    "os.mkdir": (0,), "os.remove": (0,), "os.rmdir": (0,), "os.rename": (0, 1),
    "os.truncate": (0,), "os.chdir": (0,), "tempfile.mkstemp": (0,), "tempfile.mkdtemp": (0,),
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def make_audit_hook(state: dict, read_roots: tuple[str, ...]):
    """Build the audit hook. ``state["tmp"]`` is the program's temp dir (writable);
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
            if event == "object.__getattr__":
                if len(args) > 1 and args[1] not in _AUDITED_ATTRS_DENIED:
                    return
            elif event == "open":
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
        except Exception:  # noqa: BLE001, S110 - malformed arguments: refuse
            pass
        detail = ""
        if event == "object.__getattr__" and len(args) > 1:
            detail = f" {args[1]!r}"
        elif args and isinstance(args[0], (str, bytes, int)):
            detail = f" {args[0]!r}"[:120]
        reason = f"{event}{detail}"
        state["denials"].append(reason)
        raise SandboxViolation(f"sandbox: {reason} is not allowed")

    return hook
