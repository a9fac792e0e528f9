"""Best-effort seccomp-BPF filter for a PoT program process (Linux x86_64 / aarch64 only).

Loaded through :mod:`ctypes` in the worker *before* the audit hook is installed. The filter makes
the kernel refuse (``EPERM``) the system calls a numeric program never needs: new processes
(``clone``/``fork``/``vfork``/``execve``), sockets, signals to other processes, ``ptrace``,
raising resource limits, mounts/namespaces, links/``mknod``, ``io_uring`` and other kernel
attack surface. Syscalls of a foreign architecture ABI kill the process. Unlike ``RLIMIT_NPROC``
this also holds for root. It is a second wall behind the Python-level audit hook; ``open`` cannot
be filtered by path here (seccomp cannot read user memory), that stays the audit hook's job.

:func:`prepare` builds the filter (call it in the worker before forking program processes);
:func:`install` applies it to the calling process and returns whether it is active.
"""

from __future__ import annotations

import errno
import platform
import struct

_X86_64 = {  # name -> number, from <asm/unistd_64.h>
    "socket": 41, "connect": 42, "accept": 43, "bind": 49, "listen": 50, "socketpair": 53,
    "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "kill": 62, "link": 86, "symlink": 88,
    "chown": 92, "fchown": 93, "lchown": 94, "ptrace": 101, "rt_sigqueueinfo": 129, "mknod": 133,
    "personality": 135, "pivot_root": 155, "setrlimit": 160, "chroot": 161, "mount": 165,
    "umount2": 166, "reboot": 169, "init_module": 175, "delete_module": 176, "tkill": 200,
    "tgkill": 234, "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250,
    "mknodat": 259, "fchownat": 260, "linkat": 265, "symlinkat": 266, "unshare": 272,
    "accept4": 288, "rt_tgsigqueueinfo": 297, "perf_event_open": 298, "prlimit64": 302,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
    "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320, "bpf": 321,
    "execveat": 322, "userfaultfd": 323, "pidfd_send_signal": 424, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "pidfd_open": 434, "clone3": 435,
    "pidfd_getfd": 438,
}
_AARCH64 = {  # from <asm-generic/unistd.h>
    "mknodat": 33, "symlinkat": 36, "linkat": 37, "umount2": 39, "mount": 40, "pivot_root": 41,
    "chroot": 51, "fchownat": 54, "fchown": 55, "personality": 92, "unshare": 97,
    "kexec_load": 104, "init_module": 105, "delete_module": 106, "ptrace": 117, "kill": 129,
    "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138, "reboot": 142, "setrlimit": 164,
    "socket": 198, "socketpair": 199, "bind": 200, "listen": 201, "accept": 202, "connect": 203,
    "add_key": 217, "request_key": 218, "keyctl": 219, "clone": 220, "execve": 221,
    "rt_tgsigqueueinfo": 240, "perf_event_open": 241, "accept4": 242, "prlimit64": 261,
    "name_to_handle_at": 264, "open_by_handle_at": 265, "setns": 268, "process_vm_readv": 270,
    "process_vm_writev": 271, "finit_module": 273, "bpf": 280, "execveat": 281,
    "userfaultfd": 282, "kexec_file_load": 294, "pidfd_send_signal": 424, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "pidfd_open": 434, "clone3": 435,
    "pidfd_getfd": 438,
}
_ARCHES = {"x86_64": (0xC000003E, _X86_64), "aarch64": (0xC00000B7, _AARCH64)}

_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW, _RET_KILL = 0x7FFF0000, 0x80000000
_RET_EPERM = 0x00050000 | errno.EPERM
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2

_state: dict = {}


def _filter(arch_id: int, table: dict[str, int], x86: bool) -> bytes:
    nrs = sorted(set(table.values()))
    ins: list[tuple[int, int, int, int]] = []
    n_tail = 3  # ALLOW, EPERM, KILL
    ins.append((_LD_W_ABS, 0, 0, 4))  # arch
    head = 3 + (1 if x86 else 0)
    total = head + len(nrs) + n_tail
    kill_at, deny_at = total - 1, total - 2

    def jump(frm: int, to: int) -> int:
        return to - frm - 1

    ins.append((_JEQ_K, 0, jump(1, kill_at), arch_id))
    ins.append((_LD_W_ABS, 0, 0, 0))  # syscall number
    if x86:  # x32 ABI numbers carry bit 30: refuse them outright
        ins.append((_JGE_K, jump(3, kill_at), 0, 0x40000000))
    for nr in nrs:
        ins.append((_JEQ_K, jump(len(ins), deny_at), 0, nr))
    ins += [(_RET_K, 0, 0, _RET_ALLOW), (_RET_K, 0, 0, _RET_EPERM), (_RET_K, 0, 0, _RET_KILL)]
    assert len(ins) == total and all(0 <= i[1] < 256 and 0 <= i[2] < 256 for i in ins)
    return b"".join(struct.pack("=HBBI", *i) for i in ins)


def prepare() -> bool:
    """Build the filter and resolve ``prctl``; False when unsupported here. Call before fork."""
    if _state:
        return _state["ok"]
    _state["ok"] = False
    arch = _ARCHES.get(platform.machine())
    if arch is None or platform.system() != "Linux":
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
        prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                          ctypes.c_ulong]
        prctl.restype = ctypes.c_int
        code = _filter(arch[0], arch[1], platform.machine() == "x86_64")

        class _Prog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        buf = ctypes.create_string_buffer(code, len(code))
        prog = _Prog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
        _state.update(ok=True, ctypes=ctypes, prctl=prctl, buf=buf, prog=prog)
    except Exception:  # noqa: BLE001 - best effort
        return False
    return True


def set_parent_death_signal(sig: int) -> None:
    """``prctl(PR_SET_PDEATHSIG, sig)``: die when the (single-threaded) parent dies."""
    if _state.get("ok"):
        _state["prctl"](1, sig, None, 0, 0)


def install() -> bool:
    """Apply the filter to this process (irreversible). True when the kernel accepted it."""
    if not prepare():
        return False
    ctypes, prctl = _state["ctypes"], _state["prctl"]
    if prctl(_PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        return False
    return prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(_state["prog"]), 0, 0) == 0
