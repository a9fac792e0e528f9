"""PoT worker process: ``python -I -B _worker.py REQ_FD RESP_FD CONFIG_JSON``.

Started by :class:`verticalize.pot.sandbox.PythonSandbox` with a stripped environment. It imports
the allowed modules once ("pre-warming": numpy, sympy... before any audit hook exists), then
serves run requests from REQ_FD. Programs run in a *program process* forked from this pristine,
single-threaded interpreter (see ``_runner.py``), which may serve several consecutive clean
programs; a fresh one is forked (ahead of time) whenever the previous one exits or is killed.
For each request this process reports ``{"type": "started", "pid": ...}`` (so the parent can
kill the program process group on timeout) and then the result frame.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import sys
import tempfile
import time

sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
import _landlock  # noqa: E402
import _proto  # noqa: E402
import _runner  # noqa: E402
import _seccomp  # noqa: E402

sys.path.remove(_HERE)


class _Proc:
    """The worker's handle on one program process."""

    def __init__(self, cfg: dict, timeout: float, parent_fds: tuple[int, int]):
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # ---- program process
            code = 1
            try:
                for fd in (req_w, res_r, *parent_fds):
                    os.close(fd)
                _runner.Program(cfg, req_r, res_w, timeout).serve()
                code = 0
            except BaseException as e:  # noqa: BLE001
                try:
                    _proto.send_frame(res_w, {"status": "error", "answer": None, "stdout": "",
                                              "error": f"sandbox setup failed: {e!r}"[:500],
                                              "recycle": True})
                except BaseException:  # noqa: BLE001
                    pass
            os._exit(code)
        os.close(req_r)
        os.close(res_w)
        self.pid, self.req_w, self.res_r, self.timeout = pid, req_w, res_r, timeout

    def finish(self) -> int:
        """Kill what is left of the process group, reap it; return the wait status."""
        for fd in (self.req_w, self.res_r):
            try:
                os.close(fd)
            except OSError:
                pass
        for fn in (os.killpg, os.kill):
            try:
                fn(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            return os.waitpid(self.pid, 0)[1]
        except ChildProcessError:
            return 0


def _status_result(status: int) -> dict:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        st = {signal.SIGKILL: "memory", signal.SIGXCPU: "timeout"}.get(sig, "error")
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return {"status": st, "answer": None, "stdout": "",
                "error": f"program process killed by {name}"}
    return {"status": "error", "answer": None, "stdout": "",
            "error": f"program process exited with code {os.WEXITSTATUS(status)}"}


class Worker:
    def __init__(self, cfg: dict, req_fd: int, resp_fd: int):
        self.cfg, self.req_fd, self.resp_fd = cfg, req_fd, resp_fd
        self.proc: _Proc | None = None
        self._last_timeout = float(cfg.get("timeout", 2.0))

    def spawn(self, timeout: float) -> _Proc:
        self.proc = _Proc(self.cfg, timeout, (self.req_fd, self.resp_fd))
        return self.proc

    def serve(self) -> None:
        while True:
            msg = _proto.read_frame(self.req_fd)
            if msg is None or msg.get("op") == "exit":
                break
            if not self.serve_one(msg):
                break
            if self.proc is None:  # fork the next program process ahead of time
                self.spawn(self._last_timeout)
        if self.proc is not None:
            self.proc.finish()

    def serve_one(self, msg: dict) -> bool:
        """Run one program; False when the parent is gone."""
        timeout = self._last_timeout = float(msg.get("timeout", 2.0))
        proc = self.proc
        if proc is not None and timeout > proc.timeout:
            proc.finish()
            proc = None
        tmpdir = tempfile.mkdtemp(prefix="prog-", dir=self.cfg["base_dir"])
        request = {"code": msg["code"], "timeout": timeout, "tmpdir": tmpdir}
        for _ in range(2):
            proc = proc or self.spawn(timeout)
            try:
                _proto.send_frame(proc.req_w, request)
                break
            except OSError:  # it had exited (e.g. setup failed): start over once
                proc.finish()
                proc = None
        self.proc = proc
        _proto.send_frame(self.resp_fd, {"type": "started", "pid": proc.pid if proc else 0})
        res, alive = (self._wait(proc, timeout) if proc else (None, True))
        if res is None or res.pop("recycle", False):
            status = proc.finish() if proc else 0
            self.proc = None
            if res is None:
                res = _status_result(status)
        shutil.rmtree(tmpdir, ignore_errors=True)
        if not alive:
            return False
        res["type"] = "result"
        _proto.send_frame(self.resp_fd, res)
        return True

    def _wait(self, proc: _Proc, timeout: float) -> tuple[dict | None, bool]:
        """Read the result frame; None when the process died or overran the backstop."""
        buf, deadline = bytearray(), time.monotonic() + 2 * timeout + 5
        while True:
            remaining = deadline - time.monotonic()
            ready = select.select([proc.res_r, self.req_fd], [], [], max(0.0, remaining))[0]
            if self.req_fd in ready:  # the parent never writes while a program runs: EOF
                return None, False
            if not ready:
                return None, True
            chunk = os.read(proc.res_r, 1 << 16)
            if not chunk:
                return None, True
            buf += chunk
            try:
                frames = _proto.split_frames(buf)
            except ValueError:
                return None, True
            if frames:
                res = frames[0]
                return (res, True) if isinstance(res, dict) and "status" in res else (None, True)


def prewarm(cfg: dict) -> dict:
    """Import the allowed modules (and what numpy/sympy load lazily) before any hook exists."""
    import importlib

    found = {}
    for name in sorted(set(cfg["modules"])):
        try:
            mod = importlib.import_module(name)
            found[name] = getattr(mod, "__version__", True)
        except ImportError:
            found[name] = None
    if found.get("numpy"):
        import numpy as np

        np.linalg.solve(np.eye(3), np.ones(3))
        np.polyfit([1.0, 2.0, 3.0], [2.0, 4.0, 6.0], 1)
        np.random.default_rng(0).normal(size=3)
        str(np.arange(3) * 1.5)
    if found.get("sympy"):
        import sympy as sp

        x, y = sp.symbols("x y")
        sp.solve([sp.Eq(2 * x + y, 5), sp.Eq(x - y, 1)], [x, y])
        sp.solve(x ** 2 - 4, x)
        sp.nsolve(x ** 3 - 2, x, 1)
        sp.simplify((x ** 2 - 1) / (x - 1))
        sp.integrate(x ** 2, (x, 0, 1))
        sp.diff(sp.sin(x), x)
        sp.N(sp.sympify("x**2 + 1").subs(x, sp.Rational(1, 3)), 15)
        sp.Matrix([[1, 2], [3, 4]]).det()
        sp.factorint(360)
        str(sp.sqrt(8) + sp.pi)
    for name in ("math", "cmath", "numpy", "sympy", "mpmath"):
        if found.get(name):  # star imports touch every lazily loaded submodule
            exec(f"from {name} import *", {})
    import statistics

    time.localtime()  # loads the time zone data now: files outside the sandbox later
    statistics.mean([1, 2, 3])
    statistics.stdev([1.0, 2.0, 4.0])
    return {k: (v if isinstance(v, str) else bool(v)) for k, v in found.items()}


def main(argv: list[str]) -> int:
    import gc
    import json

    req_fd, resp_fd, cfg = int(argv[1]), int(argv[2]), json.loads(argv[3])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    modules = prewarm(cfg)
    cfg["modules"] = [m for m in cfg["modules"] if modules.get(m)]
    cfg["seccomp"] = bool(cfg.get("seccomp")) and _seccomp.prepare()
    cfg["landlock"] = bool(cfg.get("landlock")) and _landlock.abi_version() > 0
    cfg["base_dir"] = tempfile.mkdtemp(prefix="worker-", dir=cfg["base_dir"])  # this worker's
    gc.collect()
    gc.freeze()  # keep pre-warmed objects out of the children's collections (fewer COW copies)
    worker = Worker(cfg, req_fd, resp_fd)
    worker.spawn(float(cfg.get("timeout", 2.0)))
    _proto.send_frame(resp_fd, {"type": "ready", "modules": cfg["modules"],
                                "seccomp": cfg["seccomp"], "landlock": cfg["landlock"],
                                "pid": os.getpid()})
    worker.serve()
    shutil.rmtree(cfg["base_dir"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
