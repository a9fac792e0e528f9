"""Strategy objects <-> recipe refs: the import path and arguments of an object (``ref_of``), the
object a ref names (``build``), and what is wrong with a ref (``check_ref``, for validate).

A ref read from YAML imports nothing until ``build`` or ``check_ref``: trust is checked when a
recipe file loads (``load_recipe``), before either can run.
"""

from __future__ import annotations

from typing import Any

from verticalize.recipe.schema import StrategyRef

__all__ = ["ref_of", "build", "check_ref"]
def ref_of(obj: Any, what: str) -> Any:
    """A recipe ref (``StrategyRef``) for a strategy object; the object travels with it.

    The import path is the object's class (``pkg.module:Class``) and the arguments are read back
    from the object: a dataclass's fields, a pydantic model's dump, or each ``__init__`` parameter
    stored as ``self.<name>`` (or ``self._<name>``). A module-level function or object is named
    itself. When that is not possible (a local class, the ``__main__`` script, arguments YAML
    cannot hold) the ref still works in Python and records why :meth:`Recipe.to_yaml` will refuse.
    """
    import dataclasses
    import inspect

    if isinstance(obj, StrategyRef):
        return obj
    if isinstance(obj, dict) and "target" in obj:
        return StrategyRef.model_validate(obj)
    named = obj if inspect.isfunction(obj) or inspect.isclass(obj) else type(obj)
    target = f"{named.__module__}:{named.__qualname__}"
    args: dict[str, Any] = {}
    why = None
    if named is not obj:  # an instance: recover its constructor arguments
        if dataclasses.is_dataclass(obj):
            args = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
        elif hasattr(obj, "model_dump") and hasattr(type(obj), "model_fields"):
            args = obj.model_dump()
        else:
            args, why = _init_args(obj)
    if why is None:
        why = _not_portable(named, args, obj)
    ref = StrategyRef.model_construct(target=target, args=args)
    ref._obj = obj
    ref._why_not = f"{what} {_show(obj)}: {why}" if why else None
    return ref


def _show(obj: Any) -> str:
    text = repr(obj)
    return text if len(text) <= 60 else text[:57] + "..."


def _init_args(obj: Any) -> tuple[dict[str, Any], str | None]:
    import inspect

    try:
        params = list(inspect.signature(type(obj).__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return {}, None
    args: dict[str, Any] = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        for attr in (p.name, "_" + p.name):
            if attr in getattr(obj, "__dict__", {}) or hasattr(type(obj), "__slots__") and hasattr(obj, attr):
                value = getattr(obj, attr)
                if p.default is p.empty or value is not p.default and value != p.default:
                    args[p.name] = value
                break
        else:
            return args, (f"its argument {p.name!r} is not stored on the object, so the recipe cannot repeat it: "
                          f"keep it as self.{p.name} (or make the class a dataclass)")
    return args, None


def _not_portable(named: Any, args: dict[str, Any], obj: Any) -> str | None:
    if named.__module__ == "__main__":
        return (f"{named.__qualname__} is defined in the script being run (__main__), which another process "
                "cannot import: move it into a module and import it from there")
    if "<locals>" in named.__qualname__ or "<lambda>" in named.__qualname__:
        return f"{named.__qualname__} is defined inside a function: define it at the top level of a module"
    if type(obj).__module__ == "datasets.arrow_dataset" or any(type(v).__name__ == "Dataset" for v in args.values()):
        return ("a datasets.Dataset in memory has no import path: save it (ds.save_to_disk(dir) or "
                "ds.to_json('x.jsonl')) and pass that path to with_data")
    bad = _unyamlable(args)
    if bad:
        return (f"its argument {bad} holds a {type(_at(args, bad)).__name__}, which YAML cannot hold: pass "
                "plain values (str, number, bool, list, dict) to the constructor")
    return None


def _unyamlable(v: Any, key: str = "") -> str | None:
    if v is None or isinstance(v, (str, int, float, bool)):
        return None
    if isinstance(v, (list, tuple)):
        return next((b for i, x in enumerate(v) if (b := _unyamlable(x, f"{key}[{i}]"))), None)
    if isinstance(v, dict):
        return next((b for k, x in v.items() if (b := _unyamlable(x, f"{key}.{k}" if key else str(k)))), None)
    return key or "(the object)"


def _at(args: dict[str, Any], key: str) -> Any:
    import re

    node: Any = args
    for part in re.findall(r"[^.\[\]]+", key):
        node = node[int(part)] if isinstance(node, (list, tuple)) else node[part]
    return node


def build(ref: Any, what: str) -> Any:
    """The object a ref names: its live object, else the import path's class called with ``args``
    (a function or object at the path is used as it is, and then takes no ``args``)."""
    import inspect

    from verticalize.errors import RecipeError
    from verticalize.packs import import_target

    if ref.obj is not None:
        return ref.obj
    target = import_target(ref.target)
    if inspect.isclass(target):
        try:
            return target(**ref.args)
        except TypeError as e:
            raise RecipeError(f"{what}: {ref.target}(**{ref.args}) failed: {e}") from None
    if ref.args:
        raise RecipeError(f"{what}: {ref.target} is a {type(target).__name__}, not a class: it takes no args "
                          f"(got {sorted(ref.args)})")
    return target


def check_ref(ref: Any, protocol: type, what: str) -> list[str]:
    """Problems with a ref, found by importing it (no object is built): the path imports, ``args``
    fit the class's signature, and the class has every method of ``protocol``."""
    import inspect

    from verticalize.errors import VerticalizeError
    from verticalize.packs import import_target

    try:
        target = ref.obj if ref.obj is not None else import_target(ref.target)
    except VerticalizeError as e:
        return [f"{what}: {e}"]
    problems = []
    cls = target if inspect.isclass(target) else type(target)
    if inspect.isclass(target):
        try:
            inspect.signature(target).bind(**ref.args)
        except TypeError as e:
            params = ", ".join(str(p) for p in inspect.signature(target).parameters.values())
            problems.append(f"{what}: args {ref.args} do not fit {ref.target}({params}): {e}")
    elif ref.args and ref.obj is None:
        problems.append(f"{what}: {ref.target} is not a class, so it takes no args (got {sorted(ref.args)})")
    if protocol is not object:
        methods = [m for m in _protocol_members(protocol) if callable(getattr(protocol, m, None))]
        missing = [m for m in methods if not _has_method(cls, m)]
        if missing:
            names = ", ".join(f"{m}()" for m in missing)
            problems.append(f"{what}: {ref.target} is not a {protocol.__name__}: it has no {names} "
                            f"(see verticalize.strategies.{protocol.__name__})")
    return problems


def _has_method(cls: type, name: str) -> bool:
    if name.startswith("__"):  # every class has type's __call__: look in the class's own MRO
        return any(callable(vars(k).get(name)) for k in cls.__mro__ if k is not object)
    return callable(getattr(cls, name, None))


def _protocol_members(protocol: type) -> list[str]:
    members = getattr(protocol, "__protocol_attrs__", None)
    if members is None:  # Python < 3.12
        from typing import _get_protocol_attrs  # type: ignore[attr-defined]

        members = _get_protocol_attrs(protocol)
    return sorted(members)
