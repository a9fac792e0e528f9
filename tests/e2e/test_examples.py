"""The example scripts run end to end as smoke runs on the tiny offline base."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

EVAL = ["--eval-max", "4", "--max-new-tokens", "8"]
SCRIPTS = {
    "finance_pot": (EVAL, "finance: before "),
    "medical_qlora": (EVAL, "medical: before "),
    "legal_cpt_then_sft": (EVAL, "legal: before "),
    "custom_csv_domain": ([], "policy answers exactly"),
    "custom_strategies": (EVAL, "round trip: exact"),
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_example_script_smoke_run(tmp_path: Path, name: str) -> None:
    if name == "medical_qlora":
        pytest.importorskip("bitsandbytes")
    extra, expect = SCRIPTS[name]
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, str(REPO / "examples" / f"{name}.py"), "--base", "tiny", "--steps", "2",
                           "--out", str(out), *extra], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["metrics"]["global_step"] == 2
    assert expect in proc.stdout and f"run dir: {out}" in proc.stdout
    if name == "legal_cpt_then_sft":
        assert [s["kind"] for s in manifest["stages"]] == ["cpt", "sft"]
    if name == "custom_strategies":
        assert [s["kind"] for s in manifest["stages"]] == ["sft", "answer_loop"] and "valid;" in proc.stdout
        assert (tmp_path / "run-metrics.csv").is_file()
    if name == "medical_qlora":
        from verticalize import Run

        assert Run(out).recipe.method.kind == "qlora" and Run(out).recipe.method.bits == 4
    print(f"{name}: {time.perf_counter() - t:.1f} s")
