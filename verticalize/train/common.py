"""What every training kind does around ``trainer.train()``: resume, time, collect metrics."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

__all__ = ["run_trainer", "trainable_params", "drop_ref_adapter"]


def run_trainer(trainer: Any, resume_from: str | Path | None, **extra: Any) -> dict[str, Any]:
    """Train (from ``resume_from``, a complete checkpoint dir, when given); returns the stage result."""
    t0 = time.perf_counter()
    if resume_from and _finished(trainer, Path(resume_from)):
        # the checkpoint is the last step (the run died after it, e.g. in the final save): the Trainer would
        # take one step more, so load its weights and state instead of training
        from verticalize.train import _hf

        _hf.load_checkpoint(trainer, Path(resume_from))
        losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
        metrics: dict[str, float] = {"train_loss": sum(losses) / len(losses)} if losses else {}
    else:
        out = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        metrics = {k: float(v) for k, v in out.metrics.items() if isinstance(v, (int, float))}
    seconds = time.perf_counter() - t0
    metrics.update(global_step=trainer.state.global_step, train_seconds=round(seconds, 3),
                   trainable_params=trainable_params(trainer.model), **extra)
    if resume_from:
        metrics["resumed_from"] = Path(resume_from).name
    return {"metrics": metrics, "model": trainer.model, "log_history": trainer.state.log_history, "trainer": trainer}


def _finished(trainer: Any, ckpt: Path) -> bool:
    import json

    try:
        step = json.loads((ckpt / "trainer_state.json").read_text("utf-8"))["global_step"]
    except (OSError, ValueError, KeyError):
        return False
    return 0 < trainer.args.max_steps <= step


def trainable_params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def drop_ref_adapter(model: Any) -> None:
    """Remove the frozen ``ref`` adapter TRL adds beside a continued adapter (its reference policy), so that
    only the trained adapter is saved."""
    cfg = getattr(model, "peft_config", None)
    if isinstance(cfg, dict) and "ref" in cfg and "default" in cfg:
        model.set_adapter("default")
        model.delete_adapter("ref")
