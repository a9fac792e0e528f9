"""Crash-safe resume: SIGKILL a real training process, resume it, match an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from verticalize.errors import RunError

STEPS, SAVE = 24, 4


def _recipe(tmp_path: Path, data: Path) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(
        f"base: tiny\n"
        f"data: [{{path: {data}}}]\n"
        "method: {kind: lora, r: 8, alpha: 16, dropout: 0.1}\n"  # dropout: the RNG state must resume too
        f"train: {{kind: sft, max_steps: {STEPS}, save_steps: {SAVE}, batch_size: 2, grad_accum: 2, "
        "max_length: 96, logging_steps: 1, lr: 1.0e-3}\n", encoding="utf-8")
    return p


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "verticalize", *args]


def _weights(run_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))


def _losses(run_dir: Path) -> dict[int, float]:
    rows = [json.loads(x) for x in (run_dir / "train_log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if "loss" in r]
    assert len(steps) == len(set(steps)), "a step was logged twice"
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def test_killed_run_resumes_from_last_complete_checkpoint_and_matches(tmp_path: Path, chat_jsonl: Path) -> None:
    recipe = _recipe(tmp_path, chat_jsonl)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    ref = tmp_path / "ref"
    subprocess.run(_cli("train", str(recipe), "-o", str(ref), "-q"), check=True, env=env, capture_output=True)

    out = tmp_path / "killed"
    work = out.with_name("killed.incomplete")
    proc = subprocess.Popen(_cli("train", str(recipe), "-o", str(out), "-q"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = work / "checkpoints" / f"checkpoint-{2 * SAVE}" / "verticalize.json"
    deadline = time.time() + 240
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert marker.exists(), "the run ended before its second checkpoint"
    assert not out.exists() and work.is_dir() and not (work / "adapter").exists()

    # a half-written newer checkpoint (no completion marker) must never be picked
    half = work / "checkpoints" / f"checkpoint-{STEPS - SAVE}"
    half.mkdir(exist_ok=True)
    (half / "adapter_model.safetensors").write_bytes(b"\0" * 100)
    done = subprocess.run(_cli("train", "--resume", str(out), "-q"), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert out.is_dir() and not work.exists()

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["resumed"]
    assert manifest["metrics"]["global_step"] == STEPS
    assert int(manifest["metrics"]["resumed_from"].split("-")[1]) >= 2 * SAVE

    # the resumed run matches the uninterrupted one: same losses at every step, same weights
    a, b = _losses(ref), _losses(out)
    assert sorted(b) == list(range(1, STEPS + 1)) and a.keys() == b.keys()
    assert max(abs(a[s] - b[s]) for s in a) < 1e-4
    wa, wb = _weights(ref), _weights(out)
    assert wa.keys() == wb.keys()
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-5


def test_resume_errors_name_the_problem(tmp_path: Path, chat_jsonl: Path) -> None:
    from verticalize.run import resume

    with pytest.raises(RunError, match="nothing to resume"):
        resume(tmp_path / "never")
    r = subprocess.run(_cli("train", "--resume", str(tmp_path / "never")), capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("error: nothing to resume") and "Traceback" not in r.stderr
    r = subprocess.run(_cli("train", str(_recipe(tmp_path, chat_jsonl)), "--resume", str(tmp_path / "x")),
                       capture_output=True, text=True)
    assert r.returncode == 2 and "give no RECIPE" in r.stderr


def test_a_new_run_refuses_to_clobber_an_unfinished_one(tmp_path: Path, chat_jsonl: Path) -> None:
    from verticalize.recipe import load_recipe
    from verticalize.run import execute

    work = tmp_path / "run.incomplete"
    (work / "checkpoints").mkdir(parents=True)
    with pytest.raises(RunError, match="--resume"):
        execute(load_recipe(_recipe(tmp_path, chat_jsonl)), tmp_path / "run", quiet=True)
    assert (work / "checkpoints").is_dir()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_checkpoint_stops_and_resumes(tmp_path: Path, chat_jsonl: Path, sig: signal.Signals) -> None:
    """SIGTERM (Slurm, Kubernetes, spot instances) or SIGINT mid-training: a complete checkpoint at the
    step it was in, exit 128+signal with "resume with ...", then resume finishes the run."""
    p = tmp_path / "r.yaml"
    p.write_text(f"base: tiny\ndata: [{{path: {chat_jsonl}}}]\nmethod: {{kind: lora, r: 4, alpha: 8}}\n"
                 "train: {max_steps: 400, save_steps: 1000, batch_size: 2, grad_accum: 1, max_length: 96, "
                 "logging_steps: 1}\n", encoding="utf-8")
    out, work = tmp_path / "run", tmp_path / "run.incomplete"
    proc = subprocess.Popen(_cli("train", str(p), "-o", str(out), "-q"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    log = work / "train_log.jsonl"
    deadline = time.time() + 240
    while proc.poll() is None and time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 3):
        time.sleep(0.05)
    sent = time.time()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err[-2000:]
    assert time.time() - sent < 60 and "Traceback" not in err
    assert f"resume with `verticalize train --resume {out}`" in err
    ckpts = sorted((work / "checkpoints").glob("checkpoint-*"))
    assert len(ckpts) == 1 and (ckpts[0] / "verticalize.json").is_file()  # the one save_steps=1000 never made
    stopped_at = int(ckpts[0].name.split("-")[1])
    assert 3 <= stopped_at < 400
    done = subprocess.run(_cli("train", "--resume", str(out), "-q", "--set", "train.max_steps=1"), capture_output=True,
                          text=True)
    assert done.returncode == 2 and "give no RECIPE" in done.stderr  # resume keeps the run's own recipe
    # finish quickly: the same run, resumed (the recipe in the run dir is the one it started with)
    (work / "recipe.yaml").write_text((work / "recipe.yaml").read_text().replace("max_steps: 400",
                                                                                f"max_steps: {stopped_at + 2}"))
    done = subprocess.run(_cli("train", "--resume", str(out), "-q"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    m = json.loads((out / "manifest.json").read_text())
    assert m["metrics"]["global_step"] == stopped_at + 2 and m["metrics"]["resumed_from"] == ckpts[0].name


def test_second_signal_exits_at_once_and_keeps_the_last_checkpoint(tmp_path: Path, chat_jsonl: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(f"base: tiny\ndata: [{{path: {chat_jsonl}}}]\n"
                 "train: {max_steps: 400, save_steps: 2, batch_size: 2, grad_accum: 1, max_length: 96, "
                 "logging_steps: 1}\n", encoding="utf-8")
    out, work = tmp_path / "run", tmp_path / "run.incomplete"
    proc = subprocess.Popen(_cli("train", str(p), "-o", str(out), "-q"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while proc.poll() is None and time.time() < deadline and not list(work.glob("checkpoints/*/verticalize.json")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    lines = []
    for line in proc.stderr:  # signals are not queued: the second goes once the first was handled
        lines.append(line)
        if "saving a checkpoint at the end of this step" in line:
            proc.send_signal(signal.SIGTERM)
            break
    err = "".join(lines) + proc.communicate(timeout=60)[1]
    assert proc.returncode == 128 + signal.SIGTERM and "second SIGTERM: exiting now" in err, err[-2000:]
    from verticalize.train.checkpoints import last_complete_checkpoint

    last = last_complete_checkpoint(work / "checkpoints")
    assert last is not None and json.loads((last / "trainer_state.json").read_text())["global_step"] >= 2
