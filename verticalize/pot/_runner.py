"""The program process: forked from a zygote, confined, runs exactly ONE program, then exits.

Setup, before any program code exists in the process (trusted):

1. parent-death signal (dies with its zygote; seccomp forbids clearing it), stdin/stdout/stderr on
   ``/dev/null``, every inherited fd closed but its two pipes, cwd = its own empty temp dir;
2. rlimits: address space (interpreter + ``memory_mb`` + 64 MB), CPU backstop, file size, open
   files, no processes, no core dumps;
3. privileges: a dedicated uid/gid when started as root, no capabilities, ``NO_NEW_PRIVS``
   (``_ns.drop_privileges``);
4. Landlock: read-only in the Python installation, read-write only in its temp dir;
5. seccomp: the zygote's prebuilt filter (``_seccomp``);
6. the Python guard: refusing stubs for process/signal functions, checked library entry points
   (``_guard.patch_libraries``), the audit hook.

It then reports which layers hold (a small frame the zygote reads), reads the program, runs it
in a fresh ``__main__`` module, finalizes the program's objects (``__del__`` runs while the guard
is still on), writes its result as ASCII JSON and ``_exit``\\ s. The result is only a *claim*: the
zygote reports how the process ended (exit code, signal, its own kill) and the parent decides the
status (``sandbox.py``).
"""

from __future__ import annotations

import ast
import gc
import itertools
import json
import os
import resource
import signal
import sys
import types

import _guard
import _landlock
import _ns
import _proto
import _seccomp

EXIT_SETUP_FAILED = 70
ANSWER_CHARS = 512 * 1024  # characters of strings in one answer, all together
MAX_ITEMS, MAX_NODES, MAX_DEPTH = 10000, 20000, 20


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
            s = str.__str__(s)
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
            return conv(t)
        except (ValueError, OverflowError):
            continue
    return s


class _Budget:
    __slots__ = ("chars", "nodes")

    def __init__(self):
        self.nodes, self.chars = MAX_NODES, ANSWER_CHARS


def _text(s: str, b: _Budget) -> str:
    s = str.__str__(s)
    keep = max(0, min(len(s), 65536, b.chars))
    b.chars -= keep
    return s if keep == len(s) else s[:keep] + "...[truncated]"


def to_jsonable(v, depth: int = 0, budget: _Budget | None = None):
    """Convert an answer to int/float/str/bool/None/list/dict (numpy, sympy, Decimal...), within
    a node, depth and character budget."""
    b = budget if budget is not None else _Budget()
    b.nodes -= 1
    if b.nodes < 0 or depth > MAX_DEPTH:
        return "..."
    if v is None or type(v) in (bool, float):
        return v
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int):
        if v.bit_length() <= 4000:
            return int(v)
        try:
            return float(v)
        except OverflowError:
            return f"<int with {v.bit_length()} bits>"
    if isinstance(v, float):
        return float(v)
    if isinstance(v, str):
        return _text(v, b)
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(v, np.ndarray):
            return to_jsonable(v.tolist(), depth + 1, b) if v.size <= MAX_ITEMS else _short(v, b)
        if isinstance(v, np.generic):
            return to_jsonable(v.item(), depth + 1, b)
    sp = sys.modules.get("sympy")
    if sp is not None and isinstance(v, sp.Basic):
        if v in (sp.true, sp.false):
            return bool(v)
        if getattr(v, "is_Integer", False):
            return to_jsonable(int(v), depth + 1, b)
        if getattr(v, "is_number", False):
            try:
                c = complex(v)
                return c.real if c.imag == 0 else _short(v, b)
            except (TypeError, ValueError, OverflowError):
                pass
        return _short(v, b)
    if isinstance(v, complex):
        return v.real if v.imag == 0 else _short(v, b)
    dec = sys.modules.get("decimal")
    if dec is not None and isinstance(v, dec.Decimal):
        return float(v) if v.is_finite() else _short(v, b)
    import numbers

    if isinstance(v, numbers.Integral):
        return to_jsonable(int(v), depth + 1, b)
    if isinstance(v, numbers.Real):
        try:
            return float(v)
        except (TypeError, ValueError, OverflowError):
            return _short(v, b)
    if isinstance(v, (list, tuple, set, frozenset, range, dict)):
        items = list(itertools.islice(v.items() if isinstance(v, dict) else v, MAX_ITEMS + 1))
        more = len(v) - MAX_ITEMS if len(items) > MAX_ITEMS else 0
        items = items[:MAX_ITEMS]
        if isinstance(v, dict):
            out = {_text(str(k), b): to_jsonable(x, depth + 1, b) for k, x in items}
            if more:
                out["..."] = f"{more} more items"
            return out
        if isinstance(v, (set, frozenset)):
            items = sorted(items, key=repr)
        out = [to_jsonable(x, depth + 1, b) for x in items]
        return out + [f"...[{more} more items]"] if more else out
    return _short(v, b)


def _short(v, b: _Budget) -> str:
    return _text(str(v), b)


def _error_text(e: BaseException) -> str:
    try:
        msg = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    except Exception:  # noqa: BLE001 - a __str__ that raises
        msg = type(e).__name__
    return msg if len(msg) <= 500 else msg[:500] + "..."


# ----------------------------------------------------------------------------- setup
def _limit(res: int, value: int) -> None:
    try:
        resource.setrlimit(res, (value, value))
    except (ValueError, OSError):
        pass


class Prepared:
    """Everything a program process needs, built once in the zygote before it forks: the
    ctypes objects of the kernel layers and the program's guard (builtins table, checked
    library entry points, audit hook, fresh ``__main__``). A forked process gets its own
    copy-on-write copy, so nothing here is shared between programs."""

    def __init__(self, cfg: dict, z: dict):
        self.cfg, self.z = cfg, z
        self.allowed = frozenset(cfg["modules"])
        _ns.prepare()
        self.landlock = _landlock.Landlock(tuple(cfg["read_roots"])) if cfg["landlock"] else None
        self.seccomp = _seccomp.Loader(z["bpf"]) if z.get("bpf") else None
        self.main_module = types.ModuleType("__main__")
        self.g = self.main_module.__dict__
        self.g["__file__"] = "<program>"
        self.state = {"tmp": None, "denials": []}
        self.guard = bool(cfg.get("python_guard", True))
        if self.guard:
            self.table = _guard.safe_builtins(self.allowed, self.state["denials"].append, self.g)
            _guard.patch_libraries(self.table, self.allowed)  # the zygote never uses them
            self.hook = _guard.make_audit_hook(self.state, tuple(cfg["read_roots"]))
        else:  # tests only: the program gets the real builtins; only the kernel layers hold
            import builtins

            self.table, self.hook = builtins.__dict__, None
        self.keep_fds = set(self.landlock.fds if self.landlock else ())
        mb = 1 << 20
        limits = (("RLIMIT_CPU", int(cfg["cpu_budget_s"])), ("RLIMIT_FSIZE", cfg["fsize_mb"] * mb),
                  ("RLIMIT_NPROC", 0), ("RLIMIT_CORE", 0), ("RLIMIT_MSGQUEUE", 0),
                  ("RLIMIT_MEMLOCK", 0))
        self.limits = tuple((getattr(resource, k), v) for k, v in limits if hasattr(resource, k))
        import warnings

        warnings.simplefilter("ignore")


def _close_fds_except(keep: set[int]) -> None:
    lo = 3
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 1 << 20)


def confine(p: Prepared, req_fd: int, res_fd: int, tmpdir: str) -> dict:
    """Apply every layer; returns what holds. Raises when a layer the zygote's first program
    process had cannot be applied (never run a program with fewer layers than reported)."""
    cfg, z = p.cfg, p.z
    _ns.set_parent_death_signal(signal.SIGKILL)  # Linux; seccomp forbids clearing it
    if os.getppid() != z["pid"]:
        raise RuntimeError("zygote gone")
    devnull = z.get("devnull", -1)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    keep = p.keep_fds | {req_fd, res_fd}
    _close_fds_except(keep)
    os.chdir(tmpdir)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _limit(resource.RLIMIT_AS, z["vm_bytes"] + (cfg["memory_mb"] + 64) * (1 << 20))
    _limit(resource.RLIMIT_NOFILE, max(64, max(keep) + 8))
    for res, value in p.limits:
        _limit(res, value)
    layers = _ns.drop_privileges(z.get("uid"), z.get("gid"))
    layers["landlock"] = p.landlock is not None and p.landlock.restrict(tmpdir)
    layers["seccomp"] = p.seccomp is not None and p.seccomp.install()
    for key, want in (z.get("require") or {}).items():
        if want and not layers.get(key):
            raise RuntimeError(f"sandbox layer {key!r} could not be applied")
    return layers


def main(p: Prepared, req_fd: int, res_fd: int, tmpdir: str) -> None:
    """Entry point in the forked child; never returns."""
    try:
        layers = confine(p, req_fd, res_fd, tmpdir)
        p.state["tmp"] = os.path.realpath(tmpdir)
        if p.hook is not None:
            sys.addaudithook(p.hook)
        _proto.send(res_fd, {"setup": layers})
    except BaseException as e:  # noqa: BLE001 - reported, then exit
        try:
            _proto.send(res_fd, {"setup_error": _error_text(e)})
        finally:
            os._exit(EXIT_SETUP_FAILED)
    try:
        frame = _proto.recv(req_fd, p.cfg["max_code_bytes"])
        if frame is None:
            os._exit(0)
        code = bytes(frame[1]).decode("utf-8", "surrogatepass")
        del frame
        res = run(code, p)
        _proto.write_all(res_fd, encode_result(res, p.cfg["max_result_bytes"]))
    except BaseException:  # noqa: BLE001 - the zygote reports an empty result as an error
        os._exit(71)
    os._exit(0)


def encode_result(res: dict, limit: int) -> bytes:
    try:
        data = json.dumps(res, ensure_ascii=True).encode("ascii")
    except (ValueError, TypeError, RecursionError) as e:
        res = {"status": "error", "answer": None, "stdout": "",
               "error": f"answer not convertible: {_error_text(e)}"}
        data = json.dumps(res, ensure_ascii=True).encode("ascii")
    if len(data) > limit:
        res.update(status="error", answer=None,
                   error=f"result too large ({len(data)} > {limit} bytes of JSON)")
        res["stdout"] = res["stdout"][: limit // 16]
        data = json.dumps(res, ensure_ascii=True).encode("ascii")
    return data


def run(code: str, p: Prepared) -> dict:
    """Run one program in this process; returns the result claim."""
    cfg, allowed, table, main_module = p.cfg, p.allowed, p.table, p.main_module
    denials = p.state["denials"]
    res = {"status": "ok", "answer": None, "stdout": "", "error": None}
    try:
        tree = ast.parse(code, "<program>", "exec")
    except SyntaxError as e:
        res.update(status="error", error=f"SyntaxError: {e.msg} (line {e.lineno})")
        return res
    except (ValueError, MemoryError, RecursionError) as e:
        res.update(status="error", error=_error_text(e))
        return res
    problems = _guard.check_source(tree, allowed) if p.guard else []
    if problems:
        res.update(status="denied", error=problems[0])
        return res
    if p.guard and _guard.needs_rewrite(code):
        tree = _guard.rewrite(tree)
    prog = compile(tree, "<program>", "exec")
    g = main_module.__dict__
    g["__builtins__"] = table
    sys.modules["__main__"] = main_module  # libraries resolving "__main__" see the program
    out = CappedWriter(cfg["stdout_limit"])
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, CappedWriter(4096)
    sys.setrecursionlimit(cfg.get("recursion_limit", 3000))
    try:
        exec(prog, g)
    except MemoryError:
        g.clear()
        res.update(status="memory", error=f"MemoryError: over the {cfg['memory_mb']} MB limit")
    except SystemExit as e:
        if e.code not in (None, 0):
            res.update(status="error", error=f"SystemExit: {str(e.code)[:200]}")
    except (_guard.SandboxViolation, _guard.DeniedImport) as e:
        res.update(status="denied", error=str(e))
    except BaseException as e:  # noqa: BLE001 - the program's own failure
        res.update(status="error", error=_error_text(e))
    try:
        res["stdout"] = out.getvalue()
        if res["status"] == "ok":
            if "answer" in g:
                res["answer"] = to_jsonable(g["answer"])
            else:
                line = out.last_line()
                res["answer"] = None if line is None else parse_number(line)
    except MemoryError:
        res.update(status="memory", answer=None, stdout="",
                   error="MemoryError while converting the answer")
    except BaseException as e:  # noqa: BLE001 - e.g. a __str__ that raises
        res.update(status="error", answer=None, error=f"answer not convertible: {_error_text(e)}")
    # finalize the program's objects now, with the guard still on: a __del__ that breaks a rule
    # is seen (and one that makes a forbidden syscall kills the process -> "denied")
    try:
        g.clear()
        gc.collect()
    except BaseException as e:  # noqa: BLE001 - a finalizer's failure
        if res["status"] == "ok":
            res.update(status="error", answer=None, error=f"during cleanup: {_error_text(e)}")
    sys.stdout, sys.stderr = saved
    if denials and res["status"] != "memory":
        why = str(denials[0])
        why = why if "not allowed" in why else f"{why} is not allowed"
        res.update(status="denied", answer=None, error=f"sandbox: {why}")
    if res["status"] != "ok":
        res["answer"] = None
    return res
