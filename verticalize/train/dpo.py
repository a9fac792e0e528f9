"""Direct preference optimisation through TRL's DPOTrainer (LoRA, QLoRA or full)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verticalize.train import _hf
from verticalize.train.common import drop_ref_adapter, run_trainer

__all__ = ["train_dpo"]


def train_dpo(spec: Any, method: Any, model: Any, tokenizer: Any, examples: list[dict[str, Any]], out_dir: Path,
              peft: Any, dev: Any, callbacks: list[Any], resume_from: Path | None = None) -> dict[str, Any]:
    """With LoRA/QLoRA the reference policy is the model with its adapter switched off: the base
    for a first stage; for a DPO stage after an SFT stage on the same adapter, also the base (see
    the README's stages section)."""
    from datasets import Dataset

    from verticalize.errors import DataError

    rows = [{"prompt": ex["prompt"], "chosen": ex["chosen"], "rejected": ex["rejected"]}
            for ex in examples if "chosen" in ex]
    if not rows:
        raise DataError("DPO needs preference examples (format: preference: prompt, chosen, rejected); got none")
    args = _hf.dpo_config(spec, str(out_dir / "checkpoints"), dev, method=method)
    trainer = _hf.make_dpo_trainer(model, tokenizer, Dataset.from_list(rows), args, peft, callbacks)
    _hf.use_loraplus(trainer, getattr(method, "loraplus_lr_ratio", None))
    result = run_trainer(trainer, resume_from, examples=len(rows), beta=spec.beta, loss_type=spec.loss_type)
    drop_ref_adapter(result["model"])  # after an SFT stage TRL keeps a frozen copy as the reference: not saved
    return result
