"""The same recipe under torchrun and accelerate launch: 2 processes, DDP over gloo on CPU.

Only rank 0 writes the run dir, the log and the evaluation; every rank trains.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

STEPS = 4


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _recipe(tmp_path: Path, data: Path) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump({
        "base": "tiny", "data": [{"path": str(data)}], "method": {"kind": "lora", "r": 8},
        "train": {"kind": "sft", "max_steps": STEPS, "batch_size": 2, "grad_accum": 1, "max_length": 96,
                  "logging_steps": 1, "save_steps": 2},
        "eval": {"suites": ["finance"], "when": ["after"], "tasks": ["term_mc"], "max_examples": 4},
    }), encoding="utf-8")
    return p


def _check(run_dir: Path, tmp_path: Path, launcher: str) -> None:
    assert run_dir.is_dir() and not run_dir.with_name(run_dir.name + ".incomplete").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [run_dir.name]  # one run dir, no strays
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["status"] == "complete" and m["world_size"] == 2, launcher
    assert m["metrics"]["global_step"] == STEPS
    steps = [json.loads(x)["step"] for x in (run_dir / "train_log.jsonl").read_text().splitlines()
             if "loss" in json.loads(x)]
    assert steps == list(range(1, STEPS + 1))  # logged once (rank 0), not once per rank
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    report = json.loads((run_dir / "eval" / "train" / "report.json").read_text())
    assert "after" in report["stages"] if "stages" in report else report
    assert len(list((run_dir / "checkpoints").glob("checkpoint-*"))) <= 1  # train.keep_checkpoints: 1


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def test_torchrun_two_processes(tmp_path: Path, chat_jsonl: Path) -> None:
    out = tmp_path / "runs" / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_port()),
           "-m", "verticalize", "train", str(_recipe(tmp_path, chat_jsonl)), "-o", str(out), "-q"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    _check(out, tmp_path / "runs", "torchrun")


def test_accelerate_launch_two_processes(tmp_path: Path, chat_jsonl: Path) -> None:
    out = tmp_path / "runs" / "acc"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(REPO / "examples" / "accelerate" / "multi_cpu.yaml"), "--main_process_port", str(_port()),
           "-m", "verticalize", "train", str(_recipe(tmp_path, chat_jsonl)), "-o", str(out), "-q"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    _check(out, tmp_path / "runs", "accelerate")


def test_multi_process_run_needs_a_fixed_dir(monkeypatch, chat_jsonl: Path) -> None:
    from verticalize import Adapter, RunError

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(RunError, match="every rank must agree"):
        Adapter(base="tiny").with_data(str(chat_jsonl)).train(quiet=True)


@pytest.mark.parametrize("name", ["multi_cpu", "ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3"])
def test_shipped_accelerate_configs_parse(name: str) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(REPO / "examples" / "accelerate" / f"{name}.yaml"))
    assert cfg.num_processes >= 2 and str(cfg.distributed_type).split(".")[-1].upper() in {
        "MULTI_CPU", "MULTI_GPU", "FSDP", "DEEPSPEED"}
