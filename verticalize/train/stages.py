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

from verticalize.train import _hf
from verticalize.train.checkpoints import CheckpointMarker, last_complete_checkpoint
from verticalize.train.cpt import train_cpt
from verticalize.train.dpo import train_dpo
from verticalize.train.progress import ProgressLog
from verticalize.train.sft import train_sft

__all__ = ["run_stages", "embedding_modules", "save_weights"]

log = logging.getLogger("verticalize")

TRAINERS = {"sft": train_sft, "cpt": train_cpt, "dpo": train_dpo}
STAGE_DONE = "stage.json"


def run_stages(recipe: Any, model: Any, resolved: Any, tokenizer: Any, examples: list[list[dict[str, Any]]],
               dirs: list[Path], dev: Any, targets: list[str] | str, out: Any, resume: bool) -> tuple[Any, list[dict]]:
    specs = recipe.stages
    multi = len(specs) > 1
    results: list[dict[str, Any]] = []
    for i, (spec, exs, sdir) in enumerate(zip(specs, examples, dirs)):
        done = sdir / STAGE_DONE
        if resume and multi and done.is_file():
            results.append(json.loads(done.read_text("utf-8")))
            if not (i + 1 < len(specs) and (dirs[i + 1] / STAGE_DONE).is_file()):
                model = _load_stage_weights(recipe, model, sdir)  # the next stage starts from here
            out.say(f"[verticalize] stage {i + 1} ({spec.kind}) finished before the crash: skipped")
            continue
        if out.main:
            sdir.mkdir(parents=True, exist_ok=True)
        peft = None
        if not _is_peft(model):
            extra = embedding_modules(model) if getattr(spec, "train_embeddings", False) else None
            if getattr(spec, "train_embeddings", False) and recipe.method.kind == "full":
                extra = None  # every weight trains already
            peft = _hf.peft_config(recipe.method, targets, extra_modules=extra,
                                   tie_embeddings=bool(getattr(model.config, "tie_word_embeddings", False)))
        elif getattr(spec, "train_embeddings", False):
            log.warning("train_embeddings: stage %d continues an existing adapter; its trainable modules were fixed "
                        "by the first stage, so embeddings train only if that stage trained them", i + 1)
        resume_from = last_complete_checkpoint(sdir / "checkpoints") if resume else None
        if resume_from is not None:
            out.say(f"[verticalize] stage {i + 1} ({spec.kind}): resuming from {resume_from.name}")
        progress = ProgressLog(sdir / "train_log.jsonl", show=out.main and not out.quiet,
                               desc=f"{spec.kind}:{recipe.method.kind}" + (f" {i + 1}/{len(specs)}" if multi else ""),
                               truncate_after=_step_of(resume_from) if out.main else None)
        from transformers import set_seed

        set_seed(spec.seed)  # new LoRA weights are drawn before the Trainer seeds: same init whatever ran before
        result = TRAINERS[spec.kind](spec, recipe.method, model, tokenizer, exs, sdir, peft, dev,
                                     [progress, CheckpointMarker()], resume_from)
        step_times = progress.step_times[1:] or progress.step_times
        result["metrics"]["mean_step_seconds"] = round(sum(step_times) / len(step_times), 4) if step_times else None
        model = result["model"]
        if multi:
            _save_stage(recipe, model, tokenizer, sdir, result, out.main)
        results.append({"metrics": result["metrics"], "log_history": result["log_history"],
                        "trainer": result["trainer"]})
    return model, results


def _step_of(ckpt: Path | None) -> int | None:
    return int(ckpt.name.split("-")[1]) if ckpt is not None else None


def save_weights(model: Any, trainer: Any, dest: Path, main: bool) -> None:
    """Save the trained adapter (or model). Under several processes every rank calls the Trainer's
    save (FSDP / DeepSpeed ZeRO-3 gather the shards); only rank 0 writes."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and trainer is not None:
        trainer.save_model(str(dest))
    elif main:
        model.save_pretrained(dest)


def _save_stage(recipe: Any, model: Any, tokenizer: Any, sdir: Path, result: dict[str, Any], main: bool) -> None:
    from verticalize.plots import loss_curve

    dest = sdir / ("model" if recipe.method.kind == "full" else "adapter")
    save_weights(model, result["trainer"], dest, main)
    if not main:
        return
    tokenizer.save_pretrained(dest)
    loss_curve(result["log_history"], sdir / "loss.png", title=f"stage {sdir.name} loss")
    import shutil

    shutil.rmtree(sdir / "checkpoints", ignore_errors=True)
    tmp = sdir / (STAGE_DONE + ".tmp")
    tmp.write_text(json.dumps({"metrics": result["metrics"], "log_history": result["log_history"]}, default=float),
                   encoding="utf-8")
    tmp.replace(sdir / STAGE_DONE)  # written last: a stage counts as finished only with its weights saved


def _load_stage_weights(recipe: Any, model: Any, sdir: Path) -> Any:
    if recipe.method.kind == "full":
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(sdir / "model", dtype=model.dtype)
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(sdir / "adapter"), is_trainable=True)


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
