"""The zygote: a trusted, pre-imported process that forks one fresh program process per program.

It never runs program code and never parses what a program sends: it keeps one confined program
process ready ahead of time (a "spare", already past its setup), hands it the next program's
source, enforces the wall-clock deadline itself (SIGKILL), caps the bytes a program may send back,
waits until the process has *exited*, and reports to the parent what the kernel says about it
(exit code or signal, its own kill) next to the program's raw, untrusted result bytes. The parent
decides the status. Each program's temp dir is created before its process exists and removed
after it is reaped; I/O buffers holding a program's source or result are zeroed after use, so a
later fork does not inherit them.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import sys
import time

import _proto
import _runner

_CHUNK = 1 << 16


class Child:
    __slots__ = (
        "chunks",
        "deadline",
        "eof",
        "job",
        "killed",
        "nbytes",
        "pid",
        "pidfd",
        "reported",
        "req_w",
        "res_r",
        "status",
        "t0",
        "tmpdir",
    )

    def __init__(self, pid: int, req_w: int, res_r: int, pidfd: int, tmpdir: str):
        self.pid, self.req_w, self.res_r, self.pidfd, self.tmpdir = pid, req_w, res_r, pidfd, tmpdir
        self.job = None
        self.deadline = self.t0 = 0.0
        self.chunks: list[bytearray] = []  # what the process sent, in fixed buffers (no copies)
        self.nbytes = 0
        self.eof, self.status, self.killed, self.reported = False, None, None, False

    def read(self) -> int:
        """Read what is available into fixed-size buffers, never reallocated (so nothing a
        program sent is left behind in freed memory); returns the bytes read (0: EOF)."""
        used = self.nbytes % _CHUNK
        if not self.chunks or (used == 0 and self.nbytes):
            self.chunks.append(bytearray(_CHUNK))
            used = 0
        n = os.readv(self.res_r, [memoryview(self.chunks[-1])[used:]])
        self.nbytes += n
        return n

    def views(self, offset: int = 0):
        """The bytes received from ``offset`` on, as memoryviews of the buffers."""
        left = self.nbytes
        for chunk in self.chunks:
            take = min(left, _CHUNK)
            left -= take
            if offset < take:
                yield memoryview(chunk)[offset:take]
            offset = max(0, offset - take)


def _close(fd: int) -> None:
    if fd is not None and fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


def _zero(buf: bytearray) -> None:
    if buf:
        memoryview(buf)[:] = bytes(len(buf))


class Zygote:
    def __init__(self, cfg: dict, req_fd: int, resp_fd: int, zinfo: dict):
        self.cfg, self.req_fd, self.resp_fd, self.zinfo = cfg, req_fd, resp_fd, zinfo
        self.prepared = _runner.Prepared(cfg, zinfo)
        self.scratch = cfg["scratch"]
        self.spares: list[Child] = []
        self.active: dict[int, Child] = {}  # pid -> running, or killed/finished and not yet reaped
        self.seq = 0
        self.setup_failures = 0
        self.spares_target = max(0, min(2, int(cfg.get("spares", 1))))
        self.max_result = int(cfg["max_result_bytes"]) + 4096  # + the setup frame
        try:
            self.statm = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self.statm = -1
        self.use_pidfd = hasattr(os, "pidfd_open")

    # ------------------------------------------------------------------ program processes
    def vm_bytes(self) -> int:
        try:
            return int(os.pread(self.statm, 128, 0).split()[0]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return 256 << 20

    def fork_child(self) -> Child:
        self.seq += 1
        tmpdir = os.path.join(self.scratch, f"p{self.seq}")
        os.mkdir(tmpdir, 0o700)
        if self.zinfo.get("uid") is not None:
            os.chown(tmpdir, self.zinfo["uid"], self.zinfo["gid"])
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        self.zinfo["vm_bytes"] = self.vm_bytes()
        pid = os.fork()
        if pid == 0:  # ---- program process (never returns)
            try:
                _close(req_w)
                _close(res_r)
                _runner.main(self.prepared, req_r, res_w, tmpdir)
            finally:
                os._exit(_runner.EXIT_SETUP_FAILED)
        _close(req_r)
        _close(res_w)
        pidfd = -1
        if self.use_pidfd:
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                self.use_pidfd = False
        return Child(pid, req_w, res_r, pidfd, tmpdir)

    def top_up(self) -> None:
        while len(self.spares) < self.spares_target:
            self.spares.append(self.fork_child())

    def kill(self, c: Child, why: str | None) -> None:
        try:
            os.kill(c.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if why and c.killed is None:
            c.killed = why

    def reap(self, c: Child) -> bool:
        """Collect the exit status if the process has ended; True when it has."""
        if c.status is not None:
            return True
        try:
            pid, status = os.waitpid(c.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = c.pid, 0
        if pid == 0:
            return False
        c.status = status
        _close(c.pidfd)
        c.pidfd = -1
        return True

    def cleanup(self, c: Child) -> None:
        _close(c.req_w)
        _close(c.res_r)
        _close(c.pidfd)
        c.req_w = c.res_r = c.pidfd = -1
        for chunk in c.chunks:
            _zero(chunk)
        c.chunks, c.nbytes = [], 0
        try:
            os.rmdir(c.tmpdir)
        except OSError:
            shutil.rmtree(c.tmpdir, ignore_errors=True)

    def read_setup(self, c: Child, timeout: float) -> dict:
        """Blocking read of a spare's setup frame (used once, for the first one)."""
        end = time.monotonic() + timeout
        while True:
            setup, _ = self.split_setup(c)
            if setup is not None:
                return setup
            left = end - time.monotonic()
            if left <= 0 or not select.select([c.res_r], [], [], left)[0]:
                return {"setup_error": "the first program process did not finish its setup"}
            if not c.read():
                setup, _ = self.split_setup(c)
                return setup or {"setup_error": "the first program process exited during setup"}

    @staticmethod
    def split_setup(c: Child):
        """(setup dict, offset of the program's result) in what the process sent. The setup
        frame is small and comes first, written before any program code existed."""
        b = memoryview(c.chunks[0])[:min(c.nbytes, _CHUNK)] if c.chunks else b""
        if len(b) < 4:
            return None, 0
        n = int.from_bytes(b[:4], "big")
        if n > _proto.MAX_HEADER or len(b) < 8 + n:
            return (None, 0) if n <= _proto.MAX_HEADER else ({"setup_error": "bad setup"}, len(b))
        import json

        try:
            setup = json.loads(bytes(b[4:4 + n]))
        except ValueError:
            setup = None
        if not isinstance(setup, dict):
            setup = {"setup_error": "malformed setup frame"}
        return setup, 8 + n

    # ------------------------------------------------------------------ requests
    def dispatch(self, header: dict, code: bytearray) -> None:
        job, timeout = header.get("job"), float(header.get("timeout", 2.0))
        c = None
        for _ in range(3):
            c = self.spares.pop(0) if self.spares else self.fork_child()
            try:
                _proto.send(c.req_w, {"timeout": timeout}, code)
                break
            except OSError:  # it died during setup: the next spare
                self.kill(c, None)
                self.active[c.pid] = c
                c.reported = True
                c = None
        _zero(code)
        if c is None:
            self.report_error(job, "sandbox: no program process could be started")
            return
        _close(c.req_w)
        c.req_w = -1
        c.job, c.t0 = job, time.monotonic()
        c.deadline = c.t0 + timeout
        self.active[c.pid] = c

    def report_error(self, job, msg: str) -> None:
        _proto.send(self.resp_fd, {"type": "result", "job": job, "exit": None, "signal": None,
                                   "killed": None, "setup_error": msg})

    def report(self, c: Child) -> None:
        c.reported = True
        head = {"type": "result", "job": c.job, "exit": None, "signal": None,
                "killed": c.killed, "wall_s": round(time.monotonic() - c.t0, 6)}
        if c.killed:
            _proto.send(self.resp_fd, head)
            return
        st = c.status or 0
        if os.WIFSIGNALED(st):
            head["signal"] = os.WTERMSIG(st)
        else:
            head["exit"] = os.WEXITSTATUS(st) if os.WIFEXITED(st) else -1
        setup, offset = self.split_setup(c)
        if setup is not None and "setup_error" not in setup:
            self.setup_failures = 0
        if setup is None or "setup_error" in setup:
            head["setup_error"] = str((setup or {}).get("setup_error", "no setup frame"))[:500]
            _proto.send(self.resp_fd, head)
            return
        _proto.write_all(self.resp_fd, _proto.pack_header(head, c.nbytes - offset))
        for view in c.views(offset):
            _proto.write_all(self.resp_fd, view)

    # ------------------------------------------------------------------ loop
    def loop(self) -> None:
        while True:
            self.top_up()
            now = time.monotonic()
            running = [c for c in self.active.values() if c.job is not None and not c.reported]
            deadlines = [c.deadline for c in running if c.killed is None]
            wait = max(0.0, min(deadlines) - now) if deadlines else None
            fds = [self.req_fd]
            for c in self.active.values():
                if c.res_r >= 0 and not c.eof and not c.reported:
                    fds.append(c.res_r)
                if c.pidfd >= 0:
                    fds.append(c.pidfd)
            for c in self.spares:
                if c.pidfd >= 0:
                    fds.append(c.pidfd)
            if not self.use_pidfd and (self.active or self.spares):
                wait = 0.002 if wait is None else min(wait, 0.002)  # poll for exits
            ready = set(select.select(fds, [], [], wait)[0])
            if self.req_fd in ready:
                frame = _proto.recv(self.req_fd, int(self.cfg["max_code_bytes"]))
                if frame is None or frame[0].get("op") == "exit":
                    return
                if frame[0].get("op") == "run":
                    self.dispatch(frame[0], frame[1])
            for c in list(self.active.values()):
                if c.res_r >= 0 and c.res_r in ready and not c.eof:
                    if c.read():
                        if c.nbytes > self.max_result:
                            self.kill(c, "output")
                    else:
                        c.eof = True
                if (c.pidfd in ready and c.pidfd >= 0) or not self.use_pidfd or c.eof:
                    self.reap(c)
            now = time.monotonic()
            for c in list(self.active.values()):
                if c.job is not None and c.killed is None and not c.reported and now >= c.deadline:
                    self.kill(c, "timeout")
                if not c.reported and (c.killed or (c.eof and c.status is not None)):
                    self.report(c)
                if c.reported and (c.status is not None or self.reap(c)):
                    self.cleanup(c)
                    del self.active[c.pid]
            for c in list(self.spares):
                if (c.pidfd >= 0 and c.pidfd in ready) or not self.use_pidfd:
                    if self.reap(c):  # a spare died before it got a program: setup failed
                        self.spares.remove(c)
                        self.spare_died(c)

    def spare_died(self, c: Child) -> None:
        try:
            while c.nbytes < 65536 and c.read():
                pass
        except OSError:
            pass
        setup, _ = self.split_setup(c)
        why = str((setup or {}).get("setup_error", "exited during setup"))
        self.cleanup(c)
        self.setup_failures += 1
        if self.setup_failures >= 3:
            _proto.send(self.resp_fd, {"type": "fatal",
                                       "error": f"program processes fail to start: {why}"})
            sys.exit(3)

    def shutdown(self) -> None:
        for c in list(self.active.values()) + self.spares:
            self.kill(c, None)
        for c in list(self.active.values()) + self.spares:
            try:
                os.waitpid(c.pid, 0)
            except ChildProcessError:
                pass
            self.cleanup(c)
