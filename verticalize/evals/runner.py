"""Run suites on a model: one stage (before or after) of an evaluation."""

from __future__ import annotations

import time
from typing import Any

from verticalize.evals.suite import Suite, load_suite
from verticalize.evals.engine import generate
from verticalize.evals.tasks import PRIMARY, _gen_spec, generation_requests, score_task

__all__ = ["run_suites"]


def run_suites(model: Any, tokenizer: Any, suites: list[str | Suite], cfg: Any, pot: Any = None,
               seed: int = 0, progress: Any = None) -> dict[str, Any]:
    """Scores of each suite: ``{suite: {"score": mean primary, "tasks": {task: {...}}}}``."""
    sandbox = None
    if pot is not None and pot.enabled:
        from verticalize.pot import PythonSandbox

        sandbox = PythonSandbox(timeout_s=pot.timeout_s, memory_mb=pot.memory_mb)
    out: dict[str, Any] = {}
    try:
        for s in suites:
            suite = s if isinstance(s, Suite) else load_suite(s)
            suite = suite.select(getattr(cfg, "languages", None), getattr(cfg, "tasks", None))
            suite = suite.subsample(cfg.max_examples, seed)
            if pot is not None and suite.pot:
                from verticalize.pot.format import as_pot_example

                suite = Suite(suite.name, tuple(as_pot_example(ex) for ex in suite.examples), suite.pot, suite.role)
            tasks: dict[str, Any] = {}
            suite_pot = pot if suite.pot else None
            texts = _generate_all(model, tokenizer, suite, cfg, suite_pot)
            for task, items in suite.tasks().items():
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
        if sandbox is not None:
            sandbox.close()
    return out


def _generate_all(model: Any, tokenizer: Any, suite: Suite, cfg: Any, pot: Any) -> dict[str, list[list[str]]]:
    """One batched generate call per sample count for every generative task of the suite."""
    groups: dict[int, list[tuple[str, int]]] = {}
    prompts: dict[int, list[str]] = {}
    for task, items in suite.tasks().items():
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
