"""A plain (non-editable) install carries domains/ and recipes/ and finds them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_carries_packs_and_recipes(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(REPO)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("verticalize-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("verticalize/_domains/finance/domain.yaml", "verticalize/_domains/legal/train.jsonl",
                     "verticalize/_recipes/quickstart.yaml", "verticalize/models/assets/tiny_tokenizer.json",
                     "verticalize/evals/metrics/rouge_l/rouge_l.py", "verticalize/pot/sandbox.py",
                     "verticalize/run/execute.py", "verticalize/team/lock.py", "verticalize/recipe/schema.py"):
        assert required in names, required
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import verticalize.packs as r; print(sorted(r.list_domains())); print(sorted(r.list_recipes())); "
            "print(r.load_domain('finance').count('train'))")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VERTICALIZE_DOMAINS")}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                         check=True).stdout.splitlines()
    assert out[0] == str(["finance", "general", "legal", "medical"])
    assert "quickstart" in out[1] and int(out[2]) >= 2000
