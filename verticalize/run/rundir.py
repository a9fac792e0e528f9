"""The run dir's conventions: where it goes, how it is written (rank 0 only, atomically), who holds it
(one process at a time: ``<output_dir>.lock``), what a failed write becomes (one line naming the path
and the cause), and when an unfinished one may be resumed."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from verticalize.errors import RunError, VerticalizeError
from verticalize.recipe import Recipe, load_recipe

__all__ = ["default_output_dir", "write_json", "rank_and_world", "Writer", "stage_dirs", "write_recipe",
           "nothing_trained", "resumable", "RunLock", "write_failure", "read_manifest", "write_manifest",
           "check_paths", "outside", "writing", "MANIFEST_CHECKSUM"]

log = logging.getLogger("verticalize")


def default_output_dir(recipe: Recipe) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = Path(recipe.base.model).name.replace(":", "-").lower()
    return Path("runs") / f"{Path(recipe.domain).name if recipe.domain else 'custom'}-{name}-{stamp}"


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: a temp file, then a rename; a failed write leaves the old file as it was."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with writing(path):
            tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------------------- the manifest
#: the key under which manifest.json carries the sha256 of the rest of itself
MANIFEST_CHECKSUM = "checksum"
_MANIFEST_TYPES: dict[str, type | tuple[type, ...]] = {
    "status": str, "started": str, "finished": str, "recipe_sha256": str, "data_sha256": str, "resumed": list,
    "metrics": dict, "timings": dict, "versions": dict, "data": dict, "device": dict, "base": dict, "stages": list,
    "world_size": int, "artifact": str,
}


def _manifest_sha(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != MANIFEST_CHECKSUM}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """manifest.json with a checksum of its own content, so that an edit by hand is noticed when read."""
    data = {k: v for k, v in manifest.items() if k != MANIFEST_CHECKSUM}
    data = json.loads(json.dumps(data, ensure_ascii=False, default=str))  # what will be on disk
    write_json(path, {**data, MANIFEST_CHECKSUM: _manifest_sha(data)})


def read_manifest(path: Path, *, strict: bool = True) -> dict[str, Any]:
    """Read a run's manifest.json. Damaged (not JSON, not a mapping, a key of the wrong type): a RunError
    naming the file and the key -- or, with ``strict=False``, a warning and ``{}``. Edited by hand (its
    checksum does not match): a warning naming the file; its values are used as they are."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        bad = [f"a JSON {type(data).__name__}, not an object"] if not isinstance(data, dict) else [
            f"{k} is a {type(data[k]).__name__}" for k, t in _MANIFEST_TYPES.items()
            if k in data and data[k] is not None and not isinstance(data[k], t)]
    except (OSError, ValueError) as e:
        bad = [" ".join(str(e).split())]
    if bad:
        why = f"{path} is damaged ({'; '.join(bad)})"
        if strict:
            raise RunError(why) from None
        log.warning("%s; ignoring it", why)
        return {}
    want = data.get(MANIFEST_CHECKSUM)
    if want is not None and want != _manifest_sha(data):
        log.warning("%s was changed after verticalize wrote it (its checksum does not match): it was edited by hand "
                    "or damaged; its values are used as they are", path)
    return data


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment (torchrun and accelerate set both)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


class Writer:
    """Writes only on rank 0; every other rank's writes are no-ops. Progress lines go to the
    Reporters: the console's (``PrintReporter``, silent when ``quiet``) and the recipe's."""

    def __init__(self, work: Path, main: bool, quiet: bool, reporters: list[Any] = ()):
        from verticalize.strategies import PrintReporter

        self.work, self.main, self.quiet = work, main, quiet
        self.reporters = list(reporters)  # the recipe's: they also get training metrics and scores
        self._console = PrintReporter(quiet)

    def say(self, msg: str) -> None:
        if self.main:
            from verticalize.console import log

            log(msg)  # the run's log file keeps every line, quiet or not
            for r in (self._console, *self.reporters):
                r.message(msg)

    def json(self, name: str | Path, data: Any) -> None:
        if self.main:
            if str(name) == "manifest.json":
                write_manifest(self.work / name, data)
            else:
                write_json(self.work / name, data)


def stage_dirs(recipe: Recipe, work: Path) -> list[Path]:
    specs = recipe.stages
    if len(specs) == 1:
        return [work]
    return [work / "stages" / f"{i + 1:02d}-{s.kind}" for i, s in enumerate(specs)]


def write_recipe(recipe: Recipe, path: Path) -> None:
    """The run's recipe.yaml. Strategy objects without an import path are written as their class's
    path under a comment saying so: the run works, but resuming it needs them importable."""
    bad = [ref.portable for _, ref in recipe.refs() if ref.portable]
    if not bad:
        recipe.to_yaml(path)
        return
    import yaml

    head = "".join(f"# not repeatable from this file: {b}\n" for b in bad)
    path.write_text(head + yaml.safe_dump(recipe.to_dict(), sort_keys=False, allow_unicode=True), encoding="utf-8")


def nothing_trained(work: Path) -> bool:
    """True while no stage has started training (no checkpoint, no log): nothing of value to keep."""
    if not work.is_dir():
        return True
    return not any(work.rglob("checkpoint-*")) and not any(work.rglob("train_log.jsonl"))


def resumable(final: Path, work: Path) -> Recipe:
    if not work.is_dir():
        if (final / "manifest.json").is_file():
            raise RunError(f"{final} is a finished run: nothing to resume")
        raise RunError(f"nothing to resume: {work} does not exist")
    if not (work / "recipe.yaml").is_file():
        raise RunError(f"{work} has no recipe.yaml: not a verticalize run dir")
    return load_recipe(work / "recipe.yaml", trust_code=True)  # written by this run, trusted when it started


# ------------------------------------------------------------------------------------------- the run lock
class RunLock:
    """One process at a time per run dir: an exclusive OS lock on ``<output_dir>.lock``, which also records
    the holder (pid, host, start). The OS drops the lock when the holder exits, however it exits (SIGKILL
    included), so a crashed run never blocks the next one. The file is removed on a clean release."""

    def __init__(self, final: Path):
        self.path = final.with_name(final.name + ".lock")
        self.final = final
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if not _try_lock(fd):
                    holder = _read_holder(fd)
                    raise RunError(f"{self.final} is in use by another verticalize process ({holder}): a run dir takes "
                                   f"one process at a time; wait for it to finish or stop it (the lock is {self.path})")
                try:
                    same = os.path.samestat(os.fstat(fd), os.stat(self.path))
                except FileNotFoundError:
                    same = False
                if not same:  # the previous holder removed the file between our open and our lock: retry
                    os.close(fd)
                    continue
                os.ftruncate(fd, 0)
                info = {"pid": os.getpid(), "host": socket.gethostname(),
                        "since": datetime.now(timezone.utc).isoformat(timespec="seconds"), "argv": sys.argv[:4]}
                os.write(fd, json.dumps(info).encode())
                self._fd = fd
                return
            except BaseException:
                if self._fd != fd:
                    os.close(fd)
                raise

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still holding it: a waiter that opened it retries
        except OSError:
            pass
        os.close(self._fd)  # closing drops the lock
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    _LOCK_AT = 1 << 30  # lock a byte far past the holder's info, which stays readable

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _LOCK_AT, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
        return True
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        return True


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8") or "{}")
        return f"pid {info['pid']} on {info.get('host', '?')}, since {info.get('since', '?')}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not written its pid yet"


# ------------------------------------------------------------------------------------------- failed writes
#: errno values that mean "the disk said no" (full, over quota, over the file size limit, read-only, I/O)
_WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EIO}
#: how libraries report those without an errno (torch's zip writer, safetensors' Rust IO errors)
_WRITE_TEXT = {"no space left": errno.ENOSPC, "os error 28": errno.ENOSPC, "file too large": errno.EFBIG,
               "os error 27": errno.EFBIG, "disk quota": errno.EDQUOT, "os error 122": errno.EDQUOT,
               "read-only file system": errno.EROFS, "os error 30": errno.EROFS}
_WRITER_TEXT = ("file write failed", "iostream error", "unexpected pos", "pytorchstreamwriter", "error while serializing")


def _chain(e: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = e
    while cur is not None and cur not in out and len(out) < 16:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _newest_file(root: Path) -> Path | None:
    best: tuple[float, Path] | None = None
    try:
        for f in root.rglob("*"):
            try:
                if f.is_file():
                    t = f.stat().st_mtime
                    if best is None or t > best[0]:
                        best = (t, f)
            except OSError:
                continue
    except OSError:
        return None
    return best[1] if best else None


def _being_written(work: Path) -> Path | None:
    """The path a failed library save was writing: the checkpoint dir it was filling (the newest file lies in
    a ``checkpoint-N`` dir with no completion marker), else the newest file under ``work``."""
    newest = _newest_file(work)
    if newest is None:
        return None
    for d in newest.parents:
        if d == work or work not in d.parents:
            break
        if d.name.startswith("checkpoint-") and not (d / "verticalize.json").exists():
            return d
    return newest


def _limits_hint(code: int | None, where: Path) -> str:
    """What the environment says about a failed write: the file size limit, the free space."""
    hints = []
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if soft != resource.RLIM_INFINITY and code in (errno.EFBIG, None):
            hints.append(f"the file size limit (ulimit -f) is {soft} bytes")
    except (ImportError, OSError, ValueError):
        pass
    try:
        d = where if where.is_dir() else where.parent
        while not d.exists() and d != d.parent:
            d = d.parent
        st = os.statvfs(d)
        free = st.f_bavail * st.f_frsize
        if code in (errno.ENOSPC, errno.EDQUOT, None) and free < (64 << 20):
            hints.append(f"{free:,} bytes free on that filesystem")
    except (AttributeError, OSError):
        pass
    return "".join(f"; {h}" for h in hints)


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Label an exception raised inside with the path being written (for :func:`write_failure`)."""
    try:
        yield
    except Exception as e:
        try:
            e.verticalize_path = Path(path)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):  # an exception type without a __dict__
            pass
        raise


def write_failure(e: BaseException, work: Path) -> tuple[Path | None, str] | None:
    """When ``e`` is a failed write (disk full, over quota or the file size limit, read-only, I/O error),
    (the path it was writing, the cause in words); else None. Libraries that report such failures
    without an errno (torch's checkpoint writer, safetensors) are recognised by their messages, the path
    then being the one :func:`writing` labelled, or the newest file under ``work`` (the one being written)."""
    if isinstance(e, VerticalizeError):
        return None
    hinted = next((x.verticalize_path for x in _chain(e) if getattr(x, "verticalize_path", None)), None)
    for x in _chain(e):
        if isinstance(x, OSError) and x.errno in _WRITE_ERRNOS:
            path = Path(x.filename) if x.filename else hinted or _being_written(work)
            return path, f"{x.strerror or os.strerror(x.errno)}{_limits_hint(x.errno, path or work)}"
    for x in _chain(e):
        text = str(x).lower()
        code = next((c for k, c in _WRITE_TEXT.items() if k in text), None)
        if code is not None or (isinstance(x, (RuntimeError, OSError)) or type(x).__name__ == "SafetensorError") \
                and any(k in text for k in _WRITER_TEXT):
            path = hinted or _being_written(work)
            cause = os.strerror(code) if code is not None else "the write failed"
            hint = _limits_hint(code, path or work)
            if code is None and not hint:
                cause += f": {' '.join(str(x).split())[:200]}"
            return path, cause + hint
    return None


# ------------------------------------------------------------------------------------------- where a recipe reaches
def outside(path: Path, root: Path) -> bool:
    """True when ``path`` (symlinks and ``..`` resolved) is not ``root`` or under it."""
    p = (root / path).resolve()
    r = root.resolve()
    return p != r and r not in p.parents


def check_paths(recipe: Recipe, *, explicit_output: bool, trust_paths: bool, cwd: Path | None = None) -> list[str]:
    """What a recipe may not do on its own (each a message; empty: nothing): choose a run dir outside the
    working directory, symlinks resolved (unless the caller gave the run dir: ``explicit_output``), or make
    training read a kernel or device file (/proc, /dev, /sys, a device, a FIFO, a socket). ``trust_paths``
    (``--trust-paths``) allows both."""
    if trust_paths:
        return []
    from verticalize.recipe import special_file

    cwd = cwd or Path.cwd()
    problems = []
    if not explicit_output and recipe.output_dir and outside(Path(recipe.output_dir).expanduser(), cwd):
        problems.append(f"output_dir: {recipe.output_dir} is outside the working directory {cwd}; a recipe may not "
                        "choose where outside it verticalize writes: give the run dir yourself (--output-dir, or "
                        "output_dir= in Python), or pass --trust-paths")
    refs = [(f"data[{i}].path", s.path) for i, s in enumerate(recipe.data) if s.path is not None]
    if recipe.replay is not None and isinstance(recipe.replay.source, str):
        refs.append(("replay.source", recipe.replay.source))
    if recipe.domain:
        refs.append(("domain", recipe.domain))
    for key, ref in refs:
        why = special_file(cwd / Path(ref).expanduser())
        if why:
            problems.append(f"{key}: {ref}: {why}; a recipe may not make verticalize read kernel or device files; "
                            "pass --trust-paths if you mean it")
    return problems
