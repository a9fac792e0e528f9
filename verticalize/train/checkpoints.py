"""Crash-safe checkpoints: a checkpoint counts only once it is complete, and only while it is intact.

The Trainer writes ``checkpoint-N/`` file by file; a process killed halfway leaves a dir that
looks like a checkpoint but is not one. :class:`CheckpointMarker` writes ``verticalize.json``
into the dir after the Trainer's save has returned (``on_save``), atomically (write, then
rename), recording every file's size and sha256 (files over ``FULL_HASH_MAX`` bytes: a sha256 of
their size and 16 evenly spaced 1 MiB blocks, so a large checkpoint costs milliseconds, not
minutes), after flushing them to disk.

:func:`last_complete_checkpoint` returns the newest dir that carries the marker and still matches
it -- every file present, of the recorded size and hash, ``trainer_state.json`` readable and at the
dir's step. A dir that claimed completion but no longer matches (a truncated file, a damaged
``trainer_state.json``, a marker edited by hand) is skipped with a warning naming it and why, and
the next older good one is used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

__all__ = ["CheckpointMarker", "last_complete_checkpoint", "check_checkpoint", "discard_after", "write_marker",
           "prune_checkpoints",
           "MARKER", "FULL_HASH_MAX"]

log = logging.getLogger("verticalize")

MARKER = "verticalize.json"
MARKER_FORMAT = 2
FULL_HASH_MAX = 256 << 20
_BLOCK = 1 << 20
_SAMPLES = 16
_CKPT = re.compile(r"^checkpoint-(\d+)$")


def _file_entry(f: Path, sync: bool = False) -> dict[str, Any]:
    """size and sha256 (or, above FULL_HASH_MAX, sampled_sha256) of one file."""
    with f.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        h = hashlib.sha256()
        if size <= FULL_HASH_MAX:
            for chunk in iter(lambda: fh.read(_BLOCK), b""):
                h.update(chunk)
            entry: dict[str, Any] = {"size": size, "sha256": h.hexdigest()}
        else:
            h.update(str(size).encode())
            for i in range(_SAMPLES):
                fh.seek((size - _BLOCK) * i // (_SAMPLES - 1))
                h.update(fh.read(_BLOCK))
            entry = {"size": size, "sampled_sha256": h.hexdigest()}
        if sync:
            try:
                os.fsync(fh.fileno())
            except OSError:  # some platforms refuse fsync on a read-only descriptor
                pass
    return entry


def _files(d: Path) -> list[Path]:
    return sorted(f for f in d.rglob("*") if f.is_file() and f.name not in (MARKER, MARKER + ".tmp"))


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_marker(d: Path, global_step: int) -> None:
    """Record ``d`` as a complete checkpoint: every file's size and hash, flushed to disk first."""
    files = {f.relative_to(d).as_posix(): _file_entry(f, sync=True) for f in _files(d)}
    tmp = d / (MARKER + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump({"format": MARKER_FORMAT, "global_step": global_step, "complete": True, "files": files}, fh,
                  indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, d / MARKER)
    _fsync_dir(d)


class CheckpointMarker(TrainerCallback):
    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if not state.is_world_process_zero:
            return
        d = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not d.is_dir():
            return
        write_marker(d, state.global_step)


def check_checkpoint(d: str | Path) -> str | None:
    """Why ``d`` is not a usable checkpoint (None: it is): no completion marker, a damaged marker or
    ``trainer_state.json``, or a file missing, truncated or changed since the save."""
    d = Path(d)
    m = _CKPT.match(d.name)
    marker = d / MARKER
    if not marker.is_file():
        return "no completion marker (its save never finished)"
    try:
        rec = json.loads(marker.read_text(encoding="utf-8"))
        if not isinstance(rec, dict) or rec.get("complete") is not True:
            raise ValueError("not a completion record")
        files = rec.get("files", {})
        if not isinstance(files, dict) or any(not isinstance(v, dict) for v in files.values()):
            raise ValueError("its file list is malformed")
    except (OSError, ValueError) as e:
        return f"{MARKER} is damaged ({_one_line(e)})"
    state = d / "trainer_state.json"
    if not state.is_file():
        return "trainer_state.json is missing"
    for rel, want in files.items():
        f = d / rel
        if not f.is_file():
            return f"{rel} is missing"
        size, want_size = f.stat().st_size, want.get("size")
        if not isinstance(want_size, int):
            return f"{MARKER} is damaged (no size recorded for {rel})"
        if size != want_size:
            return f"{rel} is {size:,} bytes, {want_size:,} when saved ({'truncated' if size < want_size else 'changed'})"
        kind = "sha256" if "sha256" in want else "sampled_sha256"
        try:
            now = _file_entry(f).get(kind)
        except OSError as e:
            return f"{rel} cannot be read ({e.strerror or e})"
        if now != want.get(kind):
            return f"{rel} changed since the save (sha256 {str(want.get(kind))[:12]} then, {str(now)[:12]} now)"
    try:
        ts = json.loads(state.read_text(encoding="utf-8"))
        step = ts.get("global_step") if isinstance(ts, dict) else None
    except (OSError, ValueError) as e:
        return f"trainer_state.json is damaged ({_one_line(e)})"
    if m and step != int(m.group(1)):
        return f"trainer_state.json is damaged (global_step {step!r}, the dir says {m.group(1)})"
    return None


def _one_line(e: object) -> str:
    return " ".join(str(e).split())[:200]


def _candidates(root: Path) -> list[tuple[int, Path]]:
    found = []
    for d in root.iterdir():
        m = _CKPT.match(d.name)
        if m and d.is_dir():
            found.append((int(m.group(1)), d))
    return sorted(found, reverse=True)


def last_complete_checkpoint(checkpoints_dir: str | Path, *, warn: bool = True) -> Path | None:
    """The newest ``checkpoint-N`` under the dir whose save finished and which is still intact, else None.
    A newer one that was marked complete but fails :func:`check_checkpoint` is named in a warning."""
    root = Path(checkpoints_dir)
    if not root.is_dir():
        return None
    for _, d in _candidates(root):
        why = check_checkpoint(d)
        if why is None:
            return d
        if warn and (d / MARKER).exists():
            log.warning("checkpoint %s is damaged: %s; falling back to an older checkpoint", d, why)
    return None


def discard_after(checkpoints_dir: str | Path, keep: Path | None) -> list[Path]:
    """Remove the checkpoint dirs newer than ``keep`` (unfinished or damaged ones: the resumed run saves
    those steps again), so that no stale file of theirs is mixed into a new save. Returns them."""
    root = Path(checkpoints_dir)
    if not root.is_dir():
        return []
    floor = int(_CKPT.match(keep.name).group(1)) if keep is not None else -1  # type: ignore[union-attr]
    gone = [d for n, d in _candidates(root) if n > floor]
    for d in gone:
        shutil.rmtree(d, ignore_errors=True)
    return gone


def prune_checkpoints(checkpoints_dir: str | Path, keep: int) -> list[Path]:
    """A finished run's checkpoints: keep the newest ``keep`` intact ones (``train.keep_checkpoints``),
    remove the rest (and the dir when none is kept). Returns the ones kept."""
    root = Path(checkpoints_dir)
    if not root.is_dir():
        return []
    kept = [d for _, d in _candidates(root) if check_checkpoint(d) is None][: max(0, keep)]
    for _, d in _candidates(root):
        if d not in kept:
            shutil.rmtree(d, ignore_errors=True)
    if not kept:
        shutil.rmtree(root, ignore_errors=True)
    return kept
