"""The parent's handle on one sandbox worker tree (used by :mod:`verticalize.pot.sandbox`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from typing import Any

from verticalize.errors import SandboxError
from verticalize.pot import _proto

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_worker.py")


def read_roots() -> list[str]:
    """Directories a program may read: the stdlib and site-packages."""
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    for p in sys.path:  # site-packages dirs, e.g. of a virtualenv
        if p.endswith(("site-packages", "dist-packages")):
            roots.add(p)
    return sorted(os.path.realpath(r) for r in roots if r and os.path.isdir(r))


class Worker:
    """One worker tree (outer process + zygote + program processes) of one module tier."""

    def __init__(self, sb: Any, tier: str, preload: list[str]):  # sb: the owning PythonSandbox (its settings)
        self.sb, self.tier, self.preload = sb, tier, preload
        self.proc: subprocess.Popen | None = None
        self.state = "dead"  # starting | ready | dead
        self.info: dict = {}
        self.inflight: dict[int, tuple] = {}  # job id -> (index, t0, deadline, timeout)
        self.out = bytearray()
        self.req_w = self.resp_r = None
        self.generation = 0
        self.err = None
        self.deadline = 0.0

    def spawn(self) -> None:
        sb = self.sb
        self.generation += 1
        scratch = os.path.join(sb._base, f"{self.tier}{self.generation}")
        os.mkdir(scratch, 0o711)
        cfg = dict(sb._cfg, tier=self.tier, preload=self.preload, scratch=scratch)
        if cfg.get("huge_pages") is None:  # pays off only for the large sympy heap (measured)
            cfg["huge_pages"] = self.tier == "full"
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        self.err = tempfile.TemporaryFile(dir=sb._base)
        try:
            self.proc = subprocess.Popen(
                [sb._python, "-I", "-B", WORKER_SCRIPT, str(req_r), str(resp_w), json.dumps(cfg)],
                pass_fds=(req_r, resp_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self.err, env=sb._env, cwd=sb._base, start_new_session=True)
        except OSError as e:
            for fd in (req_w, resp_r):
                os.close(fd)
            raise SandboxError(f"cannot start a PoT sandbox worker ({sb._python}): {e}") from e
        finally:
            os.close(req_r)
            os.close(resp_w)
        os.set_blocking(req_w, False)
        self.req_w, self.resp_r = req_w, resp_r
        self.splitter = _proto.Splitter(sb._max_result + 8192)
        self.out = bytearray()
        self.inflight = {}
        self.state, self.info = "starting", {}
        self.deadline = time.monotonic() + sb.start_timeout_s

    def stderr_tail(self) -> str:
        try:
            self.err.seek(0)
            return self.err.read()[-2000:].decode("utf-8", "replace").strip()
        except (OSError, ValueError, AttributeError):
            return ""

    def kill(self) -> None:
        """SIGKILL the whole tree: the worker's process group holds the zygote and every program
        process (they cannot leave it), and the zygote is PID 1 of their namespace."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for fd in (self.req_w, self.resp_r):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.req_w = self.resp_r = None
        if self.err is not None:
            try:
                self.err.close()
            except OSError:
                pass
        self.state = "dead"
        self.out = bytearray()

    def send(self, header: dict, payload: bytes = b"") -> None:
        self.out += _proto.pack_header(header, len(payload))
        self.out += payload
        self.flush()

    def flush(self) -> None:
        """Write what the pipe takes now (non-blocking: a busy zygote never stalls the parent)."""
        while self.out:
            try:
                n = os.write(self.req_w, self.out[: 1 << 20])
            except BlockingIOError:
                return
            del self.out[:n]

    def feed(self) -> list[tuple[dict, bytes]]:
        """Read what is available; return complete frames. Raises EOFError when the pipe closed."""
        chunk = os.read(self.resp_r, 1 << 20)
        if not chunk:
            raise EOFError
        return self.splitter.feed(chunk)
