"""Run Program-of-Thoughts programs (model-written Python) in a sandbox.

Isolation model (details and the class-by-class table: ``verticalize/pot/SANDBOX.md``):

* **One fresh process per program.** Workers are fresh interpreters (``python -I -B`` through
  :mod:`subprocess`, never a fork of the caller) with a stripped environment. Each enters new
  mount/PID/network/IPC/UTS namespaces (plus a user namespace when not root) and forks a
  **zygote** - PID 1 of that namespace - which imports its tier's modules once (stdlib;
  + numpy; + sympy/mpmath) and then forks one program process per program. No program ever runs
  in a process that ran another program, and the zygote never runs program code: there is no
  state (module, guard, thread) that one program could leave for the next.
* **Kernel layers in every program process** (each holds with the Python guard bypassed): a
  dedicated unprivileged uid/gid (when started as root), no capabilities, empty bounding set,
  ``NO_NEW_PRIVS``; a read-only view of the system with a private size-capped tmpfs scratch dir
  and its own ``/proc`` (mount namespace); no network (network namespace); Landlock (files
  read-only in the Python installation, read-write only in the program's own temp dir); a
  seccomp filter built with libseccomp that *kills* the process on anything a numeric program
  never needs (processes, threads, sockets, signals, ptrace, chmod/chown/utime/xattr, priority
  and affinity, clock, inotify, rlimits, sandbox-weakening ``prctl``, mounts...); rlimits
  (address space -> "memory", CPU, file size, open files, no processes, no core).
* **The parent decides the status.** The zygote enforces the wall clock (SIGKILL), caps the bytes
  a program may send back, waits for the process to exit and reports what the kernel says
  (exit code, signal). The program's own result is only a claim: parsed with a size and depth
  limit, every field type-checked, any malformation -> "error" with the reason; a kill by the
  seccomp filter (SIGSYS) -> "denied" whatever the program claimed, also when it happened after
  the program printed its answer (``__del__``...).
* **The Python guard** (AST check, builtins, library patches, audit hook: ``_guard.py``) is the
  first, friendly layer: it explains refusals ("import of 'socket' is not allowed").

A rule break gives ``status="denied"`` (or "timeout"/"memory"), never an exception in the caller
(a refusal counts even if the program caught it). :class:`~verticalize.errors.SandboxError`
means the sandbox itself broke (a worker cannot start, or keeps dying). Layers the kernel refuses
(no unprivileged user namespaces, old kernels, other CPUs) are reported in :attr:`info` and with
one ``RuntimeWarning``.
"""

from __future__ import annotations

import os
import re
import secrets
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable

from verticalize.errors import SandboxError
from verticalize.pot import _guard, _proto
from verticalize.pot._pool import Worker as _Worker
from verticalize.pot._pool import read_roots as _read_roots

__all__ = ["ExecResult", "PythonSandbox", "STATUSES"]

STATUSES = ("ok", "error", "timeout", "memory", "denied")
_CLAIMABLE = ("ok", "error", "denied", "memory")  # what a program process may report itself
MAX_CODE_BYTES = 4_000_000  # a program's source, counted in UTF-8 bytes everywhere
_ANSWER_CHARS = 512 * 1024  # = _runner.ANSWER_CHARS
_MAX_DEPTH = 32  # of a result's JSON (the runner nests answers at most 20 deep)
_BACKSTOP_S = 2.0  # the zygote enforces timeouts; past this much more the parent does
_THREAD_CAPS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "GOTO_NUM_THREADS")
_TIERS = ("base", "numpy", "full")
_WARNED: set = set()


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
    """Runs PoT programs, each in a fresh confined process; see the module docstring.

    Args:
        timeout_s: wall-clock limit per program (``run``/``run_many`` may override it).
        memory_mb: memory a program may allocate beyond the pre-warmed interpreter.
        workers: programs run in parallel (default ``min(2, cpus)``).
        stdout_limit: characters of a program's output kept in ``ExecResult.stdout``.
        extra_modules: more importable modules (dangerous ones are refused).
        seccomp, landlock, namespaces: the kernel layers (best effort; on by default).
        reuse: ignored - every program gets a fresh process (kept for compatibility).
        start_timeout_s: how long a worker may take to start before ``SandboxError``.
        python: interpreter for the workers (default ``sys.executable``).

    >>> with PythonSandbox(timeout_s=2.0) as sb:          # doctest: +SKIP
    ...     sb.run("answer = round(1.5 * 4, 2)").answer
    6.0
    """

    def __init__(self, timeout_s: float = 2.0, memory_mb: int = 256, workers: int | None = None,
                 *, stdout_limit: int = 64 * 1024, extra_modules: Iterable[str] = (),
                 seccomp: bool = True, landlock: bool = True, namespaces: bool = True,
                 reuse: bool | None = None, start_timeout_s: float = 60.0,
                 python: str | None = None, _python_guard: bool = True):
        self._closed, self._workers = True, {}  # until started
        if timeout_s <= 0 or memory_mb <= 0:
            raise ValueError("timeout_s and memory_mb must be positive")
        self.timeout_s, self.memory_mb = float(timeout_s), int(memory_mb)
        self.n_workers = max(1, int(workers or min(2, os.cpu_count() or 1)))
        self.start_timeout_s = start_timeout_s
        self.stdout_limit = max(0, int(stdout_limit))
        self._python = python or sys.executable
        if not self._python:
            raise SandboxError("no Python executable to start sandbox workers with")
        extra = sorted(set(extra_modules))
        modules = set(_guard.ALLOWED_MODULES) | set(_guard.OPTIONAL_MODULES) | set(extra)
        bad = modules & _guard.DANGEROUS_MODULES
        if bad:
            raise ValueError(f"modules not allowed in the sandbox: {sorted(bad)}")
        heavy = sorted(({"sympy", "mpmath"} | set(extra)) - {"numpy"})
        self._full_re = re.compile(r"\b(" + "|".join(map(re.escape, heavy)) + r")\b")
        self._tier_preload = {
            "base": sorted(_guard.ALLOWED_MODULES),
            "numpy": sorted(_guard.ALLOWED_MODULES | {"numpy"}),
            "full": sorted(modules),
        }
        # result bytes: ASCII JSON, at most 12 bytes per character (a surrogate pair escape)
        self._max_result = 12 * (self.stdout_limit + _ANSWER_CHARS + 8192) + 65536
        self._base = tempfile.mkdtemp(prefix="verticalize-pot-")
        os.chmod(self._base, 0o711)  # program processes (another uid) pass through, not list
        uid = 2_000_000_000 + secrets.randbelow(100_000_000)  # this sandbox's own ids
        self._cfg = {
            "memory_mb": self.memory_mb, "stdout_limit": self.stdout_limit, "fsize_mb": 16,
            "disk_mb": 256, "cpu_budget_s": int(max(600, 4 * self.timeout_s + 4)),
            "max_code_bytes": MAX_CODE_BYTES,
            "max_result_bytes": self._max_result, "modules": sorted(modules),
            "stdlib": sorted(_guard.ALLOWED_MODULES),
            "optional": sorted(set(_guard.OPTIONAL_MODULES) | set(extra)),
            "seccomp": bool(seccomp), "landlock": bool(landlock), "namespaces": bool(namespaces),
            "uid": uid, "gid": uid, "read_roots": _read_roots(),
            "python_guard": bool(_python_guard),  # False only in tests of the kernel layers
            "spares": 1, "huge_pages": None}
        self._env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
                     "LC_ALL": "C.UTF-8", "HOME": self._base, "TMPDIR": self._base,
                     **{k: "1" for k in _THREAD_CAPS}}
        if os.environ.get("LD_LIBRARY_PATH"):  # some Python builds need it to start at all
            self._env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
        self._lock = threading.Lock()
        self._closed = False
        self._failures = 0
        self._broken: str | None = None
        self._job_ids = 0
        self._workers = {t: _Worker(self, t, self._tier_preload[t]) for t in _TIERS}
        try:
            self._start(self._workers["base"])
            self._wait_ready([self._workers["base"]])
        except BaseException:
            self.close()
            raise
        self._warn_missing_layers()

    # ------------------------------------------------------------------ public API
    @property
    def info(self) -> dict:
        """What the workers offer: allowed modules, which kernel layers hold, pids."""
        base = self._workers["base"].info if self._workers else {}
        layers = base.get("layers", {})
        return {"workers": self.n_workers, "timeout_s": self.timeout_s,
                "memory_mb": self.memory_mb,
                "modules": sorted(set(self._cfg["stdlib"]) | set(base.get("available", []))),
                "seccomp": bool(layers.get("seccomp")), "landlock": bool(layers.get("landlock")),
                "namespaces": list(layers.get("namespaces", [])),
                "uid": layers.get("uid"), "layers": layers, "reuse": False,
                "tiers": {t: w.state for t, w in self._workers.items()},
                "worker_pids": [w.proc.pid for w in self._workers.values()
                                if w.proc is not None and w.state != "dead"]}

    def run(self, code: str, timeout_s: float | None = None) -> ExecResult:
        """Run one program; see the module docstring for what it may do."""
        return self.run_many([code], timeout_s)[0]

    def run_many(self, programs: Iterable[str], timeout_s: float | None = None) -> list[ExecResult]:
        """Run programs in parallel, each in a fresh process; results in the order given."""
        codes = list(programs)
        for c in codes:
            if not isinstance(c, str):
                raise TypeError(f"a program must be a str, not {type(c).__name__}")
        timeout = self.timeout_s if timeout_s is None else float(timeout_s)
        if not timeout > 0:
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
                for w in self._workers.values():
                    if w.inflight:
                        w.kill()
                raise

    def close(self) -> None:
        """Kill every process the sandbox started and remove its files. Safe to call twice."""
        self._closed = True
        for w in getattr(self, "_workers", {}).values():
            w.kill()
        if os.path.isdir(getattr(self, "_base", "")):
            shutil.rmtree(self._base, ignore_errors=True)

    def __enter__(self) -> PythonSandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._closed:
                self.close()
        except Exception:  # noqa: BLE001, S110 - interpreter shutdown
            pass

    # ------------------------------------------------------------------ machinery
    def _tier(self, code: str) -> str:
        """Which zygote serves a program: a performance choice only (every tier is isolated
        the same way, and every allowed module can be imported in every tier)."""
        if self._full_re.search(code):
            return "full"
        return "numpy" if "numpy" in code else "base"

    def _start(self, w: _Worker) -> None:
        if self._closed:
            raise SandboxError("the PoT sandbox was closed")
        w.spawn()

    def _wait_ready(self, workers: list) -> None:
        while any(w.state == "starting" for w in workers):
            self._poll([], 1.0)

    def _warn_missing_layers(self) -> None:
        layers = self.info["layers"]
        missing = []
        if self._cfg["namespaces"] and not {"mount", "pid"} <= set(layers.get("namespaces", [])):
            missing.append(f"namespaces ({layers.get('namespaces_refused') or 'refused'})")
        if self._cfg["landlock"] and not layers.get("landlock"):
            missing.append("Landlock (kernel without it, or disabled)")
        if self._cfg["seccomp"] and not layers.get("seccomp"):
            missing.append(f"seccomp ({layers.get('seccomp_filter', 'unavailable')})")
        if os.geteuid() == 0 and layers.get("uid") == 0:
            missing.append("a dedicated uid")
        key = tuple(missing)
        if missing and key not in _WARNED:
            _WARNED.add(key)
            warnings.warn("PoT sandbox: running without " + "; ".join(missing) + ". The other "
                          "layers still hold; see verticalize/pot/SANDBOX.md.", RuntimeWarning,
                          stacklevel=3)

    def _fail(self, why: str) -> None:
        self._failures += 1
        if self._failures > 3 * len(_TIERS):
            raise SandboxError(f"PoT sandbox workers keep failing ({why})")

    def _execute(self, codes: list[str], timeout: float) -> list[ExecResult]:
        results: list[ExecResult | None] = [None] * len(codes)
        pending: dict[str, deque] = {t: deque() for t in _TIERS}
        payloads: dict[int, bytes] = {}
        for i, code in enumerate(codes):
            data = code.encode("utf-8", "surrogatepass")
            if len(data) > MAX_CODE_BYTES:
                results[i] = ExecResult("error", None, "", f"program too large ({len(data)} > "
                                        f"{MAX_CODE_BYTES} bytes of UTF-8)")
                continue
            payloads[i] = data
            pending[self._tier(code)].append(i)
        self._poll(results, 0.0)  # notice workers that died since the last call
        while any(pending.values()) or any(w.inflight for w in self._workers.values()):
            self._dispatch(pending, payloads, results, timeout)
            self._poll(results, None)
        return results  # type: ignore[return-value]

    def _dispatch(self, pending, payloads, results, timeout: float) -> None:
        busy = sum(len(w.inflight) for w in self._workers.values())
        while busy < self.n_workers:
            best = None
            for t in _TIERS:
                if not pending[t]:
                    continue
                w = self._workers[t]
                if w.state == "dead":
                    self._start(w)
                if w.state == "ready" and (best is None or pending[t][0] < pending[best][0]):
                    best = t
            if best is None:
                return
            i = pending[best].popleft()
            w = self._workers[best]
            self._job_ids += 1
            now = time.monotonic()
            w.inflight[self._job_ids] = (i, now, now + timeout + _BACKSTOP_S, timeout)
            busy += 1
            try:
                w.send({"op": "run", "job": self._job_ids, "timeout": timeout}, payloads.pop(i))
            except OSError:
                self._worker_died(w, results, "worker pipe closed")

    def _poll(self, results: list, wait: float | None) -> None:
        live = [w for w in self._workers.values() if w.state in ("starting", "ready")]
        if not live:
            return
        now = time.monotonic()
        deadlines = [w.deadline for w in live if w.state == "starting"]
        deadlines += [d for w in live for (_i, _t, d, _to) in w.inflight.values()]
        if deadlines:
            left = max(0.0, min(deadlines) - now)
            wait = left if wait is None else min(wait, left)
        rl = [w.resp_r for w in live]
        wl = [w.req_w for w in live if w.out]
        try:
            r, wr, _ = select.select(rl, wl, [], wait)
        except (OSError, ValueError):  # a pipe closed under us: close() from another thread
            if self._closed:
                raise SandboxError("the PoT sandbox was closed") from None
            raise
        for w in live:
            if w.req_w in wr and w.state != "dead":
                try:
                    w.flush()
                except OSError:
                    self._worker_died(w, results, "worker pipe closed")
                    continue
            if w.resp_r not in r or w.state == "dead":
                continue
            try:
                frames = w.feed()
            except (EOFError, OSError, ValueError):
                self._worker_died(w, results, "worker died")
                continue
            for head, payload in frames:
                self._on_frame(w, head, payload, results)
        now = time.monotonic()
        for w in live:
            if w.state == "starting" and now >= w.deadline:
                tail = w.stderr_tail()
                w.kill()
                raise SandboxError(f"PoT sandbox worker did not start within "
                                   f"{self.start_timeout_s:g} s{': ' + tail if tail else ''}")
            if w.state == "ready" and any(now >= d for (_i, _t, d, _to) in w.inflight.values()):
                for job, (i, t0, d, to) in list(w.inflight.items()):
                    if now >= d and results:
                        results[i] = ExecResult("timeout", None, "", f"timed out after {to:g} s",
                                                now - t0)
                        del w.inflight[job]
                self._worker_died(w, results, "worker stopped answering")

    def _on_frame(self, w: _Worker, head: dict, payload: bytes, results: list) -> None:
        kind = head.get("type")
        if kind == "ready":
            w.info, w.state = head, "ready"
        elif kind == "fatal":
            tail = w.stderr_tail()
            w.kill()
            raise SandboxError(f"PoT sandbox worker failed: {head.get('error')}"
                               f"{': ' + tail if tail and 'Traceback' in tail else ''}")
        elif kind == "result":
            job = w.inflight.pop(head.get("job"), None)
            if job is None:
                return  # a program abandoned earlier
            i, t0, _d, timeout = job
            if results:
                results[i] = self._decide(head, payload, timeout, time.monotonic() - t0)
                if results[i].status in ("ok", "error"):
                    self._failures = 0

    def _worker_died(self, w: _Worker, results: list, why: str) -> None:
        if w.state == "starting":
            tail = w.stderr_tail()
            w.kill()
            raise SandboxError(f"PoT sandbox worker failed to start{': ' + tail if tail else ''}")
        now = time.monotonic()
        for i, t0, _d, _to in w.inflight.values():  # never re-run: it may be what killed it
            if results:
                results[i] = ExecResult("error", None, "", f"sandbox worker died unexpectedly "
                                        f"({why})", now - t0)
        w.inflight = {}
        w.kill()
        self._fail(why)

    # ------------------------------------------------------------------ the trusted verdict
    def _decide(self, head: dict, payload: bytes, timeout: float, dur: float) -> ExecResult:
        """The status of a program, from what the kernel reported and the program's claim."""
        def bad(msg: str, status: str = "error") -> ExecResult:
            return ExecResult(status, None, "", msg, dur)

        killed, sig, code = head.get("killed"), head.get("signal"), head.get("exit")
        if killed == "timeout":
            return bad(f"timed out after {timeout:g} s", "timeout")
        if killed == "output":
            return bad(f"program output exceeded {self._max_result} bytes")
        if head.get("setup_error"):
            return bad(f"sandbox: program process setup failed: {head['setup_error']}")
        if isinstance(sig, int) and sig:
            if sig == signal.SIGSYS:
                return bad("sandbox: the program made a forbidden system call; the kernel "
                           "(seccomp) killed it", "denied")
            if sig == signal.SIGXCPU:
                return bad("CPU time limit exceeded", "timeout")
            if sig == signal.SIGKILL:
                return bad("program process killed by SIGKILL (out of memory)", "memory")
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = str(sig)
            return bad(f"program process killed by {name}")
        if code != 0:
            return bad(f"program process exited with code {code}")
        try:
            claim = _proto.loads_bounded(payload, self._max_result, _MAX_DEPTH)
        except ValueError as e:
            return bad(f"sandbox: unusable result from the program process: {e}")
        problem = self._claim_problem(claim)
        if problem:
            return bad(f"sandbox: malformed result from the program process: {problem}")
        status, err = claim["status"], claim.get("error")
        if status != "ok" and not err:
            err = f"program ended with status {status!r}"
        return ExecResult(status, claim.get("answer") if status == "ok" else None,
                          claim.get("stdout", ""), err, dur)

    def _claim_problem(self, claim) -> str | None:
        if type(claim) is not dict:
            return f"not an object but {type(claim).__name__}"
        extra = set(claim) - {"status", "answer", "stdout", "error"}
        if extra:
            return f"unexpected fields {sorted(map(str, extra))[:5]}"
        status = claim.get("status")
        if type(status) is not str or status not in _CLAIMABLE:
            return f"status {str(status)[:40]!r} is not one of {_CLAIMABLE}"
        stdout = claim.get("stdout", "")
        if type(stdout) is not str:
            return f"stdout is {type(stdout).__name__}, not str"
        if len(stdout) > self.stdout_limit + 200:
            return f"stdout longer than the {self.stdout_limit}-character limit"
        err = claim.get("error")
        if err is not None and type(err) is not str:
            return f"error is {type(err).__name__}, not str or None"
        if err is not None and len(err) > 4000:
            return "error longer than 4000 characters"
        if status == "ok" and err is not None:
            return "status 'ok' with an error"
        if status != "ok" and claim.get("answer") is not None:
            return f"an answer with status {status!r}"
        return None
