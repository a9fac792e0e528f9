"""seccomp-BPF filter of a PoT program process, written with libseccomp (no hand syscall tables).

The filter is built once per zygote with the libseccomp Python binding - the official ``seccomp``
module when installed (Debian ``python3-seccomp``), else ``pyseccomp`` (PyPI, ctypes over
``libseccomp.so.2``) - which resolves syscall names for the running architecture and rejects
foreign ABIs (x32, i386 on x86_64). It is exported as raw BPF, so each program process only makes
one ``prctl`` to load it (cheap, and no libseccomp call after fork).

Everything a numeric program never needs **kills the process** (``SECCOMP_RET_KILL_PROCESS``):
the parent sees ``SIGSYS`` in the exit status, which the program cannot forge or catch, and
reports status "denied". The list covers new processes and threads (``clone``, ``clone3``,
``fork``, ``execve``...), sockets, signals to any process, ``ptrace`` and cross-process memory,
leaving the process group/session, changing ids or capabilities, file metadata (``chmod``
family incl. ``fchmodat2``, ``chown``, ``utime``/``utimensat``, every ``*xattr``), links and device
nodes, priorities and CPU affinity (``setpriority``, ``sched_set*``, ``ioprio_set``), the clock
(``adjtimex``, ``clock_adjtime``, ``settimeofday``, ``clock_settime``), file watches (``inotify``,
``fanotify``), resource limits (``setrlimit``, ``prlimit64`` on another process or with a new
limit), ``prctl`` options that would weaken the sandbox (parent-death signal, dumpable, ptracer,
subreaper, ``PR_SET_MM``, securebits, ambient capabilities), mounts and namespaces, kernel
modules, ``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring``, keyrings, SysV/POSIX IPC and
syscalls newer than this filter (so a future metadata syscall is refused, not allowed).
"""

from __future__ import annotations

import os
import platform

KILL_SYSCALLS = (
    # processes and threads
    "fork", "vfork", "clone", "clone3", "execve", "execveat",
    # network
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    # other processes
    "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open",
    "pidfd_getfd", "pidfd_send_signal", "ptrace", "process_vm_readv", "process_vm_writev",
    "kcmp", "process_madvise", "process_mrelease", "setsid", "setpgid",
    # identity and privileges
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid",
    "setfsgid", "setgroups", "capset",
    # file metadata, links, device nodes
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "utime", "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr",
    "removexattr", "lremovexattr", "fremovexattr", "getxattr", "lgetxattr", "fgetxattr",
    "listxattr", "llistxattr", "flistxattr", "setxattrat", "removexattrat", "getxattrat",
    "listxattrat", "file_setattr", "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat",
    "name_to_handle_at", "open_by_handle_at",
    # scheduling, priorities, clock, watches, limits
    "setpriority", "sched_setaffinity", "sched_setscheduler", "sched_setparam", "sched_setattr",
    "ioprio_set", "migrate_pages", "move_pages", "adjtimex", "clock_adjtime", "settimeofday",
    "clock_settime", "inotify_init", "inotify_init1", "inotify_add_watch", "fanotify_init",
    "fanotify_mark", "setrlimit",
    # mounts, namespaces, system
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_tree", "open_tree_attr",
    "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "statmount",
    "listmount", "quotactl", "quotactl_fd", "swapon", "swapoff", "reboot", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "acct", "syslog",
    "vhangup", "sethostname", "setdomainname", "iopl", "ioperm", "personality", "modify_ldt",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "keyctl", "add_key", "request_key", "lookup_dcookie", "uselib",
    "msgget", "semget", "shmget", "mq_open", "mq_unlink", "memfd_secret",
)
# Syscalls newer than the libseccomp release in use are added by number. These numbers come from
# the kernel's unified table (identical on x86_64 and aarch64 since 5.x); everything from 470 on
# (not yet assigned when this was written) is refused as well.
NEWER_SYSCALLS = {"fchmodat2": 452, "statmount": 457, "listmount": 458, "setxattrat": 463,
                  "getxattrat": 464, "listxattrat": 465, "removexattrat": 466,
                  "open_tree_attr": 467, "file_setattr": 469}
FUTURE_SYSCALLS = range(470, 512)

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_KEEPCAPS, PR_SET_SECUREBITS = 1, 4, 8, 28
PR_SET_MM, PR_SET_CHILD_SUBREAPER, PR_CAP_AMBIENT, PR_SET_IO_FLUSHER = 35, 36, 47, 57
PR_SET_PTRACER = 0x59616D61
KILL_PRCTL = (PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_KEEPCAPS, PR_SET_SECUREBITS, PR_SET_MM,
              PR_SET_CHILD_SUBREAPER, PR_CAP_AMBIENT, PR_SET_IO_FLUSHER, PR_SET_PTRACER)
_UNIFIED_ARCHES = ("x86_64", "aarch64")
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_why: list[str] = []


def binding():
    """The libseccomp binding module, or None."""
    try:
        import seccomp  # the official binding (Debian/Fedora python3-seccomp)

        return seccomp
    except ImportError:
        pass
    try:
        import pyseccomp  # PyPI: ctypes over libseccomp.so.2

        return pyseccomp
    except (ImportError, OSError, AttributeError, TypeError) as e:  # no libseccomp.so.2 here
        _why.append(f"{type(e).__name__}: {e}")
        return None


def build() -> tuple[bytes | None, str]:
    """Build the filter; returns (raw BPF program, description) or (None, why not)."""
    if platform.system() != "Linux":
        return None, "seccomp needs Linux"
    sc = binding()
    if sc is None:
        return None, ("no libseccomp binding: pip install pyseccomp (needs libseccomp.so.2, "
                      f"Debian package libseccomp2) [{'; '.join(_why)[:300]}]")
    try:
        f = sc.SyscallFilter(sc.ALLOW)
        kill = sc.KILL_PROCESS
        known = set()
        for name in KILL_SYSCALLS:
            try:
                f.add_rule(kill, name)
                known.add(name)
            except (OSError, ValueError, RuntimeError):
                pass  # not a syscall of this architecture (or unknown to this libseccomp)
        if platform.machine() in _UNIFIED_ARCHES:
            for name, nr in NEWER_SYSCALLS.items():
                if name not in known:
                    _add_nr(f, kill, nr)
            for nr in FUTURE_SYSCALLS:
                _add_nr(f, kill, nr)
        for option in KILL_PRCTL:
            f.add_rule(kill, "prctl", sc.Arg(0, sc.EQ, option))
        # prlimit64(pid, resource, new, old): reading one's own limits is fine, nothing else
        f.add_rule(kill, "prlimit64", sc.Arg(0, sc.NE, 0))
        f.add_rule(kill, "prlimit64", sc.Arg(2, sc.NE, 0))
        r, w = os.pipe()
        try:
            with os.fdopen(w, "wb", closefd=False) as fw:
                f.export_bpf(fw)
            os.close(w)
            w = -1
            chunks = []
            while True:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)
        bpf = b"".join(chunks)
        if not bpf or len(bpf) % 8:
            return None, "libseccomp exported an empty filter"
        version = getattr(sc, "__version__", "") or ""
        return bpf, f"{sc.__name__} {version}".strip() + f", {len(bpf) // 8} instructions"
    except Exception as e:  # noqa: BLE001 - best effort: report why
        return None, f"building the seccomp filter failed: {e!r}"


def _add_nr(f, action: int, nr: int) -> None:
    try:
        f.add_rule(action, nr)
    except (OSError, ValueError, RuntimeError):
        pass


class Loader:
    """A raw BPF program ready to load (ctypes objects built in the zygote)."""

    def __init__(self, bpf: bytes):
        import ctypes

        class Prog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        self.buf = ctypes.create_string_buffer(bpf, len(bpf))
        self.prog = Prog(len(bpf) // 8, ctypes.cast(self.buf, ctypes.c_void_p))
        self.prctl = ctypes.CDLL(None, use_errno=True).prctl
        u = ctypes.c_ulong
        self.args_nnp = (ctypes.c_int(38), u(1), u(0), u(0), u(0))  # PR_SET_NO_NEW_PRIVS
        self.args_load = (ctypes.c_int(_PR_SET_SECCOMP), u(_SECCOMP_MODE_FILTER),
                          u(ctypes.addressof(self.prog)), u(0), u(0))

    def install(self) -> bool:
        """Load the filter into this (single-threaded) process; irreversible."""
        if self.prctl(*self.args_nnp) != 0:
            return False
        return self.prctl(*self.args_load) == 0


def install(bpf: bytes) -> bool:
    """One-shot form of :class:`Loader`."""
    return Loader(bpf).install()
