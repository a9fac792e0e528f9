"""``validate()`` (and ``verticalize validate``): every problem of a recipe, found without loading a model or torch."""

from __future__ import annotations

from pathlib import Path

from verticalize.errors import RecipeError, VerticalizeError

__all__ = ["validate"]


def validate(name: str | Path, overrides: list[str] | None = None, *, trust_code: bool = False) -> list[str]:
    """Every problem of a recipe (a path or a shipped recipe name), found without loading a model or
    torch: keys, types, names, data files, strategy objects (importable, args fit, Protocol met).
    An empty list: the recipe is ready to train. Strategy modules outside verticalize and the
    installed plugins are not imported unless ``trust_code`` (see ``load_recipe``)."""
    from verticalize.models.loaders import resolve_model
    from verticalize.recipe import load_recipe
    from verticalize.packs import find_recipe, list_domains, load_domain, resolve_ref

    try:
        path = find_recipe(name)
        recipe = load_recipe(path, list(overrides or []), trust_code=trust_code)
    except RecipeError as e:
        return list(e.problems)
    except VerticalizeError as e:
        return [str(e)]
    problems: list[str] = []
    where = str(path)
    try:
        resolve_model(recipe.base)
    except VerticalizeError as e:
        problems.append(f"{where}: base.model: {e}")
    if recipe.domain:
        try:
            load_domain(recipe.domain)
        except VerticalizeError as e:
            problems.append(f"{where}: domain: {e}")
    for key, ref in recipe.refs():
        problems += [f"{where}: {p}" for p in _check_strategy(key, ref)]
    for i, src in enumerate(recipe.data):
        if src.path is not None and not _data_exists(src.path, path.parent):
            problems.append(f"{where}: data[{i}].path: file not found: {src.path}")
    if not recipe.domain and not recipe.data:
        problems.append(f"{where}: no training data: set domain: <pack> or data: [{{path: ...}}]")
    for i, s in enumerate(recipe.eval.suites):
        if isinstance(s, str):
            try:
                resolve_ref("suite", s)
            except VerticalizeError as e:
                problems.append(f"{where}: eval.suites[{i}]: {e}")
    if recipe.replay is not None and isinstance(recipe.replay.source, str):
        r = recipe.replay.source
        if resolve_ref("domain", r, missing_ok=True) is None and not _data_exists(r, path.parent):
            problems.append(f"{where}: replay.source: {r!r} is neither a domain pack ({', '.join(list_domains())}) "
                            "nor an existing data file")
    return problems


def _check_strategy(key: str, ref: object) -> list[str]:
    """Import the ref (trust was checked when the recipe loaded) and check it against its Protocol."""
    from verticalize import strategies as st

    section = key.split("[", 1)[0]
    if section == "data":
        section = "data.source"
    if section == "eval.suites":  # a Task or a Suite: whichever it claims to be
        as_task = st.check_ref(ref, st.Task, key)
        return as_task if st.check_ref(ref, st.Suite, key) else []
    return st.check_ref(ref, st.PROTOCOLS.get(section, object), key)


def _data_exists(ref: str, base: Path) -> bool:
    p = Path(ref).expanduser()
    if p.exists() or (base / p).exists():
        return True
    # hub ids (org/name) and modelscope ids are checked when loaded
    return ref.startswith("modelscope:") or (not p.suffix and ref.count("/") == 1)
