"""The probes of ``train.watch``: how a stage scores its model while it trains (see verticalize.train.watch).

A probe scores a fixed subset of the recipe's suites -- ``watch.max_examples`` per suite (at most
``eval.max_examples``), the same seeded pick at every check -- with the evaluation package, and the
mean per-token loss of the retention examples' reference answers (held-out general text: the
suites are eval splits, never trained on). Its baseline is the base model on that subset, scored
before any stage trains, so forgetting is always measured from the base.
"""

from __future__ import annotations

from typing import Any

from verticalize.errors import RecipeError, RunError
from verticalize.recipe import Recipe

__all__ = ["watch_probes", "watch_problems", "watch_summaries"]


def _watched(recipe: Recipe) -> list[int]:
    return [i for i, s in enumerate(recipe.stages) if getattr(s, "watch", None) is not None]


def watch_problems(recipe: Recipe) -> list[str]:
    """What stops ``train.watch`` from working in this recipe (no model needed)."""
    watched = _watched(recipe)
    if not watched:
        return []
    key = "train.watch" if not isinstance(recipe.train, list) else f"train[{watched[0]}].watch"
    if not (recipe.eval.suites or recipe.domain):
        return [(f"{key}: watching needs suites to score: set eval.suites (a domain suite, plus a retention suite "
                 "such as general to see forgetting) or domain")]
    return []


def watch_probes(recipe: Recipe, model: Any, tokenizer: Any, world: int = 1) -> list[Any] | None:
    """One WatchProbe per stage (None for stages without ``train.watch``; None for no watched stage),
    their baselines scored on ``model`` now (before any training)."""
    watched = _watched(recipe)
    if not watched:
        return None
    problems = watch_problems(recipe)
    if problems:
        raise RecipeError(problems[0])
    if world > 1:
        raise RunError(f"train.watch scores the model in one process; this run has {world} (torchrun / accelerate): "
                       "remove train.watch, or train in one process")
    from verticalize.train.watch import WatchProbe

    made: dict[int, Any] = {}
    out: list[Any] = [None] * len(recipe.stages)
    for i in watched:
        n = recipe.stages[i].watch.max_examples
        if n not in made:
            score = _scorer(recipe, tokenizer, n)
            made[n] = WatchProbe(score=score, baseline=score(model))
        out[i] = made[n]
    return out


def _scorer(recipe: Recipe, tokenizer: Any, max_examples: int) -> Any:
    from verticalize.evals import run_suites
    from verticalize.run.evaluate import suites_of

    ev = recipe.eval
    cfg = ev.model_copy(update={"max_examples": min(max_examples, ev.max_examples or max_examples)})
    suites = [_fixed(s, cfg, recipe.seed) for s in suites_of(recipe)]
    pairs = _reference_pairs(suites, tokenizer)
    pot = recipe.pot if recipe.pot.enabled else None

    first: dict[str, Any] = {}  # the baseline's per-question results, to pair every later check with

    def score(model: Any) -> dict[str, Any]:
        from verticalize.evals.paired import paired_change

        was_training = model.training
        try:
            res = run_suites(model, tokenizer, suites, cfg, pot, seed=recipe.seed)
            loss = _loss(model, tokenizer, pairs, cfg.batch_size) if pairs else None
        finally:
            model.train(was_training)
        out = {"scores": {k: float(v["score"]) for k, v in res.items()},
               "roles": {k: str(v.get("role", "domain")) for k, v in res.items()}, "general_loss": loss}
        if not first:
            first.update(res)
            return out
        changes = {}
        for k, v in res.items():
            p = paired_change(first[k], v) if k in first else None
            if p is not None and p["n"] == v.get("n"):  # every question paired (a task scored by a corpus
                # metric such as macro-F1 has no per-question outcome: no interval rather than a partial one)
                changes[k] = {"n": p["n"], "interval": p["interval"], "flips": p["flips"]}
        out["changes"] = changes
        return out

    return score


def _fixed(entry: Any, cfg: Any, seed: int) -> Any:
    """A suite loaded once and cut to the watch's subset (objects are passed on: the runner takes the
    first ``max_examples`` of each of their tasks)."""
    from verticalize.evals import Suite, load_suite
    from verticalize.evals.suite import benchmark_suite

    if isinstance(entry, str):
        suite = load_suite(entry)
    elif hasattr(entry, "preset"):
        suite = benchmark_suite(entry, seed)
    else:
        return entry
    if not isinstance(suite, Suite):  # a plugin's own Suite object
        return suite
    return suite.select(cfg.languages, cfg.tasks).subsample(cfg.max_examples, seed)


def _reference_pairs(suites: list[Any], tokenizer: Any) -> list[tuple[str, str]]:
    """(prompt, reference answer) of every retention example of the subset."""
    from verticalize.evals import Suite
    from verticalize.evals.engine import chat_prompt

    pairs = []
    for s in suites:
        if not (isinstance(s, Suite) and s.role == "retention"):
            continue
        for ex in s.examples:
            msgs = ex.get("messages") or []
            if len(msgs) > 1 and msgs[-1].get("role") == "assistant" and msgs[-1].get("content"):
                pairs.append((chat_prompt(tokenizer, msgs), str(msgs[-1]["content"])))
    return pairs


def _loss(model: Any, tokenizer: Any, pairs: list[tuple[str, str]], batch_size: int) -> float | None:
    from verticalize.evals.engine import loglikelihoods

    res = loglikelihoods(model, tokenizer, pairs, batch_size)
    tokens = sum(n for _, n in res)
    return -sum(lp for lp, _ in res) / tokens if tokens else None


def watch_summaries(stages: list[Any], results: list[Any]) -> list[dict[str, Any]]:
    """Each watched stage's selection (its metrics' ``watch``), with the stage's kind."""
    return [{"stage": getattr(st, "kind", str(i)), **r.metrics["watch"]}
            for i, (st, r) in enumerate(zip(stages, results)) if isinstance(r.metrics.get("watch"), dict)]
