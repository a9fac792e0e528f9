"""Kahneman-Tversky optimisation through TRL's KTOTrainer (LoRA, QLoRA or full): learning from answers
marked good or bad one at a time -- the thumbs-up / thumbs-down feedback domain experts give -- with
no need for a better and a worse answer to the same question."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from verticalize.train import _hf
from verticalize.train.common import run_trainer
from verticalize.train.grpo import drop_ref_adapter

__all__ = ["train_kto", "unpaired_rows"]


def unpaired_rows(examples: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """KTO rows ``{prompt, completion, label}`` from feedback examples (``format: kto``) and preference
    pairs (each pair: its chosen answer desirable, its rejected one undesirable), shuffled with ``seed`` so
    that desirable and undesirable rows mix in every batch.

    >>> rows = unpaired_rows([{"prompt": [{"role": "user", "content": "q"}],
    ...                        "chosen": [{"role": "assistant", "content": "a"}],
    ...                        "rejected": [{"role": "assistant", "content": "b"}]}], seed=0)
    >>> sorted((r["completion"][0]["content"], r["label"]) for r in rows)
    [('a', True), ('b', False)]
    """
    rows: list[dict[str, Any]] = []
    for ex in examples:
        if "chosen" in ex:
            rows.append({"prompt": ex["prompt"], "completion": ex["chosen"], "label": True})
            rows.append({"prompt": ex["prompt"], "completion": ex["rejected"], "label": False})
        elif "completion" in ex and "label" in ex:
            rows.append({"prompt": ex["prompt"], "completion": ex["completion"], "label": bool(ex["label"])})
    random.Random(seed).shuffle(rows)
    return rows


def train_kto(spec: Any, method: Any, model: Any, tokenizer: Any, examples: list[dict[str, Any]], out_dir: Path,
              peft: Any, dev: Any, callbacks: list[Any], resume_from: Path | None = None) -> dict[str, Any]:
    """With LoRA/QLoRA the reference policy is the model with its adapter switched off (a first stage), or
    a frozen copy of the adapter it continues (after an SFT stage)."""
    from datasets import Dataset

    from verticalize.errors import DataError

    rows = unpaired_rows(examples, spec.seed)
    good = sum(r["label"] for r in rows)
    if not good or good == len(rows):
        raise DataError(f"kto needs both desirable and undesirable examples (label: true and false); got {good} "
                        f"desirable of {len(rows)}")
    args = _hf.kto_config(spec, str(out_dir / "checkpoints"), dev, method=method)
    trainer = _hf.make_kto_trainer(model, tokenizer, Dataset.from_list(rows), args, peft, callbacks)
    _hf.use_loraplus(trainer, getattr(method, "loraplus_lr_ratio", None))
    result = run_trainer(trainer, resume_from, examples=len(rows), desirable=good, undesirable=len(rows) - good,
                         beta=spec.beta, loss_type=spec.loss_type)
    drop_ref_adapter(result["model"])
    return result
