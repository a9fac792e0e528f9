"""Run suites on a model: one stage (before or after) of an evaluation."""

from __future__ import annotations

import time
from typing import Any

from verticalize.evals.suite import Suite, load_suite
from verticalize.evals.engine import chat_prompt, generate, loglikelihoods
from verticalize.evals.tasks import PRIMARY, _gen_spec, generation_requests, score_task

__all__ = ["run_suites", "run_objects", "EngineLM"]


def run_suites(model: Any, tokenizer: Any, suites: list[str | Suite], cfg: Any, pot: Any = None,
               seed: int = 0, progress: Any = None, meter: Any = None) -> dict[str, Any]:
    """Scores of each suite: ``{suite: {"score": mean primary, "tasks": {task: {...}}}}``. Each task keeps
    :data:`SAMPLES` sample predictions (question, prediction, gold answer, correct).

    ``progress(suite, task, result)``: called as each task is scored. ``meter``: draws the progress of each
    suite (``verticalize.console.Meter``; default none)."""
    from verticalize.console import NO_METER

    meter = meter if meter is not None else NO_METER
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
                out.update(run_objects(model, tokenizer, s, cfg, progress, meter))
                continue
            else:
                suite = s if isinstance(s, Suite) else load_suite(s)
            if not isinstance(suite, Suite):  # a plugin's own Suite object (verticalize.strategies.Suite)
                out.update(run_objects(model, tokenizer, suite, cfg, progress, meter))
                continue
            suite = suite.select(getattr(cfg, "languages", None), getattr(cfg, "tasks", None))
            suite = suite.subsample(cfg.max_examples, seed)
            if pot is not None and suite.pot:
                from verticalize.pot.format import as_pot_example

                suite = Suite(suite.name, tuple(as_pot_example(ex) for ex in suite.examples), suite.pot, suite.role)
            tasks: dict[str, Any] = {}
            suite_pot = pot if suite.pot else None
            with meter.suite(suite.name, len(suite.examples)) as tick:
                texts = _generate_all(model, tokenizer, suite, cfg, suite_pot, tick)
                for task, items in suite.by_task().items():
                    kind = items[0].get("kind", "generation")
                    t0 = time.perf_counter()
                    detail: list[dict[str, Any]] = []
                    scores, preds = score_task(model, tokenizer, kind, items, cfg, suite_pot, sandbox, texts.get(task),
                                               progress=tick if task not in texts else None, detail=detail)
                    tasks[task] = {
                        "kind": kind, "n": len(items), "primary": PRIMARY[kind], "score": scores[PRIMARY[kind]],
                        "metrics": scores, "seconds": round(time.perf_counter() - t0, 2),
                        "samples": [_sample(ex, p, d) for ex, p, d in list(zip(items, preds, detail))[:SAMPLES]],
                    }
                    outcomes = _outcomes(items, detail)
                    if outcomes:
                        tasks[task]["outcomes"] = outcomes
                    if progress is not None:
                        progress(suite.name, task, tasks[task])
                primary = [t["score"] for t in tasks.values()]
                out[suite.name] = {"score": sum(primary) / len(primary) if primary else 0.0, "tasks": tasks,
                                   "role": suite.role,
                                   "n": sum(t["n"] for t in tasks.values())}
                tick.score(out[suite.name]["score"])
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


def run_objects(model: Any, tokenizer: Any, entry: Any, cfg: Any, progress: Any = None,
                meter: Any = None) -> dict[str, Any]:
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
    from verticalize.console import NO_METER

    lm = EngineLM(model, tokenizer, cfg)
    results: dict[str, Any] = {}
    work = []
    for task in tasks:
        examples = list(task.examples())
        if cfg.max_examples is not None:
            examples = examples[: cfg.max_examples]
        work.append((task, examples))
    with (meter if meter is not None else NO_METER).suite(name, sum(len(e) for _, e in work)) as tick:
        for task, examples in work:
            t0 = time.perf_counter()
            preds = list(task.predict(lm, examples))
            if len(preds) != len(examples):
                raise RecipeError(f"task {task.name!r}: predict() gave {len(preds)} predictions for {len(examples)} "
                                  "examples")
            tick(len(examples))
            scores = {k: float(v) for k, v in dict(task.score(examples, preds)).items()}
            if "score" not in scores:
                raise RecipeError(f"task {task.name!r}: score() must return the primary metric under 'score', "
                                  f"got {sorted(scores)}")
            results[str(task.name)] = {
                "kind": "custom", "n": len(examples), "primary": "score", "score": scores["score"], "metrics": scores,
                "seconds": round(time.perf_counter() - t0, 2),
                "samples": [_sample(ex, p, _own_score(task, ex, p)) for ex, p in list(zip(examples, preds))[:SAMPLES]],
            }
            if progress is not None:
                progress(name, task.name, results[str(task.name)])
        primary = [t["score"] for t in results.values()]
        score = sum(primary) / len(primary) if primary else 0.0
        tick.score(score)
    return {name: {"score": score, "tasks": results, "role": role, "n": sum(t["n"] for t in results.values())}}


#: sample predictions kept per task (the report shows a few per suite)
SAMPLES = 5


def _question(ex: Any) -> str | None:
    """The question an example asks: its last user message, else its ``question`` / ``prompt`` / ``input``."""
    if not isinstance(ex, dict):
        return None
    msgs = ex.get("messages")
    if isinstance(msgs, list):
        users = [m.get("content") for m in msgs if isinstance(m, dict) and m.get("role") == "user"]
        if users and isinstance(users[-1], str):
            return users[-1]
    for key in ("question", "prompt", "input", "instruction"):
        if isinstance(ex.get(key), str) and ex[key].strip():
            return ex[key]
    return None


def _sample(ex: Any, prediction: Any, detail: dict[str, Any]) -> dict[str, Any]:
    """One sample prediction as the report keeps it (long texts cut to 1,000 characters)."""
    cut = lambda v: v[:1000] if isinstance(v, str) else v  # noqa: E731
    get = ex.get if isinstance(ex, dict) else (lambda k: None)
    gold = get("answer")
    if gold is None and isinstance(get("messages"), list) and get("messages") and \
            isinstance(get("messages")[-1], dict) and get("messages")[-1].get("role") == "assistant":
        gold = get("messages")[-1].get("content")  # a generation task's reference answer
    row = {"id": get("id"), "question": cut(_question(ex)), "prediction": cut(prediction),
           "answer": cut(gold), "correct": detail.get("correct")}
    for k in ("parsed", "score"):
        if detail.get(k) is not None:
            row[k] = detail[k]
    return row


def _outcomes(items: list[Any], detail: list[dict[str, Any]]) -> dict[str, float]:
    """Each question's outcome by id (1.0 / 0.0 right or wrong, else its score): what pairs a question's
    answers before and after (verticalize.evals.paired). Empty when the scorer gave no per-question detail."""
    if len(detail) != len(items):
        return {}
    out: dict[str, float] = {}
    for i, (ex, d) in enumerate(zip(items, detail)):
        c, sc = d.get("correct"), d.get("score")
        value = float(c) if isinstance(c, bool) else float(sc) if isinstance(sc, (int, float)) else None
        if value is None:
            return {}
        key = ex.get("id") if isinstance(ex, dict) and ex.get("id") is not None else f"#{i}"
        out[str(key)] = round(value, 4)
    return out


def _own_score(task: Any, ex: Any, prediction: Any) -> dict[str, Any]:
    """A custom task's score of one example (its own ``score()`` on that one): correct when 1, else its score."""
    try:
        s = float(dict(task.score([ex], [prediction]))["score"])
    except Exception:  # noqa: BLE001 -- a sample's verdict is a nicety: a score() that needs many examples has none
        return {}
    return {"correct": s >= 1.0} if s in (0.0, 1.0) else {"score": round(s, 4), "correct": None}


def _generate_all(model: Any, tokenizer: Any, suite: Suite, cfg: Any, pot: Any,
                  progress: Any = None) -> dict[str, list[list[str]]]:
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
        texts = generate(model, tokenizer, prompts[k], _gen_spec(cfg, k), cfg.batch_size, progress,
                         num_return_sequences=k)
        start = 0
        for task, n in tasks:
            out[task] = texts[start: start + n]
            start += n
    return out
