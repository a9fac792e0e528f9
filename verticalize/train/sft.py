"""Supervised fine-tuning (LoRA, QLoRA, full) through TRL's SFTTrainer."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from verticalize.models.templates import training_template
from verticalize.train import _hf
from verticalize.train.common import run_trainer
from verticalize.train.tokenize import tokenize_chats

__all__ = ["train_sft"]

log = logging.getLogger("verticalize")


def train_sft(spec: Any, method: Any, model: Any, tokenizer: Any, examples: list[dict[str, Any]], out_dir: Path,
              peft: Any, dev: Any, callbacks: list[Any], resume_from: Path | None = None) -> dict[str, Any]:
    """Train ``model`` in place on the chat examples; checkpoints go to ``out_dir/checkpoints``.

    ``peft``: a LoraConfig to wrap a plain model, or None (full fine-tuning, or a model that is
    already a PeftModel from an earlier stage).
    """
    from verticalize.errors import DataError

    convs = [ex["messages"] for ex in examples if "messages" in ex]
    if not convs:
        raise DataError("SFT needs chat examples (alpaca/sharegpt/messages/prompt_completion); got none")
    assistant_only = bool(spec.assistant_only_loss)
    plan = training_template(tokenizer) if assistant_only else None
    if plan is not None:
        log.info("assistant-only loss: assistant turns located by %s", plan.describe)
    t0 = time.perf_counter()
    dataset = tokenize_chats(convs, tokenizer, assistant_only, template=plan)
    tokenize_seconds = time.perf_counter() - t0
    # the labels already carry the assistant-only masking: TRL only truncates or packs them
    args = _hf.sft_config(spec, str(out_dir / "checkpoints"), dev, method=method, has_assistant_masks=False,
                          eos_token=tokenizer.eos_token)
    cut = 0 if args.packing else _truncated_away(dataset, spec.max_length)
    trainer = _hf.make_sft_trainer(model, tokenizer, dataset, args, peft, callbacks)
    _hf.use_loraplus(trainer, getattr(method, "loraplus_lr_ratio", None))
    return run_trainer(trainer, resume_from, examples=len(convs), tokenize_seconds=round(tokenize_seconds, 3),
                       assistant_only_loss=assistant_only, loss_mask=plan.source if plan else "none",
                       packing=bool(args.packing), truncated_away=cut)


def _truncated_away(dataset: Any, max_length: int) -> int:
    """How many examples learn nothing once cut to ``max_length`` tokens (their answer starts later);
    TRL drops them. All of them: a DataError that says which length would keep them."""
    import numpy as np

    from verticalize.errors import DataError

    col = dataset.data.column("labels").combine_chunks()
    offsets = np.asarray(col.offsets)
    learned = np.flatnonzero(np.asarray(col.values) != -100)
    first = learned[np.searchsorted(learned, offsets[:-1])] - offsets[:-1]  # every example learns something
    cut = int((first >= max_length).sum())
    if cut == len(first):
        raise DataError(f"train.max_length={max_length} cuts off every answer: the earliest answer starts at token "
                        f"{int(first.min())}; raise train.max_length (e.g. to {int(np.percentile(first, 95)) + 64})")
    return cut
