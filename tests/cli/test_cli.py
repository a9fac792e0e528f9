"""CLI: fast help, validate, errors as one line with exit code 2, ls, schema, train."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO  # noqa: E402


def cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "verticalize.cli", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, env=env, timeout=timeout)


def test_help_is_fast_and_does_not_import_torch() -> None:
    code = ("import sys, time; t=time.perf_counter(); from verticalize.cli.main import cli; "
            "from click.testing import CliRunner; r=CliRunner().invoke(cli, ['--help']); "
            "print(time.perf_counter()-t, 'torch' in sys.modules, r.exit_code)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO).stdout.split()
    assert out[1] == "False" and out[2] == "0"
    assert float(out[0]) < 1.0


def test_validate_shipped_recipes_without_torch() -> None:
    code = ("import sys; from click.testing import CliRunner; from verticalize.cli.main import cli; "
            "import glob; r=CliRunner().invoke(cli, ['validate', *sorted(glob.glob('recipes/*.yaml'))]); "
            "print(r.output); print('TORCH', 'torch' in sys.modules); sys.exit(r.exit_code)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "TORCH False" in p.stdout and ": ok" in p.stdout


@pytest.mark.parametrize("text,needle", [
    ("base: tiny\ndomain: finance\ntrain: {lrr: 1}\n", "did you mean 'lr'"),
    ("base: tiny\ndomain: finanse\n", "did you mean 'finance'"),
    ("base: Qwen3-4\ndomain: finance\n", "did you mean 'Qwen3-4B'"),
    ("base: tiny\ndata: [{path: missing.jsonl}]\n", "file not found: missing.jsonl"),
    ("base: tiny\ndomain: finance\ntrain: {batch_size: -1}\n", "train.batch_size"),
    ("base: tiny\ntrain: {lr: 1\n", "YAML syntax error"),
])
def test_validate_reports_problems(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(text)
    r = cli("validate", str(p))
    assert r.returncode == 2
    assert needle in r.stderr
    assert "Traceback" not in r.stderr


def test_train_error_is_one_line_exit_2(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("base: tiny\ndata: [{path: nothere.jsonl}]\n")
    r = cli("train", str(p), "--output-dir", str(tmp_path / "run"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: ")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.incomplete").exists()
    assert "nothere.jsonl" in r.stderr


def test_ls_and_schema() -> None:
    r = cli("ls", "models")
    assert r.returncode == 0 and "smollm2-135m" in r.stdout and "Qwen3-4B" in r.stdout
    r = cli("ls", "domains")
    assert r.returncode == 0 and all(d in r.stdout for d in ("finance", "medical", "legal", "general"))
    r = cli("ls", "recipes")
    assert r.returncode == 0 and "quickstart" in r.stdout
    r = cli("schema")
    assert r.returncode == 0 and "properties" in json.loads(r.stdout)


def test_train_with_set_overrides(tmp_path: Path, chat_jsonl: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(f"base: tiny\ndata: [{{path: {chat_jsonl}}}]\ntrain: {{max_steps: 50, max_length: 128}}\n")
    r = cli("train", str(p), "--set", "train.max_steps=2", "--set", "train.batch_size=2", "-q",
            "--output-dir", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert m["metrics"]["global_step"] == 2
    r = cli("export", str(tmp_path / "run"), "--out", str(tmp_path / "merged"))
    assert r.returncode == 0, r.stderr[-2000:]
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(tmp_path / "merged")


def test_eval_history_progress_and_quiet_console(tmp_path: Path, chat_jsonl: Path) -> None:
    """A CLI train: bars and our lines on the console, the libraries' bars and deprecations in run.log only.
    Each `verticalize eval` is kept under its label (nothing overwritten); a reused label is one error line."""
    p = tmp_path / "r.yaml"
    p.write_text(f"base: tiny\ndata: [{{path: {chat_jsonl}}}]\ntrain: {{max_steps: 1, max_length: 64}}\n"
                 "eval: {suites: [finance, general], when: [before, after], max_examples: 4, languages: [en], "
                 "tasks: [percent_change, term_mc, capital], generation: {max_new_tokens: 4}}\n")
    run = tmp_path / "run"
    r = cli("train", str(p), "--output-dir", str(run))
    assert r.returncode == 0, r.stderr[-2000:]
    log = (run / "run.log").read_text()
    for noise in ("FutureWarning", "DeprecationWarning", "Truncating", "Map:", "Loading weights"):
        assert noise not in r.stderr, (noise, r.stderr[-2000:])
    assert "Truncating train dataset" in log and "Loading weights" in log and "FutureWarning" in log
    assert "sft:lora" in r.stderr and "eval before: finance" in r.stderr and "eval after: general" in r.stderr
    assert "[verticalize] sft data: 48 read from 1 source" in r.stdout and "sft data: 48 read" in log
    train = (run / "eval" / "train" / "report.json").read_text()
    assert set(json.loads(train)["stages"]) == {"before", "after"}

    r = cli("eval", str(run), "--label", "a")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "eval after: finance" in r.stderr and "4/4" in r.stderr and "FutureWarning" not in r.stderr
    assert "report: " + str(run / "eval" / "a" / "report.md") in r.stdout and "forgetting on **general**" in r.stdout
    r = cli("eval", str(run), "--suite", "finance", "--no-before", "--label", "b", "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "eval after" not in r.stderr and "it/s" not in r.stderr
    index = json.loads((run / "eval" / "index.json").read_text())["evaluations"]
    assert [e["label"] for e in index] == ["train", "a", "b"]
    assert index[2]["stages"] == ["after"] and set(index[2]["suites"]) == {"finance"}
    assert set(index[1]["suites"]) == {"finance", "general"} and index[1]["suites"]["finance"]["n"] == 4
    assert (run / "eval" / "train" / "report.json").read_text() == train  # nothing overwritten
    for label in ("train", "a", "b"):
        assert (run / "eval" / label / "report.png").stat().st_size > 1000
    page = (run / "eval" / "report.md").read_text()
    assert all(f"## {i}. {label}" in page for i, label in enumerate(("train", "a", "b"), 1))
    assert page.count("Sample predictions") == 3 and "n=4" in page and "| suite | train | a | b |" in page

    r = cli("eval", str(run), "--label", "a")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [(f"error: {run}: an evaluation labelled 'a' exists already (labels: "
                                              "train, a, b); choose another label (verticalize eval --label NAME), "
                                              "or replace it with --force (Python: force=True)")]
