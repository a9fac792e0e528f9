"""Evaluation suites: a named set of examples, grouped into tasks scored by their kind.

A suite is a YAML file -- each bundled pack has ``domains/<name>/suite.yaml`` -- or a user's::

    name: my-suite
    role: domain                        # or retention (general ability: its drop is forgetting)
    system_prompt: "You are ..."        # optional; "pack" takes the pack's per-language prompt
    pot: true                           # numeric tasks may be answered by programs (default: the pack's)
    data:
      - {path: my_eval.jsonl, format: alpaca}   # paths relative to the suite file

(the keys are :class:`verticalize.packs.SuiteSpec`'s). Every example carries ``task`` and ``kind``
(mc | classification | numeric | generation). A :class:`Suite` is a
:class:`verticalize.strategies.Suite`: ``tasks()`` gives one :class:`BuiltinTask` per task.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from verticalize.errors import DataError
from verticalize.packs import TASK_KINDS

__all__ = ["benchmark_suite", "Suite", "BuiltinTask", "load_suite", "list_suites", "KINDS"]

KINDS = TASK_KINDS  # mc | mc_multi (several correct options) | classification | numeric | generation


@dataclass(frozen=True)
class Suite:
    """A suite's examples and how to read them: ``name``, ``role`` (domain | retention), ``pot``.

    It is a :class:`verticalize.strategies.Suite`: :meth:`tasks` gives its tasks as Task objects
    (:class:`BuiltinTask`). Evaluation itself scores a Suite in one batched pass per suite (the
    runner); the Task objects are the same scoring, one task at a time, for your own code.
    """

    name: str
    examples: tuple[dict[str, Any], ...]
    pot: bool = False
    role: str = "domain"  # domain | retention

    def by_task(self) -> dict[str, list[dict[str, Any]]]:
        """The examples grouped by ``task`` (then ``kind``), sorted by task name. (``tasks()`` returned
        this dict before Suite became a strategies.Suite; it returns Task objects now.)"""
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for ex in self.examples:
            out[ex.get("task") or ex.get("kind") or "default"].append(ex)
        return dict(sorted(out.items()))

    def tasks(self) -> list[BuiltinTask]:
        """One :class:`BuiltinTask` (a :class:`verticalize.strategies.Task`) per task, in name order."""
        return [BuiltinTask(name, items[0].get("kind", "generation"), tuple(items), self.pot)
                for name, items in self.by_task().items()]

    def select(self, languages: list[str] | None = None, tasks: list[str] | None = None) -> Suite:
        from verticalize.data.pipeline import select

        if not languages and not tasks:
            return self
        picked = select(list(self.examples), languages, tasks)
        if not picked:
            raise DataError(f"suite {self.name!r}: no examples left for languages={languages} tasks={tasks}")
        return Suite(self.name, tuple(picked), self.pot, self.role)

    def subsample(self, max_examples: int | None, seed: int = 0) -> Suite:
        """At most ``max_examples``, spread evenly over tasks and deterministic under ``seed``."""
        if max_examples is None or len(self.examples) <= max_examples:
            return self
        tasks = self.by_task()
        rng = random.Random(seed)
        per = max(1, max_examples // len(tasks))
        picked: list[dict[str, Any]] = []
        for name in tasks:
            items = list(tasks[name])
            rng.shuffle(items)
            picked += items[:per]
        return Suite(self.name, tuple(picked[:max_examples] if len(picked) > max_examples else picked), self.pot,
                     self.role)


@dataclass(frozen=True)
class BuiltinTask:
    """One task of a built-in suite as a :class:`verticalize.strategies.Task`, scored by its ``kind``
    with the same rules and metrics as ``run_suites`` (verticalize/evals/tasks.py).

    ``predict(lm, examples)`` gives per kind: mc -- the letter of the option with the highest
    log-likelihood; classification -- the label with the highest log-likelihood; numeric and
    generation -- the generated text. ``score`` returns the kind's metrics with the primary one
    also under ``"score"`` (mc: ``acc``; ``acc_norm`` needs the per-option likelihoods and is
    reported by ``run_suites`` only). A numeric task with ``executor`` (an Executor, e.g. the PoT
    sandbox) scores the program in each text; without one, the last number of the text.
    """

    name: str
    kind: str
    items: tuple[dict[str, Any], ...]
    pot: bool = False
    executor: Any = None

    def examples(self) -> list[dict[str, Any]]:
        return [dict(ex) for ex in self.items]

    def predict(self, lm: Any, examples: list[dict[str, Any]]) -> list[Any]:
        from verticalize.evals.tasks import _answer_prefix, _letter

        if self.kind in ("mc", "classification"):
            pairs: list[tuple[str, str]] = []
            spans = []
            for ex in examples:
                prompt = lm.chat_prompt(ex["messages"])
                if self.kind == "mc":
                    prefix = _answer_prefix(ex)
                    options = [_letter(i) for i in range(len(ex["choices"]))]
                    conts = [f"{prefix}{_letter(i)}. {c}" for i, c in enumerate(ex["choices"])]
                else:
                    options = [str(label) for label in ex["labels"]]
                    conts = options
                spans.append((len(pairs), options))
                pairs += [(prompt, c) for c in conts]
            lls = lm.loglikelihood(pairs)
            return [opts[max(range(len(opts)), key=lambda i: lls[start + i])] for start, opts in spans]
        return list(lm.generate([lm.chat_prompt(ex["messages"]) for ex in examples]))

    def score(self, examples: list[dict[str, Any]], predictions: list[Any]) -> dict[str, float]:
        from verticalize.evals.tasks import PRIMARY, _generation, _mc_multi, _numeric, load_metric

        if self.kind == "mc":
            refs = [str(ex["answer"]).strip()[:1].upper() for ex in examples]
            scores = load_metric("accuracy").compute(predictions=list(predictions), references=refs)
            scores = {"acc": scores["accuracy"]}
        elif self.kind == "classification":
            refs = [str(ex["answer"]) for ex in examples]
            preds = [str(p) for p in predictions]
            scores = load_metric("accuracy").compute(predictions=preds, references=refs)
            scores.update(load_metric("f1").compute(predictions=preds, references=refs))
        elif self.kind == "mc_multi":
            scores, _ = _mc_multi(examples, [[str(p)] for p in predictions])
        elif self.kind == "numeric":
            pot = SimpleNamespace(enabled=self.executor is not None, samples=1)
            scores, _ = _numeric(examples, [[str(p)] for p in predictions], pot, self.executor)
        else:
            scores, _ = _generation(examples, [[str(p)] for p in predictions])
        out = {k: float(v) for k, v in scores.items()}
        out["score"] = out[PRIMARY[self.kind]]
        return out


def list_suites() -> list[str]:
    """Suite names: the bundled packs', installed plugin suites and plugin packs' (see verticalize.packs)."""
    from verticalize.packs import list_suites as names

    return names()


def _check(examples: list[dict[str, Any]], source: str) -> None:
    for i, ex in enumerate(examples):
        kind = ex.get("kind", "generation")
        if kind not in KINDS:
            raise DataError(f"{source}: example {ex.get('id', i)}: unknown kind {kind!r}; allowed: {', '.join(KINDS)}")
        if kind == "mc" and not (isinstance(ex.get("choices"), list) and ex.get("answer")):
            raise DataError(f"{source}: example {ex.get('id', i)}: kind mc needs 'choices' and an 'answer' letter")
        if kind == "classification" and not (isinstance(ex.get("labels"), list) and ex.get("answer") in ex["labels"]):
            raise DataError(f"{source}: example {ex.get('id', i)}: kind classification needs 'labels' holding 'answer'")
        if kind == "numeric" and not isinstance(ex.get("answer"), (int, float)):
            raise DataError(f"{source}: example {ex.get('id', i)}: kind numeric needs a number 'answer'")


def benchmark_suite(spec: Any, seed: int = 0) -> Suite:
    """A suite straight from a public benchmark's file (a ``BenchmarkSuiteSpec``: preset, path,
    split...): its rows mapped by the preset, scored with the task kind it gives; at most
    ``max_examples``, spread evenly over tasks under ``seed``."""
    from verticalize.data.pipeline import load_source
    from verticalize.recipe import DataSpec

    src = DataSpec(path=spec.path, preset=spec.preset, split=spec.split, config=spec.config, layout=spec.layout,
                   encoding=spec.encoding, split_file=spec.split_file)
    examples, _ = load_source(src)
    if spec.system_prompt:
        examples = [{**ex, "messages": [{"role": "system", "content": spec.system_prompt}, *ex["messages"]]}
                    for ex in examples]
    _check(examples, spec.path)
    return Suite(spec.label, tuple(examples), False, spec.role).subsample(spec.max_examples, seed)


def load_suite(ref: str | Path) -> Any:
    """A suite by any reference verticalize.packs.resolve_ref knows: a suite YAML, a pack dir, a
    bundled or plugin pack's name, a plugin suite's name, ``hf:<org>/<name>`` or an import path.

    Returns a :class:`Suite`; a plugin whose entry point gives a Suite object of its own (a
    verticalize.strategies.Suite) gets that object back.
    """
    from verticalize.data.pipeline import load_pack_split, with_system_prompt
    from verticalize.packs import load_domain, resolve_ref

    r = resolve_ref("suite", ref)
    assert r is not None
    if r.obj is not None:
        return r.obj
    assert r.path is not None
    if not r.is_pack:
        default = r.name if r.plugin is not None else r.path.parent.name if r.path.name == "suite.yaml" else r.path.stem
        return _suite_file(r.path, None, default)
    pack = load_domain(r.path)
    f = pack.suite_path()
    if f is not None:
        return _suite_file(f, pack, pack.name)
    examples, _ = load_pack_split(pack, "eval")
    if not examples:
        raise DataError(f"domain {pack.name!r} has no eval data (eval: in {pack.dir / 'domain.yaml'}) and no "
                        "suite.yaml")
    examples = with_system_prompt(examples, pack)
    _check(examples, str(pack.dir))
    return Suite(pack.name, tuple(examples), pack.pot, "retention" if pack.name == "general" else "domain")


def _suite_file(p: Path, pack: Any, default_name: str) -> Suite:
    from verticalize.data.pipeline import load_source, with_system_prompt
    from verticalize.packs import read_suite_spec
    from verticalize.recipe import DataSpec

    spec = read_suite_spec(p)
    examples: list[dict[str, Any]] = []
    for entry in spec.data:
        ex, _ = load_source(DataSpec(**entry.model_dump(exclude_unset=True)), base_dir=p.parent)
        examples += ex
    if not examples:
        raise DataError(f"{p}: the suite has no examples (data: is empty)")
    sp = spec.system_prompt
    if sp == "pack" and pack is not None:
        examples = with_system_prompt(examples, pack)
    elif sp == "pack":
        raise DataError(f"{p}: system_prompt: 'pack' takes the prompt of the pack the suite belongs to, but this "
                        "suite file is not a pack's; give the prompt itself (a string or language -> prompt)")
    elif sp:
        prompts = sp if isinstance(sp, dict) else None
        examples = [{**e, "messages": [{"role": "system", "content": prompts.get(e.get("lang"), next(iter(prompts.values())))
                                        if prompts else str(sp)}, *e["messages"]]} for e in examples]
    _check(examples, str(p))
    pot = spec.pot if spec.pot is not None else (pack.pot if pack is not None else False)
    return Suite(spec.name or default_name, tuple(examples), pot, spec.role)
