"""Every plug-in point of verticalize, as a :class:`typing.Protocol` with its contract.

A run composes strategies: where examples come from (:class:`DataSource`), what cleans them
(:class:`Step`), how replay data joins the domain data (:class:`Mixer`), which weights train
(:class:`Method`), how one training kind runs (:class:`Stage`), what scores sampled answers in
reinforcement learning (:class:`Reward`), what runs model-written programs
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

from verticalize.recipe.refs import build, check_ref, ref_of  # objects <-> recipe refs

__all__ = [
    "ref_of", "build", "check_ref",
    "DataSource", "Step", "Mixer", "Method", "MethodContext", "Stage", "StageContext", "StageResult", "Reward", "Executor",
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

    - ``kind``: a short name (``sft``, ``cpt``, ``dpo``, ``grpo``, ``kto``, yours) for stage dirs and reports.
    - ``examples``: which examples it trains on -- ``"chat"`` (``messages``), ``"text"`` (raw text,
      continued pre-training), ``"preference"`` (``prompt``/``chosen``/``rejected``), ``"prompt"`` (``prompt``
      without its answer, plus ``answer``, ``kind``, ``choices``...: reinforcement learning) or ``"feedback"``
      (``prompt``/``completion``/``label`` rows, and preference pairs: KTO).
    - ``seed``: seeded just before the stage builds new weights.
    - ``train(ctx)`` -> :class:`StageResult`: set up (tokenize, build the trainer), train, and say how
      to save. Pass ``ctx.callbacks`` to the trainer: they carry progress, checkpoint markers and
      the user's callbacks.
    """

    kind: str
    examples: str
    seed: int

    def train(self, ctx: StageContext) -> StageResult: ...


@runtime_checkable
class Reward(Protocol):
    """Scores sampled answers for reinforcement learning (a ``grpo`` stage's ``rewards``): TRL's reward
    function signature, so a plain function is a Reward too.

    - ``__call__(prompts, completions, **columns)`` -> one float per completion (higher is better), or
      None for a completion it does not judge (that reward is then left out for it). ``completions`` are
      the answers sampled for ``prompts`` (chat form: ``[{"role": "assistant", "content": ...}]``);
      ``columns`` hold the example's other columns, one value per completion -- ``answer`` (the gold answer,
      as text), ``kind`` (numeric, mc, mc_multi, classification, generation), ``choices``, ``labels``,
      ``task``, ``lang``, ``id``, ``pot`` (the prompt asks for a PoT program), ``reference`` (the data's own
      answer) -- and TRL's ``trainer_state``, ``completion_ids``...: accept ``**kwargs``.
    - ``kinds`` (optional): the example kinds it judges; a stage trains only on examples some reward
      judges (no ``kinds``: every example).
    - ``name`` (optional): how logs name it (``rewards/<name>/mean``); default its class or function name.
    - ``close()`` (optional): called when the stage ends (release worker processes).
    """

    def __call__(self, prompts: list[Any], completions: list[Any], **columns: Any) -> list[float | None]: ...


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
    "method": Method, "train": Stage, "train.rewards": Reward, "pot.executor": Executor, "eval.suites": Task, "callbacks": object,
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
