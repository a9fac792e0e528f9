"""The GPU throughput benchmark stays runnable: a smoke run on the tiny architecture (any machine)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow  # 28 s of two trainings in subprocesses: a benchmark's smoke run, not a product test
def test_gpu_throughput_smoke_run() -> None:
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_throughput.py"), "--arch", "tiny",
                        "--methods", "lora", "--steps", "3", "--seq", "64", "--batch", "2"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "RESULT lora: verticalize/trl tokens/s ratio" in r.stdout, r.stdout[-2000:]
