"""Faults around a run, each caused for real: writes that fail (the file size limit, a full tmpfs), two
processes on one run dir or one offline base, damaged checkpoints / manifests / locks, and recipes that
reach outside the working tree. Issue 15, items 2, 3, 4, 6 and 8."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from verticalize.errors import LockError, RunError

REPO = Path(__file__).resolve().parents[2]
STEPS, SAVE = 6, 2


# --------------------------------------------------------------------------------------------- helpers
def _adapter(data: Path, steps: int = STEPS):
    from verticalize import Adapter

    return (Adapter(base="tiny").with_data(str(data)).lora(r=4, alpha=8)
            .sft(max_steps=steps, save_steps=SAVE, batch_size=2, grad_accum=1, max_length=96, logging_steps=1))


@contextlib.contextmanager
def after_checkpoint(step: int, fault: Callable[[], None]) -> Iterator[None]:
    """Cause ``fault`` right after checkpoint-<step> was saved and marked complete (in this process)."""
    from verticalize.train.checkpoints import CheckpointMarker

    orig = CheckpointMarker.on_save

    def on_save(self, args, state, control, **kw):
        orig(self, args, state, control, **kw)
        if state.global_step == step:
            fault()

    CheckpointMarker.on_save = on_save
    try:
        yield
    finally:
        CheckpointMarker.on_save = orig


@contextlib.contextmanager
def file_size_limit() -> Iterator[Callable[[int], None]]:
    """``limit(n)`` sets RLIMIT_FSIZE for this process (SIGXFSZ ignored: writes fail with EFBIG); undone on exit."""
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield lambda n: resource.setrlimit(resource.RLIMIT_FSIZE, (n, old[1]))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, old_handler)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "verticalize", *args]


def _env(**kw: str) -> dict[str, str]:
    return {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO), **kw}


def _tree_sha(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("data") / "fin.jsonl"
    rows = [{"instruction": f"Revenue went from {100 + i} to {120 + 2 * i}. What is the percent change?", "input": "",
             "output": f"The answer is {round((20 + i) / (100 + i) * 100, 2)}."} for i in range(48)]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory, data_file: Path) -> tuple[Path, str]:
    """A run whose writes start failing (file size limit 20 kB) after checkpoint-4: checkpoint-6 cannot be saved.
    Returns its .incomplete dir (copy it before changing it) and the error message."""
    from verticalize.run import execute

    out = tmp_path_factory.mktemp("failed") / "run"
    with file_size_limit() as limit, after_checkpoint(2 * SAVE, lambda: limit(20_000)), \
            pytest.raises(RunError) as err:
        execute(_adapter(data_file).recipe, out, quiet=True)
    return out.with_name("run.incomplete"), str(err.value)


def _copy_run(work: Path, dest_final: Path) -> Path:
    shutil.copytree(work, dest_final.with_name(dest_final.name + ".incomplete"))
    return dest_final


# --------------------------------------------------------------------------------------------- 2. failed writes
def test_a_checkpoint_write_that_fails_keeps_the_last_checkpoint_and_resumes(failed_run: tuple[Path, str],
                                                                              tmp_path: Path) -> None:
    from verticalize.run import resume
    from verticalize.train.checkpoints import check_checkpoint, last_complete_checkpoint

    work, msg = failed_run
    assert "\n" not in msg and "Traceback" not in msg
    assert msg.startswith(f"could not write {work / 'checkpoints' / 'checkpoint-6'}: File too large"), msg
    assert "ulimit -f" in msg and "last complete checkpoint checkpoints/checkpoint-4" in msg
    assert f"verticalize train --resume {work.with_name('run')}" in msg
    assert work.is_dir() and not work.with_name("run").exists()  # the run dir stays .incomplete
    assert last_complete_checkpoint(work / "checkpoints") == work / "checkpoints" / "checkpoint-4"
    assert check_checkpoint(work / "checkpoints" / "checkpoint-4") is None  # intact: every file as saved
    manifest = json.loads((work / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["error"] == msg

    final = _copy_run(work, tmp_path / "run")  # "space freed": no limit now
    run = resume(final, quiet=True)
    assert run.metrics["global_step"] == STEPS and run.metrics["resumed_from"] == "checkpoint-4"
    assert (final / "adapter" / "adapter_model.safetensors").is_file()
    assert len(list((final / "checkpoints").glob("checkpoint-*"))) <= 1  # train.keep_checkpoints: 1


def test_the_final_adapter_write_failing_is_one_line_and_resumes(tmp_path: Path, data_file: Path) -> None:
    """The last checkpoint is saved, then writing adapter/ fails: resume has no step left and only saves."""
    from verticalize.run import execute, resume

    out = tmp_path / "run"
    with file_size_limit() as limit, after_checkpoint(STEPS, lambda: limit(20_000)), pytest.raises(RunError) as err:
        execute(_adapter(data_file).recipe, out, quiet=True)
    msg = str(err.value)
    assert msg.startswith(f"could not write {out.with_name('run.incomplete') / 'adapter'}"), msg
    assert "File too large" in msg and f"checkpoints/checkpoint-{STEPS}" in msg and "\n" not in msg
    run = resume(out, quiet=True)
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert run.metrics["resumed_from"] == f"checkpoint-{STEPS}"
    # the checkpoint is at max_steps: resume loads it and trains no step more
    assert run.metrics["global_step"] == STEPS
    logged = [json.loads(x)["step"] for x in (out / "train_log.jsonl").read_text().splitlines() if "loss" in x]
    assert max(logged) == STEPS


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if not sys.platform.startswith("linux") or shutil.which("mount") is None:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    return r.returncode == 0


def _fill(fs: Path) -> Path:
    """Fill the filesystem at ``fs`` to the last byte with one file; returns it (delete it to free the space)."""
    filler = fs / "filler"
    with filler.open("wb", buffering=0) as fh:
        for n in (1 << 16, 4096, 512, 1):  # down to the last byte
            try:
                while True:
                    fh.write(b"\0" * n)
            except OSError:
                pass
    return filler


def test_a_full_disk_keeps_the_run_and_resumes_after_freeing_space(tmp_path: Path, data_file: Path) -> None:
    """A real full filesystem (a 32 MiB tmpfs, filled by "another program" after checkpoint-4): ENOSPC."""
    from verticalize.run import execute, resume

    fs = tmp_path / "fs"
    if not _mount_tmpfs(fs, "32m"):
        pytest.skip("cannot mount a tmpfs here (not root); the file-size-limit tests cover the same path")
    try:
        out = fs / "run"
        filler: list[Path] = []
        with after_checkpoint(SAVE, lambda: filler.append(_fill(fs))), pytest.raises(RunError) as err:
            execute(_adapter(data_file).recipe, out, quiet=True)
        msg = str(err.value)
        assert "No space left on device" in msg and "\n" not in msg and f"could not write {fs}" in msg, msg
        assert f"last complete checkpoint checkpoints/checkpoint-{SAVE}" in msg
        filler[0].unlink()  # free the space
        run = resume(out, quiet=True)
        assert run.metrics["global_step"] == STEPS and run.metrics["resumed_from"] == f"checkpoint-{SAVE}"
    finally:
        subprocess.run(["umount", "-l", str(fs)], capture_output=True)


def test_write_failures_outside_training_name_path_and_cause(tmp_path: Path) -> None:
    """manifest.json (write_json: temp file + rename) under the file size limit: OSError EFBIG, mapped; the
    old file is untouched and no temp file is left."""
    from verticalize.run.rundir import write_failure, write_json

    p = tmp_path / "manifest.json"
    write_json(p, {"status": "running"})
    with file_size_limit() as limit:
        limit(1000)
        with pytest.raises(OSError) as err:
            write_json(p, {"blob": "x" * 5000})
        path, cause = write_failure(err.value, tmp_path)  # while the limit holds: it is named
    assert json.loads(p.read_text()) == {"status": "running"} and not list(tmp_path.glob("*.tmp"))
    assert path == p and cause.startswith("File too large; the file size limit (ulimit -f) is 1000 bytes"), cause
    assert write_failure(ValueError("not a write"), tmp_path) is None


def test_cli_write_failure_is_one_line_exit_2_and_q_prints_no_bars(tmp_path: Path, data_file: Path) -> None:
    """The real CLI in a subprocess, its file size limit lowered after checkpoint-4: stderr is one line."""
    runner = tmp_path / "runner.py"
    runner.write_text(textwrap.dedent(f"""
        import resource, signal, sys
        from verticalize.train.checkpoints import CheckpointMarker
        orig = CheckpointMarker.on_save
        def on_save(self, args, state, control, **kw):
            orig(self, args, state, control, **kw)
            if state.global_step == {SAVE}:
                resource.setrlimit(resource.RLIMIT_FSIZE, (20000, resource.RLIM_INFINITY))
        CheckpointMarker.on_save = on_save
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        from verticalize.cli.main import main
        main(sys.argv[1:])
    """))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"base: tiny\ndata: [{{path: {data_file}}}]\nmethod: {{kind: lora, r: 4, alpha: 8}}\n"
                      f"train: {{max_steps: {STEPS}, save_steps: {SAVE}, batch_size: 2, max_length: 96}}\n")
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, str(runner), "train", str(recipe), "-o", str(out), "-q"], env=_env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr[-3000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: could not write") and "File too large" in lines[0], r.stderr
    assert "--resume" in lines[0] and out.with_name("run.incomplete").is_dir()


# --------------------------------------------------------------------------------------------- 3. concurrent runs
def test_a_second_train_on_the_same_run_dir_stops_at_once_naming_the_holder(tmp_path: Path, data_file: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"base: tiny\ndata: [{{path: {data_file}}}]\nmethod: {{kind: lora, r: 4, alpha: 8}}\n"
                      "train: {max_steps: 4, save_steps: 2, batch_size: 2, max_length: 96}\n")
    out = tmp_path / "run"
    lock = tmp_path / "run.lock"
    first = subprocess.Popen(_cli("-q", "train", str(recipe), "-o", str(out)), env=_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # the group's -q
    deadline = time.time() + 120
    while first.poll() is None and time.time() < deadline and not (lock.is_file() and lock.read_text()):
        time.sleep(0.02)
    assert first.poll() is None, first.communicate()[1][-2000:]
    t = time.time()
    second = subprocess.run(_cli("train", str(recipe), "-o", str(out), "-q"), env=_env(), capture_output=True,
                            text=True, timeout=120)
    assert second.returncode == 2 and time.time() - t < 30
    assert f"{out} is in use by another verticalize process (pid {first.pid}" in second.stderr, second.stderr
    assert "Traceback" not in second.stderr and len(second.stderr.strip().splitlines()) == 1
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]  # the first one ran to the end, undisturbed
    assert err == "", err[-3000:]  # -q: no progress bars (tqdm, datasets/TRL maps, "Loading weights"), no chatter
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete" and not lock.exists()


def test_the_run_lock_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    from verticalize.run.rundir import RunLock

    final = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from verticalize.run.rundir import RunLock
        RunLock(Path({str(final)!r})).acquire()
        print("held", flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True, env=_env())
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunError, match=f"pid {holder.pid} on"):
        RunLock(final).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lock = RunLock(final)
    lock.acquire()  # released by the kernel with the process
    assert json.loads((tmp_path / "run.lock").read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / "run.lock").exists()


_BUILDER = textwrap.dedent("""
    import hashlib, os, sys, time
    from pathlib import Path
    from verticalize.models import offline

    def slow_build(out):
        with open(os.environ["BUILDS"], "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        (out / "config.json").write_text('{"model_type": "qwen3"}')  # first: a half-built dir must never be used
        for i in range(40):
            (out / f"shard-{i:02d}.bin").write_bytes(bytes([i]) * 4096)
            while i == 10 and not os.path.exists(os.environ["GO"]):  # the test says when to finish
                time.sleep(0.01)

    def tree_sha(root):
        h = hashlib.sha256()
        for f in sorted(p for p in root.rglob("*") if p.is_file()):
            h.update(f.relative_to(root).as_posix().encode() + b"\\0" + f.read_bytes())
        return h.hexdigest()

    offline.OFFLINE_BUILDERS["fake"] = ("1", slow_build)
    d = offline.offline_model_dir("fake")
    print(tree_sha(d), flush=True)
""")


def _builder(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _BUILDER], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_two_processes_building_one_offline_base_build_it_once(tmp_path: Path) -> None:
    """Both ask for the same offline base at once: one builds, the other waits (and says so) and uses it;
    a reader polling the cache meanwhile never sees a half-built dir (checked by hashing)."""
    import threading

    cache, builds, go = tmp_path / "cache", tmp_path / "builds.txt", tmp_path / "go"
    env = _env(VERTICALIZE_CACHE=str(cache), BUILDS=str(builds), GO=str(go))
    final = cache / "models" / "fake-v1"
    seen: set[str] = set()
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            if (final / "config.json").is_file():
                seen.add(_tree_sha(final))
            time.sleep(0.002)

    threading.Thread(target=reader, daemon=True).start()
    first = _builder(env)
    while first.poll() is None and not list(final.parent.glob("fake-v1.tmp-*/shard-10.bin")):
        time.sleep(0.005)
    second = _builder(env)  # the build is under way, held at shard 10
    line = second.stderr.readline()
    assert "waiting for another process that is building" in line, line + second.stderr.read()[-2000:]
    assert not final.exists()
    go.touch()
    outs = [p.communicate(timeout=120) for p in (first, second)]
    done.set()
    assert first.returncode == 0 and second.returncode == 0, [o[1][-2000:] for o in outs]
    want = _tree_sha(final)
    assert len(builds.read_text().splitlines()) == 1  # built once
    assert {o[0].strip() for o in outs} == {want}  # both use the same, complete dir
    assert seen <= {want}  # never a half-built one
    assert not list(final.parent.glob("*.tmp-*"))


def test_a_builder_killed_halfway_leaves_nothing_that_is_used(tmp_path: Path) -> None:
    cache, builds, go = tmp_path / "cache", tmp_path / "builds.txt", tmp_path / "go"
    env = _env(VERTICALIZE_CACHE=str(cache), BUILDS=str(builds), GO=str(go))
    p = _builder(env)
    models = cache / "models"
    while p.poll() is None and not list(models.glob("fake-v1.tmp-*/shard-10.bin")):
        time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not (models / "fake-v1").exists() and list(models.glob("fake-v1.tmp-*"))  # a half-built temp dir only
    go.touch()
    r = subprocess.run([sys.executable, "-c", _BUILDER], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == _tree_sha(models / "fake-v1"), r.stderr[-2000:]
    assert len(builds.read_text().splitlines()) == 2 and not list(models.glob("fake-v1.tmp-*"))


@pytest.mark.slow
def test_two_processes_building_the_real_tiny_base(tmp_path: Path) -> None:
    code = ("from verticalize.models.offline import offline_model_dir; import hashlib; d = offline_model_dir('tiny');"
            "print(hashlib.sha256(b''.join(f.read_bytes() for f in sorted(d.rglob('*')) if f.is_file())).hexdigest())")
    env = _env(VERTICALIZE_CACHE=str(tmp_path / "cache"))
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    assert len({o[0].strip() for o in outs}) == 1


def test_offline_bases_build_without_fcntl(tmp_path: Path) -> None:
    """Portability (item 8): with ``fcntl`` missing (as on Windows) the offline module imports and builds through
    filelock (which then falls back to its own lock)."""
    code = textwrap.dedent("""
        import sys
        sys.modules["fcntl"] = None  # import fcntl raises ImportError, as on Windows
        from verticalize.models import offline
        offline.OFFLINE_BUILDERS["fake"] = ("1", lambda out: (out / "config.json").write_text("{}"))
        print(offline.offline_model_dir("fake").name)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=_env(VERTICALIZE_CACHE=str(tmp_path)))
    assert r.returncode == 0 and r.stdout.strip() == "fake-v1", r.stderr[-2000:]
    import ast

    src = Path(__import__("verticalize.models.offline", fromlist=["x"]).__file__).read_text()
    names = {a.name for n in ast.walk(ast.parse(src)) if isinstance(n, (ast.Import, ast.ImportFrom))
             for a in n.names} | {n.module for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ImportFrom)}
    assert "fcntl" not in names


# --------------------------------------------------------------------------------------------- 4. corrupted state
def _fake_checkpoint(root: Path, step: int) -> Path:
    from verticalize.train.checkpoints import write_marker

    d = root / f"checkpoint-{step}"
    d.mkdir(parents=True)
    (d / "adapter_model.safetensors").write_bytes(os.urandom(3000))
    (d / "optimizer.pt").write_bytes(os.urandom(5000))
    (d / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": []}))
    write_marker(d, step)
    return d


@pytest.mark.parametrize("damage, why", [
    (lambda d: (d / "adapter_model.safetensors").write_bytes((d / "adapter_model.safetensors").read_bytes()[:1000]),
     "adapter_model.safetensors is 1,000 bytes, 3,000 when saved (truncated)"),
    (lambda d: (d / "trainer_state.json").write_text('{"global_step": 8, "log_hist'),
     "trainer_state.json"),
    (lambda d: (d / "trainer_state.json").write_text('{"global_step": 99, "log_history": []}'),
     "trainer_state.json"),
    (lambda d: (d / "optimizer.pt").write_bytes(b"\0" * 5000), "optimizer.pt changed since the save"),
    (lambda d: (d / "optimizer.pt").unlink(), "optimizer.pt is missing"),
    (lambda d: (d / "verticalize.json").write_text('{"complete": true, "files": {"optimizer.pt": "x"}}'),
     "verticalize.json is damaged"),
    (lambda d: (d / "verticalize.json").write_text("{not json"), "verticalize.json is damaged"),
    (lambda d: (d / "verticalize.json").unlink(), None),  # an unfinished save: skipped without a warning
], ids=["truncated", "state-not-json", "state-wrong-step", "changed", "missing", "marker-edited", "marker-damaged",
        "unmarked"])
def test_a_damaged_checkpoint_is_named_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                   damage: Callable[[Path], None], why: str | None) -> None:
    from verticalize.train.checkpoints import check_checkpoint, last_complete_checkpoint

    root = tmp_path / "checkpoints"
    good, bad = _fake_checkpoint(root, 4), _fake_checkpoint(root, 8)
    assert last_complete_checkpoint(root) == bad and check_checkpoint(bad) is None
    damage(bad)
    assert check_checkpoint(bad) is not None
    with caplog.at_level(logging.WARNING, logger="verticalize"):
        assert last_complete_checkpoint(root) == good
    warned = [r.getMessage() for r in caplog.records]
    if why is None:
        assert not warned
    else:
        assert len(warned) == 1 and str(bad) in warned[0] and why in warned[0], warned
        assert "falling back to an older checkpoint" in warned[0]


def test_resume_falls_back_past_a_truncated_checkpoint(failed_run: tuple[Path, str], tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """The run that failed at checkpoint-6 has checkpoints 2 and 4; truncate 4's weights: resume warns, names
    it, discards it and continues from checkpoint-2 to the end."""
    from verticalize.run import resume

    final = _copy_run(failed_run[0], tmp_path / "run")
    ck = final.with_name("run.incomplete") / "checkpoints"
    w = ck / "checkpoint-4" / "adapter_model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="verticalize"):
        run = resume(final, quiet=True)
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert f"checkpoint {ck / 'checkpoint-4'} is damaged: adapter_model.safetensors is" in warned
    assert "(truncated)" in warned
    assert run.metrics["resumed_from"] == "checkpoint-2" and run.metrics["global_step"] == STEPS


def test_a_manifest_edited_by_hand_or_damaged_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from verticalize.run import Run
    from verticalize.run.rundir import read_manifest, write_manifest

    p = tmp_path / "manifest.json"
    write_manifest(p, {"status": "complete", "metrics": {"train_loss": 1.5}})
    with caplog.at_level(logging.WARNING, logger="verticalize"):
        assert read_manifest(p)["metrics"] == {"train_loss": 1.5}
    assert not caplog.records
    m = json.loads(p.read_text())
    m["metrics"]["train_loss"] = 0.01  # "improved" by hand
    p.write_text(json.dumps(m))
    with caplog.at_level(logging.WARNING, logger="verticalize"):
        read_manifest(p)
    assert f"{p} was changed after verticalize wrote it" in caplog.text and "edited by hand" in caplog.text
    p.write_text('{"status": "complete", "metrics": "fast"}')
    with pytest.raises(RunError, match=r"manifest.json is damaged \(metrics is a str\)"):
        read_manifest(p)
    p.write_text('{"status": "compl')
    with pytest.raises(RunError, match="manifest.json is damaged"):
        Run(tmp_path)
    assert read_manifest(p, strict=False) == {}


def test_a_lock_file_with_a_wrong_hash_is_named(tmp_path: Path) -> None:
    from verticalize import load_recipe
    from verticalize.team.lock import check_lock, read_lock, write_lock

    (tmp_path / "d.jsonl").write_text('{"instruction": "q", "output": "a"}\n')
    recipe = tmp_path / "r.yaml"
    recipe.write_text("base: tiny\ndata: [d.jsonl]\n")
    lock = write_lock(recipe, load_recipe(recipe))
    data = json.loads(lock.read_text())
    data["data"]["data:d.jsonl"]["sha256"] = "0" * 64  # a well-formed hash of other bytes
    lock.write_text(json.dumps(data))
    problems = check_lock(recipe, load_recipe(recipe))
    assert len(problems) == 1 and problems[0].startswith("data file data:d.jsonl changed: sha256 000000000000 (lock)")
    data["data"]["data:d.jsonl"]["sha256"] = "abc"  # not a hash at all
    lock.write_text(json.dumps(data))
    with pytest.raises(LockError, match=r"r.lock.json is damaged or was edited by hand: data\['data:d.jsonl'\]: "
                                        r"sha256 'abc' is not a sha256"):
        read_lock(lock)
    data["data"]["data:d.jsonl"] = "deadbeef"
    lock.write_text(json.dumps(data))
    r = subprocess.run(_cli("train", str(recipe), "-q"), capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: ") and "r.lock.json is damaged or was edited by hand" in r.stderr


# --------------------------------------------------------------------------------------------- 6. shared recipes
def test_a_recipe_cannot_choose_a_run_dir_outside_the_working_tree(tmp_path: Path, data_file: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from verticalize.recipe import load_recipe
    from verticalize.run import execute

    cwd = tmp_path / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    (cwd / "runs").mkdir()
    (cwd / "runs" / "escape").symlink_to(tmp_path)  # a symlink inside that points outside
    for where in ("../../../../../../tmp/vz-escape", str(tmp_path / "elsewhere"), "runs/escape/x"):
        (cwd / "r.yaml").write_text(f"base: tiny\ndata: [{data_file}]\noutput_dir: {where}\n")
        with pytest.raises(RunError, match="is outside the working directory .* give the run dir yourself"):
            execute(load_recipe(cwd / "r.yaml"), quiet=True)
    assert not (tmp_path / "elsewhere").exists() and not Path("/tmp/vz-escape").exists()
    assert not list(tmp_path.glob("*.lock"))  # refused before anything was created
    from verticalize.run.rundir import check_paths

    r = load_recipe(cwd / "r.yaml")
    assert check_paths(r, explicit_output=True, trust_paths=False) == []  # -o / output_dir= given by the user
    assert check_paths(r, explicit_output=False, trust_paths=True) == []  # --trust-paths
    (cwd / "r.yaml").write_text(f"base: tiny\ndata: [{data_file}]\noutput_dir: runs/inside\n")
    assert check_paths(load_recipe(cwd / "r.yaml"), explicit_output=False, trust_paths=False) == []


def test_a_recipe_cannot_make_training_read_proc_dev_or_sys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from verticalize.recipe import load_recipe
    from verticalize.run import execute

    monkeypatch.chdir(tmp_path)
    os.mkfifo(tmp_path / "pipe.jsonl")
    (tmp_path / "env.jsonl").symlink_to("/proc/self/environ")
    for ref, why in (("/proc/self/environ", "under /proc"), ("/dev/zero", "under /dev"),
                     ("/sys/kernel/notes", "under /sys"), ("env.jsonl", "/proc/"), ("pipe.jsonl", "is a FIFO")):
        (tmp_path / "r.yaml").write_text(f"base: tiny\ndata: [{{path: {ref}}}]\n")
        with pytest.raises(RunError, match=f"data\\[0\\].path: {ref}: .*{why}.*--trust-paths"):
            execute(load_recipe(tmp_path / "r.yaml"), tmp_path / "run", quiet=True)
    assert not (tmp_path / "run.incomplete").exists()
    from verticalize.run.rundir import check_paths

    assert check_paths(load_recipe(tmp_path / "r.yaml"), explicit_output=True, trust_paths=True) == []
    r = subprocess.run(_cli("train", str(tmp_path / "r.yaml"), "-o", "run"), capture_output=True, text=True,
                       env=_env(), cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "is a FIFO" in r.stderr and "Traceback" not in r.stderr


def test_a_recipe_file_under_proc_is_refused() -> None:
    from verticalize.errors import RecipeError
    from verticalize.recipe import load_recipe

    with pytest.raises(RecipeError, match=r"^/proc/self/environ: not a recipe file: /proc/\d+/environ is a kernel/dev"):
        load_recipe("/proc/self/environ")


def test_cli_output_dir_given_by_the_user_counts_as_explicit(tmp_path: Path, data_file: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``--output-dir`` and ``--set output_dir=...`` are the user's choice: passed to execute as explicit; the
    recipe's own output_dir is not; ``--trust-paths`` is passed through."""
    from click.testing import CliRunner

    import verticalize.run
    from verticalize.cli.main import cli

    seen: list[tuple] = []
    monkeypatch.setattr(verticalize.run, "execute",
                        lambda r, out=None, **kw: seen.append((out, kw.get("trust_paths"))) or (_ for _ in ()).throw(
                            RunError("stub")))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"base: tiny\ndata: [{data_file}]\noutput_dir: /elsewhere/run\n")
    runner = CliRunner()
    runner.invoke(cli, ["train", str(recipe)])
    runner.invoke(cli, ["train", str(recipe), "--set", "output_dir=/mine/run"])
    runner.invoke(cli, ["train", str(recipe), "-o", "/mine/o", "--trust-paths"])
    assert seen == [(None, False), ("/mine/run", False), ("/mine/o", True)]
