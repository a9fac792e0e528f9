"""Crash-safe checkpoints: a checkpoint counts only once it is complete.

The Trainer writes ``checkpoint-N/`` file by file; a process killed halfway leaves a dir that
looks like a checkpoint but is not one. :class:`CheckpointMarker` writes ``verticalize.json``
into the dir after the Trainer's save has returned (``on_save``), atomically (write, then
rename), and :func:`last_complete_checkpoint` only ever returns dirs that carry it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

__all__ = ["CheckpointMarker", "last_complete_checkpoint", "MARKER"]

MARKER = "verticalize.json"
_CKPT = re.compile(r"^checkpoint-(\d+)$")


class CheckpointMarker(TrainerCallback):
    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if not state.is_world_process_zero:
            return
        d = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not d.is_dir():
            return
        tmp = d / (MARKER + ".tmp")
        tmp.write_text(json.dumps({"global_step": state.global_step, "complete": True}), encoding="utf-8")
        os.replace(tmp, d / MARKER)


def last_complete_checkpoint(checkpoints_dir: str | Path) -> Path | None:
    """The newest ``checkpoint-N`` under the dir whose save finished, else None."""
    root = Path(checkpoints_dir)
    if not root.is_dir():
        return None
    found = []
    for d in root.iterdir():
        m = _CKPT.match(d.name)
        if m and (d / MARKER).is_file() and (d / "trainer_state.json").is_file():
            found.append((int(m.group(1)), d))
    return max(found)[1] if found else None
