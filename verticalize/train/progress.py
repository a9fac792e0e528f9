"""A TrainerCallback that draws a progress bar and appends every log line to train_log.jsonl.

The bar is drawn on the console (``verticalize.console``: also while the run's log file takes the
libraries' output) and its final state goes to that log."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

__all__ = ["ProgressLog"]


class ProgressLog(TrainerCallback):
    def __init__(self, log_path: Path, show: bool = True, desc: str = "train", truncate_after: int | None = None):
        """``truncate_after``: resuming from that step's checkpoint, drop the log lines of later steps
        (the crashed run logged them; the resumed run logs them again)."""
        self.log_path = Path(log_path)
        if truncate_after is not None and self.log_path.is_file():
            keep = [ln for ln in self.log_path.read_text("utf-8", errors="replace").splitlines()
                    if _step(ln) is not None and _step(ln) <= truncate_after]  # a line cut by a full disk: dropped
            self.log_path.write_text("".join(k + "\n" for k in keep), encoding="utf-8")
        self.show = show
        self.desc = desc
        self.bar: Any = None
        self.step_times: list[float] = []
        self._t = 0.0

    def on_train_begin(self, args, state, control, **kw):
        if self.show:
            from verticalize.console import bar

            self.bar = bar(state.max_steps, self.desc, "step", initial=state.global_step)

    def on_step_begin(self, args, state, control, **kw):
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self.step_times.append(time.perf_counter() - self._t)
        if self.bar is not None:
            self.bar.update(1)

    def on_log(self, args, state, control, logs=None, **kw):
        if not logs or not state.is_world_process_zero:
            return
        row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), **logs}
        with self.log_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, default=float) + "\n")
        from verticalize.console import log

        log(f"{self.desc} step {state.global_step}: " + ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in logs.items()), "train")
        if self.bar is not None and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}")

    def on_train_end(self, args, state, control, **kw):
        if self.bar is not None:
            from verticalize.console import close_bar

            close_bar(self.bar)
            self.bar = None


def _step(line: str) -> int | None:
    """The step of one log line; None for a blank or unreadable (half-written) line."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    step = row.get("step", 0) if isinstance(row, dict) else None
    return step if isinstance(step, int) else None
