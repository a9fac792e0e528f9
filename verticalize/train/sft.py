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
    ratio = getattr(spec, "cpt_ratio", None)
    texts = [ex["text"] for ex in examples if "text" in ex and "messages" not in ex] if ratio else []
    if ratio and not texts:
        raise DataError("train.cpt_ratio mixes raw domain text into SFT, but the data hold none: add a pack with a "
                        "corpus or data: [{path: ..., format: text}]")
    assistant_only = bool(spec.assistant_only_loss)
    plan = training_template(tokenizer) if assistant_only else None
    if plan is not None:
        log.info("assistant-only loss: assistant turns located by %s", plan.describe)
    t0 = time.perf_counter()
    dataset = tokenize_chats(convs, tokenizer, assistant_only, template=plan)
    mixed: dict[str, Any] = {}
    if ratio:
        dataset, mixed = mix_text(dataset, texts, tokenizer, ratio, spec.max_length, spec.seed)
        log.info("mixed stage: %d text windows (%d tokens) with %d chats: %.4f of the trained tokens are raw text "
                 "(target %.4f)", mixed["text_windows"], mixed["text_tokens"], len(convs), mixed["cpt_ratio_tokens"],
                 ratio)
    tokenize_seconds = time.perf_counter() - t0
    # the labels already carry the assistant-only masking: TRL only truncates or packs them
    args = _hf.sft_config(spec, str(out_dir / "checkpoints"), dev, method=method, has_assistant_masks=False,
                          eos_token=tokenizer.eos_token)
    cut = 0 if args.packing else _truncated_away(dataset, spec.max_length)
    kernel = _hf.loss_kernel(spec, dev)
    trainer = _hf.make_sft_trainer(model, tokenizer, dataset, args, peft, callbacks, loss_kernel=kernel)
    _hf.use_loraplus(trainer, getattr(method, "loraplus_lr_ratio", None))
    return run_trainer(trainer, resume_from, examples=len(convs), tokenize_seconds=round(tokenize_seconds, 3),
                       assistant_only_loss=assistant_only, loss_mask=plan.source if plan else "none",
                       packing=bool(args.packing), truncated_away=cut, loss_kernel=kernel, **mixed)


def mix_text(chats: Any, texts: list[str], tokenizer: Any, ratio: float, max_length: int, seed: int
             ) -> tuple[Any, dict[str, Any]]:
    """Chats (tokenized, labels masked) and windows of raw text (every token learned) in one shuffled
    data set, with text making up ``ratio`` of the learned tokens: windows are taken in a seeded
    random order (documents cycled if there are too few) while that brings the share closer to
    ``ratio``; chats are counted as they will train, cut to ``max_length``."""
    import random

    import numpy as np
    from datasets import Dataset, concatenate_datasets

    from verticalize.train.tokenize import tokenize_text_windows

    col = chats.data.column("labels").combine_chunks()
    offsets = np.asarray(col.offsets)
    learned_at = np.asarray(col.values) != -100
    pos = np.arange(len(learned_at)) - np.repeat(offsets[:-1], np.diff(offsets))
    chat_tokens = int((learned_at & (pos < max_length)).sum())
    win = tokenize_text_windows(texts, tokenizer, max_length, overlap=0)
    sizes = [len(x) for x in win["input_ids"]]
    target = ratio * chat_tokens / (1 - ratio)
    order = list(range(len(sizes)))
    random.Random(seed).shuffle(order)
    picked: list[int] = []
    got = 0
    while order and got < target:
        j = order[len(picked) % len(order)]
        if got + sizes[j] - target > target - got:  # one more window would overshoot by more than it is short
            break
        picked.append(j)
        got += sizes[j]
    text = Dataset.from_dict({"input_ids": [win["input_ids"][j] for j in picked],
                              "labels": [win["input_ids"][j] for j in picked]}, features=chats.features)
    both = concatenate_datasets([chats, text]).shuffle(seed=seed).flatten_indices()
    share = got / (got + chat_tokens) if got + chat_tokens else 0.0
    return both, {"cpt_ratio_target": ratio, "cpt_ratio_tokens": round(share, 4), "text_windows": len(picked),
                  "text_tokens": got, "text_documents": win["stats"]["documents"], "chat_tokens_learned": chat_tokens}


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
