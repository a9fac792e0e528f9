"""What every training kind does around ``trainer.train()``: resume, time, collect metrics."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

__all__ = ["run_trainer", "trainable_params"]


def run_trainer(trainer: Any, resume_from: str | Path | None, **extra: Any) -> dict[str, Any]:
    """Train (from ``resume_from``, a complete checkpoint dir, when given); returns the stage result."""
    t0 = time.perf_counter()
    out = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    seconds = time.perf_counter() - t0
    metrics = {k: float(v) for k, v in out.metrics.items() if isinstance(v, (int, float))}
    metrics.update(global_step=trainer.state.global_step, train_seconds=round(seconds, 3),
                   trainable_params=trainable_params(trainer.model), **extra)
    if resume_from:
        metrics["resumed_from"] = Path(resume_from).name
    return {"metrics": metrics, "model": trainer.model, "log_history": trainer.state.log_history, "trainer": trainer}


def trainable_params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
