"""Supervised fine-tuning (LoRA, QLoRA, full) through TRL's SFTTrainer."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from verticalize.models.templates import has_generation_markers
from verticalize.recipe import FullSpec, Recipe
from verticalize.train import _hf

__all__ = ["train_sft"]


def train_sft(recipe: Recipe, model: Any, tokenizer: Any, examples: list[dict[str, Any]], work_dir: Path,
              targets: list[str] | str, dev: Any, callbacks: list[Any], show_progress: bool = True) -> dict[str, Any]:
    """Train in place; returns metrics. ``work_dir/checkpoints`` holds the trainer's checkpoints."""
    from datasets import Dataset

    spec = recipe.train
    rows = [{"messages": ex["messages"]} for ex in examples if "messages" in ex]
    if not rows:
        from verticalize.errors import DataError

        raise DataError("SFT needs chat examples (alpaca/sharegpt/messages/prompt_completion); got only text")
    dataset = Dataset.from_list(rows)
    args = _hf.sft_config(
        spec, str(work_dir / "checkpoints"), dev, method=recipe.method,
        has_assistant_masks=has_generation_markers(tokenizer.chat_template), eos_token=tokenizer.eos_token,
    )
    peft = _hf.peft_config(recipe.method, targets)
    trainer = _hf.make_sft_trainer(model, tokenizer, dataset, args, peft, callbacks)
    t0 = time.perf_counter()
    out = trainer.train()
    seconds = time.perf_counter() - t0
    metrics = {k: float(v) for k, v in out.metrics.items() if isinstance(v, (int, float))}
    metrics.update(global_step=trainer.state.global_step, train_seconds=round(seconds, 3),
                   examples=len(rows), trainable_params=_trainable(trainer.model),
                   assistant_only_loss=bool(args.assistant_only_loss), packing=bool(args.packing))
    return {"metrics": metrics, "model": trainer.model, "log_history": trainer.state.log_history,
            "full": isinstance(recipe.method, FullSpec)}


def _trainable(model: Any) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
