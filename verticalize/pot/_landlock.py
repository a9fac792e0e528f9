"""Landlock confinement of a PoT program process (Linux >= 5.13, unprivileged; best effort).

After :meth:`Landlock.restrict`, the kernel lets the process (and anything it could start) open
files only beneath the given roots: read-only in ``read_roots`` (the Python installation, for
lazy library imports) and read-write in ``write_root`` (the program's own temp dir). Files opened
before (pipes) stay usable. Where the ABI supports it, TCP bind/connect (ABI 4) and signals and
abstract unix sockets outside the domain (ABI 6) are refused too. Landlock does not cover file
*metadata* (chmod, chown, utime, xattr): the seccomp filter and the dedicated uid do.

:class:`Landlock` is built in the zygote (ctypes objects, ``O_PATH`` fds of the read roots, rule
buffers), so a program process only makes the syscalls. Returns False (changing nothing) when
Landlock is missing or disabled.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

_NR = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}  # create, add_rule, restrict
_READ_FILE, _READ_DIR = 1 << 2, 1 << 3
_ABI1_ALL = (1 << 13) - 1  # execute .. make_sym
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_NET_ALL = (1 << 0) | (1 << 1)  # bind_tcp, connect_tcp
_SCOPE_ALL = (1 << 0) | (1 << 1)  # abstract unix sockets, signals
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version() -> int:
    """The Landlock ABI version of the running kernel (0: unavailable)."""
    nrs = _NR.get(platform.machine())
    if nrs is None or platform.system() != "Linux":
        return 0
    try:
        v = _libc().syscall(ctypes.c_long(nrs[0]), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except (OSError, AttributeError):
        return 0
    return int(v) if v > 0 else 0


class Landlock:
    """A prepared Landlock policy: ``read_roots`` read-only, one write root given later."""

    def __init__(self, read_roots: tuple[str, ...]):
        self.abi = abi_version()
        self.fds: list[int] = []
        if self.abi <= 0:
            return
        self.libc = _libc()
        self.nrs = tuple(ctypes.c_long(n) for n in _NR[platform.machine()])
        abi = self.abi
        self.fs_all = _ABI1_ALL | (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0) \
            | (_IOCTL_DEV if abi >= 5 else 0)
        if abi >= 6:
            attr = struct.pack("=QQQ", self.fs_all, _NET_ALL, _SCOPE_ALL)
        elif abi >= 4:
            attr = struct.pack("=QQ", self.fs_all, _NET_ALL)
        else:
            attr = struct.pack("=Q", self.fs_all)
        self.attr = ctypes.create_string_buffer(attr, len(attr))
        self.attr_len = ctypes.c_size_t(len(attr))
        self.rules = []
        for root in read_roots:
            try:
                fd = os.open(root, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            self.fds.append(fd)
            self.rules.append(ctypes.create_string_buffer(
                struct.pack("=Qi", _READ_FILE | _READ_DIR, fd), 12))
        self.zero32 = ctypes.c_uint32(0)
        self.beneath = ctypes.c_int(_RULE_PATH_BENEATH)

    def restrict(self, write_root: str) -> bool:
        """Confine the calling process; True when the kernel accepted the ruleset. Closes the
        read roots' fds (in this process) either way."""
        if self.abi <= 0:
            return False
        libc, (create, add_rule, restrict_self) = self.libc, self.nrs
        try:
            ruleset = libc.syscall(create, self.attr, self.attr_len, self.zero32)
            if ruleset < 0:
                return False
            try:
                rs = ctypes.c_int(ruleset)
                wfd = os.open(write_root, os.O_PATH | os.O_CLOEXEC)
                try:
                    own = ctypes.create_string_buffer(struct.pack("=Qi", self.fs_all, wfd), 12)
                    for rule in self.rules + [own]:
                        if libc.syscall(add_rule, rs, self.beneath, rule, self.zero32) < 0:
                            return False
                finally:
                    os.close(wfd)
                u = ctypes.c_ulong
                if libc.prctl(ctypes.c_int(_PR_SET_NO_NEW_PRIVS), u(1), u(0), u(0), u(0)) != 0:
                    return False
                return libc.syscall(restrict_self, rs, self.zero32) == 0
            finally:
                os.close(ruleset)
        finally:
            for fd in self.fds:
                try:
                    os.close(fd)
                except OSError:
                    pass


def restrict(read_roots: tuple[str, ...], write_root: str) -> bool:
    """One-shot form of :class:`Landlock` (prepare and apply in the calling process)."""
    return Landlock(read_roots).restrict(write_root)
