"""Adversarial corpus: every hostile program is contained, then a normal program still runs."""

from __future__ import annotations

import os
import uuid

import pytest

from verticalize.pot import PythonSandbox

SECRET = "verticalize-secret-" + uuid.uuid4().hex
PWNED = f"/tmp/pwned-{uuid.uuid4().hex}"
CALLER_DIR = os.getcwd()
IMP = "s = '_' * 2 + 'import' + '_' * 2\n"  # builds '__import__' at run time, past the AST check


@pytest.fixture(scope="module")
def sb():
    os.environ["VERTICALIZE_SECRET"] = SECRET  # set in the caller before the workers start
    try:
        with PythonSandbox(timeout_s=1.0, memory_mb=128, workers=2) as box:
            yield box
    finally:
        os.environ.pop("VERTICALIZE_SECRET", None)


def _sympify(expr: str) -> str:
    """sympify() eval()s strings with the real builtins: a route past the AST/builtins guard
    that only the audit hook, seccomp and the neutered os functions stop. ``IMPORT`` in
    ``expr`` becomes ``__import__`` at run time."""
    return f"import sympy\n{IMP}answer = str(sympy.sympify({'IMPORT' + expr!r}.replace('IMPORT', s)))"


DENIED = {"denied"}
CASES = {
    # files
    "read_passwd": ("answer = open('/etc/passwd').read()", DENIED),
    "read_passwd_dynamic": (_sympify("('builtins').open('/etc/passwd').read()"), DENIED),
    "read_proc_environ": ("answer = open('/proc/self/environ').read()", DENIED),
    "write_outside_tmp": (f"open({PWNED!r}, 'w').write('x')", DENIED),
    "write_outside_relative": ("open('../../pwned-rel', 'w').write('x')", DENIED),
    "write_outside_dynamic": (_sympify(f"('os').open({PWNED!r}, 65)"), DENIED),
    "io_open": (f"import io\nio.open({PWNED!r}, 'w')", DENIED),
    "pathlib": ("import pathlib\nanswer = pathlib.Path('/etc/passwd').read_text()", DENIED),
    "list_caller_cwd": (f"import os\nanswer = os.listdir({CALLER_DIR!r})", DENIED),
    "list_caller_cwd_dynamic": (_sympify(f"('os').listdir({CALLER_DIR!r})"), DENIED),
    "delete_caller_cwd": (f"import shutil\nshutil.rmtree({CALLER_DIR!r})", DENIED),
    "delete_dynamic": (_sympify(f"('os').remove({CALLER_DIR + '/pyproject.toml'!r})"), DENIED),
    "numpy_file_read": ("import numpy as np\nanswer = np.loadtxt('/etc/passwd', dtype=str)",
                        DENIED),
    # network
    "socket": ("import socket\nsocket.create_connection(('127.0.0.1', 22))", DENIED),
    "socket_dynamic": (_sympify("('socket').socket()"), DENIED),
    "connect_dynamic": (_sympify("('socket').create_connection(('127.0.0.1', '22'))"), DENIED),
    "urllib": ("import urllib.request\nurllib.request.urlopen('http://127.0.0.1')", DENIED),
    # processes
    "subprocess": ("import subprocess\nsubprocess.run(['id'])", DENIED),
    "subprocess_dynamic": (_sympify("('subprocess').run(['touch', '" + PWNED + "'])"), DENIED),
    "os_system": (f"import os\nos.system('touch {PWNED}')", DENIED),
    "os_system_dynamic": (_sympify(f"('os').system('touch {PWNED}')"), DENIED),
    "os_popen": ("import os\nanswer = os.popen('id').read()", DENIED),
    "os_fork": ("import os\nos.fork()", DENIED),
    "os_fork_dynamic": (_sympify("('os').fork()"), DENIED),
    "posix_spawn_dynamic": (_sympify("('os').posix_spawn('/bin/true', ['true'], {})"), DENIED),
    "os_exec_dynamic": (_sympify("('os').execv('/bin/sh', ['sh'])"), DENIED),
    "pty": ("import pty\npty.spawn('/bin/sh')", DENIED),
    "multiprocessing": ("import multiprocessing\nmultiprocessing.Process(target=print).start()",
                        DENIED),
    "fork_bomb": ("import os\nwhile True:\n    os.fork()", DENIED),
    "fork_bomb_dynamic": (IMP + "import sympy\nwhile True:\n    sympy.sympify(s + \"('os').fork()\")",
                          DENIED),
    "threading": ("import threading\nthreading.Thread(target=lambda: None).start()", DENIED),
    "thread_low_level": ("import _thread\n_thread.start_new_thread(print, ())", DENIED),
    # signals
    "kill_parent": ("import os\nos.kill(os.getppid(), 9)", DENIED),
    "kill_parent_dynamic": (_sympify("('os').kill(IMPORT('os').getppid(), 9)"), DENIED),
    "killpg_dynamic": (_sympify("('os').killpg(0, 9)"), DENIED),
    "signal_module": ("import signal\nsignal.raise_signal(9)", DENIED),
    # resources
    "memory_bytearray": ("x = bytearray(10**10)", {"memory"}),
    "memory_growing_list": ("x = []\nwhile True:\n    x.append(' ' * 10**6)", {"memory"}),
    "memory_numpy": ("import numpy as np\nanswer = np.ones((10**5, 10**5)).sum()", {"memory"}),
    "memory_string": ("answer = len('a' * 10**10)", {"memory"}),
    "infinite_loop": ("while True:\n    pass", {"timeout"}),
    "sleep_forever": ("import time\ntime.sleep(10**6)", {"timeout"}),
    "deep_recursion": ("def f(n):\n    return f(n + 1)\nf(0)", {"error"}),
    "huge_output": ("while True:\n    print('x' * 10000)", {"timeout"}),
    "huge_file": ("with open('big', 'w') as f:\n    for _ in range(64):\n"
                  "        f.write('x' * (1 << 20))", {"error"}),
    "setrlimit_dynamic": (_sympify("('resource').setrlimit(9, (-1, -1))"), DENIED),
    # environment
    "environ": ("import os\nanswer = os.environ['VERTICALIZE_SECRET']", DENIED),
    "environ_dynamic": (_sympify("('os').environ.get('VERTICALIZE_SECRET', 'absent')"),
                        {"ok", "denied"}),
    "getenv_dynamic": (_sympify("('os').getenv('VERTICALIZE_SECRET', 'absent')"),
                       {"ok", "denied"}),
    # introspection escapes
    "subclasses": ("answer = ().__class__.__bases__[0].__subclasses__()", DENIED),
    "subclasses_getattr": ("answer = getattr(object, '__subcl' + 'asses__')()", DENIED),
    "mro": ("answer = [].__class__.mro()[-1]", DENIED),
    "func_globals": ("def f():\n    pass\nanswer = f.__globals__", DENIED),
    "func_globals_dynamic": ("def f():\n    pass\nanswer = getattr(f, '__glob' + 'als__')",
                             DENIED),
    "builtins_dict": ("answer = __builtins__['__import__']('os')", DENIED),
    "builtin_self": ("answer = print.__self__", DENIED),
    "import_dunder": ("answer = __import__('os')", DENIED),
    "gen_frame": ("def g():\n    yield 1\nx = g()\nanswer = x.gi_frame.f_globals", DENIED),
    "traceback_frame": ("try:\n    1/0\nexcept Exception as e:\n    answer = e.__traceback__",
                        DENIED),
    "format_string_escape": ("answer = '{0.__globals__}'.format(lambda: 0)", DENIED),
    "attrgetter": ("import operator\nanswer = operator.attrgetter('x')", DENIED),
    "numpy_os": ("import numpy as np\nanswer = np.os.listdir('/')", DENIED),
    "numpy_private": ("import numpy as np\nanswer = np._core", DENIED),
    "numpy_ctypeslib": ("import numpy as np\nanswer = getattr(np, 'ctypes' + 'lib')", DENIED),
    "ctypes": ("import ctypes\nctypes.CDLL(None)", DENIED),
    "ctypes_dynamic": (_sympify("('ctypes').CDLL(None)"), DENIED),
    "cffi": ("import cffi", DENIED),
    "importlib": ("import importlib\nimportlib.import_module('os')", DENIED),
    "sys_modules": ("import sys\nanswer = sys.modules['os']", DENIED),
    "gc_objects": ("import gc\nanswer = len(gc.get_objects())", DENIED),
    "gc_dynamic": (_sympify("('gc').get_objects()"), DENIED),
    "eval_escape": ("answer = eval(\"().__class__\")", DENIED),
    "exec_code_object": ("exec(compile('1', 'x', 'exec'))", DENIED),
    "globals_call": ("answer = globals()", DENIED),
    "breakpoint": ("breakpoint()", DENIED),
    "input": ("answer = input()", DENIED),
    # exits: error or ok, never a dead sandbox
    "exit_call": ("exit()", {"ok", "error"}),
    "quit_call": ("quit(3)", {"ok", "error"}),
    "sys_exit": ("import sys\nsys.exit(1)", DENIED),
    "system_exit": ("raise SystemExit(2)", {"ok", "error"}),
    "keyboard_interrupt": ("raise KeyboardInterrupt", {"error"}),
    "base_exception_swallow": ("try:\n    open('/etc/passwd')\nexcept BaseException:\n    pass\n"
                               "answer = 1", DENIED),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_contained_then_normal_program_runs(sb, name):
    code, statuses = CASES[name]
    r = sb.run(code)
    assert r.status in statuses, (name, r)
    assert r.duration_s < 5.0
    assert SECRET not in repr(r)
    assert not os.path.exists(PWNED)
    assert os.path.isdir(CALLER_DIR)
    follow = sb.run("import math\nanswer = round(math.sqrt(16) + 0.5, 2)")
    assert (follow.status, follow.answer) == ("ok", 4.5), (name, follow)


HOOK_TAMPER = _sympify("('builtins').exec(" + repr(
    "import sys\nf = sys._getframe(0)\nwhile f is not None:\n"
    "    st = getattr(f.f_locals.get('self'), 'state', None)\n"
    "    if isinstance(st, dict) and 'tmp' in st:\n        st['tmp'] = '/tmp'\n"
    "    f = f.f_back\n"
    f"open({PWNED!r}, 'w').write('x')\n") + ")")


def test_sympify_route_is_closed_at_the_python_layer(sb):
    """sympify() used to eval strings with the real builtins (a way past the guard that then
    tampered with the audit hook). Its strings are now checked like the program itself. What
    holds when the guard is bypassed altogether is tested in test_isolation.py."""
    r = sb.run(HOOK_TAMPER)
    assert r.status == "denied", r
    assert not os.path.exists(PWNED)
    assert sb.run("answer = 6 * 7").answer == 42


def test_environment_is_stripped(sb):
    r = sb.run(_sympify("('os').environ.get('VERTICALIZE_SECRET', 'absent')"))
    assert r.status in ("ok", "denied") and SECRET not in repr(r)
    if r.status == "ok":
        assert r.answer == "absent"


def test_monkeypatch_does_not_leak(sb):
    patches = [
        "import math\nmath.pi = 3\nanswer = math.pi",
        "import math\nsetattr(math, 'pi', 3)\nanswer = math.pi",
        "import numpy as np\nt = np.typecodes\nt['All'] = 'hacked'\nanswer = 1",
        "import decimal\ndecimal.getcontext().prec = 3\nanswer = 1",
        "import numpy as np\nnp.random.seed(0)\nanswer = 1",
        "import calendar\ncalendar.setfirstweekday(6)\nanswer = 1",
        "leaked = 5\nanswer = 1",
    ]
    checks = [
        ("import math\nanswer = math.pi", pytest.approx(3.141592653589793)),
        ("import numpy as np\nanswer = np.typecodes['All'] != 'hacked'", True),
        ("from decimal import Decimal\nanswer = str(Decimal(1) / Decimal(7))",
         "0.1428571428571428571428571429"),
        ("import calendar\nanswer = calendar.firstweekday()", 0),
        ("try:\n    answer = leaked\nexcept NameError:\n    answer = 'clean'", "clean"),
    ]
    for patch in patches:
        assert sb.run(patch).status == "ok", patch
        for _ in range(2):  # both workers
            for code, expected in checks:
                r = sb.run(code)
                assert r.answer == expected, (patch, code, r)


def test_strict_mode_fork_per_program():
    with PythonSandbox(timeout_s=1.0, workers=1, reuse=False) as box:
        assert box.run("import numpy as np\nt = np.typecodes\nt['All'] = 'x'\nanswer = 1").ok
        assert box.run("import numpy as np\nanswer = np.typecodes['All']").answer != "x"
        assert box.run("answer = 2 ** 10").answer == 1024


# ---------------------------------------------------------------- each backstop layer alone
POT_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "verticalize", "pot")


def _run_isolated(script: str) -> dict:
    import json
    import subprocess
    import sys

    prelude = f"import sys, os, json\nsys.path.insert(0, {os.path.abspath(POT_DIR)!r})\n"
    out = subprocess.run([sys.executable, "-I", "-c", prelude + script], capture_output=True,
                         text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_audit_hook_alone(tmp_path):
    res = _run_isolated(f"""
import _guard, socket, subprocess
state = {{"tmp": {str(tmp_path)!r}, "denials": []}}
sys.addaudithook(_guard.make_audit_hook(state, ()))
out = {{}}
def attempt(name, fn):
    try:
        fn()
        out[name] = "allowed"
    except PermissionError:
        out[name] = "denied"
attempt("read_outside", lambda: open("/etc/passwd").read())
attempt("write_inside", lambda: open(os.path.join(state["tmp"], "f"), "w").write("x"))
attempt("os_open_outside", lambda: os.open("/tmp/pwned-hook", os.O_WRONLY | os.O_CREAT))
attempt("socket", lambda: socket.socket())
attempt("popen", lambda: subprocess.Popen(["true"]))
attempt("system", lambda: os.system("true"))
attempt("fork", lambda: os.fork())
attempt("kill", lambda: os.kill(os.getppid(), 0))
attempt("putenv", lambda: os.putenv("A", "B"))
attempt("listdir_outside", lambda: os.listdir("/"))
attempt("import_ctypes", lambda: __import__("ctypes"))
out["n_denials"] = len(state["denials"])
print(json.dumps(out))
""")
    assert res.pop("write_inside") == "allowed"
    n = res.pop("n_denials")
    assert res == {k: "denied" for k in res} and n >= len(res)
    assert not os.path.exists("/tmp/pwned-hook")


def test_seccomp_alone(tmp_path):
    """The libseccomp-built filter alone (no Python guard, root): each forbidden call kills the
    process with SIGSYS before it has any effect; ordinary calls still work."""
    target = tmp_path / "f"
    target.write_text("x")
    os.chmod(target, 0o644)
    res = _run_isolated(f"""
import _seccomp, signal
bpf, why = _seccomp.build()
out = {{"installed": bpf is not None}}
def attempt(name, fn):
    pid = os.fork()
    if pid == 0:
        _seccomp.install(bpf)
        try:
            fn()
        except BaseException:
            os._exit(3)
        os._exit(0)
    _, st = os.waitpid(pid, 0)
    out[name] = "killed" if os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGSYS else \
        "allowed" if os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0 else "failed"
if bpf:
    import socket, threading, resource, ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    attempt("fork", lambda: os.fork())
    attempt("thread", lambda: threading.Thread(target=print).start())
    attempt("socket", lambda: socket.socket())
    attempt("kill_parent", lambda: os.kill(os.getppid(), 0))
    attempt("exec", lambda: os.execv("/bin/true", ["true"]))
    attempt("chmod", lambda: os.chmod({str(target)!r}, 0o777))
    attempt("utime", lambda: os.utime({str(target)!r}, (0, 0)))
    attempt("setxattr", lambda: os.setxattr({str(target)!r}, "user.x", b"1"))
    attempt("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, os.getppid(), 19))
    attempt("affinity", lambda: os.sched_setaffinity(os.getppid(), {{0}}))
    attempt("pdeathsig", lambda: libc.prctl(1, 0, 0, 0, 0))
    attempt("inotify", lambda: libc.inotify_init())
    attempt("adjtimex", lambda: libc.adjtimex(ctypes.create_string_buffer(256)))
    attempt("setsid", lambda: os.setsid())
    attempt("raise_limit", lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)))
    attempt("x32_chmod", lambda: libc.syscall(0x40000000 | 90, {str(target).encode()!r}, 0o777))
    attempt("getpid_still_works", lambda: os.getpid())
    attempt("read_limit_still_works", lambda: resource.getrlimit(resource.RLIMIT_NOFILE))
print(json.dumps(out))
""")
    if not res.pop("installed"):
        pytest.skip("no libseccomp binding on this machine")
    assert res.pop("getpid_still_works") == "allowed"
    assert res.pop("read_limit_still_works") == "allowed"
    assert res == {k: "killed" for k in res}
    st = os.stat(target)
    assert (oct(st.st_mode & 0o7777), target.read_text()) == ("0o644", "x")


def test_landlock_alone(tmp_path):
    import sysconfig

    stdlib = sysconfig.get_paths()["stdlib"]
    res = _run_isolated(f"""
import _landlock
out = {{"installed": _landlock.restrict(({stdlib!r},), {str(tmp_path)!r})}}
def attempt(name, fn):
    try:
        fn()
        out[name] = "allowed"
    except OSError:
        out[name] = "denied"
if out["installed"]:
    attempt("read_outside", lambda: open("/etc/passwd").read())
    attempt("write_outside", lambda: open("/tmp/pwned-landlock", "w").write("x"))
    attempt("list_outside", lambda: os.listdir("/"))
    attempt("write_stdlib", lambda: open(os.path.join({stdlib!r}, "pwned.py"), "w"))
    attempt("write_inside", lambda: open(os.path.join({str(tmp_path)!r}, "f"), "w").write("x"))
    attempt("read_stdlib", lambda: open(os.path.join({stdlib!r}, "os.py")).read())
print(json.dumps(out))
""")
    if not res.pop("installed"):
        pytest.skip("Landlock is not available on this machine")
    assert res.pop("write_inside") == "allowed" and res.pop("read_stdlib") == "allowed"
    assert res == {k: "denied" for k in res}
    assert not os.path.exists("/tmp/pwned-landlock")
