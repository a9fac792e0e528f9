"""Recipe IO: validate a mapping (every problem at once), read YAML text, ``--set`` overrides, JSON Schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from verticalize.errors import RecipeError
from verticalize.recipe._errors import line_index, problems_of
from verticalize.recipe.schema import Recipe

__all__ = ["parse_recipe", "read_recipe_text", "apply_overrides", "recipe_json_schema"]


def parse_recipe(data: Any, source: str | None = None, text: str | None = None) -> Recipe:
    """Validate a mapping into a Recipe, reporting every problem at once."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{source or 'recipe'}: a recipe must be a mapping of keys, got {type(data).__name__}")
    try:
        return Recipe.model_validate(data)
    except ValidationError as err:
        problems = problems_of(err, line_index(text) if text else {}, source)
        head = f"{len(problems)} problem(s) in {source or 'recipe'}:\n  " if len(problems) > 1 else ""
        raise RecipeError(head + "\n  ".join(problems), problems=problems, source=source) from None


def read_recipe_text(path: str | Path) -> tuple[dict[str, Any], str]:
    p = Path(path)
    if not p.is_file():
        raise RecipeError(f"recipe file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RecipeError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark else str(p)
        raise RecipeError(f"{where}: YAML syntax error: {getattr(e, 'problem', e)}") from None
    return ({} if data is None else data), text


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides (values parsed as YAML) to a recipe mapping."""
    data = _copy_tree(data)
    for item in overrides or []:
        if "=" not in item:
            raise RecipeError(f"--set {item!r}: expected key.path=value, e.g. train.lr=1e-4")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise RecipeError(f"--set {item!r}: empty key path")
        node: Any = data
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part) if isinstance(node, dict) else None
            if nxt is None:
                if part == "base" and isinstance(node.get(part), str):
                    nxt = {"model": node[part]}
                else:
                    nxt = {}
                node[part] = nxt
            elif isinstance(nxt, str) and part == "base":
                nxt = node[part] = {"model": nxt}
            if not isinstance(nxt, dict):
                raise RecipeError(f"--set {item!r}: {'.'.join(parts[: i + 1])} is not a mapping")
            node = nxt
        node[parts[-1]] = value
    return data


def recipe_json_schema() -> dict[str, Any]:
    schema = Recipe.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "verticalize recipe"
    return schema


def _copy_tree(v: Any) -> Any:
    """A copy of the dicts and lists of a recipe mapping; leaves (and strategy objects) are shared."""
    if isinstance(v, dict):
        return {k: _copy_tree(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy_tree(x) for x in v]
    return v
