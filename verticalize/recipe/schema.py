"""The recipe schema: frozen pydantic models (no file IO but ``to_yaml``).

A recipe is only data. It is the single source for the YAML keys, the Adapter's keyword
arguments and the CLI's ``--set`` paths. ``extra="forbid"`` everywhere: a misspelt key is an
error that names the key path, the file and line, and the closest valid name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag, field_validator,
                      model_serializer, model_validator)


__all__ = ["Recipe", "StrategyRef", "BenchmarkSuiteSpec", "BaseSpec", "DataSpec", "CleanSpec", "ReplaySpec", "MixSpec", "ProcessingSpec", "LoraSpec", "QLoraSpec",
           "FullSpec", "SFTSpec", "CPTSpec", "DPOSpec", "GRPOSpec", "KTOSpec", "REWARDS", "WatchSpec", "PotSpec", "GenerationSpec", "EvalSpec",
           "DATA_FORMATS"]

DATA_FORMATS = ("auto", "alpaca", "sharegpt", "messages", "text", "prompt_completion", "preference", "kto")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class StrategyRef(_Spec):
    """A strategy object named by import path: ``{target: "pkg.module:Name", args: {...}}``.

    ``Name`` is a class (called with ``args``), or a function or ready object used as it is (no ``args``). In
    YAML that is all there is; refs built from a live Python object (``Adapter.with_data(obj)``...)
    also carry the object itself, so objects without an import path (a local class, a lambda, a
    dataset in memory) work in Python; only ``to_yaml`` then fails, naming the object.
    """

    target: str = Field(..., pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
                        description="Import path 'pkg.module:Name' of a class, function or object.")
    args: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the class or function.")
    _obj: Any = PrivateAttr(None)
    _why_not: str | None = PrivateAttr(None)  # why this live object cannot be written to YAML

    @property
    def obj(self) -> Any:
        """The live object this ref was made from (None for refs read from YAML)."""
        return self._obj

    @property
    def portable(self) -> str | None:
        """None when the ref can be written to YAML and rebuilt elsewhere; else the reason."""
        return self._why_not

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StrategyRef):
            return NotImplemented
        if self._why_not or other._why_not:  # an object with no import path equals only itself
            return self._obj is other._obj
        return (self.target, self.args) == (other.target, other.args)

    def __hash__(self) -> int:
        return hash(self.target)

    @model_serializer(mode="plain")
    def _serialize(self) -> dict[str, Any]:
        return {"target": self.target, "args": _jsonable(self.args)}

    @property
    def label(self) -> str:
        """How progress lines name the object: its own ``name``, else :attr:`kind`."""
        return str(getattr(self._obj, "name", "") or self.kind)

    @property
    def kind(self) -> str:
        """A short name for reports: the object's own ``kind``, else its class or function name."""
        return str(getattr(self._obj, "kind", "") or self.target.rsplit(":", 1)[-1].rsplit(".", 1)[-1])


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return f"<{type(v).__module__}.{type(v).__qualname__} object>"


def _walk_refs(v: Any, key: str) -> Any:
    if isinstance(v, StrategyRef):
        yield key, v
    elif isinstance(v, BaseModel):
        for name in type(v).model_fields:
            yield from _walk_refs(getattr(v, name), f"{key}.{name}" if key else name)
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            yield from _walk_refs(x, f"{key}[{i}]")


def _keep_refs(v: Any) -> Any:
    if isinstance(v, StrategyRef):
        return v
    if isinstance(v, BaseModel):
        return {name: _keep_refs(getattr(v, name)) for name in type(v).model_fields}
    if isinstance(v, (list, tuple)):
        return [_keep_refs(x) for x in v]
    if isinstance(v, dict):
        return {k: _keep_refs(x) for k, x in v.items()}
    return v


def _ref_or(v: Any) -> str:
    return "ref" if isinstance(v, StrategyRef) or (isinstance(v, dict) and "target" in v) else "spec"


class BaseSpec(_Spec):
    """Which base model to adapt and where it comes from."""

    model: str = Field("tiny", description="Alias (see `verticalize ls models`), HF id, 'modelscope:<id>' or a local dir.")
    source: Literal["auto", "hf", "modelscope", "local", "offline"] = Field(
        "auto", description="Where to load from; auto: offline alias, local dir, 'modelscope:' prefix, else the HF hub."
    )
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    trust_remote_code: bool | None = Field(None, description="None: take the alias registry's value (False if unknown).")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights dtype; auto: bf16 on a bf16-capable GPU, else float32."
    )
    attn_implementation: Literal["auto", "eager", "sdpa", "flash_attention_2", "flash_attention_3",
                                 "flex_attention"] = Field(
        "auto", description="Attention kernel (transformers' attn_implementation); auto: transformers' default (sdpa "
        "where the model supports it). flash_attention_2/3 need a CUDA GPU and the flash-attn package.")


#: attention kernels that run only on CUDA, with the package each needs
FLASH_ATTENTION = {"flash_attention_2": "flash_attn", "flash_attention_3": "flash_attn_interface"}


class DataSpec(_Spec):
    """One dataset: a file, a local HF dataset dir, an HF hub id or 'modelscope:<id>' (``path``) -- or
    any DataSource object (``source``, see verticalize.strategies.DataSource)."""

    path: str | None = Field(None, description="jsonl/json/csv/tsv/txt/xlsx/parquet file, dataset dir, hub id or "
                             "'modelscope:<id>'.")
    source: StrategyRef | None = Field(None, description="A DataSource object instead of a path: {target, args}.")
    format: Literal["auto", "alpaca", "sharegpt", "messages", "text", "prompt_completion", "preference", "kto"] = Field(
        "auto", description="Example format; auto detects it from the columns (kto: prompt, completion and a "
        "true/false label -- thumbs up or down)."
    )
    split: str = Field("train", description="Split to read for hub ids and dataset dirs.")
    config: str | None = Field(None, description="Dataset config (subset) for hub ids, e.g. pqa_labeled; the sheet of "
                               "an .xlsx file (default: the first).")
    columns: dict[str, str] | None = Field(None, description="Rename columns before format conversion: {theirs: ours}.")
    preset: str | None = Field(
        None, description="A public benchmark's schema (finqa, fpb, fiqa_sa, medqa, pubmedqa, medmcqa, cmexam, "
        "casehold, legalbench, cmmlu, ceval, lawbench, mmlu): rows are mapped to verticalize examples with task, "
        "kind and answer."
    )
    layout: str | None = Field(
        None, description="The preset's file layout: original (the authors' release) or hub (the Hugging Face "
        "dataset), or another the preset lists; default: detected from the file type and columns.")
    encoding: str | None = Field(
        None, description="Text encoding of a jsonl/json/csv/tsv/txt file (utf-8, utf-8-sig, latin-1, gb18030, "
        "utf-16...); default: detected (BOM, UTF-8, then the preset's original encoding).")
    split_file: str | None = Field(
        None, description="With a preset: keep only the records whose ids this file names -- JSON {id: label} "
        "(PubMedQA test_ground_truth.json), a JSON list of ids, or one id per line.")
    weight: float = Field(1.0, gt=0, description="Relative weight when several domain datasets are mixed.")
    limit: int | None = Field(None, ge=1, description="Read at most this many examples.")
    on_error: Literal["raise", "skip"] = Field("raise", description="Bad rows: raise a DataError, or skip and count them.")

    @model_validator(mode="after")
    def _one_origin(self) -> DataSpec:
        if (self.path is None) == (self.source is None):
            raise ValueError("give exactly one of path (a file, dataset dir or hub id) and source (a DataSource)")
        if self.preset is None and (self.layout is not None or self.split_file is not None):
            raise ValueError(f"{'layout' if self.layout is not None else 'split_file'} needs a preset: "
                             "(the benchmark whose layout or split it names)")
        if self.path is None and (self.split_file is not None or self.encoding is not None):
            raise ValueError(f"{'split_file' if self.split_file is not None else 'encoding'} needs path: (a file), "
                             "not source:")
        return self

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str | None) -> str | None:
        import codecs

        if v is not None and v.strip().lower() != "auto":
            try:
                codecs.lookup(v.strip())
            except LookupError:
                raise ValueError(f"unknown encoding {v!r}; e.g. utf-8, utf-8-sig, latin-1, cp1252, gb18030, utf-16, "
                                 "or auto") from None
        return v

    @property
    def label(self) -> str:
        """The path, or the source's import path: how reports name this dataset."""
        return self.path if self.path is not None else self.source.target  # type: ignore[union-attr]


_EXECUTOR_KEYS = {  # what each kind of clean executor takes beyond kind, tasks, workers and work_dir
    "local": (),
    "slurm": ("cpus_per_task", "mem_per_cpu_gb", "partition", "time", "qos", "job_name", "env_command", "sbatch_args"),
    "ray": ("cpus_per_task", "mem_per_cpu_gb", "address"),
}


class CleanExecutorSpec(_Spec):
    """Where ``clean:`` runs when it runs on datatrove's executors: ``local`` processes, a Slurm
    cluster or a Ray cluster. The data is cut into ``tasks`` shards cleaned in parallel (PII,
    length, quality, MinHash signatures); one last task then drops exact and near duplicates over
    all shards, so the result equals the in-process cleaning."""

    kind: Literal["local", "slurm", "ray"] = Field(..., description="local: processes on this machine; slurm: "
                                                   "sbatch job arrays; ray: tasks on a Ray cluster.")
    tasks: int = Field(4, ge=1, description="Shards the data is cut into, one task each.")
    workers: int | None = Field(None, ge=1, description="Tasks running at once (None: local, one per core; slurm "
                                "and ray, all).")
    work_dir: str | None = Field(None, description="Folder for shards, logs and output, one run per subfolder; on a "
                                 "cluster a path every node sees (slurm: required). None: a temporary folder, "
                                 "removed after.")
    cpus_per_task: int = Field(1, ge=1, description="slurm, ray: CPUs per task.")
    mem_per_cpu_gb: float = Field(2, gt=0, description="slurm, ray: memory per CPU, in GB.")
    partition: str | None = Field(None, description="slurm: the partition (required).")
    time: str = Field("01:00:00", description="slurm: time limit per job, e.g. 01:00:00 or 2-00:00:00.")
    qos: str | None = Field(None, description="slurm: quality of service (None: the cluster's default).")
    job_name: str = Field("verticalize-clean", description="slurm: job name.")
    env_command: str | None = Field(None, description="slurm: command run before each job, e.g. 'source "
                                    "/shared/venv/bin/activate' (None: the submitting shell's environment).")
    sbatch_args: dict[str, str] = Field(default_factory=dict, description="slurm: more sbatch options, e.g. "
                                        "{account: nlp}.")
    address: str | None = Field(None, description="ray: the cluster's address (e.g. ray://head:10001 or auto); "
                                "None: the Ray this process already joined, else a local one.")

    @field_validator("time")
    @classmethod
    def _slurm_time(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"(\d+-\d+(:\d\d){0,2}|\d+(:\d\d){0,2})", v.strip()):
            raise ValueError(f"time {v!r} is not a Slurm time limit: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS")
        return v.strip()

    @model_validator(mode="after")
    def _settings_fit_kind(self) -> CleanExecutorSpec:
        own = _EXECUTOR_KEYS[self.kind]
        for key, f in type(self).model_fields.items():
            if key in ("kind", "tasks", "workers", "work_dir") or key in own:
                continue
            default = f.default_factory() if f.default_factory is not None else f.default
            if getattr(self, key) != default:
                users = [k for k, keys in _EXECUTOR_KEYS.items() if key in keys]
                raise ValueError(f"{key} is a {' and '.join(users)} setting; kind {self.kind} takes tasks, workers, "
                                 f"work_dir{''.join(', ' + k for k in own)}")
        if self.kind == "slurm" and self.mem_per_cpu_gb != int(self.mem_per_cpu_gb):
            raise ValueError(f"mem_per_cpu_gb {self.mem_per_cpu_gb}: slurm takes whole GB (sbatch --mem-per-cpu=NG)")
        if self.kind == "slurm" and (self.partition is None or self.work_dir is None):
            missing = "partition" if self.partition is None else "work_dir"
            raise ValueError(f"kind slurm needs {missing}: "
                             + ("the Slurm partition to submit to" if missing == "partition" else
                                "a folder every node sees (shards, logs and output go there)"))
        return self


class CleanSpec(_Spec):
    """Data engineering applied to domain data before mixing."""

    dedup: Literal["none", "exact", "near"] = Field("exact", description="Duplicate removal: exact (normalised text) "
                                                    "or near (exact, then MinHash LSH: see near_threshold).")
    near_threshold: float = Field(0.8, gt=0, lt=1, description="dedup: near -- an example is a near duplicate of an "
                                  "earlier kept one when the Jaccard similarity of their character 5-gram sets "
                                  "(estimated by MinHash) is at least this; 0.8 catches a changed word or sentence in "
                                  "a paragraph.")
    num_perm: int = Field(128, ge=16, le=1024, description="dedup: near -- MinHash permutations per example (more: "
                          "a closer similarity estimate, slower).")
    pii: Literal["keep", "redact"] = Field("keep", description="redact: replace phones, emails, IDs, bank cards.")
    min_length: int = Field(1, ge=0, description="Drop examples shorter than this many characters.")
    quality: bool = Field(True, description="Drop examples with an empty response or degenerate repetition.")
    max_length: int | None = Field(None, ge=1, description="Drop examples longer than this many characters.")
    languages: list[str] | None = Field(None, description="Keep only examples in these languages, e.g. [en].")
    tasks: list[str] | None = Field(None, description="Keep only examples of these tasks (see the pack's tasks).")
    steps: list[StrategyRef] = Field(
        default_factory=list, description="Your own Step objects ({target, args}), run in order after the built-in "
        "cleaning above (select, quality, PII, length, dedup).")
    executor: CleanExecutorSpec | None = Field(
        None, description="Run the cleaning above on datatrove's executors: local | slurm | ray, or {kind, tasks, "
        "workers, work_dir, ...settings}; None: in this process.")

    @field_validator("executor", mode="before")
    @classmethod
    def _executor_shorthand(cls, v: Any) -> Any:
        return {"kind": v} if isinstance(v, str) else v


class ProcessingSpec(_Spec):
    """How the data is built: in Python lists, or on Arrow (``datasets``): memory-mapped, cached by
    fingerprint, in parallel processes, or streamed for corpora larger than RAM."""

    engine: Literal["auto", "python", "arrow"] = Field(
        "auto", description="arrow: datasets (memory-mapped, cached, num_proc); python: lists in memory; auto: arrow "
        "when the data files hold 64 MiB or more, or streaming is on.")
    num_proc: int | None = Field(None, ge=1, description="Processes for reading and cleaning (None: one per core, up "
                                 "to 8, for large data).")
    streaming: bool = Field(False, description="Stream the data (datasets.IterableDataset) instead of building it: "
                            "for cpt corpora larger than RAM; needs train.max_steps.")
    cache: bool = Field(True, description="Reuse the built data when sources and recipe are unchanged (arrow engine).")
    cache_dir: str | None = Field(None, description="Where built data is cached (default: $VERTICALIZE_CACHE/"
                                  "datasets, ~/.cache/verticalize/datasets).")


class MixSpec(_Spec):
    """How several domain datasets (the pack's and ``data:``) are combined, by their ``weight``."""

    strategy: Literal["concat", "interleave_first", "interleave_all"] = Field(
        "concat", description="concat (weights scale each set), or interleave until the first / all are exhausted."
    )


class ReplaySpec(_Spec):
    """Mix general data into the domain data against catastrophic forgetting."""

    source: str | StrategyRef = Field(
        "general", description="Domain pack or data path supplying the general data, or a DataSource {target, args}.")
    ratio: float = Field(0.2, ge=0.0, lt=1.0, description="Share of general data in the final mix.")
    by: Literal["examples", "tokens"] = Field("examples", description="What the ratio counts.")
    mixer: StrategyRef | None = Field(
        None, description="A Mixer object ({target, args}) replacing the built-in ratio mix of domain and replay data.")

    @property
    def source_label(self) -> str:
        return self.source if isinstance(self.source, str) else self.source.target


class _LoraKeys(_Spec):
    """Keys LoRA and QLoRA share (kind first, so it leads in YAML)."""

    kind: str
    r: int = Field(16, ge=1, description="LoRA rank.")
    alpha: int = Field(32, ge=1, description="LoRA alpha (scaling = alpha / r; alpha / sqrt(r) with use_rslora).")
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: Literal["auto", "all-linear"] | list[str] = Field(
        "auto", description="auto: the model family's attention+MLP projections."
    )
    modules_to_save: list[str] | None = Field(None, description="Extra modules trained in full, e.g. [lm_head].")
    use_dora: bool = Field(False, description="DoRA: weight-decomposed LoRA (magnitude and direction).")
    use_rslora: bool = Field(False, description="rsLoRA: scale by alpha / sqrt(r), stable at high ranks.")
    init: Literal["default", "gaussian", "pissa", "olora", "loftq", "eva"] = Field(
        "default", description="LoRA weight init: default (B = 0), gaussian, pissa / olora (from the base's "
        "singular vectors / QR), loftq (quantization-aware; kind lora only), eva (A from the SVD of each layer's "
        "inputs on the first training batches, ranks redistributed; kind lora only).")
    loraplus_lr_ratio: float | None = Field(
        None, gt=0, description="LoRA+: B matrices learn this many times faster than A (16 in the paper).")
    layers: list[int] | None = Field(
        None, description="Adapt only these decoder layers (indices); None: every layer.")


class LoraSpec(_LoraKeys):
    kind: Literal["lora"] = "lora"


class QLoraSpec(_LoraKeys):
    kind: Literal["qlora"] = "qlora"
    bits: Literal[4, 8] = Field(4, description="bitsandbytes quantization of the frozen base.")
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True

    @model_validator(mode="after")
    def _init_fits(self) -> QLoraSpec:
        if self.init == "eva":
            raise ValueError("init 'eva' runs its SVD on the model before the trainer prepares it, which is right for "
                             "kind: lora only (not a quantized base): use kind: lora, or init: default | gaussian")
        if self.init in ("pissa", "olora", "loftq"):
            raise ValueError(f"init {self.init!r} needs the base's full-precision weights, which QLoRA quantizes away: "
                             + ("use kind: lora with init: loftq (LoftQ quantizes the base itself)" if self.init == "loftq"
                                else "use kind: lora, or init: default | gaussian"))
        return self


class FullSpec(_Spec):
    kind: Literal["full"] = "full"
    trainable: list[str] | None = Field(
        None, description="Train only parameters whose name matches one of these glob patterns (e.g. "
        "'model.layers.2[0-9].*'); the rest stay frozen. None: every weight trains.")


Method = Annotated[
    Union[Annotated[Annotated[Union[LoraSpec, QLoraSpec, FullSpec], Field(discriminator="kind")], Tag("spec")],
          Annotated[StrategyRef, Tag("ref")]],
    Discriminator(_ref_or),
]


class WatchSpec(_Spec):
    """Forgetting watched while training: every ``eval_steps`` the model is scored on a fixed, seeded
    subset of the eval suites (domain and retention); the stage keeps the checkpoint with the largest
    domain gain whose forgetting stays within ``tolerance``, and may stop early."""

    eval_steps: int = Field(50, ge=1, description="Score the model every this many optimizer steps (and at the "
                            "last step).")
    max_examples: int = Field(32, ge=1, description="Examples per suite at each check: a fixed subset (seeded, "
                              "spread over tasks), the same at every check and for the baseline.")
    tolerance: float = Field(0.02, ge=0.0, le=1.0, description="Largest forgetting (drop of a retention suite's "
                             "score from the base model's) a selected checkpoint may have.")
    select: Literal["best", "last"] = Field(
        "best", description="best: the weights of the check with the largest domain gain within tolerance become "
        "the stage's result; last: the final weights (the curves are still recorded).")
    early_stop_patience: int | None = Field(
        None, ge=1, description="Stop training after this many checks in a row bring no new best; None: never.")


class _TrainSpec(_Spec):
    """Optimisation keys every training kind shares (kind first, so it leads in YAML)."""

    kind: str
    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, ge=1, description="Overrides epochs when set.")
    lr: float = Field(2e-4, gt=0, description="Peak learning rate.")
    batch_size: int = Field(4, ge=1, description="Per-device batch size.")
    grad_accum: int = Field(4, ge=1, description="Gradient accumulation steps.")
    max_length: int = Field(2048, ge=8, description="Token length of one training sequence.")
    scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = 42
    save_steps: int = Field(200, ge=1, description="Checkpoint every this many optimizer steps (resume point).")
    logging_steps: int = Field(5, ge=1)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field("auto", description="auto: bf16 on capable GPUs, fp32 on CPU.")
    gradient_checkpointing: Literal["auto"] | bool = Field("auto", description="auto: on for GPUs, off on CPU.")
    optim: Literal["adamw_torch", "adamw_torch_fused", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit",
                   "adafactor", "sgd"] = Field(
        "adamw_torch_fused", description="Optimizer (transformers' default; the 8-bit and paged ones are "
        "bitsandbytes', for GPUs).")
    use_liger_kernel: bool = Field(False, description="Liger's fused Triton kernels (GPU; pip install liger-kernel).")
    report_to: list[Literal["tensorboard", "wandb", "mlflow", "trackio"]] = Field(
        default_factory=list, description="Experiment trackers the trainer logs to (their own packages and "
        "settings, e.g. WANDB_PROJECT); logs go under the stage's dir (tensorboard: <run>/runs).")
    keep_checkpoints: int = Field(
        1, ge=0, description="Checkpoints kept in the finished run dir (the newest ones); 0: none.")
    watch: WatchSpec | None = Field(
        None, description="Watch domain gain and forgetting while training and keep the best checkpoint "
        "({eval_steps, max_examples, tolerance, select, early_stop_patience}; true: the defaults; a number: "
        "eval_steps); None: off.")

    @field_validator("watch", mode="before")
    @classmethod
    def _watch_shorthand(cls, v: Any) -> Any:
        if v is True:
            return {}
        if v is False:
            return None
        if isinstance(v, int):
            return {"eval_steps": v}
        return v


class SFTSpec(_TrainSpec):
    """Supervised fine-tuning through TRL's SFTTrainer, on the chat examples of the data."""

    kind: Literal["sft"] = "sft"
    packing: Literal["auto"] | bool = Field(
        "auto", description="Pack examples into full sequences (padding-free BFD); auto: on GPUs, off on CPU."
    )
    assistant_only_loss: bool = Field(True, description="Train only on assistant tokens.")
    loss_kernel: Literal["auto", "chunked", "logits"] = Field(
        "auto", description="How the loss is computed: chunked (TRL's fused, chunked log-prob kernel: never holds the "
        "full logits, bit-identical to a TRL SFTTrainer), logits (the logits' cross-entropy as transformers' Trainer and "
        "LLaMA-Factory compute it, with the LM head run on the learned tokens only for Llama, Qwen, Mistral and Phi-3 "
        "models: faster on CPUs); auto: chunked on GPUs, logits on CPUs.")
    cpt_ratio: float | None = Field(
        None, gt=0, lt=1, description="Mixed stage: also train on raw domain text (what a cpt stage would read: the "
        "pack's corpus, text-format data) in the same pass, cut into windows of max_length; this share of the "
        "stage's trained tokens comes from it (exact to one window; the manifest reports cpt_ratio_tokens). "
        "None: chats only.")


class CPTSpec(_TrainSpec):
    """Continued pre-training on raw text (the pack's corpus and text-format data): long documents are
    cut into overlapping windows, never truncated."""

    kind: Literal["cpt"] = "cpt"
    lr: float = Field(5e-5, gt=0, description="Peak learning rate (lower than SFT: CPT moves the whole distribution).")
    max_length: int = Field(1024, ge=8, description="Window length in tokens.")
    overlap: int = Field(128, ge=0, description="Tokens shared by consecutive windows of one document (context only).")
    packing: Literal["auto"] | bool = Field(
        "auto", description="Pack windows into full rows; auto: padding-free BFD on GPUs, grouped rows on CPU."
    )
    loss_kernel: Literal["auto", "chunked", "logits"] = Field(
        "auto", description="How the loss is computed: chunked (TRL's fused, chunked log-prob kernel: never holds the "
        "full logits, bit-identical to a TRL SFTTrainer), logits (the logits' cross-entropy as transformers' Trainer and "
        "LLaMA-Factory compute it, with the LM head run on the learned tokens only for Llama, Qwen, Mistral and Phi-3 "
        "models: faster on CPUs); auto: chunked on GPUs, logits on CPUs.")
    train_embeddings: bool = Field(
        False, description="Also train embed_tokens and lm_head (LoRA/QLoRA: as modules_to_save) for new vocabulary use."
    )
    reading_comprehension: bool = Field(
        False, description="Append reading-comprehension tasks mined from each document (title/summary, definitions, "
        "word-to-text, completion, NLI, cause-effect, conditionals, statute QA; en and zh; AdaptLLM-style) to its text."
    )

    @model_validator(mode="after")
    def _overlap_fits(self) -> CPTSpec:
        if self.overlap >= self.max_length:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than max_length ({self.max_length})")
        return self


class DPOSpec(_TrainSpec):
    """Direct preference optimisation through TRL's DPOTrainer, on the preference examples of the data."""

    kind: Literal["dpo"] = "dpo"
    lr: float = Field(5e-6, gt=0, description="Peak learning rate (DPO wants it low; LoRA runs often use 5e-5).")
    max_length: int = Field(1024, ge=8, description="Token length of prompt + response.")
    beta: float = Field(0.1, gt=0, description="Strength of the pull towards the reference model.")
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust", "apo_zero", "apo_down", "sppo_hard", "nca_pair"] = Field(
        "sigmoid", description="sigmoid: the DPO paper's loss; ipo, hinge, robust ... are TRL's variants."
    )
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5, description="cDPO / robust DPO: assumed label noise.")


#: built-in GRPO rewards (verticalize.train.rewards): numeric answers by the PoT program or the last number,
#: multiple-choice letters, the answer's format
REWARDS = ("pot_answer", "numeric_answer", "choice_match", "format")


def _reward_entry(v: Any) -> str:
    return "name" if isinstance(v, str) else "ref"


class GRPOSpec(_TrainSpec):
    """Reinforcement learning with verifiable rewards through TRL's GRPOTrainer: for each prompt of the data
    (its chat examples without their answer) the model samples ``num_generations`` answers, the rewards score
    them against the gold ``answer``, and answers better than their group's mean are reinforced."""

    kind: Literal["grpo"] = "grpo"
    lr: float = Field(1e-5, gt=0, description="Peak learning rate (RL wants it low; TRL's full-weight default is "
                      "1e-6).")
    batch_size: int = Field(4, ge=1, description="Completions per device and micro-batch (num_generations of them "
                            "share a prompt).")
    max_length: int = Field(1024, ge=8, description="Token length of the longest prompt kept (longer ones are "
                            "dropped and counted).")
    num_generations: int = Field(4, ge=2, description="Answers sampled per prompt (a group); batch_size x grad_accum "
                                 "must be a multiple of it.")
    max_completion_length: int = Field(256, ge=1, description="Token length of a sampled answer.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the answers.")
    top_p: float = Field(1.0, gt=0, le=1.0, description="Nucleus sampling of the answers.")
    beta: float = Field(0.0, ge=0, description="KL pull towards the reference policy; 0: none and no reference "
                        "model (TRL's default; DeepSeek-R1 used 0.001).")
    epsilon: float = Field(0.2, gt=0, description="Clipping of the policy ratio.")
    num_iterations: int = Field(1, ge=1, description="Optimisation passes over each generated batch.")
    loss_type: Literal["dapo", "grpo", "dr_grpo", "bnpo", "cispo", "sapo"] = Field(
        "dapo", description="TRL's loss aggregation: dapo (tokens of the accumulated batch), grpo (per sequence, "
        "length-biased), dr_grpo, bnpo, cispo, sapo.")
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group", description="Divide advantages by the reward std of the group, of the batch, or not (Dr. GRPO).")
    mask_truncated_completions: bool = Field(False, description="Leave answers cut at max_completion_length out of "
                                             "the loss (DAPO).")
    rewards: list[Annotated[Union[Annotated[Literal["pot_answer", "numeric_answer", "choice_match", "format"],
                                            Tag("name")],
                                  Annotated[StrategyRef, Tag("ref")]], Discriminator(_reward_entry)]] = Field(
        default_factory=lambda: ["pot_answer", "choice_match", "format"], min_length=1,
        description="Built-in rewards (pot_answer: the PoT program's result against the gold answer; "
        "numeric_answer: the answer's last number; choice_match: the option letters; format: the answer's form) or "
        "Reward objects ({target, args}: TRL's reward function signature, see verticalize.strategies.Reward).")
    reward_weights: list[float] | None = Field(
        None, description="One weight per reward (the group advantage uses their weighted sum); None: all 1.")

    @model_validator(mode="after")
    def _groups_fit(self) -> GRPOSpec:
        if self.reward_weights is not None and len(self.reward_weights) != len(self.rewards):
            raise ValueError(f"reward_weights has {len(self.reward_weights)} weights for {len(self.rewards)} rewards: "
                             "give one per reward (or leave it out: all 1)")
        per_step = self.batch_size * self.grad_accum
        if per_step % self.num_generations:
            raise ValueError(f"batch_size x grad_accum ({self.batch_size} x {self.grad_accum} = {per_step} completions "
                             f"per optimizer step) must be a multiple of num_generations ({self.num_generations}): "
                             f"whole groups of answers to one prompt")
        return self


class KTOSpec(_TrainSpec):
    """Kahneman-Tversky optimisation through TRL's KTOTrainer on unpaired feedback: answers marked desirable or
    undesirable one at a time (format: kto), or preference pairs split into one of each."""

    kind: Literal["kto"] = "kto"
    lr: float = Field(5e-6, gt=0, description="Peak learning rate (as DPO: low; LoRA runs often use 5e-5).")
    max_length: int = Field(1024, ge=8, description="Token length of prompt + answer.")
    beta: float = Field(0.1, gt=0, description="Strength of the pull towards the reference model.")
    loss_type: Literal["kto", "apo_zero_unpaired"] = Field(
        "kto", description="kto: the KTO paper's loss (estimates a KL term from the batch); apo_zero_unpaired.")
    desirable_weight: float = Field(1.0, gt=0, description="Weight of desirable examples' losses (raise it when they "
                                    "are fewer).")
    undesirable_weight: float = Field(1.0, gt=0, description="Weight of undesirable examples' losses.")

    @model_validator(mode="after")
    def _batch_fits(self) -> KTOSpec:
        if self.loss_type == "kto" and self.batch_size < 2:
            raise ValueError("loss_type kto estimates its KL term from the other answers of a batch: batch_size must "
                             "be at least 2")
        return self


TrainKind = Annotated[
    Union[Annotated[Annotated[Union[SFTSpec, CPTSpec, DPOSpec, GRPOSpec, KTOSpec], Field(discriminator="kind")],
                    Tag("spec")],
          Annotated[StrategyRef, Tag("ref")]],
    Discriminator(_ref_or),
]


class PotSpec(_Spec):
    """Program-of-Thoughts: numeric answers are Python programs run in a sandbox."""

    enabled: bool = False
    timeout_s: float = Field(2.0, gt=0, le=60)
    memory_mb: int = Field(256, ge=32)
    samples: int = Field(1, ge=1, description="k > 1: self-consistency, majority vote over k sampled programs.")
    executor: StrategyRef | None = Field(
        None, description="An Executor object ({target, args}) that runs the programs; None: the built-in sandbox "
        "(PythonSandbox with timeout_s and memory_mb).")


class GenerationSpec(_Spec):
    max_new_tokens: int = Field(64, ge=1)
    temperature: float = Field(0.0, ge=0.0, description="0: greedy.")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, description="0: off.")
    num_beams: int = Field(1, ge=1)
    repetition_penalty: float = Field(1.0, gt=0.0)
    no_repeat_ngram_size: int = Field(0, ge=0)


class BenchmarkSuiteSpec(_Spec):
    """An eval suite straight from a public benchmark's file: ``{preset: medqa, path: test.jsonl}``,
    scored with the task kind the preset gives (mc, mc_multi, classification, numeric, generation)."""

    preset: str = Field(..., description="The benchmark (see data.preset): medqa, pubmedqa, cmexam, mmlu, ...")
    path: str = Field(..., description="The benchmark's file or dataset dir (or a hub id).")
    name: str | None = Field(None, description="The suite's name in reports; default: the preset.")
    role: Literal["domain", "retention"] = Field("domain", description="retention: its drop is forgetting.")
    split: str = Field("test", description="Split to read for hub ids and dataset dirs.")
    config: str | None = Field(None, description="Dataset config (subset) or xlsx sheet.")
    layout: str | None = Field(None, description="The preset's file layout; None: detected.")
    encoding: str | None = Field(None, description="Text encoding; None: detected.")
    split_file: str | None = Field(None, description="A file naming the split's ids (PubMedQA's test ground truth).")
    max_examples: int | None = Field(None, ge=1, description="Score at most this many (spread over tasks, seeded).")
    system_prompt: str | None = Field(None, description="A system message before every question.")

    @property
    def label(self) -> str:
        """How reports and progress lines name the suite."""
        return self.name or self.preset


def _suite_entry(v: Any) -> str:
    if isinstance(v, str):
        return "name"
    if isinstance(v, BenchmarkSuiteSpec) or (isinstance(v, dict) and "preset" in v):
        return "benchmark"
    return "ref"


class EvalSpec(_Spec):
    suites: list[Annotated[Union[Annotated[str, Tag("name")], Annotated[BenchmarkSuiteSpec, Tag("benchmark")],
                                 Annotated[StrategyRef, Tag("ref")]], Discriminator(_suite_entry)]] = Field(
        default_factory=list, description="Suite names, suite YAML paths, benchmark files ({preset, path, ...}) or "
        "Task / Suite objects ({target, args}).")
    when: list[Literal["before", "after"]] = Field(default_factory=lambda: ["before", "after"])
    max_examples: int | None = Field(None, ge=1, description="Per suite; None: all.")
    languages: list[str] | None = Field(None, description="Score only examples in these languages.")
    tasks: list[str] | None = Field(None, description="Score only these tasks.")
    batch_size: int = Field(16, ge=1)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)


class Recipe(_Spec):
    """A whole adaptation: base, data, cleaning, replay, method, training, PoT and evaluation."""

    base: BaseSpec = Field(default_factory=BaseSpec)
    domain: str | None = Field(None, description="Domain pack name (see `verticalize ls domains`) or pack dir.")
    data: list[DataSpec] = Field(default_factory=list, description="Extra domain datasets.")
    mix: MixSpec = Field(default_factory=MixSpec)
    processing: ProcessingSpec = Field(default_factory=ProcessingSpec)
    clean: CleanSpec = Field(default_factory=CleanSpec)
    replay: ReplaySpec | None = Field(None, description="None: no general data mixed in.")
    method: Method = Field(default_factory=LoraSpec)
    train: Annotated[
        Union[Annotated[TrainKind, Tag("one")], Annotated[list[TrainKind], Field(min_length=1), Tag("stages")]],
        Discriminator(lambda v: "stages" if isinstance(v, list) else "one"),
    ] = Field(
        default_factory=SFTSpec,
        description="One training kind (sft | cpt | dpo | grpo | kto), or a list of stages run in order, each starting from the "
        "previous stage's weights.",
    )
    pot: PotSpec = Field(default_factory=PotSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    callbacks: list[StrategyRef] = Field(
        default_factory=list, description="transformers TrainerCallback objects ({target, args}) for every stage.")
    reporters: list[StrategyRef] = Field(
        default_factory=list, description="Reporter objects ({target, args}) receiving progress, logs and metrics.")
    trust: list[str] = Field(
        default_factory=list, description="Modules (prefixes) whose strategies load without --trust-code. Honoured "
        "only in a base recipe reached through extends: (a team's shared base), never in the recipe itself.")
    output_dir: str | None = Field(None, description="Run dir; None: runs/<domain>-<base>-<time>.")

    @field_validator("base", mode="before")
    @classmethod
    def _base_shorthand(cls, v: Any) -> Any:
        return {"model": v} if isinstance(v, str) else v

    @field_validator("data", mode="before")
    @classmethod
    def _data_shorthand(cls, v: Any) -> Any:
        if isinstance(v, (str, dict)):
            v = [v]
        elif v is not None and not isinstance(v, (list, tuple)):
            raise ValueError(f"data is a list of datasets ({{path: ...}} or {{source: ...}}), got {v!r}")
        return [{"path": x} if isinstance(x, str) else x for x in (v or [])]

    @field_validator("method", mode="before")
    @classmethod
    def _method_default_kind(cls, v: Any) -> Any:
        if isinstance(v, str):
            return {"kind": v}
        return {"kind": "lora", **v} if isinstance(v, dict) and "kind" not in v and "target" not in v else v

    @field_validator("train", mode="before")
    @classmethod
    def _train_default_kind(cls, v: Any) -> Any:
        def one(x: Any) -> Any:
            if isinstance(x, str):
                return {"kind": x}
            return {"kind": "sft", **x} if isinstance(x, dict) and "kind" not in x and "target" not in x else x

        return [one(x) for x in v] if isinstance(v, list) else one(v)

    @property
    def stages(self) -> list[SFTSpec | CPTSpec | DPOSpec | GRPOSpec | KTOSpec]:
        """The training stages in order (one for a single ``train`` mapping)."""
        return list(self.train) if isinstance(self.train, list) else [self.train]

    @property
    def seed(self) -> int:
        """The first stage's seed (42 when the first stage is an object without one)."""
        return int(getattr(self.stages[0], "seed", None) or self.stages[0].args.get("seed", 42)
                   if isinstance(self.stages[0], StrategyRef) else self.stages[0].seed)

    def refs(self) -> list[tuple[str, StrategyRef]]:
        """Every strategy object the recipe names, with its key path (``clean.steps[0]``, ``method``...)."""
        return list(_walk_refs(self, ""))

    def to_data(self) -> dict[str, Any]:
        """Like :meth:`to_dict`, but strategy refs stay objects (with their live object): for deriving
        a new recipe from this one without losing objects that have no import path."""
        return _keep_refs(self)

    @field_validator("replay", mode="before")
    @classmethod
    def _replay_shorthand(cls, v: Any) -> Any:
        return {"source": v} if isinstance(v, str) else v

    # ---- YAML / JSON -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every key, JSON types, in schema order: the resolved recipe (a strategy object without an
        import path appears as its class's path; :meth:`to_yaml` refuses those)."""
        return self.model_dump(mode="json")

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The recipe as YAML; fails naming every strategy object that cannot be written (no import
        path, or arguments YAML cannot hold), and how to make it referencable."""
        bad = [f"{key}: {ref.portable}" for key, ref in self.refs() if ref.portable]
        if bad:
            from verticalize.errors import RecipeError

            raise RecipeError("cannot write this recipe as YAML:\n  " + "\n  ".join(bad), problems=bad)
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> Recipe:
        from verticalize.recipe import load_recipe

        return load_recipe(path, overrides)

    def fingerprint(self) -> str:
        import hashlib

        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


