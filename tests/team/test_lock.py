"""Recipe locks (data, base and version pinning; train refuses a stale lock) and `verticalize diff`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from verticalize import LockError, Recipe, VerticalizeError, load_recipe
from verticalize.cli.main import cli
from verticalize.team.lock import PACKAGES, check_lock, lock_path, read_lock, write_lock

ROW = {"messages": [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "4"}],
       "task": "add", "kind": "numeric", "answer": 4}


@pytest.fixture
def recipe_file(tmp_path: Path) -> Path:
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(ROW | {"id": i}) for i in range(4)) + "\n")
    p = tmp_path / "team.yaml"
    p.write_text("base: tiny\ndata: [{path: train.jsonl, format: messages}]\ntrain: {max_steps: 1, max_length: 64}\n")
    return p


def test_lock_records_recipe_data_base_and_versions(recipe_file: Path) -> None:
    out = write_lock(recipe_file, load_recipe(recipe_file))
    assert out == recipe_file.parent / "team.lock.json" == lock_path(recipe_file)
    lock = read_lock(out)
    data = recipe_file.parent / "train.jsonl"
    assert lock["data"] == {"data:train.jsonl": {"sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
                                                 "size": data.stat().st_size}}
    assert lock["recipe"] == load_recipe(recipe_file).to_dict() and lock["recipe_file"] == "team.yaml"
    assert set(lock["versions"]) == set(PACKAGES) and lock["versions"]["pydantic"]
    assert lock["base"]["source"] == "offline" and lock["base"]["name"] == "tiny"
    assert lock["base"]["files"] == "not built" or "config.json" in lock["base"]["files"]
    assert check_lock(recipe_file, load_recipe(recipe_file)) == []


def test_changed_data_file_is_caught(recipe_file: Path) -> None:
    write_lock(recipe_file, load_recipe(recipe_file))
    data = recipe_file.parent / "train.jsonl"
    before = hashlib.sha256(data.read_bytes()).hexdigest()
    raw = bytearray(data.read_bytes())
    raw[raw.index(b"4", raw.index(b"assistant"))] = ord("5")  # one byte
    data.write_bytes(bytes(raw))
    after = hashlib.sha256(data.read_bytes()).hexdigest()
    problems = check_lock(recipe_file, load_recipe(recipe_file))
    assert len(problems) == 1
    assert "data:train.jsonl" in problems[0] and before[:12] in problems[0] and after[:12] in problems[0]


def test_version_and_recipe_mismatches(recipe_file: Path) -> None:
    out = write_lock(recipe_file, load_recipe(recipe_file))
    lock = json.loads(out.read_text())
    installed = lock["versions"]["pydantic"]
    lock["versions"]["pydantic"] = "0.0.1"
    out.write_text(json.dumps(lock))
    problems = check_lock(recipe_file, load_recipe(recipe_file, ["train.lr=0.5"]))
    assert f"package pydantic: locked 0.0.1, installed {installed}" in problems
    assert any(p.startswith("recipe key train.lr: lock 0.0002, now 0.5") for p in problems)
    assert len(problems) == 2


def test_local_base_dir_is_hashed(tmp_path: Path, recipe_file: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "qwen3"}')
    (model / "weights.bin").write_bytes(b"\0" * 100)
    recipe = load_recipe(recipe_file, [f"base.model={model}"])
    lock = read_lock(write_lock(recipe_file, recipe))
    assert set(lock["base"]["files"]) == {"config.json", "weights.bin"}
    (model / "weights.bin").write_bytes(b"\1" * 100)
    problems = check_lock(recipe_file, recipe)
    assert len(problems) == 1 and problems[0].startswith("base model file weights.bin changed")


def test_pack_and_replay_files_are_locked(tmp_path: Path) -> None:
    p = tmp_path / "fin.yaml"
    p.write_text("base: tiny\ndomain: finance\nreplay: {source: general, ratio: 0.2}\n")
    lock = read_lock(write_lock(p, load_recipe(p)))
    assert {"domain:finance/domain.yaml", "domain:finance/train.jsonl", "domain:finance/eval.jsonl",
            "replay:general/domain.yaml", "replay:general/train.jsonl"} == set(lock["data"])


def test_existing_lock_needs_force_and_missing_data_refuses(recipe_file: Path) -> None:
    out = write_lock(recipe_file, load_recipe(recipe_file))
    out.write_text("{}")
    with pytest.raises(LockError, match="team.lock.json already exists; pass --force"):
        write_lock(recipe_file, load_recipe(recipe_file))
    assert out.read_text() == "{}"
    with pytest.raises(LockError, match="not a verticalize lock"):
        check_lock(recipe_file, load_recipe(recipe_file))
    write_lock(recipe_file, load_recipe(recipe_file), force=True)
    assert check_lock(recipe_file, load_recipe(recipe_file)) == []
    with pytest.raises(VerticalizeError, match="data file.*not found: data:gone.jsonl"):
        write_lock(recipe_file, load_recipe(recipe_file, ["data=[gone.jsonl]"]), force=True)


def test_cli_lock_then_train_refuses_a_stale_lock(recipe_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import verticalize.run

    reached: list[Recipe] = []

    def fake_execute(recipe: Recipe, output_dir: str | None = None, **kw: object) -> None:
        reached.append(recipe)
        raise VerticalizeError("stub: training reached")  # no model is loaded in this test

    monkeypatch.setattr(verticalize.run, "execute", fake_execute)
    runner = CliRunner()
    r = runner.invoke(cli, ["lock", str(recipe_file)])
    assert r.exit_code == 0 and "team.lock.json" in r.output and "1 data file(s)" in r.output
    r = runner.invoke(cli, ["lock", str(recipe_file)])
    assert r.exit_code == 2 and "already exists" in r.output and "Traceback" not in r.output
    r = runner.invoke(cli, ["train", str(recipe_file), "-q"])  # lock matches: training starts
    assert r.exit_code == 2 and "stub: training reached" in r.output and len(reached) == 1
    data = recipe_file.parent / "train.jsonl"
    data.write_bytes(data.read_bytes().replace(b"2 + 2", b"2 + 3", 1))
    r = runner.invoke(cli, ["train", str(recipe_file), "-q", "--output-dir", str(recipe_file.parent / "run")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.output.startswith("error: ") and "team.lock.json does not match" in r.output
    assert "data file data:train.jsonl changed" in r.output and "--ignore-lock" in r.output
    assert len(reached) == 1 and not (recipe_file.parent / "run").exists()
    r = runner.invoke(cli, ["train", str(recipe_file), "-q", "--ignore-lock"])
    assert "stub: training reached" in r.output and "does not match" not in r.output and len(reached) == 2
    r = runner.invoke(cli, ["lock", str(recipe_file), "--force"])
    assert r.exit_code == 0
    r = runner.invoke(cli, ["train", str(recipe_file), "-q"])
    assert "stub: training reached" in r.output and len(reached) == 3


def _fake_run(d: Path, lr: float, loss: float, before: float, after: float) -> Path:
    d.mkdir(parents=True)
    Recipe.model_validate({"base": "tiny", "domain": "finance", "train": {"lr": lr}}).to_yaml(d / "recipe.yaml")
    (d / "manifest.json").write_text(json.dumps({"status": "complete", "metrics": {
        "train_loss": loss, "global_step": 30, "train_runtime": 12.5}}))
    (d / "eval").mkdir()
    task = {"percent_change": {"primary": "numeric_match", "n": 4, "score": after}}
    stages = {"before": {"finance": {"score": before, "role": "domain", "tasks": task}},
              "after": {"finance": {"score": after, "role": "domain", "tasks": task}}}
    (d / "eval" / "report.json").write_text(json.dumps({"stages": stages, "meta": {}}))
    return d


def test_diff_two_recipes(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("base: tiny\ndomain: finance\ndata: [x.jsonl]\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\ntrain: {lr: 1.0e-3}\ndata: [x.jsonl, y.jsonl]\n"
                                     "replay: general\n")
    r = CliRunner().invoke(cli, ["diff", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")])
    assert r.exit_code == 0, r.output
    lines = [line.strip() for line in r.output.splitlines()]
    assert "train.lr: 0.0002 -> 0.001" in lines
    assert any(line.startswith("+ data[1]: {path: y.jsonl") for line in lines)
    assert "replay: null -> {source: general, ratio: 0.2, by: examples, mixer: null}" in lines
    assert "recipe: 2 changed, 1 added, 0 removed" in lines
    r = CliRunner().invoke(cli, ["diff", str(tmp_path / "a.yaml"), str(tmp_path / "a.yaml")])
    assert r.exit_code == 0 and "recipe: identical" in r.output


def test_diff_two_runs_shows_metrics_and_scores(tmp_path: Path) -> None:
    a = _fake_run(tmp_path / "run-a", 2e-4, 0.5, 0.0, 0.5)
    b = _fake_run(tmp_path / "run-b", 1e-3, 0.25, 0.0, 0.75)
    r = CliRunner().invoke(cli, ["diff", str(a), str(b)])
    assert r.exit_code == 0, r.output
    rows = {line.split()[0]: line.split()[1:] for line in r.output.splitlines() if line.strip()}
    assert rows["train.lr:"] == ["0.0002", "->", "0.001"]
    assert rows["train_loss"] == ["0.5000", "0.2500", "-0.2500"]
    assert rows["global_step"] == ["30", "30", "+0"]
    assert rows["finance.after"] == ["0.5000", "0.7500", "+0.2500"]
    assert rows["finance.delta"] == ["0.5000", "0.7500", "+0.2500"]


def test_diff_bad_inputs_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "empty").mkdir()
    (tmp_path / "a.yaml").write_text("base: tiny\n")
    r = runner.invoke(cli, ["diff", str(tmp_path / "a.yaml"), str(tmp_path / "empty")])
    assert r.exit_code == 2 and "not a run dir" in r.output and "Traceback" not in r.output
    r = runner.invoke(cli, ["diff", str(tmp_path / "a.yaml"), "quickstrat"])
    assert r.exit_code == 2 and "did you mean 'quickstart'" in r.output


def test_stages_lock_the_pack_files_they_read(tmp_path: Path) -> None:
    p = tmp_path / "legal.yaml"
    p.write_text("base: tiny\ndomain: legal\nreplay: general\ntrain: [{kind: cpt}, {kind: sft}]\n")
    keys = set(read_lock(write_lock(p, load_recipe(p)))["data"])
    assert {"domain:legal/corpus.jsonl", "domain:legal/train.jsonl", "domain:legal/eval.jsonl",
            "replay:general/train.jsonl"} <= keys
    p.write_text("base: tiny\ndomain: legal\nreplay: general\ntrain: {kind: cpt}\n")
    keys = set(read_lock(write_lock(p, load_recipe(p), force=True))["data"])
    assert "domain:legal/corpus.jsonl" in keys and "domain:legal/train.jsonl" not in keys
    assert not any(k.startswith("replay:") for k in keys)  # replay mixes into sft stages only


def test_validate_lists_what_a_stale_lock_would_refuse(recipe_file: Path) -> None:
    """`verticalize validate` reports the lock's mismatches with everything else, before a train refuses."""
    from verticalize.run.validate import validate

    assert validate(recipe_file) == []
    write_lock(recipe_file, load_recipe(recipe_file))
    assert validate(recipe_file) == []
    (recipe_file.parent / "train.jsonl").write_text(json.dumps(ROW | {"id": 9}) + "\n")
    problems = validate(recipe_file, ["train.lr=0.001"])
    lp = str(lock_path(recipe_file))
    assert any(p.startswith(f"{lp}: data file data:train.jsonl") for p in problems)
    assert any(p.startswith(f"{lp}: recipe key train.lr") for p in problems)
    out = CliRunner().invoke(cli, ["validate", str(recipe_file)])
    assert out.exit_code != 0 and "data:train.jsonl" in out.output
