"""Continued pre-training on raw text through TRL's SFTTrainer (plain causal-LM loss).

Documents are cut into overlapping windows (``tokenize_text_windows``), never truncated. Windows
are packed: on GPUs by TRL's padding-free BFD packing, on CPU grouped into full rows (padding-
free attention is slower than dense on CPU; grouped rows waste no compute on padding).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verticalize.train import _hf
from verticalize.train.common import run_trainer
from verticalize.train.tokenize import group_rows, tokenize_text_windows

__all__ = ["train_cpt"]


def train_cpt(spec: Any, method: Any, model: Any, tokenizer: Any, examples: list[dict[str, Any]], out_dir: Path,
              peft: Any, dev: Any, callbacks: list[Any], resume_from: Path | None = None) -> dict[str, Any]:
    from datasets import Dataset, IterableDataset

    from verticalize.errors import DataError

    if isinstance(examples, IterableDataset):
        return _train_streamed(spec, method, model, tokenizer, examples, out_dir, peft, dev, callbacks, resume_from)
    texts = [ex["text"] for ex in examples if "text" in ex and "messages" not in ex]
    if not texts:
        raise DataError("continued pre-training needs text examples (format: text); got none")
    win = tokenize_text_windows(texts, tokenizer, spec.max_length, spec.overlap)
    stats = win.pop("stats")
    trl_packing = _hf._packing(spec, dev)
    cols = win if trl_packing else group_rows(win["input_ids"], win["labels"], spec.max_length)
    stats["rows"] = len(cols["input_ids"])
    stats["row_fill"] = round(stats["tokens"] / (stats["rows"] * spec.max_length), 4) if stats["rows"] else 0.0
    dataset = Dataset.from_dict(cols)
    args = _hf.sft_config(spec, str(out_dir / "checkpoints"), dev, method=method, has_assistant_masks=False,
                          eos_token=tokenizer.eos_token, packing=trl_packing)
    trainer = _hf.make_sft_trainer(model, tokenizer, dataset, args, peft, callbacks,
                                       loss_kernel=_hf.loss_kernel(spec, dev))
    _hf.use_loraplus(trainer, getattr(method, "loraplus_lr_ratio", None))
    return run_trainer(trainer, resume_from, examples=len(texts), packing="bfd" if trl_packing else "grouped",
                       windows=stats)


def _train_streamed(spec: Any, method: Any, model: Any, tokenizer: Any, examples: Any, out_dir: Path, peft: Any,
                    dev: Any, callbacks: list[Any], resume_from: Path | None) -> dict[str, Any]:
    """The same windows and rows from a streamed corpus (``processing.streaming``), cut as the trainer
    reads it, in batches of 256 documents; nothing is held beyond a batch."""
    from datasets import Features, List, Value

    from verticalize.errors import DataError

    if not spec.max_steps:
        raise DataError("a streamed corpus has no length: set train.max_steps (processing.streaming: true)")
    trl_packing = _hf._packing(spec, dev)

    def windows(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        win = tokenize_text_windows(batch["text"], tokenizer, spec.max_length, spec.overlap)
        win.pop("stats")
        return win if trl_packing else group_rows(win["input_ids"], win["labels"], spec.max_length)

    rows = examples.map(windows, batched=True, batch_size=256, remove_columns=list(examples.features),
                        features=Features({"input_ids": List(Value("int64")), "labels": List(Value("int64"))}))
    args = _hf.sft_config(spec, str(out_dir / "checkpoints"), dev, method=method, has_assistant_masks=False,
                          eos_token=tokenizer.eos_token, packing=trl_packing)
    trainer = _hf.make_sft_trainer(model, tokenizer, rows, args, peft, callbacks,
                                       loss_kernel=_hf.loss_kernel(spec, dev))
    _hf.use_loraplus(trainer, getattr(method, "loraplus_lr_ratio", None))
    return run_trainer(trainer, resume_from, examples="streamed", packing="bfd" if trl_packing else "grouped")
