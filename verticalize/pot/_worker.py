"""PoT worker tree: ``python -I -B _worker.py REQ_FD RESP_FD CONFIG_JSON``.

Started by :class:`verticalize.pot.sandbox.PythonSandbox` (``subprocess``, never a fork of the
caller) with a stripped environment, in its own session. This process enters new namespaces
(``_ns.unshare``) and forks the **zygote**, which is PID 1 of the new PID namespace when the
kernel allows it - so when the zygote dies, the kernel kills every program process with it.
The zygote sets up the mount namespace (read-only system, private size-capped tmpfs scratch,
own ``/proc``), imports its tier's modules once (``stdlib`` / ``+numpy`` / ``+sympy,mpmath``),
builds the seccomp filter, drops its capability bounding set, checks that a first program
process gets every layer, says "ready" and serves requests (``_zygote.Zygote``). This outer
process only waits for the zygote and exits with it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
import _ns  # noqa: E402
import _proto  # noqa: E402
import _seccomp  # noqa: E402
import _zygote  # noqa: E402

sys.path.remove(_HERE)


def prewarm(cfg: dict) -> dict:
    """Import this tier's modules (and what they load lazily) before any program exists."""
    import importlib

    found = {}
    for name in sorted(set(cfg["preload"])):
        try:
            mod = importlib.import_module(name)
            found[name] = getattr(mod, "__version__", True)
        except ImportError:
            found[name] = None
    import datetime
    import decimal
    import fractions
    import json as _json
    import random
    import re
    import statistics
    import string

    time.localtime()  # loads the time zone data now: files outside the sandbox later
    datetime.datetime.strptime("2024-01-31", "%Y-%m-%d")  # imports _strptime
    statistics.mean([1, 2, 3])
    statistics.stdev([1.0, 2.0, 4.0])
    statistics.median([3, 1, 2])
    float(fractions.Fraction(1, 3) * 3), float(decimal.Decimal("1.5") * 2)
    random.Random(0).random()
    _json.loads(_json.dumps({"a": [1, 2.5]}))
    re.compile(r"\d+").findall("a1b22")
    string.Formatter().format("{0}", 1)
    if found.get("numpy"):
        import numpy as np

        a = np.array([1.0, 5.0, 2.0])
        for f in ("max", "min", "mean", "std", "var", "sum", "prod", "argmax", "argmin",
                  "cumsum", "round", "sort", "any", "all", "ptp" if hasattr(a, "ptp") else "max"):
            getattr(a, f)()
        np.median(a), np.percentile(a, 50), np.average(a, weights=[1, 2, 3])
        np.linalg.solve(np.eye(3), np.ones(3))
        np.linalg.inv(np.eye(2)), np.linalg.det(np.eye(2)), np.linalg.eig(np.eye(2))
        np.polyfit([1.0, 2.0, 3.0], [2.0, 4.0, 6.0], 1)
        np.random.default_rng(0).normal(size=3)
        np.array([[1, 2], [3, 4]]) @ np.array([1, 2])
        str(np.arange(3) * 1.5), repr(np.float64(1.5)), np.int64(3).item()
    if found.get("sympy"):
        import sympy as sp

        x, y = sp.symbols("x y")
        sp.solve([sp.Eq(2 * x + y, 5), sp.Eq(x - y, 1)], [x, y])
        sp.solve(x ** 2 - 4, x)
        sp.solve(sp.Eq(2 * x + 3, 11), x)
        sp.nsolve(x ** 3 - 2, x, 1)
        sp.simplify((x ** 2 - 1) / (x - 1))
        sp.integrate(x ** 2, (x, 0, 1))
        sp.diff(sp.sin(x), x)
        sp.N(sp.sympify("x**2 + 1").subs(x, sp.Rational(1, 3)), 15)
        sp.sympify("2*x + 1", evaluate=False)
        sp.Matrix([[1, 2], [3, 4]]).det()
        sp.factorint(360)
        sp.lambdify(x, x ** 2 + 1)(2.0)
        str(sp.sqrt(8) + sp.pi), float(sp.Rational(1, 3))
    for name in ("math", "cmath", "numpy", "sympy", "mpmath"):
        if found.get(name):  # star imports touch every lazily loaded submodule
            exec(f"from {name} import *", {})
    return {k: (v if isinstance(v, str) else bool(v)) for k, v in found.items()}


def _available(names) -> list[str]:
    import importlib.util

    out = []
    for n in names:
        try:
            if importlib.util.find_spec(n) is not None:
                out.append(n)
        except (ImportError, ValueError):
            pass
    return out


def _collapse_heap() -> int:
    """Back the interpreter's heap with transparent huge pages where the kernel allows it:
    fewer page-table entries make every fork (and every program process's exit) cheaper.
    Best effort (``MADV_COLLAPSE``, Linux >= 6.1); returns the MiB collapsed."""
    try:
        import ctypes

        madvise = ctypes.CDLL(None, use_errno=True).madvise
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        huge, done = 1 << 21, 0
        with open("/proc/self/maps") as f:
            lines = f.read().splitlines()
        for line in lines:
            parts = line.split()
            if len(parts) < 2 or "w" not in parts[1] or (len(parts) > 5 and parts[5] != "[heap]"):
                continue
            lo, hi = (int(v, 16) for v in parts[0].split("-"))
            lo, hi = (lo + huge - 1) & ~(huge - 1), hi & ~(huge - 1)
            if hi - lo < huge:
                continue
            madvise(lo, hi - lo, 14)  # MADV_HUGEPAGE
            if madvise(lo, hi - lo, 25) == 0:  # MADV_COLLAPSE
                done += (hi - lo) >> 20
        return done
    except Exception:  # noqa: BLE001 - best effort
        return 0


def zygote_main(cfg: dict, req_fd: int, resp_fd: int, ns: list[str], refused, w_pid: int) -> int:
    import gc

    _ns.set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != (0 if "pid" in ns else w_pid):  # PID 1 sees no parent
        return 1
    try:
        host_pid = int(os.readlink("/proc/self")) if "pid" in ns else os.getpid()
    except (OSError, ValueError):
        host_pid = os.getpid()
    real_root = os.geteuid() == 0 and "user" not in ns  # (uid 0 in a user namespace is not)
    layers: dict = {"namespaces": ns, "namespaces_refused": refused}
    devnull = os.open(os.devnull, os.O_RDWR)  # before /dev becomes nodev
    # libseccomp's binding finds its library with temp files: build before / is read-only
    bpf, desc = _seccomp.build() if cfg.get("seccomp") else (None, "disabled")
    layers["seccomp_filter"] = desc
    if "mount" in ns:
        roots = cfg["read_roots"] if real_root else ()  # another uid must read them
        layers["mounts"] = _ns.setup_mounts(cfg["scratch"], cfg["disk_mb"], "pid" in ns, roots)
    else:
        os.chmod(cfg["scratch"], 0o711)
    prewarm(cfg)
    available = _available(cfg.get("optional", ()))
    cfg["modules"] = sorted(set(cfg["stdlib"]) | set(available))  # the program's allowlist
    zinfo = {"pid": os.getpid(), "bpf": bpf, "devnull": devnull, "uid": cfg["uid"] if real_root else None,
             "gid": cfg["gid"] if real_root else None, "require": {}}
    if real_root or "user" in ns:
        layers["bounding_set_dropped"] = _ns.drop_bounding_set()
    z = _zygote.Zygote(cfg, req_fd, resp_fd, zinfo)
    gc.collect()
    gc.freeze()  # keep pre-warmed objects out of the children's collections (fewer COW copies)
    layers["huge_pages_mb"] = _collapse_heap() if cfg.get("huge_pages") else 0
    first = z.fork_child()
    setup = z.read_setup(first, 30.0)
    if "setup_error" in setup:
        z.kill(first, None)
        _proto.send(resp_fd, {"type": "fatal", "error": f"sandbox setup failed: "
                              f"{setup['setup_error']}"})
        return 3
    setup = setup.get("setup") or {}
    layers.update(setup)
    # every later program process must get at least what the first one got
    zinfo["require"] = {k: True for k in ("landlock", "seccomp", "caps", "no_new_privs")
                        if setup.get(k)}
    z.spares.append(first)
    _proto.send(resp_fd, {"type": "ready", "pid": host_pid, "tier": cfg["tier"],
                          "modules": cfg["modules"], "layers": layers,
                          "available": available})
    try:
        z.loop()
    finally:
        z.shutdown()
    return 0


def main(argv: list[str]) -> int:
    req_fd, resp_fd, cfg = int(argv[1]), int(argv[2]), json.loads(argv[3])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    ns, refused = [], "disabled"
    if cfg.get("namespaces", True):
        ns, refused = _ns.unshare(os.geteuid() == 0)
    w_pid = os.getpid()
    pid = os.fork()
    if pid == 0:  # ---- the zygote
        code = 1
        try:
            code = zygote_main(cfg, req_fd, resp_fd, ns, refused, w_pid)
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            import traceback

            traceback.print_exc()
            try:
                _proto.send(resp_fd, {"type": "fatal", "error": f"sandbox zygote failed: {e!r}"})
            except BaseException:  # noqa: BLE001, S110 - the parent sees EOF instead
                pass
        os._exit(code)
    os.close(req_fd)
    os.close(resp_fd)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
    return os.waitstatus_to_exitcode(status) if status else 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.exit(code if code >= 0 else 1)
