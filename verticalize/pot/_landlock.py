"""Best-effort Landlock confinement of a PoT program process (Linux >= 5.13, unprivileged).

After :func:`restrict`, the kernel lets the process (and anything it could start) open files only
beneath the given roots: read-only in ``read_roots`` (the Python installation, for lazy library
imports) and read-write in ``write_root`` (the worker's temp tree). Files opened before (pipes,
``/proc/self/statm``) stay usable. Where the ABI supports it, TCP bind/connect and signals to
processes outside the domain are refused too. Unlike the audit hook, this cannot be undone by a
program that escapes the Python-level guard. Returns False (and changes nothing) when Landlock is
missing or disabled.
"""

from __future__ import annotations

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
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return ctypes, libc


def abi_version() -> int:
    """The Landlock ABI version of the running kernel (0: unavailable)."""
    nrs = _NR.get(platform.machine())
    if nrs is None or platform.system() != "Linux":
        return 0
    try:
        ctypes, libc = _libc()
        v = libc.syscall(ctypes.c_long(nrs[0]), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except (OSError, AttributeError):
        return 0
    return int(v) if v > 0 else 0


def restrict(read_roots: tuple[str, ...], write_root: str) -> bool:
    """Confine the calling process; True when the kernel accepted the ruleset."""
    abi = abi_version()
    if abi <= 0:
        return False
    ctypes, libc = _libc()
    create, add_rule, restrict_self = (ctypes.c_long(n) for n in _NR[platform.machine()])
    fs_all = _ABI1_ALL | (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0) \
        | (_IOCTL_DEV if abi >= 5 else 0)
    if abi >= 6:
        attr = struct.pack("=QQQ", fs_all, _NET_ALL, _SCOPE_ALL)
    elif abi >= 4:
        attr = struct.pack("=QQ", fs_all, _NET_ALL)
    else:
        attr = struct.pack("=Q", fs_all)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = libc.syscall(create, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        return False
    try:
        rules = [(r, _READ_FILE | _READ_DIR) for r in read_roots] + [(write_root, fs_all)]
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rule = ctypes.create_string_buffer(struct.pack("=Qi", access, fd), 12)
                if libc.syscall(add_rule, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                                rule, ctypes.c_uint32(0)) < 0:
                    return False
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return False
        return libc.syscall(restrict_self, ctypes.c_int(ruleset), ctypes.c_uint32(0)) == 0
    finally:
        os.close(ruleset)
