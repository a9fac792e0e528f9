"""Scoring a model on a recipe's suites: the one place run/ calls the evaluation package; and keeping each
evaluation of a run (``eval/<label>/``, see verticalize.evals.history)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from verticalize.errors import RunError
from verticalize.recipe import Recipe

__all__ = ["suites_of", "score", "evaluate_base", "eval_meta", "keep_evaluation"]


def suites_of(recipe: Recipe, suites: list[Any] | tuple[Any, ...] | None = None) -> list[Any]:
    """The suites to score: those given, else the recipe's, else its domain's own suite."""
    chosen = list(suites or recipe.eval.suites or ([recipe.domain] if recipe.domain else []))
    if not chosen:
        raise RunError("no suites to evaluate: pass suite names (or Task / Suite objects), or set eval.suites "
                       "in the recipe")
    return chosen


def score(model: Any, tokenizer: Any, recipe: Recipe, suites: list[Any] | None = None, *, stage: str = "after",
          quiet: bool = False) -> dict[str, Any]:
    """One stage of an evaluation (before or after): ``{suite: {"score", "tasks", "role", "n"}}``, with a
    progress bar per suite on the console unless ``quiet``. The model's train/eval mode is restored afterwards."""
    from verticalize.console import Meter
    from verticalize.evals import run_suites

    was_training = model.training
    try:
        return run_suites(model, tokenizer, suites_of(recipe, suites), recipe.eval,
                          recipe.pot if recipe.pot.enabled else None, seed=recipe.seed,
                          meter=Meter(f"eval {stage}", quiet=quiet))
    finally:
        model.train(was_training)


def evaluate_base(recipe: Recipe, suites: list[Any] | None = None, *, quiet: bool = False) -> Any:
    """Score the recipe's base model (no training); returns an EvalReport with a ``before`` stage."""
    from verticalize.evals import EvalReport
    from verticalize.models import load_model, load_tokenizer, resolve_model

    chosen = suites_of(recipe, suites)
    resolved = resolve_model(recipe.base)
    return EvalReport({"before": score(load_model(resolved), load_tokenizer(resolved), recipe, chosen, stage="before",
                                       quiet=quiet)},
                      meta=eval_meta(recipe, chosen, source="base model"))


def eval_meta(recipe: Recipe, suites: list[Any] | None = None, *, source: str, run: str | Path | None = None,
              ) -> dict[str, Any]:
    """What an evaluation report records about how it was made: when, by what, the recipe's fingerprint, the
    suites and the settings (generation, question limits, PoT)."""
    ev = recipe.eval
    names = [s if isinstance(s, str) else getattr(s, "label", None) or getattr(s, "name", None) or type(s).__name__
             for s in suites_of(recipe, suites)]
    meta: dict[str, Any] = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "source": source,
        "recipe_sha256": recipe.fingerprint(), "base": recipe.base.model, "suites": [str(n) for n in names],
        "settings": {"generation": ev.generation.model_dump(), "max_examples": ev.max_examples,
                     "languages": ev.languages, "tasks": ev.tasks, "batch_size": ev.batch_size,
                     "pot": bool(recipe.pot.enabled)}}
    if run is not None:
        meta["run"] = str(run)
    return meta


def keep_evaluation(run_dir: str | Path, report: Any, label: str | None = None, *, force: bool = False) -> Any:
    """Add ``report`` to a finished run's evaluations (``eval/<label>/``, the index, ``eval/report.md``), holding
    the run dir's lock while writing; returns the report as saved (its meta holds the label)."""
    from verticalize.evals.history import EvalHistory
    from verticalize.run.rundir import RunLock, writing

    run_dir = Path(run_dir)
    lock = RunLock(run_dir)
    lock.acquire()
    try:
        with writing(run_dir / "eval"):
            saved, _ = EvalHistory(run_dir / "eval").add(report, label, force=force)
    finally:
        lock.release()
    return saved
