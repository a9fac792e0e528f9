"""The README's main job on the real embedded SmolLM2-135M (a few minutes on 2 cores)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO  # noqa: E402


@pytest.mark.slow
def test_quickstart_score_rises(tmp_path: Path) -> None:
    pytest.importorskip("gguf")
    p = subprocess.run([sys.executable, "-m", "verticalize.cli", "quickstart", "-o", str(tmp_path / "qs")],
                       capture_output=True, text=True, cwd=REPO, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    from verticalize import Run

    run = Run(tmp_path / "qs")
    scores = run.report.scores["finance"]
    assert scores["after"] > scores["before"] + 0.2, scores
    assert "score before" in p.stdout and "run dir:" in p.stdout


@pytest.mark.slow
def test_two_stage_cpt_then_sft_on_smollm2(tmp_path: Path) -> None:
    """recipes/legal-cpt-sft-smollm2.yaml: CPT on the statute corpus, then SFT, offline on SmolLM2-135M."""
    pytest.importorskip("gguf")
    out = tmp_path / "legal2"
    p = subprocess.run([sys.executable, "-m", "verticalize", "train", "recipes/legal-cpt-sft-smollm2.yaml", "-o",
                        str(out), "-q"], capture_output=True, text=True, cwd=REPO, timeout=1500)
    assert p.returncode == 0, p.stderr[-3000:]
    from verticalize import Run

    run = Run(out)
    kinds = [s["kind"] for s in run.manifest["stages"]]
    assert kinds == ["cpt", "sft"]
    cpt = run.manifest["stages"][0]["metrics"]
    assert cpt["windows"]["documents_split"] > 10 and cpt["global_step"] == 20
    assert run.metrics["global_step"] == 40
    assert (out / "stages" / "01-cpt" / "adapter").is_dir() and (out / "adapter").is_dir()
    assert run.report.scores["legal"]["after"] > run.report.scores["legal"]["before"]
