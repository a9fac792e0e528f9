"""Every plug-in point of verticalize, as a :class:`typing.Protocol` with its contract.

A run composes strategies: where examples come from (:class:`DataSource`), what cleans them
(:class:`Step`), how replay data joins the domain data (:class:`Mixer`), which weights train
(:class:`Method`), how one training kind runs (:class:`Stage`), what runs model-written programs
(:class:`Executor`), what scores the model (:class:`Task`, grouped by a :class:`Suite`) and who
hears about progress (:class:`Reporter`). The built-ins implement these Protocols; so can any
object of yours -- structurally: no base class, no import of verticalize needed. Hand the
object to the :class:`~verticalize.Adapter` (``.with_data(obj)``, ``.clean(steps=[obj])``...), or
name it in a recipe by import path, ``{target: "pkg.module:Name", args: {...}}``.

Each Protocol has a test double here (:class:`FakeExecutor`, :class:`RecordingReporter`) for tests
that need the seam but not the real thing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, runtime_checkable

__all__ = [
    "DataSource", "Step", "Mixer", "Method", "MethodContext", "Stage", "StageContext", "StageResult", "Executor",
    "ExecResult", "Task", "Suite", "LanguageModel", "Reporter", "PROTOCOLS",
    "ExamplesSource", "DatasetSource", "FakeExecutor", "RecordingReporter", "PrintReporter",
]

Example = dict[str, Any]


# ---- data -----------------------------------------------------------------------------------
@runtime_checkable
class DataSource(Protocol):
    """Where examples come from.

    - ``__iter__()`` yields one dict per example: rows of any format verticalize reads (alpaca,
      sharegpt, messages, text, prompt_completion, preference; detected from the keys like a file's
      rows, or fixed by ``with_data(obj, format=...)``). Iterating again yields the same rows.
    - ``provenance`` (a dict): where the rows come from, for the run's manifest (e.g. ``{"source":
      "s3://bucket/x", "license": "cc-by-4.0"}``).
    - ``fingerprint()`` -> str: changes whenever the rows would; resume and locks compare it.
    """

    provenance: dict[str, Any]

    def __iter__(self) -> Iterator[Example]: ...

    def fingerprint(self) -> str: ...


@runtime_checkable
class Step(Protocol):
    """A cleaning, filtering or transforming step over batches of examples.

    - ``name``: how the manifest names the step.
    - ``__call__(batch)`` -> the examples to keep, possibly changed (a filter drops, a map changes, an
      augmenter adds). Called on consecutive batches of one pass over the data, in order; a step may
      keep state across batches (a dedup step remembers what it saw). Examples are dicts in
      verticalize's form: ``messages`` (chat), ``text`` (raw) or ``prompt``/``chosen``/``rejected``,
      plus ``id``, ``lang``, ``task``... Do not mutate the dicts you are given: return new ones.
    - ``counts()`` -> dict of int: what the step did beyond in and out (``{"redacted": 12}``);
      the pipeline counts examples in and out itself.
    """

    name: str

    def __call__(self, batch: list[Example]) -> list[Example]: ...

    def counts(self) -> dict[str, int]: ...


@runtime_checkable
class Mixer(Protocol):
    """Joins the cleaned domain examples and the replay (general) examples into one training stream.

    ``mix(domain, replay, *, seed, length)`` -> ``(examples, report)``: ``length(example)`` counts an
    example's tokens (for token-based ratios); ``report`` is a dict for the manifest. The result is
    the training order (the trainer still shuffles per epoch); use ``seed`` for any randomness.
    """

    def mix(self, domain: list[Example], replay: list[Example], *, seed: int,
            length: Callable[[Example], int] | None) -> tuple[list[Example], dict[str, Any]]: ...


# ---- training -------------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodContext:
    """What a Method may use to build its configs."""

    target_modules: list[str] | str   # the model family's projection modules ("all-linear" if unknown)
    device: str                       # "cuda" | "mps" | "cpu"
    compute_dtype: Any                # torch dtype the base is loaded in
    tie_embeddings: bool = False      # the base ties input and output embeddings
    extra_modules: list[str] | None = None  # modules a stage asks to train in full (train_embeddings)


@runtime_checkable
class Method(Protocol):
    """Which weights train, and how the frozen ones are stored.

    - ``kind``: a short name for reports and run dirs (``lora``, ``qlora``, ``full``, yours).
    - ``peft_config(ctx)`` -> a ``peft.PeftConfig`` wrapping the base (LoRA, DoRA, IA3...), or None
      to train every weight (full fine-tuning).
    - ``quantization_config(ctx)`` -> a transformers quantization config (bitsandbytes...) for
      loading the frozen base, or None.
    """

    kind: str

    def peft_config(self, ctx: MethodContext) -> Any: ...

    def quantization_config(self, ctx: MethodContext) -> Any: ...


@dataclass
class StageContext:
    """Everything one training stage gets from the run."""

    model: Any                      # transformers model (a PeftModel after an earlier adapter stage)
    tokenizer: Any
    examples: list[Example]         # the stage's examples (see Stage.examples), cleaned and mixed
    output_dir: Path                # checkpoints go under output_dir / "checkpoints"
    peft_config: Any                # wrap the model with this (None: already wrapped, or full)
    device: Any                     # verticalize.train.Device: kind, bf16, count
    callbacks: list[Any]            # transformers TrainerCallbacks: pass them all to your Trainer
    resume_from: Path | None = None  # a complete checkpoint to continue from
    method: Any = None              # the recipe's method spec (or your Method object)


@dataclass
class StageResult:
    """What a stage hands back: the trained model, its metrics and log, and how to save it."""

    model: Any
    metrics: dict[str, Any] = field(default_factory=dict)
    log_history: list[dict[str, Any]] = field(default_factory=list)
    save: Callable[[Path], None] | None = None  # save the weights to a dir (None: model.save_pretrained)
    sharded: bool = False  # weights live across ranks (FSDP / ZeRO-3): evaluate the saved ones


@runtime_checkable
class Stage(Protocol):
    """One training kind.

    - ``kind``: a short name (``sft``, ``cpt``, ``dpo``, yours) for stage dirs and reports.
    - ``examples``: which examples it trains on -- ``"chat"`` (``messages``), ``"text"`` (raw text,
      continued pre-training) or ``"preference"`` (``prompt``/``chosen``/``rejected``).
    - ``seed``: seeded just before the stage builds new weights.
    - ``train(ctx)`` -> :class:`StageResult`: set up (tokenize, build the trainer), train, and say how
      to save. Pass ``ctx.callbacks`` to the trainer: they carry progress, checkpoint markers and
      the user's callbacks.
    """

    kind: str
    examples: str
    seed: int

    def train(self, ctx: StageContext) -> StageResult: ...


# ---- PoT ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExecResult:
    """One program's outcome. ``status``: ok | error | timeout | memory | denied."""

    status: str
    answer: Any = None
    stdout: str = ""
    error: str = ""
    duration_s: float = 0.0


@runtime_checkable
class Executor(Protocol):
    """Runs model-written programs (Program-of-Thoughts) and says what each one computed.

    - ``run(program)`` -> a result with ``status`` (ok | error | timeout | memory | denied) and
      ``answer`` (the value bound to ``answer``, else the last printed line). A failing program is a
      result, never an exception; raise only when the executor itself broke.
    - ``run_many(programs)`` -> results in the same order.
    - ``close()``: release workers; the executor is not used afterwards.
    """

    def run(self, program: str) -> Any: ...

    def run_many(self, programs: list[str]) -> list[Any]: ...

    def close(self) -> None: ...


# ---- evaluation -----------------------------------------------------------------------------
@runtime_checkable
class LanguageModel(Protocol):
    """The model as a Task sees it (verticalize hands one over; batching is done for you)."""

    def chat_prompt(self, messages: list[dict[str, str]]) -> str: ...

    def generate(self, prompts: list[str], **generation: Any) -> list[str]: ...

    def loglikelihood(self, pairs: list[tuple[str, str]]) -> list[float]: ...


@runtime_checkable
class Task(Protocol):
    """An evaluation task: examples -> predictions -> scores.

    - ``name``: the task's name in reports.
    - ``examples()`` -> the examples to score (dicts; ``id`` is shown in samples).
    - ``predict(lm, examples)`` -> one prediction per example, using the :class:`LanguageModel`.
    - ``score(examples, predictions)`` -> metrics, with the primary one under ``"score"`` (0..1,
      higher is better; reports average it).
    """

    name: str

    def examples(self) -> list[Example]: ...

    def predict(self, lm: LanguageModel, examples: list[Example]) -> list[Any]: ...

    def score(self, examples: list[Example], predictions: list[Any]) -> dict[str, float]: ...


@runtime_checkable
class Suite(Protocol):
    """A named group of tasks. ``role``: ``domain`` (should rise) or ``retention`` (general ability:
    its drop is forgetting). ``tasks()`` -> the Task objects."""

    name: str
    role: str

    def tasks(self) -> list[Task]: ...


# ---- reporting ------------------------------------------------------------------------------
@runtime_checkable
class Reporter(Protocol):
    """Hears about a run: progress messages, training metrics, evaluation scores.

    - ``message(text)``: a line of progress (``[verticalize] ...``).
    - ``metrics(values, *, step, stage)``: one logging step of training (``loss``, ``learning_rate``...).
    - ``scores(report)``: the evaluation report's dict (before/after, gain, forgetting).
    - ``close()``: the run ended (flush, finish a tracking run).
    """

    def message(self, text: str) -> None: ...

    def metrics(self, values: dict[str, float], *, step: int, stage: str) -> None: ...

    def scores(self, report: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


#: recipe keys holding strategy refs -> the Protocol their objects satisfy
PROTOCOLS: dict[str, type] = {
    "data.source": DataSource, "clean.steps": Step, "replay.source": DataSource, "replay.mixer": Mixer,
    "method": Method, "train": Stage, "pot.executor": Executor, "eval.suites": Task, "callbacks": object,
    "reporters": Reporter,
}


# ---- built-in sources and test doubles ------------------------------------------------------
class ExamplesSource:
    """A DataSource over rows held in memory (a list of dicts, or any iterable: read once, kept)."""

    def __init__(self, examples: Iterable[Example], name: str = "examples"):
        self.examples = [dict(x) for x in examples]
        self.name = name

    @property
    def provenance(self) -> dict[str, Any]:
        return {"source": f"<{self.name}: {len(self.examples)} rows in memory>"}

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    def fingerprint(self) -> str:
        blob = json.dumps(self.examples, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()


class DatasetSource:
    """A DataSource over a ``datasets.Dataset`` (its rows, its own fingerprint)."""

    def __init__(self, dataset: Any):
        self.dataset = dataset

    @property
    def provenance(self) -> dict[str, Any]:
        info = getattr(self.dataset, "info", None)
        return {"source": f"<datasets.Dataset: {len(self.dataset)} rows>",
                "description": getattr(info, "description", "") or "", "license": getattr(info, "license", "") or ""}

    def __iter__(self) -> Iterator[Example]:
        return iter(self.dataset)

    def fingerprint(self) -> str:
        fp = getattr(self.dataset, "_fingerprint", None)
        return str(fp) if fp else ExamplesSource(self.dataset).fingerprint()


class FakeExecutor:
    """An Executor that runs nothing: answers come from ``answers`` (program text -> answer) or
    ``default``; every program is recorded in ``programs``. For evaluation tests that need PoT
    scoring but no sandbox worker processes."""

    def __init__(self, answers: dict[str, Any] | None = None, default: Any = None, status: str = "ok"):
        self.answers = dict(answers or {})
        self.default = default
        self.status = status
        self.programs: list[str] = []
        self.closed = False

    def run(self, program: str) -> ExecResult:
        self.programs.append(program)
        return ExecResult(status=self.status, answer=self.answers.get(program, self.default))

    def run_many(self, programs: list[str]) -> list[ExecResult]:
        return [self.run(p) for p in programs]

    def close(self) -> None:
        self.closed = True


class RecordingReporter:
    """A Reporter that keeps everything it hears (``messages``, ``metric_rows``, ``reports``)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.metric_rows: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.closed = False

    def message(self, text: str) -> None:
        self.messages.append(text)

    def metrics(self, values: dict[str, float], *, step: int, stage: str) -> None:
        self.metric_rows.append({"step": step, "stage": stage, **values})

    def scores(self, report: dict[str, Any]) -> None:
        self.reports.append(report)

    def close(self) -> None:
        self.closed = True


class PrintReporter:
    """The default Reporter: progress lines on stdout (``quiet`` silences them)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    def message(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    def metrics(self, values: dict[str, float], *, step: int, stage: str) -> None:
        pass  # the progress bar shows training metrics

    def scores(self, report: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


# ---- objects <-> recipe refs ----------------------------------------------------------------
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

    from verticalize.recipe.schema import StrategyRef

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
            problems.append(f"{what}: {ref.target} is not a {protocol.__name__}: it has no "
                            + ", ".join(f"{m}()" for m in missing) + f" (see verticalize.strategies.{protocol.__name__})")
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
