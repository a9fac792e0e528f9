"""The README's main job on the real embedded SmolLM2-135M (a few minutes on 2 cores)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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
