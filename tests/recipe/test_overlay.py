"""Recipe overlays: extends chains, merge precedence, provenance, errors naming the chain, `show`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from verticalize import RecipeError, load_recipe
from verticalize.cli.main import cli
from verticalize.recipe import SET, Origin, read_overlay, resolve_extends

GRANDPARENT = """\
# team defaults
base: tiny
domain: finance
data:
  - {path: a.jsonl, format: alpaca}
  - {path: b.jsonl, format: alpaca}
method: {kind: qlora, r: 8, bits: 4}
train:
  lr: 1.0e-4
  batch_size: 2
  max_length: 256
eval: {suites: [finance, general], max_examples: 8}
"""

PARENT = """\
extends: grand.yaml
data:
  - {path: c.jsonl, format: messages}
train:
  batch_size: 8
  # the team's rate
  lr: 3.0e-4
eval: {generation: {max_new_tokens: 32}}
"""

CHILD = """\
extends: parent.yaml
method: {r: 4}
replay: null
train: {max_steps: 3}
"""


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    (tmp_path / "grand.yaml").write_text(GRANDPARENT)
    (tmp_path / "parent.yaml").write_text(PARENT)
    (tmp_path / "child.yaml").write_text(CHILD)
    (tmp_path / "c.jsonl").write_text('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n')
    return tmp_path / "child.yaml"


def test_three_file_chain_precedence(chain: Path) -> None:
    data, prov = resolve_extends(chain)
    assert "extends" not in data
    assert data["data"] == [{"path": "c.jsonl", "format": "messages"}]  # a list replaces a list
    assert data["method"] == {"kind": "qlora", "r": 4, "bits": 4}  # mappings merge recursively
    assert data["train"] == {"lr": 3e-4, "batch_size": 8, "max_length": 256, "max_steps": 3}
    assert data["eval"] == {"suites": ["finance", "general"], "max_examples": 8, "generation": {"max_new_tokens": 32}}
    assert data["replay"] is None
    d = chain.parent
    assert prov["train.lr"] == Origin(str(d / "parent.yaml"), 7)
    assert prov["train.max_length"] == Origin(str(d / "grand.yaml"), 11)
    assert prov["method.kind"] == Origin(str(d / "grand.yaml"), 7)
    assert prov["method.r"] == Origin(str(d / "child.yaml"), 2)
    assert prov["data"] == Origin(str(d / "parent.yaml"), 2)
    assert prov["base.model"].file == str(d / "grand.yaml")
    r = load_recipe(chain)
    assert r.method.kind == "qlora" and r.method.r == 4 and r.train.lr == 3e-4 and r.train.max_steps == 3
    assert [s.path for s in r.data] == ["c.jsonl"] and r.replay is None
    assert "extends" not in r.to_yaml()
    assert load_recipe(chain, ["train.lr=0.5"]).train.lr == 0.5  # --set beats every file


def test_null_in_child_sets_null_and_mapping_replaces_null(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("base: tiny\ndomain: finance\nreplay: {source: general, ratio: 0.3}\n")
    (tmp_path / "c.yaml").write_text("extends: p.yaml\nreplay: null\n")
    assert load_recipe(tmp_path / "c.yaml").replay is None
    (tmp_path / "c.yaml").write_text("extends: p.yaml\nreplay: {ratio: 0.1}\n")
    r = load_recipe(tmp_path / "c.yaml")
    assert r.replay is not None and r.replay.source == "general" and r.replay.ratio == 0.1


def test_shorthands_merge_and_kind_change_replaces_section(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("base: tiny\ndomain: finance\nmethod: {kind: qlora, bits: 8, r: 32}\n")
    (tmp_path / "c.yaml").write_text("extends: p.yaml\nbase: {source: offline}\nmethod: {kind: lora, alpha: 8}\n")
    r = load_recipe(tmp_path / "c.yaml")
    assert r.base.model == "tiny" and r.base.source == "offline"
    assert r.method.kind == "lora" and r.method.alpha == 8 and r.method.r == 16  # qlora's keys are not carried over


def test_extends_a_shipped_recipe(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("extends: quickstart\nbase: tiny\ntrain: {max_steps: 2}\n")
    r = load_recipe(tmp_path / "mine.yaml")
    assert r.base.model == "tiny" and r.domain == "finance" and r.train.max_steps == 2
    assert r.train.lr == 2e-3  # from the shipped quickstart


def test_cycle_names_the_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.yaml").write_text("extends: b.yaml\nbase: tiny\n")
    Path("b.yaml").write_text("domain: finance\nextends: a.yaml\n")
    with pytest.raises(RecipeError, match=r"^extends cycle: a\.yaml -> b\.yaml -> a\.yaml$"):
        load_recipe("a.yaml")
    Path("self.yaml").write_text("extends: self.yaml\n")
    with pytest.raises(RecipeError, match=r"extends cycle: self\.yaml -> self\.yaml"):
        load_recipe("self.yaml")


def test_missing_parent_names_file_line_and_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.yaml").write_text("base: tiny\ndomain: finance\nextends: nope.yaml\n")
    with pytest.raises(RecipeError) as e:
        load_recipe("a.yaml")
    assert "a.yaml:3: extends 'nope.yaml': no such file (chain: a.yaml)" in str(e.value)
    Path("a.yaml").write_text("extends: b.yaml\n")
    Path("b.yaml").write_text("extends: quickstrat\n")
    with pytest.raises(RecipeError) as e:
        load_recipe("a.yaml")
    msg = str(e.value)
    assert "b.yaml:1: extends 'quickstrat': no such file (chain: a.yaml -> b.yaml)" in msg
    assert "did you mean the shipped recipe 'quickstart'" in msg
    Path("b.yaml").write_text("extends: [x.yaml, y.yaml]\n")
    with pytest.raises(RecipeError, match=r"b\.yaml:1: extends must be one recipe path"):
        load_recipe("a.yaml")
    Path("b.yaml").write_text("extends: c.yaml\n")
    Path("c.yaml").write_text("base: {model: tiny\n")
    with pytest.raises(RecipeError, match=r"c\.yaml:\d+:\d+: YAML syntax error.*\(chain: a\.yaml -> b\.yaml -> c\.yaml\)"):
        load_recipe("a.yaml")


def test_validation_errors_name_the_file_that_set_the_key(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("base: tiny\ndomain: finance\ntrain:\n  lrr: 0.1\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nclean: {dedup: nearr}\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(tmp_path / "child.yaml")
    problems = e.value.problems
    assert len(problems) == 2
    lrr = next(p for p in problems if "lrr" in p)
    assert lrr.startswith(f"{tmp_path / 'base.yaml'}:4: ") and "did you mean 'lr'" in lrr
    dedup = next(p for p in problems if "dedup" in p)
    assert dedup.startswith(f"{tmp_path / 'child.yaml'}:2: ") and "did you mean 'near'" in dedup
    with pytest.raises(RecipeError) as e:
        load_recipe(tmp_path / "child.yaml", ["clean.dedup=exact", "train.lr=1", "train.lrr=null", "train.batch_size=-1"])
    assert any(p.startswith("--set: ") and "batch_size" in p for p in e.value.problems)


def test_overrides_get_set_origin(chain: Path) -> None:
    ov = read_overlay(chain).with_overrides(["train.lr=0.5", "replay.ratio=0.1", "base=smollm2-135m"])
    assert ov.provenance["train.lr"] == SET and ov.provenance["replay.ratio"] == SET
    assert "replay" not in ov.provenance  # the null set by child.yaml is gone
    assert ov.provenance["base.model"] == SET and ov.parse().base.model == "smollm2-135m"


def test_show_explains_provenance(chain: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["show", str(chain), "--set", "train.seed=7"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    lr = next(line for line in lines if line.strip().startswith("lr:"))
    assert lr.strip() == f"lr: 0.0003  # from {tmp_path / 'parent.yaml'}:7"
    assert next(line for line in lines if line.strip().startswith("seed:")).strip() == "seed: 7  # --set"
    assert next(line for line in lines if line.strip().startswith("kind: qlora")).endswith("grand.yaml:7")
    assert next(line for line in lines if line.startswith("data:")).endswith("parent.yaml:2")
    assert next(line for line in lines if line.strip().startswith("grad_accum:")).strip() == "grad_accum: 4"
    assert "extends" not in yaml.safe_load(r.output)
    out = tmp_path / "shown.yaml"
    out.write_text(r.output)
    assert load_recipe(out) == load_recipe(chain, ["train.seed=7"])  # the shown text is the same recipe
    r = CliRunner().invoke(cli, ["show", str(chain), "--all"])
    assert next(line for line in r.output.splitlines() if "grad_accum:" in line).strip() == "grad_accum: 4  # default"


def test_validate_and_show_errors_through_the_cli(tmp_path: Path, chain: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["validate", str(chain)])
    assert r.exit_code == 0 and r.output.strip().endswith(": ok"), r.output
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    r = runner.invoke(cli, ["validate", str(tmp_path / "a.yaml")])
    assert r.exit_code == 2 and "extends cycle" in r.output
    r = runner.invoke(cli, ["show", str(tmp_path / "a.yaml")])
    assert r.exit_code == 2 and r.output.startswith("error: extends cycle") and "Traceback" not in r.output
