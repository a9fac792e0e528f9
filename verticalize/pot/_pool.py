"""The parent's handle on one sandbox worker process (used by :mod:`verticalize.pot.sandbox`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from typing import TYPE_CHECKING

from verticalize.errors import SandboxError
from verticalize.pot import _proto

if TYPE_CHECKING:
    from verticalize.pot.sandbox import PythonSandbox

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_worker.py")


def read_roots() -> list[str]:
    """Directories a program may read: the stdlib and site-packages."""
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    for p in sys.path:  # site-packages dirs, e.g. of a virtualenv
        if p.endswith(("site-packages", "dist-packages")):
            roots.add(p)
    return sorted(os.path.realpath(r) for r in roots if r and os.path.isdir(r))


def kill_group(pid: int) -> None:
    """SIGKILL a program process and its process group (it is a session leader)."""
    for fn in (os.killpg, os.kill):
        try:
            fn(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Worker:
    """One worker process and the parent's view of it."""

    def __init__(self, sb: "PythonSandbox"):
        self.sb = sb
        self.proc: subprocess.Popen | None = None
        self.state = "dead"  # starting | idle | busy | draining | dead
        self.job = -1
        self.child_pid: int | None = None
        self.t0 = self.deadline = 0.0
        self.buf = bytearray()
        self.info: dict = {}
        self.spawn()

    def spawn(self) -> None:
        sb = self.sb
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        self.err = tempfile.TemporaryFile(dir=sb._base)
        try:
            self.proc = subprocess.Popen(
                [sb._python, "-I", "-B", WORKER_SCRIPT, str(req_r), str(resp_w), sb._cfg_json],
                pass_fds=(req_r, resp_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self.err, env=sb._env, cwd=sb._base, start_new_session=True)
        except OSError as e:
            for fd in (req_w, resp_r):
                os.close(fd)
            raise SandboxError(f"cannot start a PoT sandbox worker ({sb._python}): {e}") from e
        finally:
            os.close(req_r)
            os.close(resp_w)
        self.req_w, self.resp_r = req_w, resp_r
        self.buf = bytearray()
        self.state, self.child_pid = "starting", None
        self.deadline = time.monotonic() + sb.start_timeout_s

    def stderr_tail(self) -> str:
        try:
            self.err.seek(0)
            return self.err.read()[-2000:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def kill(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for fd in (getattr(self, "req_w", None), getattr(self, "resp_r", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.req_w = self.resp_r = None
        try:
            self.err.close()
        except (OSError, AttributeError):
            pass
        self.state = "dead"

    def send(self, obj: dict) -> None:
        _proto.send_frame(self.req_w, obj)

    def feed(self) -> list[dict]:
        """Read what is available; return complete frames. Raises EOFError when the pipe closed."""
        chunk = os.read(self.resp_r, 1 << 20)
        if not chunk:
            raise EOFError
        self.buf += chunk
        return _proto.split_frames(self.buf)
