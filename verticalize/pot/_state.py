"""Tracking state a program could share with the next one in a reused program process.

A program process (``_runner.py``) serves several programs in a row only while they are
"clean". Two checks decide that:

* :func:`reusable` - static: no sympy/mpmath import (sympy ``eval``s strings with the real
  builtins - the known route past the Python-level guard - so such programs always get a
  fresh process), no ``as_strided`` (raw memory views), no attribute store/delete, no subscript store into anything but a
  plain local variable, no call of a known global-state mutator (``seed``, ``setattr``,
  ``set_printoptions``...), no class deriving from an imported class.
* :func:`module_view` - dynamic: programs get per-program stand-ins of the modules they import.
  Attribute writes land in the stand-in, and reading a module-level object that may be mutable
  (a dict, list, registry, context...) marks the program "dirty".

A dirty program still runs normally; its process is simply not reused afterwards.
"""

from __future__ import annotations

import ast
import functools
import sys
import types

_SAFE_VALUE_TYPES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
                     types.MethodWrapperType, type, int, float, complex, str, bytes, bool,
                     type(None), frozenset, range, functools.partial)


def _is_shared_safe(value) -> bool:
    """Whether a module attribute can be handed to a program without risking shared state."""
    if isinstance(value, _SAFE_VALUE_TYPES):
        return True
    if isinstance(value, tuple):
        return all(_is_shared_safe(v) for v in value[:64]) and len(value) <= 64
    mod = type(value).__module__ or ""
    return mod == "typing" or mod.startswith(("numpy", "sympy")) and (
        type(value).__name__ in ("ufunc", "_ArrayFunctionDispatcher", "vectorize")
        or hasattr(value, "is_Atom") or isinstance(value, _numeric_scalar_types()))


def _numeric_scalar_types() -> tuple:
    np = sys.modules.get("numpy")
    return (np.generic, np.dtype) if np is not None else ()


def module_view(real: types.ModuleType, shared: dict) -> types.ModuleType:
    """A per-program stand-in for ``real``: attribute writes stay in the view, and reading a
    mutable module-level object (a dict, list, registry...) marks the program "dirty" so its
    process is not reused. Submodules are views too."""
    views = shared.setdefault("views", {})
    if id(real) in views:
        return views[id(real)][1]
    view = types.ModuleType(real.__name__, getattr(real, "__doc__", None))
    d = view.__dict__

    def __getattr__(name):
        value = getattr(real, name)
        if isinstance(value, types.ModuleType):
            value = module_view(value, shared)
        elif not _is_shared_safe(value):
            shared["dirty"] = True
        d[name] = value
        return value

    d["__getattr__"] = __getattr__
    d["__dir__"] = lambda: dir(real)
    views[id(real)] = (real, view)
    return view


MUTATOR_CALLS = frozenset({
    "setattr", "delattr", "seed", "set_state", "setstate", "setcontext", "set_printoptions",
    "seterr", "seterrcall", "setbufsize", "setfirstweekday", "init_printing", "init_session",
    "register", "register_dialect", "set_global_settings", "workdps_set", "set_default",
})


SINGLE_USE_MODULES = frozenset({"sympy", "mpmath"})
SINGLE_USE_NAMES = frozenset({"as_strided", "stride_tricks"})


def reusable(tree: ast.AST) -> bool:
    """True when a program cannot have changed module state by the obvious routes.

    Conservative: importing sympy/mpmath, ``as_strided``, any attribute store/delete, subscript
    store into anything but a plain local variable, a call of a known global-state mutator
    (``np.random.seed``, ``setattr``...), or a class deriving from an imported class makes the
    program process single-use.
    """
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(a.name.partition(".")[0] in SINGLE_USE_MODULES for a in node.names):
                return False
            imported.update((a.asname or a.name).partition(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").partition(".")[0] in SINGLE_USE_MODULES:
                return False
            imported.update(a.asname or a.name for a in node.names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in SINGLE_USE_NAMES or \
                isinstance(node, ast.Name) and node.id in SINGLE_USE_NAMES:
            return False
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            return False
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
            base = node.value
            while isinstance(base, ast.Subscript):
                base = base.value
            if not isinstance(base, ast.Name) or base.id in imported:
                return False
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in MUTATOR_CALLS:
                return False
        if isinstance(node, ast.ClassDef):
            for b in list(node.bases) + [k.value for k in node.keywords]:
                if not (isinstance(b, ast.Name) and b.id not in imported):
                    return False
    return True
