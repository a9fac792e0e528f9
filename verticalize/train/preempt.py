"""Preemption: SIGTERM (what Slurm, Kubernetes and spot instances send) or SIGINT during training
stops the run cleanly.

The first signal asks the trainer to finish the optimizer step it is in, save a complete
checkpoint (``CheckpointMarker`` marks it) and stop; the run then ends with :class:`Preempted`
("resume with ..."), exit code 128 + the signal's number. A second signal exits at once: a save it
interrupts has no completion marker, so resuming takes the last complete checkpoint. The bound on
the time to stop is one optimizer step plus one checkpoint save.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

from transformers import TrainerCallback

from verticalize.errors import RunError

__all__ = ["Preempted", "Preemption"]

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(RunError):
    """The run was stopped by a signal after saving a complete checkpoint."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class Preemption(TrainerCallback):
    """Installs the signal handlers while training (main thread only) and stops the trainer at the
    end of the current step with a checkpoint save when a signal arrived."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Preemption:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:
            _say(f"[verticalize] second {name}: exiting now; the last complete checkpoint is kept")
            os._exit(128 + signum)
        self.signum = signum
        _say(f"[verticalize] {name}: saving a checkpoint at the end of this step, then stopping "
             "(send it again to exit at once)")

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.signum is not None:
            control.should_save = True
            control.should_training_stop = True


def _say(text: str) -> None:
    """A line on the console (also while the run's log takes stderr) and in the run's log."""
    from verticalize.console import console, log

    log(text)
    out = console() or sys.stderr
    if out is not None:
        out.write(f"\n{text}\n")
        out.flush()
