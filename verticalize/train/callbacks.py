"""TrainerCallbacks of our own (beside ProgressLog and CheckpointMarker): the bridge to Reporters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import TrainerCallback

__all__ = ["ReporterCallback"]


class ReporterCallback(TrainerCallback):
    """Hands each logging step's numeric metrics to the run's Reporters (see verticalize.strategies)."""

    def __init__(self, reporters: list[Any]):
        self.reporters = list(reporters)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        values = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float))}
        stage = Path(args.output_dir).parent.name  # <run>/checkpoints or <run>/stages/NN-kind/checkpoints
        for r in self.reporters:
            r.metrics(values, step=state.global_step, stage=stage)
