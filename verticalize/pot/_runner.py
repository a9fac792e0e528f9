"""The program process: confined once, then runs one or more programs (inside the worker).

Forked from the pre-warmed worker. Setup (once): own session, death with the worker, every fd
closed except its two pipes, rlimits, neutered process/signal functions, Landlock, seccomp,
audit hook.
Then it serves programs one at a time: fresh globals, fresh temp dir (cwd), fresh capped stdout,
and after each program the known global states (random, numpy RNG/print/err options, decimal
context, calendar first weekday...) are restored. It stays alive for the next program only when
the program ended "ok"/"error" without denials, did not look like it mutated module state
(``_state.reusable``), and memory/CPU use stayed low; otherwise it exits and the worker forks a
fresh copy of the pristine interpreter.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import resource
import signal
import sys
import time

import _guard
import _landlock
import _proto
import _seccomp
import _state

_DENY_FUNCS = {
    "os": ("system", "popen", "fork", "forkpty", "kill", "killpg", "execv", "execve", "execl",
           "execle", "execlp", "execlpe", "execvp", "execvpe", "spawnl", "spawnle", "spawnlp",
           "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "posix_spawn",
           "posix_spawnp", "putenv", "unsetenv", "setsid", "plock", "register_at_fork"),
    "posix": ("system", "fork", "forkpty", "kill", "killpg", "execv", "execve", "posix_spawn",
              "posix_spawnp", "putenv", "unsetenv", "register_at_fork"),
    "_posixsubprocess": ("fork_exec",),
    "signal": ("pthread_kill", "raise_signal", "pidfd_send_signal"),
}

# ----------------------------------------------------------------------------- helpers
class CappedWriter:
    """A ``sys.stdout`` replacement keeping at most ``cap`` characters (plus the output tail)."""

    def __init__(self, cap: int):
        self.cap, self.parts, self.kept, self.total = cap, [], 0, 0
        self.recent: list[str] = []  # the latest writes, enough to find the last line
        self.recent_len = 0
        self.encoding, self.errors = "utf-8", "strict"

    def write(self, s) -> int:
        if type(s) is not str:
            if not isinstance(s, str):
                raise TypeError(f"write() argument must be str, not {type(s).__name__}")
            s = str(s)
        n = len(s)
        self.total += n
        if self.kept < self.cap:
            part = s if self.kept + n <= self.cap else s[: self.cap - self.kept]
            self.parts.append(part)
            self.kept += len(part)
            s = s[len(part):]
        if s:
            self.recent.append(s)
            self.recent_len += len(s)
            if self.recent_len > 16384:
                tail = "".join(self.recent)[-8192:]
                self.recent, self.recent_len = [tail], len(tail)
        return n

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def getvalue(self) -> str:
        text = "".join(self.parts)
        if self.total > self.kept:
            text += f"\n...[output truncated: {self.total - self.kept} more characters]"
        return text

    def last_line(self) -> str | None:
        text = "".join(self.parts)[-8192:] + "".join(self.recent)
        for line in reversed(text[-16384:].splitlines()):
            if line.strip():
                return line.strip()
        return None


def parse_number(text: str):
    """``"42"`` -> 42, ``"1,234.5"`` -> 1234.5, anything else unchanged."""
    s = text.strip()
    groups = s.split(".")[0].split(",")
    t = s.replace(",", "") if len(groups) > 1 and all(len(g) == 3 for g in groups[1:]) else s
    for conv in (int, float):
        try:
            v = conv(t)
        except (ValueError, OverflowError):
            continue
        return v
    return s


_MAX_ITEMS = 10000


def to_jsonable(v, depth: int = 0, budget: list | None = None):
    """Convert an answer to int/float/str/bool/None/list/dict (numpy, sympy, Decimal...)."""
    budget = budget if budget is not None else [20000]
    budget[0] -= 1
    if budget[0] < 0 or depth > 20:
        return "..."
    if v is None or isinstance(v, (bool, float)):
        return v
    if isinstance(v, int):
        if v.bit_length() <= 4000:
            return int(v)
        try:
            return float(v)
        except OverflowError:
            return f"<int with {v.bit_length()} bits>"
    if isinstance(v, str):
        return v if len(v) <= 65536 else v[:65536] + "...[truncated]"
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(v, np.ndarray):
            return to_jsonable(v.tolist(), depth + 1, budget) if v.size <= 10000 else _short(v)
        if isinstance(v, np.generic):
            return to_jsonable(v.item(), depth + 1, budget)
    sp = sys.modules.get("sympy")
    if sp is not None and isinstance(v, sp.Basic):
        if v in (sp.true, sp.false):
            return bool(v)
        if getattr(v, "is_Integer", False):
            return to_jsonable(int(v), depth + 1, budget)
        if getattr(v, "is_number", False):
            try:
                c = complex(v)
                return c.real if c.imag == 0 else str(v)
            except (TypeError, ValueError, OverflowError):
                pass
        return _short(v)
    if isinstance(v, complex):
        return v.real if v.imag == 0 else str(v)
    dec = sys.modules.get("decimal")
    if dec is not None and isinstance(v, dec.Decimal):
        return float(v) if v.is_finite() else str(v)
    import numbers

    if isinstance(v, numbers.Integral):
        return to_jsonable(int(v), depth + 1, budget)
    if isinstance(v, numbers.Real):
        try:
            return float(v)
        except (TypeError, ValueError, OverflowError):
            return _short(v)
    if isinstance(v, (list, tuple, set, frozenset, range, dict)):
        items = list(itertools.islice(v.items() if isinstance(v, dict) else v, _MAX_ITEMS + 1))
        more = len(v) - _MAX_ITEMS if len(items) > _MAX_ITEMS else 0
        items = items[:_MAX_ITEMS]
        if isinstance(v, dict):
            out = {str(k): to_jsonable(x, depth + 1, budget) for k, x in items}
            if more:
                out["..."] = f"{more} more items"
            return out
        if isinstance(v, (set, frozenset)):
            items = sorted(items, key=repr)
        out = [to_jsonable(x, depth + 1, budget) for x in items]
        return out + [f"...[{more} more items]"] if more else out
    return _short(v)


def _short(v) -> str:
    s = str(v)
    return s if len(s) <= 65536 else s[:65536] + "...[truncated]"


_STATM: list[int] = []  # fd of /proc/self/statm, opened before the audit hook exists


def _vm_bytes() -> int:
    """Virtual memory size of this process (bytes), 0 when unknown."""
    try:
        if not _STATM:
            _STATM.append(os.open("/proc/self/statm", os.O_RDONLY))
        return int(os.pread(_STATM[0], 128, 0).split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _error_text(e: BaseException) -> str:
    msg = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    return msg if len(msg) <= 500 else msg[:500] + "..."


# ----------------------------------------------------------------------------- setup
def _limit(res: int, value: int) -> None:
    try:
        resource.setrlimit(res, (value, value))
    except (ValueError, OSError):
        pass


def _close_fds_except(keep: set[int]) -> None:
    lo = 3
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 65536)


def _denied_function(what: str):
    def denied(*_a, **_k):
        raise _guard.SandboxViolation(f"sandbox: {what} is not allowed")
    return denied


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


class Program:
    """State of the program process across the programs it runs."""

    def __init__(self, cfg: dict, req_fd: int, res_fd: int, timeout: float):
        self.cfg, self.req_fd, self.res_fd = cfg, req_fd, res_fd
        self.allowed = frozenset(cfg["modules"])
        self.state = {"tmp": cfg["base_dir"], "denials": []}
        self.served = 0
        os.setsid()
        _seccomp.set_parent_death_signal(signal.SIGKILL)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        _close_fds_except({req_fd, res_fd})
        self.base_vm = _vm_bytes()  # opens the statm fd it keeps
        os.chdir(cfg["base_dir"])
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        self.cpu_budget = int(cpu_seconds() + max(60.0, 4 * timeout + 4))
        _limit(resource.RLIMIT_AS, self.base_vm + (cfg["memory_mb"] + 64) * (1 << 20))
        _limit(resource.RLIMIT_CPU, self.cpu_budget)
        _limit(resource.RLIMIT_FSIZE, cfg["fsize_mb"] << 20)
        _limit(resource.RLIMIT_NOFILE, max(32, req_fd + 1, res_fd + 1, *(f + 1 for f in _STATM)))
        _limit(resource.RLIMIT_NPROC, 0)
        _limit(resource.RLIMIT_CORE, 0)
        self.snapshot = _snapshot()
        for modname, names in _DENY_FUNCS.items():
            mod = sys.modules.get(modname)
            for name in names:
                if mod is not None and hasattr(mod, name):
                    setattr(mod, name, _denied_function(f"{modname}.{name}"))
        if cfg.get("landlock"):
            _landlock.restrict(tuple(cfg["read_roots"]), cfg["base_dir"])
        if cfg["seccomp"]:
            _seccomp.install()
        import warnings

        warnings.simplefilter("ignore")
        self.reserve = bytearray(1 << 20)
        self.hook = _guard.make_audit_hook(self.state, tuple(cfg["read_roots"]))
        sys.addaudithook(self.hook)

    def serve(self) -> None:
        while True:
            msg = _proto.read_frame(self.req_fd)
            if msg is None or msg.get("op") == "exit":
                return
            timeout = float(msg.get("timeout", 2.0))
            self.state["tmp"] = os.path.realpath(msg["tmpdir"])
            self.state["denials"] = []
            os.chdir(self.state["tmp"])
            res, keep = self.run(msg["code"])
            keep = keep and cpu_seconds() + timeout + 2 < self.cpu_budget
            keep = keep and _vm_bytes() < self.base_vm + (32 << 20)
            self.served += 1
            keep = keep and self.served < self.cfg.get("max_reuse", 200)
            res["recycle"] = not keep
            _proto.send_frame(self.res_fd, res)
            if not keep:
                return

    def run(self, code: str) -> tuple[dict, bool]:
        """Run one program. Returns (result dict, whether this process may be reused)."""
        import ast

        cfg, denials = self.cfg, self.state["denials"]
        t0 = time.perf_counter()
        res = {"status": "ok", "answer": None, "stdout": "", "error": None}
        try:
            tree = ast.parse(code, "<program>", "exec")
        except SyntaxError as e:
            res.update(status="error", error=f"SyntaxError: {e.msg} (line {e.lineno})")
            return res, True
        except (ValueError, MemoryError, RecursionError) as e:
            res.update(status="error", error=_error_text(e))
            return res, False
        problems = _guard.check_source(tree, self.allowed)
        if problems:
            res.update(status="denied", error=problems[0])
            return res, True
        keep = _state.reusable(tree)
        prog = compile(tree, "<program>", "exec")
        g: dict = {"__name__": "__main__", "__doc__": None, "__file__": "<program>"}
        shared = {"dirty": False}
        g["__builtins__"] = _guard.safe_builtins(self.allowed, denials.append, g, shared)
        out = CappedWriter(cfg["stdout_limit"])
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, CappedWriter(4096)
        sys.setrecursionlimit(cfg.get("recursion_limit", 3000))
        try:
            exec(prog, g)
        except MemoryError:
            self.reserve = None
            g.clear()
            res.update(status="memory", error=f"MemoryError: over the {cfg['memory_mb']} MB limit")
        except SystemExit as e:
            if e.code not in (None, 0):
                res.update(status="error", error=f"SystemExit: {e.code}")
        except (_guard.SandboxViolation, _guard.DeniedImport) as e:
            res.update(status="denied", error=str(e))
        except BaseException as e:  # noqa: BLE001 - the program's own failure
            res.update(status="error", error=_error_text(e))
        res["exec_s"] = time.perf_counter() - t0
        if denials and res["status"] != "memory":
            why = denials[0] if "not allowed" in denials[0] else f"{denials[0]} is not allowed"
            res.update(status="denied", error=f"sandbox: {why}")
        try:
            res["stdout"] = out.getvalue()
            if res["status"] == "ok":
                if "answer" in g:
                    res["answer"] = to_jsonable(g["answer"])
                else:
                    line = out.last_line()
                    res["answer"] = None if line is None else parse_number(line)
            json.dumps(res)
        except MemoryError:
            res.update(status="memory", answer=None, stdout="",
                       error="MemoryError while converting the answer")
        except BaseException as e:  # noqa: BLE001 - e.g. a __str__ that raises
            res.update(status="error", answer=None,
                       error=f"answer not convertible: {_error_text(e)}")
            keep = False
        sys.stdout, sys.stderr = saved
        g.clear()
        gc.collect()  # finalizers of the program's objects run now, before the reset
        try:
            _restore(self.snapshot)
        except BaseException:  # noqa: BLE001
            keep = False
        keep = keep and res["status"] in ("ok", "error") and not denials and not shared["dirty"]
        keep = keep and self.reserve is not None and bool(cfg.get("reuse", True))
        return res, keep


def _snapshot() -> dict:
    import calendar
    import decimal
    import random

    snap = {"decimal": decimal.getcontext().copy(), "firstweekday": calendar.firstweekday(),
            "random": random.getstate()}
    np = sys.modules.get("numpy")
    if np is not None:
        snap.update(np_rng=np.random.get_state(), np_print=np.get_printoptions(),
                    np_err=np.geterr(), np_errcall=np.geterrcall())
    mp = sys.modules.get("mpmath")
    if mp is not None:
        snap["mp_prec"] = mp.mp.prec
    return snap


def _restore(snap: dict) -> None:
    import calendar
    import decimal
    import random

    decimal.setcontext(snap["decimal"].copy())
    calendar.setfirstweekday(snap["firstweekday"])
    random.seed()
    np = sys.modules.get("numpy")
    if np is not None and "np_rng" in snap:
        np.random.set_state(snap["np_rng"])
        np.set_printoptions(**snap["np_print"])
        np.seterr(**snap["np_err"])
        np.seterrcall(snap["np_errcall"])
    mp = sys.modules.get("mpmath")
    if mp is not None and "mp_prec" in snap:
        mp.mp.prec = snap["mp_prec"]
