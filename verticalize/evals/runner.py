"""Run suites on a model: one stage (before or after) of an evaluation."""

from __future__ import annotations

import time
from typing import Any

from verticalize.evals.suite import Suite, load_suite
from verticalize.evals.engine import chat_prompt, generate, loglikelihoods
from verticalize.evals.tasks import PRIMARY, _gen_spec, generation_requests, score_task

__all__ = ["run_suites", "run_objects", "EngineLM"]


def run_suites(model: Any, tokenizer: Any, suites: list[str | Suite], cfg: Any, pot: Any = None,
               seed: int = 0, progress: Any = None) -> dict[str, Any]:
    """Scores of each suite: ``{suite: {"score": mean primary, "tasks": {task: {...}}}}``."""
    sandbox, owned = None, False
    if pot is not None and pot.enabled and getattr(pot, "executor", None) is not None:
        from verticalize.strategies import build

        sandbox = build(pot.executor, "pot.executor")  # the caller's object: the caller closes it
    elif pot is not None and pot.enabled:
        from verticalize.pot import PythonSandbox

        sandbox, owned = PythonSandbox(timeout_s=pot.timeout_s, memory_mb=pot.memory_mb), True
    out: dict[str, Any] = {}
    try:
        for s in suites:
            if hasattr(s, "preset"):  # a benchmark file (recipe eval.suites: {preset, path, ...})
                from verticalize.evals.suite import benchmark_suite

                suite = benchmark_suite(s, seed)
            elif hasattr(s, "target") or not isinstance(s, (str, Suite)):
                out.update(run_objects(model, tokenizer, s, cfg, progress))
                continue
            else:
                suite = s if isinstance(s, Suite) else load_suite(s)
            if not isinstance(suite, Suite):  # a plugin's own Suite object (verticalize.strategies.Suite)
                out.update(run_objects(model, tokenizer, suite, cfg, progress))
                continue
            suite = suite.select(getattr(cfg, "languages", None), getattr(cfg, "tasks", None))
            suite = suite.subsample(cfg.max_examples, seed)
            if pot is not None and suite.pot:
                from verticalize.pot.format import as_pot_example

                suite = Suite(suite.name, tuple(as_pot_example(ex) for ex in suite.examples), suite.pot, suite.role)
            tasks: dict[str, Any] = {}
            suite_pot = pot if suite.pot else None
            texts = _generate_all(model, tokenizer, suite, cfg, suite_pot)
            for task, items in suite.by_task().items():
                kind = items[0].get("kind", "generation")
                t0 = time.perf_counter()
                scores, preds = score_task(model, tokenizer, kind, items, cfg, suite_pot, sandbox, texts.get(task))
                tasks[task] = {
                    "kind": kind, "n": len(items), "primary": PRIMARY[kind], "score": scores[PRIMARY[kind]],
                    "metrics": scores, "seconds": round(time.perf_counter() - t0, 2),
                    "samples": [{"id": ex.get("id"), "prediction": p, "answer": ex.get("answer")}
                                for ex, p in list(zip(items, preds))[:5]],
                }
                if progress is not None:
                    progress(suite.name, task, tasks[task])
            primary = [t["score"] for t in tasks.values()]
            out[suite.name] = {"score": sum(primary) / len(primary) if primary else 0.0, "tasks": tasks,
                               "role": suite.role,
                               "n": sum(t["n"] for t in tasks.values())}
    finally:
        if owned:
            sandbox.close()
    return out


class EngineLM:
    """The model as a Task sees it (verticalize.strategies.LanguageModel), batched by the engine."""

    def __init__(self, model: Any, tokenizer: Any, cfg: Any):
        self.model, self.tokenizer, self.cfg = model, tokenizer, cfg

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        return chat_prompt(self.tokenizer, messages)

    def generate(self, prompts: list[str], **generation: Any) -> list[str]:
        spec = self.cfg.generation.model_copy(update=generation) if generation else self.cfg.generation
        return [o[0] for o in generate(self.model, self.tokenizer, prompts, spec, self.cfg.batch_size)]

    def loglikelihood(self, pairs: list[tuple[str, str]]) -> list[float]:
        return [float(r[0]) for r in loglikelihoods(self.model, self.tokenizer, pairs, self.cfg.batch_size)]


def run_objects(model: Any, tokenizer: Any, entry: Any, cfg: Any, progress: Any = None) -> dict[str, Any]:
    """Score a Task or Suite object (see verticalize.strategies), or a ref naming one: the same
    result shape as a bundled suite's, with a 95% interval for each task's score."""
    from verticalize.errors import RecipeError
    from verticalize.strategies import build

    obj = build(entry, "eval.suites") if hasattr(entry, "target") else entry
    if callable(getattr(obj, "tasks", None)) and hasattr(obj, "role"):
        name, role, tasks = str(obj.name), str(obj.role), list(obj.tasks())
    elif callable(getattr(obj, "score", None)) and callable(getattr(obj, "predict", None)):
        name, role, tasks = str(obj.name), str(getattr(obj, "role", "domain")), [obj]
    else:
        raise RecipeError(f"eval.suites: {type(obj).__name__} is neither a Task (name, examples(), predict(), score()) "
                          "nor a Suite (name, role, tasks()); see verticalize.strategies")
    lm = EngineLM(model, tokenizer, cfg)
    results: dict[str, Any] = {}
    for task in tasks:
        t0 = time.perf_counter()
        examples = list(task.examples())
        if cfg.max_examples is not None:
            examples = examples[: cfg.max_examples]
        preds = list(task.predict(lm, examples))
        if len(preds) != len(examples):
            raise RecipeError(f"task {task.name!r}: predict() gave {len(preds)} predictions for {len(examples)} examples")
        scores = {k: float(v) for k, v in dict(task.score(examples, preds)).items()}
        if "score" not in scores:
            raise RecipeError(f"task {task.name!r}: score() must return the primary metric under 'score', "
                              f"got {sorted(scores)}")
        results[str(task.name)] = {
            "kind": "custom", "n": len(examples), "primary": "score", "score": scores["score"], "metrics": scores,
            "seconds": round(time.perf_counter() - t0, 2),
            "samples": [{"id": ex.get("id"), "prediction": p, "answer": ex.get("answer")}
                        for ex, p in list(zip(examples, preds))[:5]],
        }
        if progress is not None:
            progress(name, task.name, results[str(task.name)])
    primary = [t["score"] for t in results.values()]
    return {name: {"score": sum(primary) / len(primary) if primary else 0.0, "tasks": results, "role": role,
                   "n": sum(t["n"] for t in results.values())}}


def _generate_all(model: Any, tokenizer: Any, suite: Suite, cfg: Any, pot: Any) -> dict[str, list[list[str]]]:
    """One batched generate call per sample count for every generative task of the suite."""
    groups: dict[int, list[tuple[str, int]]] = {}
    prompts: dict[int, list[str]] = {}
    for task, items in suite.by_task().items():
        kind = items[0].get("kind", "generation")
        reqs = generation_requests(tokenizer, kind, items)
        if not reqs:
            continue
        k = pot.samples if pot is not None and pot.enabled and kind == "numeric" else 1
        groups.setdefault(k, []).append((task, len(reqs)))
        prompts.setdefault(k, []).extend(reqs)
    out: dict[str, list[list[str]]] = {}
    for k, tasks in groups.items():
        texts = generate(model, tokenizer, prompts[k], _gen_spec(cfg, k), cfg.batch_size, num_return_sequences=k)
        start = 0
        for task, n in tasks:
            out[task] = texts[start: start + n]
            start += n
    return out
