"""Run a recipe's training stages in order (cpt -> sft -> dpo ...), each from the previous one's weights.

LoRA/QLoRA: the first stage wraps the base in one adapter; later stages keep training that same
adapter, so the final ``adapter/`` applies to the untouched base. Full fine-tuning: one model
trains throughout. A multi-stage run saves each stage's weights, log, loss plot and metrics
under its stage dir; resuming skips finished stages (loading their weights) and continues the
interrupted one from its last complete checkpoint.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from verticalize.strategies import MethodContext, StageContext, StageResult, build
from verticalize.train import _hf
from verticalize.train.checkpoints import CheckpointMarker, last_complete_checkpoint
from verticalize.train.cpt import train_cpt
from verticalize.train.dpo import train_dpo
from verticalize.train.grpo import train_grpo
from verticalize.train.kto import train_kto
from verticalize.train.preempt import Preempted, Preemption
from verticalize.train.progress import ProgressLog
from verticalize.train.sft import train_sft
from verticalize.train.weights import load_weights, save_weights, weights_dir

__all__ = ["run_stages", "stage_for", "save_result", "SpecStage", "DATA_KIND", "embedding_modules"]

log = logging.getLogger("verticalize")

TRAINERS = {"sft": train_sft, "cpt": train_cpt, "dpo": train_dpo, "grpo": train_grpo, "kto": train_kto}
STAGE_DONE = "stage.json"


#: which examples a stage trains on -> the data kind the pipeline builds for it (the inverse of SpecStage.EXAMPLES)
DATA_KIND = {"chat": "sft", "text": "cpt", "preference": "dpo", "prompt": "grpo", "feedback": "kto"}


class SpecStage:
    """A built-in training kind (``SFTSpec``, ``CPTSpec``, ``DPOSpec``, ``GRPOSpec``, ``KTOSpec``) as a Stage."""

    EXAMPLES = {kind: examples for examples, kind in DATA_KIND.items()}

    def __init__(self, spec: Any):
        self.spec = spec
        self.kind = spec.kind
        self.examples = self.EXAMPLES[spec.kind]
        self.seed = spec.seed

    def train(self, ctx: StageContext) -> StageResult:
        callbacks = [*ctx.callbacks, *_hf.tracking_callbacks(self.spec, ctx.output_dir)]
        r = TRAINERS[self.kind](self.spec, ctx.method, ctx.model, ctx.tokenizer, ctx.examples, ctx.output_dir,
                                ctx.peft_config, ctx.device, callbacks, ctx.resume_from)
        model, trainer = r["model"], r["trainer"]
        sharded = bool(getattr(trainer, "is_fsdp_enabled", False) or getattr(trainer, "is_deepspeed_enabled", False))
        return StageResult(model=model, metrics=r["metrics"], log_history=r["log_history"],
                           save=lambda dest: save_weights(model, dest, _is_main(), trainer), sharded=sharded)


def stage_for(spec_or_ref: Any, index: int) -> Any:
    """The Stage object for one entry of a recipe's ``train``: a built-in spec wrapped, or the user's object."""
    if hasattr(spec_or_ref, "target"):
        from verticalize.errors import RecipeError

        stage = build(spec_or_ref, f"train[{index}]")
        if getattr(stage, "examples", None) not in DATA_KIND:
            raise RecipeError(f"train[{index}]: {spec_or_ref.target}.examples must be one of "
                              f"{', '.join(repr(k) for k in DATA_KIND)} "
                              f"(which examples the stage trains on), got {getattr(stage, 'examples', None)!r}")
        return stage
    return SpecStage(spec_or_ref)


def _is_main() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def run_stages(recipe: Any, stages: list[Any], method: Any, model: Any, tokenizer: Any,
               examples: list[list[dict[str, Any]]], dirs: list[Path], dev: Any, targets: list[str] | str, out: Any,
               resume: bool, callbacks: list[Any] = (), probes: list[Any] | None = None) -> tuple[Any, list[StageResult]]:
    """Train each stage in order, from the previous one's weights; ``callbacks`` reach every trainer.
    ``probes``: per stage, the WatchProbe of a stage with ``train.watch`` (see verticalize.train.watch)."""
    with Preemption() as preemption:
        return _run_stages(recipe, stages, method, model, tokenizer, examples, dirs, dev, targets, out, resume,
                           [*callbacks, preemption], preemption, probes or [None] * len(stages))


def _run_stages(recipe: Any, stages: list[Any], method: Any, model: Any, tokenizer: Any,
                examples: list[list[dict[str, Any]]], dirs: list[Path], dev: Any, targets: list[str] | str, out: Any,
                resume: bool, callbacks: list[Any], preemption: Preemption,
                probes: list[Any]) -> tuple[Any, list[StageResult]]:
    multi = len(stages) > 1
    results: list[StageResult] = []
    for i, (stage, exs, sdir) in enumerate(zip(stages, examples, dirs)):
        spec = getattr(stage, "spec", None)
        done = sdir / STAGE_DONE
        if resume and multi and done.is_file():
            saved = json.loads(done.read_text("utf-8"))
            if not (i + 1 < len(stages) and (dirs[i + 1] / STAGE_DONE).is_file()):
                full = not (sdir / "adapter").is_dir()  # the next stage starts from here
                model = load_weights(sdir / ("model" if full else "adapter"), base=lambda m=model: m, full=full,
                                     trainable=True, dtype=model.dtype)
            results.append(StageResult(model=model, metrics=saved["metrics"], log_history=saved["log_history"]))
            out.say(f"[verticalize] stage {i + 1} ({stage.kind}) finished before the crash: skipped")
            continue
        if out.main:
            sdir.mkdir(parents=True, exist_ok=True)
        peft = None
        embeddings = bool(getattr(spec, "train_embeddings", False))
        if not _is_peft(model):
            ctx = MethodContext(target_modules=targets, device=dev, compute_dtype=model.dtype,
                                tie_embeddings=bool(getattr(model.config, "tie_word_embeddings", False)),
                                extra_modules=embedding_modules(model) if embeddings else None)
            peft = method.peft_config(ctx)  # None: full fine-tuning, every weight trains already
            trainable = getattr(getattr(method, "spec", None), "trainable", None)
            if peft is None and trainable:
                _freeze_except(model, trainable)
        elif embeddings:
            log.warning("train_embeddings: stage %d continues an existing adapter; its trainable modules were fixed "
                        "by the first stage, so embeddings train only if that stage trained them", i + 1)
        resume_from = last_complete_checkpoint(sdir / "checkpoints") if resume else None
        if resume_from is not None:
            out.say(f"[verticalize] stage {i + 1} ({stage.kind}): resuming from {resume_from.name}")
        progress = ProgressLog(sdir / "train_log.jsonl", show=out.main and not out.quiet,
                               desc=f"{stage.kind}:{method.kind}" + (f" {i + 1}/{len(stages)}" if multi else ""),
                               truncate_after=_step_of(resume_from) if out.main else None)
        from transformers import set_seed

        set_seed(stage.seed)  # new LoRA weights are drawn before the Trainer seeds: same init whatever ran before
        watch = _watch(spec, probes[i], sdir, resume_from, out,
                       stage.kind + (f" {i + 1}/{len(stages)}" if multi else ""))
        ctx_stage = StageContext(model=model, tokenizer=tokenizer, examples=exs, output_dir=sdir, peft_config=peft,
                                 device=dev, callbacks=[progress, CheckpointMarker(), *([watch] if watch else []),
                                                        *callbacks],
                                 resume_from=resume_from, method=getattr(method, "spec", method))
        result = _as_result(stage.train(ctx_stage), i, stage.kind)
        if preemption.signum is not None:
            ckpt = last_complete_checkpoint(sdir / "checkpoints")
            raise Preempted(f"stopped by {preemption.name} in stage {i + 1} ({stage.kind}) after step "
                            f"{result.metrics.get('global_step', '?')}; "
                            + (f"{ckpt.name} is complete" if ckpt else "no complete checkpoint was saved"),
                            preemption.signum)
        if watch is not None:  # the selected check's weights go into the model, in place
            result.metrics["watch"] = watch.finish(result.model, result.metrics.get("global_step"))
        step_times = progress.step_times[1:] or progress.step_times
        result.metrics["mean_step_seconds"] = round(sum(step_times) / len(step_times), 4) if step_times else None
        model = result.model
        if multi:
            _save_stage(model, tokenizer, sdir, result, out.main)
        results.append(result)
    return model, results


def _watch(spec: Any, probe: Any, sdir: Path, resume_from: Path | None, out: Any, label: str) -> Any:
    """The stage's Watch callback (``train.watch``), or None."""
    if getattr(spec, "watch", None) is None:
        return None
    if probe is None:
        from verticalize.errors import RunError

        raise RunError(f"train.watch ({label}): the run gave no probe to score the model with (run_stages(probes=...))")
    from verticalize.train.watch import Watch

    return Watch(spec.watch, probe, sdir, resume_step=_step_of(resume_from), say=out.say, label=label)


def _freeze_except(model: Any, patterns: list[str]) -> None:
    """Full fine-tuning of only the parameters whose name matches a glob pattern; the rest frozen."""
    from fnmatch import fnmatch

    from verticalize.errors import RecipeError

    names = [n for n, _ in model.named_parameters()]
    hits = {n for n in names if any(fnmatch(n, pat) for pat in patterns)}
    if not hits:
        raise RecipeError(f"method.trainable {patterns} matches no parameter of this model; its names look like "
                          f"{names[0]!r} ... {names[-1]!r}")
    for n, p in model.named_parameters():
        p.requires_grad = n in hits
    log.info("full fine-tuning of %d of %d parameter tensors (method.trainable)", len(hits), len(names))


def _as_result(r: Any, i: int, kind: str) -> StageResult:
    """A stage's result as a StageResult: any object with ``model``, ``metrics`` and ``log_history``."""
    if isinstance(r, StageResult):
        return r
    if not hasattr(r, "model"):
        from verticalize.errors import RunError

        raise RunError(f"stage {i + 1} ({kind}): train() returned {type(r).__name__}; a Stage returns an object with "
                       "model, metrics and log_history (e.g. verticalize.strategies.StageResult)")
    return StageResult(model=r.model, metrics=dict(getattr(r, "metrics", {}) or {}),
                       log_history=list(getattr(r, "log_history", []) or []), save=getattr(r, "save", None),
                       sharded=bool(getattr(r, "sharded", False)))


def save_result(result: StageResult, dest: Path, main: bool) -> None:
    """Save a stage's weights: through the stage's own ``save`` when it gave one (every rank calls it
    under FSDP / ZeRO-3), else ``save_pretrained`` on rank 0."""
    if result.save is not None:
        result.save(dest)
    elif main:
        result.model.save_pretrained(dest)


def _step_of(ckpt: Path | None) -> int | None:
    return int(ckpt.name.split("-")[1]) if ckpt is not None else None


def _save_stage(model: Any, tokenizer: Any, sdir: Path, result: StageResult, main: bool) -> None:
    from verticalize.plots import loss_curve

    dest = weights_dir(sdir, "lora" if _is_peft(model) else "full")
    save_result(result, dest, main)
    if not main:
        return
    tokenizer.save_pretrained(dest)
    loss_curve(result.log_history, sdir / "loss.png", title=f"stage {sdir.name} loss")
    import shutil

    shutil.rmtree(sdir / "checkpoints", ignore_errors=True)
    tmp = sdir / (STAGE_DONE + ".tmp")
    tmp.write_text(json.dumps({"metrics": result.metrics, "log_history": result.log_history}, default=float),
                   encoding="utf-8")
    tmp.replace(sdir / STAGE_DONE)  # written last: a stage counts as finished only with its weights saved


def _is_peft(model: Any) -> bool:
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


def embedding_modules(model: Any) -> list[str] | None:
    """Names of the input-embedding and LM-head modules (``embed_tokens``, ``lm_head`` in most
    families), for ``modules_to_save``; None with a warning when the model exposes neither."""
    wanted = [m for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m is not None]
    names = []
    for name, mod in model.named_modules():
        if any(mod is w for w in wanted):
            names.append(name.rsplit(".", 1)[-1])
    names = list(dict.fromkeys(names))
    if not names:
        log.warning("train_embeddings: this model exposes no input/output embedding modules; they stay frozen")
        return None
    return names
