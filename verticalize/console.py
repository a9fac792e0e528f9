"""What the user sees while a run works, and the run's log file that keeps everything else.

While :func:`run_log` is active (``execute`` and ``Run.evaluate`` open one on ``<run>/run.log``):

- the console (stderr) shows verticalize's own lines and progress bars -- one bar per training stage
  and one per evaluated suite (:func:`bar`, :class:`Meter`) -- and warnings that concern the run
  (verticalize's own, a plugin's, the user's code);
- the log file gets all of that plus what the libraries write: datasets / transformers / TRL progress
  bars (one line each, in their final state), their logging, and their deprecation warnings.

Library output is caught where it is written: ``sys.stderr`` is swapped for a stream into the log
(a ``tqdm`` bar writes to whatever ``sys.stderr`` is when it is created; ``logging``'s last-resort
handler writes to ``sys.stderr`` when it emits), library log handlers bound to the real stderr are
pointed at the log, and ``warnings.showwarning`` sorts warnings. Everything is put back afterwards.
Writing the log is best effort: a full disk never stops a run because of its log.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

__all__ = ["LIBRARIES", "Meter", "bar", "bars_enabled", "close_bar", "console", "log", "run_log"]

#: top-level packages whose output belongs in the log, not on the console
LIBRARIES = frozenset({
    "torch", "transformers", "trl", "peft", "datasets", "accelerate", "huggingface_hub", "tokenizers", "safetensors",
    "bitsandbytes", "evaluate", "pyarrow", "numpy", "multiprocess", "dill", "fsspec", "tqdm", "gguf", "jinja2",
    "torchvision", "triton", "kernels", "sentencepiece", "tiktoken", "filelock", "urllib3", "httpx", "requests",
    "matplotlib", "scipy", "sklearn", "pandas", "PIL", "packaging", "xxhash", "aiohttp", "torchao", "deepspeed"})
_PKG = Path(__file__).resolve().parent
_SITE = re.compile(r"[/\\](?:site|dist)-packages[/\\]([^/\\]+)")


class _Log:
    """Appends timestamped lines to one file (opened per write: no handle held, so the run dir can be renamed
    while the log is active, on any OS)."""

    def __init__(self, path: Path, rank: int = 0):
        self.path = Path(path)
        self.prefix = f"[rank {rank}] " if rank else ""
        self._lock = threading.Lock()

    def write(self, source: str, text: str) -> None:
        lines = [ln.rstrip() for ln in str(text).splitlines() if ln.strip()]
        if not lines:
            return
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        chunk = "".join(f"{stamp} {self.prefix}{source}: {ln}\n" for ln in lines)
        with self._lock:
            try:
                with self.path.open("a", encoding="utf-8", errors="replace") as fh:
                    fh.write(chunk)
            except OSError:  # best effort: the log never stops a run (a full disk is reported by the run's writes)
                pass


class _LogStream(io.TextIOBase):
    """A text stream into the log, line by line. Carriage returns are how progress bars redraw their line:
    only the last state of each line is kept (a bar becomes one line: its final state)."""

    def __init__(self, log: _Log, source: str, real: TextIO | None):
        self._log, self._source, self._real = log, source, real
        self._cur = ""    # the text of the line being written
        self._shown = ""  # the line's last non-blank state before a carriage return
        self._lock = threading.Lock()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:  # a child process inherits the real stderr, as it did before
        if self._real is None:
            raise io.UnsupportedOperation("fileno")
        return self._real.fileno()

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            s = str(s)
        with self._lock:
            for piece in re.split(r"(\r|\n)", s):
                if piece == "\n":
                    self._emit(self._cur if self._cur.strip() else self._shown)
                elif piece == "\r":
                    if self._cur.strip():
                        self._shown = self._cur
                    elif self._cur and self._shown:  # a bar clearing its line (leave=False): keep its last state
                        self._emit(self._shown)
                    self._cur = ""
                else:
                    self._cur += piece
        return len(s)

    def _emit(self, line: str) -> None:
        if line.strip():
            self._log.write(self._source, line)
        self._cur = self._shown = ""

    def finish(self) -> None:
        with self._lock:
            self._emit(self._cur if self._cur.strip() else self._shown)


class _ToLog(logging.Handler):
    def __init__(self, log: _Log):
        super().__init__(logging.NOTSET)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._log.write(f"{record.name} {record.levelname.lower()}", self.format(record))
        except Exception:  # noqa: BLE001 -- logging must never raise
            self.handleError(record)


class _Active:
    def __init__(self, log: _Log, real: TextIO | None):
        self.log, self.real = log, real


_stack: list[_Active] = []


def console() -> TextIO | None:
    """The stream the user reads (the real stderr, also while a run log is active)."""
    return _stack[-1].real if _stack else sys.stderr


def log(text: str, source: str = "verticalize") -> None:
    """Append lines to the active run log (nothing when none is active)."""
    if _stack:
        _stack[-1].log.write(source, str(text).removeprefix("[verticalize] "))


def _library_of(filename: str) -> str | None:
    try:
        path = Path(filename).resolve()
    except (OSError, ValueError):
        return None
    if path.is_relative_to(_PKG):
        return None
    m = _SITE.search(str(path))
    top = m.group(1).split(".")[0] if m else None
    return top if top in LIBRARIES else None


def _concerns_user(category: type[Warning], filename: str) -> bool:
    """Verticalize's own warnings, a plugin's and the user's code's: yes. A library's deprecation or its own
    chatter (a missing optional module, a default it changed): no -- those go to the log only."""
    try:
        if Path(filename).resolve().is_relative_to(_PKG):
            return True
    except (OSError, ValueError):
        pass
    if issubclass(category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
        return False
    return _library_of(filename) is None


@contextlib.contextmanager
def run_log(path: str | Path, *, rank: int = 0) -> Iterator[Path]:
    """Route library output (progress bars, logging, warnings) into ``path`` for the duration; see the module
    docstring. Re-entrant: inside an active log of the same file it does nothing."""
    path = Path(path)
    if _stack and _stack[-1].log.path == path:
        yield path
        return
    real = console()
    the_log = _Log(path, rank)
    saved_stderr = sys.stderr
    stream = _LogStream(the_log, "stderr", saved_stderr)
    streams = [stream]
    # library handlers bound to the real stderr (transformers', datasets' default handlers): into the log
    swapped: list[tuple[logging.StreamHandler, Any]] = []
    for name, lg in list(logging.root.manager.loggerDict.items()):
        if not isinstance(lg, logging.Logger) or name.split(".")[0] not in LIBRARIES:
            continue
        for h in lg.handlers:
            if _settable(h) and not isinstance(h, logging.FileHandler) and h.stream in (saved_stderr, sys.__stderr__):
                s = _LogStream(the_log, name, saved_stderr)
                streams.append(s)
                swapped.append((h, h.setStream(s)))
    # verticalize's own logger: to the log always, and to the console as Python would (when nothing else handles it)
    vlog = logging.getLogger("verticalize")
    added: list[logging.Handler] = [_ToLog(the_log)]
    added[0].setLevel(logging.WARNING)
    if not vlog.hasHandlers() and real is not None:
        shown = logging.StreamHandler(real)
        shown.setLevel(logging.WARNING)
        added.append(shown)
    for h in added:
        vlog.addHandler(h)
    old_show = warnings.showwarning

    def show(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        if file is not None:
            return old_show(message, category, filename, lineno, file, line)
        text = warnings.formatwarning(message, category, filename, lineno, line)
        the_log.write("warning", text)
        if real is not None and _concerns_user(category, filename):
            try:
                real.write(text)
            except (OSError, ValueError):
                pass

    warnings.showwarning = show
    sys.stderr = stream
    _stack.append(_Active(the_log, real))
    try:
        yield path
    finally:
        _stack.pop()
        if sys.stderr is stream:
            sys.stderr = saved_stderr
        if warnings.showwarning is show:
            warnings.showwarning = old_show
        for h in added:
            vlog.removeHandler(h)
        for h, old in swapped:
            if h.stream in streams:
                h.setStream(old)
        # handlers created meanwhile (a library imported during the run) captured the swapped stderr: back to the real one
        for lg in [logging.root, *logging.root.manager.loggerDict.values()]:
            for h in getattr(lg, "handlers", []):
                if _settable(h) and h.stream in streams:
                    h.setStream(saved_stderr)
        for s in streams:
            s.finish()


def _settable(h: logging.Handler) -> bool:
    """A StreamHandler with a stream of its own (not one like logging's last resort, which reads sys.stderr)."""
    return isinstance(h, logging.StreamHandler) and not isinstance(getattr(type(h), "stream", None), property)


def bars_enabled(quiet: bool = False) -> bool:
    """Whether our progress bars are drawn: not ``quiet``, not ``-q`` (TQDM_DISABLE), and a console exists."""
    return not quiet and os.environ.get("TQDM_DISABLE", "").lower() in ("", "0", "false") and console() is not None


def bar(total: float | None, desc: str, unit: str, *, quiet: bool = False, initial: int = 0) -> Any:
    """A tqdm bar on the console (None when bars are off); close it with :func:`close_bar`."""
    if not bars_enabled(quiet):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True, leave=True, file=console())


def close_bar(b: Any) -> None:
    """Close a bar from :func:`bar`; its final state goes to the run log."""
    if b is None:
        return
    try:
        log(str(b), "progress")
    finally:
        b.close()


class _SuiteTicks:
    """Counts one suite's examples as they are done (fractions allowed: an option's share of a question)."""

    def __init__(self, b: Any, total: int):
        self.bar, self.total, self._done = b, total, 0.0
        self.last: float | None = None

    def __call__(self, n: float) -> None:
        if self.bar is None:
            return
        self._done = min(float(self.total), self._done + n)
        step = int(self._done) - self.bar.n
        if step > 0:
            self.bar.update(step)

    def score(self, value: float) -> None:
        self.last = float(value)
        if self.bar is not None:
            self.bar.set_postfix(score=f"{value:.3f}", refresh=False)


class Meter:
    """Progress of an evaluation: one bar per suite, examples done of the suite's total
    (``eval after: finance  12/24 [00:10, 1.2ex/s]``), like the training bar."""

    def __init__(self, desc: str = "eval", quiet: bool = False):
        self.desc, self.quiet = desc, quiet

    @contextlib.contextmanager
    def suite(self, name: str, total: int) -> Iterator[Callable[[float], None]]:
        b = bar(total, f"{self.desc}: {name}", "ex", quiet=self.quiet)
        ticks = _SuiteTicks(b, total)
        t0 = time.perf_counter()
        try:
            yield ticks
            if b is not None and b.n < total:
                b.update(total - b.n)
            if b is None:  # no bar to leave its final state in the log: a line instead
                score = f", score {ticks.last:.3f}" if ticks.last is not None else ""
                log(f"{self.desc}: {name}: {total}/{total} questions{score}, {time.perf_counter() - t0:.1f} s",
                    "progress")
        finally:
            close_bar(b)


class _NoMeter:
    @contextlib.contextmanager
    def suite(self, name: str, total: int) -> Iterator[Callable[[float], None]]:
        yield _SuiteTicks(None, total)


NO_METER = _NoMeter()
