"""Run Program-of-Thoughts programs (model-written Python) in a sandbox.

Isolation model - what is enforced by what:

* **Process boundary.** Programs never run in the caller. Each worker is a fresh interpreter
  (``python -I -B``, started with :mod:`subprocess`, never a fork of the caller) in its own
  session, with a stripped environment (``PATH``, ``LANG``, ``HOME``/``TMPDIR``, thread caps;
  none of the caller's variables, and ``-I`` ignores ``PYTHON*``). It imports the allowed modules
  once (numpy, sympy...) and forks *program processes* from that pristine, single-threaded state.
  A program process serves consecutive programs only while they are clean (status ok/error, no
  denial, no sympy/mpmath import, no attribute or module-level store, no known global-state
  mutator, no mutable module object read - see ``_state.py``; at most 200 programs); anything
  else gets a fresh process next time. Every program gets fresh globals, its own empty temp dir
  as cwd (removed after), and per-program stand-ins of the modules it imports, so rebinding e.g.
  ``math.pi`` never reaches another program; random/numpy RNG, numpy print/error options, the
  decimal context and ``calendar``'s first weekday are reset after each program.
  ``reuse=False`` forks a fresh process for every program: strictest, but several times
  slower where ``fork`` is expensive (~7x in a nested VM).
* **rlimits** (program process): ``RLIMIT_AS`` = interpreter size + ``memory_mb`` + 64 MB
  (-> "memory"), ``RLIMIT_CPU`` (a per-process budget, backstop of the wall clock),
  ``RLIMIT_FSIZE`` 16 MB, ``RLIMIT_NOFILE``, ``RLIMIT_NPROC`` = 0, ``RLIMIT_CORE`` = 0.
* **Landlock** (kernel, Linux >= 5.13, best effort; ``_landlock.py``): files may be opened only
  read-only in the Python installation and read-write in the worker's temp tree; TCP and
  signals outside the domain are refused where the kernel ABI allows.
* **seccomp-BPF** (kernel, Linux x86_64/aarch64, best effort; ``_seccomp.py``): no
  ``clone``/``fork``/``execve``, sockets, ``kill``/``tgkill``, ``ptrace``, ``setrlimit``,
  mounts/namespaces, links, ``io_uring``... This holds for root too (root ignores NPROC).
* **Audit hook** (PEP 578, cannot be removed; ``_guard.py``): ``open`` only in the program's temp
  dir (read-only in the Python installation); no socket/subprocess/``os.system``/``os.exec*``/
  ``os.fork``/``os.kill``/signals/ctypes/``gc`` introspection/env or rlimit changes/dangerous
  imports; any event not explicitly allowed is refused. ``os.system``, ``os.fork``,
  ``os.kill``... are also replaced by refusing stubs in the program process.
* **AST + builtins guard** (``_guard.py``): import allowlist (math, cmath, decimal, fractions,
  datetime, statistics, re, random, itertools, functools, collections, operator, string, json,
  heapq, bisect, calendar, numbers, typing, dataclasses, enum, copy, textwrap, time, and numpy,
  sympy, mpmath when installed); no dunder attributes (``__subclasses__``, ``__globals__``,
  ``__builtins__``...), private ``_x`` attributes, frame attributes, ``breakpoint``, ``globals``,
  ``vars``, ``compile``, ``input``. ``eval``/``exec`` ARE available, but only on source strings
  that pass the same AST check (programs do ``eval("1.05 ** 3")``); code objects are refused.
* **Wall clock, parent side.** The parent SIGKILLs the program process group when the timeout
  passes (the worker then forks a new one); a worker that stops answering is killed and
  replaced. Program processes die with their worker (``PR_SET_PDEATHSIG``); workers exit on EOF
  from the parent. Captured stdout is capped (``stdout_limit`` characters + a marker).

A rule break gives ``status="denied"`` (or "timeout"/"memory"), never an exception in the caller
(a refusal counts even if the program caught it). :class:`~verticalize.errors.SandboxError`
means the sandbox itself broke (a worker cannot start, or keeps dying).

Known limits: the Python-level guards are not a kernel sandbox. sympy's ``sympify`` (and any
sympy call given a string) ``eval``s with the real builtins, which gets past the AST/builtins
guard; from there the audit hook's own state can be reached and relaxed. What then still holds
is the kernel part - process boundary, stripped env, rlimits, seccomp and Landlock - so where
Landlock or seccomp is unavailable (older kernels, macOS, other CPUs, or ``landlock=False``/
``seccomp=False``) such an escape could read/write files or start processes as the worker's
user (and root ignores ``RLIMIT_NPROC``). There are no namespaces or chroot: a program can
``stat`` paths and read the Python installation. Disk use is capped per file, not in total. In a
reused program process, a guard escape or an in-place change to a library object reached
through a function's return value could influence later clean programs of the same worker
(never the caller); ``reuse=False`` rules this out.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable

from verticalize.errors import SandboxError
from verticalize.pot import _guard
from verticalize.pot._pool import Worker as _Worker
from verticalize.pot._pool import kill_group as _kill_group
from verticalize.pot._pool import read_roots as _read_roots

__all__ = ["ExecResult", "PythonSandbox", "STATUSES"]

STATUSES = ("ok", "error", "timeout", "memory", "denied")
_MAX_CODE = 4_000_000  # characters; frames are limited to 16 MB
_THREAD_CAPS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


@dataclass(frozen=True)
class ExecResult:
    """What one program did. ``answer`` is JSON-able (int/float/str/bool/list/dict/None)."""

    status: str
    answer: Any = None
    stdout: str = ""
    error: str | None = None
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class PythonSandbox:
    """A pool of warm sandbox workers running PoT programs; see the module docstring.

    Args:
        timeout_s: wall-clock limit per program (``run``/``run_many`` may override it).
        memory_mb: memory a program may allocate beyond the pre-warmed interpreter.
        workers: worker processes, i.e. programs run in parallel (default ``min(2, cpus)``).
        stdout_limit: characters of a program's output kept in ``ExecResult.stdout``.
        extra_modules: more importable modules (dangerous ones are refused).
        seccomp, landlock: the kernel layers (best effort; on by default).
        reuse: let clean programs share a program process (fast); False forks one per program.
        start_timeout_s: how long a worker may take to start before ``SandboxError``.
        python: interpreter for the workers (default ``sys.executable``).

    >>> with PythonSandbox(timeout_s=2.0) as sb:          # doctest: +SKIP
    ...     sb.run("answer = round(1.5 * 4, 2)").answer
    6.0
    """

    def __init__(self, timeout_s: float = 2.0, memory_mb: int = 256, workers: int | None = None,
                 *, stdout_limit: int = 64 * 1024, extra_modules: Iterable[str] = (),
                 seccomp: bool = True, landlock: bool = True, reuse: bool = True,
                 start_timeout_s: float = 60.0, python: str | None = None):
        self._closed, self._workers = True, []  # until started
        if timeout_s <= 0 or memory_mb <= 0:
            raise ValueError("timeout_s and memory_mb must be positive")
        self.timeout_s, self.memory_mb = float(timeout_s), int(memory_mb)
        self.n_workers = max(1, int(workers or min(2, os.cpu_count() or 1)))
        self.start_timeout_s = start_timeout_s
        self._reuse = bool(reuse)
        self._python = python or sys.executable
        if not self._python:
            raise SandboxError("no Python executable to start sandbox workers with")
        modules = set(_guard.ALLOWED_MODULES) | set(_guard.OPTIONAL_MODULES) | set(extra_modules)
        bad = modules & _guard.DANGEROUS_MODULES
        if bad:
            raise ValueError(f"modules not allowed in the sandbox: {sorted(bad)}")
        self._base = tempfile.mkdtemp(prefix="verticalize-pot-")
        self._cfg_json = json.dumps({
            "memory_mb": self.memory_mb, "stdout_limit": int(stdout_limit), "fsize_mb": 16,
            "timeout": self.timeout_s, "reuse": bool(reuse),
            "modules": sorted(modules), "seccomp": bool(seccomp), "landlock": bool(landlock),
            "base_dir": self._base,
            "read_roots": _read_roots()})
        self._env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
                     "LC_ALL": "C.UTF-8", "HOME": self._base, "TMPDIR": self._base,
                     **{k: "1" for k in _THREAD_CAPS}}
        if os.environ.get("LD_LIBRARY_PATH"):  # some Python builds need it to start at all
            self._env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
        self._lock = threading.Lock()
        self._closed = False
        self._start_failures = 0
        self._broken: str | None = None
        try:
            for _ in range(self.n_workers):
                self._workers.append(_Worker(self))
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ public API
    @property
    def info(self) -> dict:
        """What the workers offer: allowed modules, whether seccomp is active, pids."""
        w = next((w for w in self._workers if w.info), None)
        return {"workers": self.n_workers, "timeout_s": self.timeout_s,
                "memory_mb": self.memory_mb, "modules": w.info.get("modules", []) if w else [],
                "seccomp": bool(w and w.info.get("seccomp")),
                "landlock": bool(w and w.info.get("landlock")), "reuse": self._reuse,
                "worker_pids": [x.proc.pid for x in self._workers if x.proc]}

    def run(self, code: str, timeout_s: float | None = None) -> ExecResult:
        """Run one program; see the module docstring for what it may do."""
        return self.run_many([code], timeout_s)[0]

    def run_many(self, programs: Iterable[str], timeout_s: float | None = None) -> list[ExecResult]:
        """Run programs in parallel across the workers; results in the order given."""
        codes = list(programs)
        for c in codes:
            if not isinstance(c, str):
                raise TypeError(f"a program must be a str, not {type(c).__name__}")
        timeout = self.timeout_s if timeout_s is None else float(timeout_s)
        if timeout <= 0:
            raise ValueError("timeout_s must be positive")
        with self._lock:
            if self._closed:
                raise SandboxError("the PoT sandbox is closed")
            if self._broken:
                raise SandboxError(f"the PoT sandbox is broken: {self._broken}")
            try:
                return self._execute(codes, timeout)
            except SandboxError as e:
                self._broken = str(e)
                raise
            except BaseException:  # e.g. KeyboardInterrupt: drop the programs in flight
                self._abandon_in_flight()
                raise

    def close(self) -> None:
        """Stop the workers and remove the temp dirs. Safe to call twice."""
        self._closed = True
        for w in self._workers:
            w.kill()
        if os.path.isdir(getattr(self, "_base", "")):
            shutil.rmtree(self._base, ignore_errors=True)

    def __enter__(self) -> "PythonSandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._closed:
                self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # ------------------------------------------------------------------ machinery
    def _wait_ready(self) -> None:
        while any(w.state == "starting" for w in self._workers):
            self._poll([], [], 0.0)

    def _restart(self, w: _Worker, why: str) -> None:
        w.kill()
        if self._closed:
            raise SandboxError("the PoT sandbox was closed")
        self._start_failures += 1
        if self._start_failures > 3 * self.n_workers + 3:
            raise SandboxError(f"PoT sandbox workers keep failing ({why})")
        w.spawn()

    def _abandon_in_flight(self) -> None:
        now = time.monotonic()
        for w in self._workers:
            if w.state == "busy":
                if w.child_pid and w.child_pid > 0:
                    _kill_group(w.child_pid)
                w.state, w.deadline = "draining", now + 5.0  # its result frame is discarded

    def _execute(self, codes: list[str], timeout: float) -> list[ExecResult]:
        results: list[ExecResult | None] = [None] * len(codes)
        queue = deque(range(len(codes)))
        while queue or any(w.state == "busy" for w in self._workers):
            for w in self._workers:
                if w.state == "dead":
                    self._restart(w, "worker gone")
                while w.state == "idle" and queue and len(codes[queue[0]]) > _MAX_CODE:
                    i = queue.popleft()
                    results[i] = ExecResult("error", None, "", f"program too large "
                                            f"({len(codes[i])} > {_MAX_CODE} characters)")
                if w.state == "idle" and queue:
                    i = queue.popleft()
                    w.job, w.child_pid, w.t0 = i, None, time.monotonic()
                    w.deadline = w.t0 + timeout
                    try:
                        w.send({"op": "run", "code": codes[i], "timeout": timeout})
                        w.state = "busy"
                    except OSError:
                        queue.appendleft(i)
                        self._restart(w, "worker pipe closed")
            self._poll(results, codes, timeout)
        return results  # type: ignore[return-value]

    def _poll(self, results: list, codes: list, timeout: float) -> None:
        live = [w for w in self._workers if w.state in ("starting", "busy", "draining")]
        if not live:
            return
        now = time.monotonic()
        wait = max(0.0, min(w.deadline for w in live) - now)
        ready = select.select([w.resp_r for w in live], [], [], wait)[0]
        for w in live:
            if w.resp_r not in ready:
                continue
            try:
                frames = w.feed()
            except (EOFError, OSError, ValueError):
                self._worker_died(w, results)
                continue
            for f in frames:
                self._on_frame(w, f, results)
        now = time.monotonic()
        for w in live:
            if w.state in ("starting", "busy", "draining") and now >= w.deadline:
                self._on_deadline(w, results, timeout, now)

    def _on_frame(self, w: _Worker, f: dict, results: list) -> None:
        kind = f.get("type")
        if kind == "ready":
            w.info, w.state = f, "idle"
            self._start_failures = 0
        elif kind == "started":
            w.child_pid = int(f["pid"])
        elif kind == "result":
            if w.state == "busy":
                results[w.job] = ExecResult(
                    status=f.get("status") if f.get("status") in STATUSES else "error",
                    answer=f.get("answer"), stdout=f.get("stdout") or "", error=f.get("error"),
                    duration_s=time.monotonic() - w.t0)
            w.state, w.child_pid = "idle", None

    def _on_deadline(self, w: _Worker, results: list, timeout: float, now: float) -> None:
        if w.state == "starting":
            tail = w.stderr_tail()
            w.kill()
            raise SandboxError(f"PoT sandbox worker did not start within {self.start_timeout_s:g}"
                               f" s{': ' + tail if tail else ''}")
        if w.state == "busy":
            results[w.job] = ExecResult("timeout", None, "", f"timed out after {timeout:g} s",
                                        now - w.t0)
            if w.child_pid and w.child_pid > 0:
                _kill_group(w.child_pid)
                w.state, w.deadline = "draining", now + 5.0
                return
        self._restart(w, "worker stopped answering")  # no program pid, or draining too long

    def _worker_died(self, w: _Worker, results: list) -> None:
        if w.state == "starting":
            tail = w.stderr_tail()
            w.kill()
            raise SandboxError(f"PoT sandbox worker failed to start{': ' + tail if tail else ''}")
        if w.state == "busy" and results:
            results[w.job] = ExecResult("error", None, "", "sandbox worker died unexpectedly",
                                        time.monotonic() - w.t0)
        self._restart(w, "worker died")
