"""Kernel isolation helpers of the PoT sandbox: namespaces, mounts, privileges (Linux, via libc).

Used inside the sandbox processes only (no verticalize imports). Every function is best effort
and reports what it achieved, so the sandbox can say which layers hold on this machine.

* :func:`unshare` - new mount, PID, network, IPC and UTS namespaces (plus a user namespace when
  not running as root, mapping the caller's uid to 0 inside it). Tried as one set, then smaller
  sets, then none: the caller reports what the kernel refused.
* :func:`setup_mounts` - in the new mount namespace: nothing propagates back to the host, every
  mount becomes read-only (``mount_setattr(AT_RECURSIVE)``), a size-capped private ``tmpfs`` is
  mounted on the worker's scratch dir (the only writable place; it vanishes with the namespace),
  and a fresh ``/proc`` shows only the sandbox's own processes.
* :func:`drop_bounding_set`, :func:`drop_privileges` - no capability can ever be regained, the
  program process runs as a dedicated unprivileged uid/gid (when started as root) with no
  capabilities at all and ``PR_SET_NO_NEW_PRIVS``.
"""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
_NAMES = {CLONE_NEWUSER: "user", CLONE_NEWNS: "mount", CLONE_NEWPID: "pid",
          CLONE_NEWNET: "net", CLONE_NEWIPC: "ipc", CLONE_NEWUTS: "uts"}

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 1 << 18
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
_SYS_MOUNT_SETATTR = 442  # same number on every architecture (unified syscall table)

PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_CAP_V3 = 0x20080522

_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    """``prctl(2)``; -1 where there is none (not Linux)."""
    fn = getattr(libc(), "prctl", None)
    if fn is None:
        return -1
    u = ctypes.c_ulong
    return fn(ctypes.c_int(option), u(a2), u(a3), u(a4), u(a5))


def _err(what: str) -> str:
    e = ctypes.get_errno()
    return f"{what}: {os.strerror(e) if e else 'failed'}"


def unshare(as_root: bool) -> tuple[list[str], str | None]:
    """Enter new namespaces. Returns (names entered, why a fuller set was refused or None)."""
    base = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    uid, gid = os.getuid(), os.getgid()
    tries = [base, CLONE_NEWNS | CLONE_NEWPID, CLONE_NEWPID] if as_root else \
        [CLONE_NEWUSER | base, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID]
    refused = None
    lc = libc()
    if not hasattr(lc, "unshare"):
        return [], "no unshare(2) on this system"
    for flags in tries:
        if lc.unshare(ctypes.c_int(flags)) == 0:
            if flags & CLONE_NEWUSER:
                try:
                    _write("/proc/self/setgroups", "deny")
                    _write("/proc/self/uid_map", f"0 {uid} 1")
                    _write("/proc/self/gid_map", f"0 {gid} 1")
                except OSError as e:  # the namespace is unusable without a mapping
                    raise RuntimeError(f"cannot map ids in the user namespace: {e}") from e
            return [n for f, n in _NAMES.items() if flags & f], refused
        refused = refused or _err(f"unshare({'+'.join(n for f, n in _NAMES.items() if flags & f)})")
    return [], refused


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _mount(src, target, fstype, flags: int, data=None) -> bool:
    enc = (lambda s: None if s is None else s.encode())
    return libc().mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) == 0


def _readonly_everything() -> bool:
    """Make every mount of this (private) namespace read-only, nosuid, nodev."""
    class MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

    attr = MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, 0, 0)
    rc = libc().syscall(ctypes.c_long(_SYS_MOUNT_SETATTR), ctypes.c_int(-100), b"/",
                        ctypes.c_uint(AT_RECURSIVE), ctypes.byref(attr),
                        ctypes.c_size_t(ctypes.sizeof(attr)))
    return rc == 0


def _traversable(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & 0o001)
    except OSError:
        return False


def _expose(read_roots: list[str]) -> list[str]:
    """Make the read roots reachable by an unprivileged uid: a directory on the way that
    "others" cannot enter (e.g. ``/root``, mode 0700, holding a pyenv Python) is covered, in
    this namespace only, by an empty tmpfs into which only the read roots are bind-mounted back
    at their own paths. Everything else in that directory disappears from the sandbox's view.
    Returns the directories covered."""
    roots = sorted({os.path.realpath(r) for r in read_roots})
    roots = [r for r in roots if not any(r.startswith(o + os.sep) for o in roots if o != r)]
    plan: dict[str, list[str]] = {}
    for root in roots:
        parts = root.strip(os.sep).split(os.sep)
        for i in range(1, len(parts)):
            anc = os.sep + os.sep.join(parts[:i])
            if not _traversable(anc):
                plan.setdefault(anc, []).append(root)
                break
    covered = []
    for anc, inside in sorted(plan.items()):
        if any(anc.startswith(c + os.sep) for c in covered):
            continue
        fds = [(r, os.open(r, os.O_PATH | os.O_DIRECTORY)) for r in inside]
        try:
            if not _mount("tmpfs", anc, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755"):
                continue
            for root, fd in fds:
                os.makedirs(root, 0o755, exist_ok=True)
                _mount(f"/proc/self/fd/{fd}", root, None, MS_BIND | MS_REC)
            covered.append(anc)
        finally:
            for _r, fd in fds:
                os.close(fd)
    return covered


def setup_mounts(scratch: str, size_mb: int, new_proc: bool, read_roots=()) -> dict:
    """Call in a new mount namespace. Returns what was achieved (see the module docstring)."""
    out = {"private": False, "readonly": False, "tmpfs": False, "proc": False}
    if not _mount(None, "/", None, MS_REC | MS_PRIVATE):
        out["error"] = _err("mount --make-rprivate /")
        return out
    out["private"] = True
    if read_roots:
        out["covered"] = _expose(list(read_roots))
    out["readonly"] = _readonly_everything()
    if not out["readonly"]:
        out["error"] = _err("mount_setattr(/, rdonly, recursive)")
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    out["tmpfs"] = _mount("tmpfs", scratch, "tmpfs", flags, f"size={int(size_mb)}m,mode=0711")
    if new_proc:  # only the sandbox's own processes are visible; read-only
        out["proc"] = _mount("proc", "/proc", "proc", flags | MS_RDONLY)
    return out


def set_parent_death_signal(sig: int) -> bool:
    return prctl(PR_SET_PDEATHSIG, sig) == 0


def drop_bounding_set() -> bool:
    """Remove every capability from the bounding set (nothing can be regained, even by exec)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = 63
    ok = True
    for cap in range(last + 1):
        if prctl(PR_CAPBSET_DROP, cap) != 0:
            ok = False
    return ok


class _Caps:
    """capset/capget arguments, built once (in the zygote)."""

    def __init__(self):
        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        class Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                        ("inheritable", ctypes.c_uint32)]

        self.header, self.zero, self.check = Header(_CAP_V3, 0), (Data * 2)(), (Data * 2)()
        self.header2 = Header(_CAP_V3, 0)


_caps: _Caps | None = None


def prepare() -> None:
    """Build the ctypes objects the program processes need (call in the zygote, before fork)."""
    global _caps
    libc()
    if _caps is None:
        _caps = _Caps()


def _clear_capabilities() -> bool:
    prepare()
    lc, c = libc(), _caps
    if not hasattr(lc, "capset"):
        return False
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    if lc.capset(ctypes.byref(c.header), c.zero) != 0:
        return False
    if lc.capget(ctypes.byref(c.header2), c.check) != 0:
        return False
    return all(d.effective == d.permitted == d.inheritable == 0 for d in c.check)


def drop_privileges(uid: int | None, gid: int | None) -> dict:
    """Become ``uid``/``gid`` (when given and allowed), hold no capabilities, no new privileges.
    Raises OSError when a requested uid change fails (never run a program half-dropped)."""
    out = {"uid": os.getuid(), "caps": False, "no_new_privs": False}
    if uid is not None and gid is not None:
        os.setgroups([])
        if hasattr(os, "setresuid"):
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        else:  # as root, setgid/setuid set the real, effective and saved ids
            os.setgid(gid)
            os.setuid(uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise OSError("setresuid did not take effect")
        out["uid"] = uid
    out["caps"] = _clear_capabilities()
    out["no_new_privs"] = prctl(PR_SET_NO_NEW_PRIVS, 1) == 0
    return out
