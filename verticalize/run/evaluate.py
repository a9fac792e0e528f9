"""Scoring a model on a recipe's suites: the one place run/ calls the evaluation package."""

from __future__ import annotations

from typing import Any

from verticalize.errors import RunError
from verticalize.recipe import Recipe

__all__ = ["suites_of", "score", "evaluate_base"]


def suites_of(recipe: Recipe, suites: list[Any] | tuple[Any, ...] | None = None) -> list[Any]:
    """The suites to score: those given, else the recipe's, else its domain's own suite."""
    chosen = list(suites or recipe.eval.suites or ([recipe.domain] if recipe.domain else []))
    if not chosen:
        raise RunError("no suites to evaluate: pass suite names (or Task / Suite objects), or set eval.suites "
                       "in the recipe")
    return chosen


def score(model: Any, tokenizer: Any, recipe: Recipe, suites: list[Any] | None = None) -> dict[str, Any]:
    """One stage of an evaluation (before or after): ``{suite: {"score", "tasks", "role", "n"}}``. The
    model's train/eval mode is restored afterwards."""
    from verticalize.evals import run_suites

    was_training = model.training
    try:
        return run_suites(model, tokenizer, suites_of(recipe, suites), recipe.eval,
                          recipe.pot if recipe.pot.enabled else None, seed=recipe.seed)
    finally:
        model.train(was_training)


def evaluate_base(recipe: Recipe, suites: list[Any] | None = None) -> Any:
    """Score the recipe's base model (no training); returns an EvalReport with a ``before`` stage."""
    from verticalize.evals import EvalReport
    from verticalize.models import load_model, load_tokenizer, resolve_model

    chosen = suites_of(recipe, suites)
    resolved = resolve_model(recipe.base)
    return EvalReport({"before": score(load_model(resolved), load_tokenizer(resolved), recipe, chosen)})
