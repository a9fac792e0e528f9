"""`verticalize init domain|recipe`: the templates load and validate as written; nothing is overwritten
without --force."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from verticalize import VerticalizeError, load_recipe
from verticalize.cli.main import cli
from verticalize.team.scaffold import PACK_FILES, init_domain, init_recipe


def test_init_domain_loads_as_a_pack_and_a_suite(tmp_path: Path) -> None:
    from verticalize.data.pipeline import load_pack_split
    from verticalize.evals.suite import load_suite
    from verticalize.packs import load_domain

    r = CliRunner().invoke(cli, ["init", "domain", "acme-tax", "--dir", str(tmp_path / "acme")])
    assert r.exit_code == 0, r.output
    d = tmp_path / "acme"
    assert sorted(p.name for p in d.iterdir()) == sorted(PACK_FILES)
    pack = load_domain(d)
    assert pack.name == "acme-tax" and pack.languages == ("en",) and pack.system_for("en")
    assert {t["name"] for t in pack.tasks} == {"definition", "term_mc", "calculation"}
    train, _ = load_pack_split(pack, "train")
    assert len(train) == 3 and all(ex["task"] and ex["messages"][-1]["role"] == "assistant" for ex in train)
    suite = load_suite(d)
    assert suite.name == "acme-tax" and len(suite.examples) == 3 and suite.role == "domain"
    assert {ex["kind"] for ex in suite.examples} == {"generation", "mc", "numeric"}
    assert suite.examples[0]["messages"][0]["role"] == "system"  # system_prompt: pack
    assert "train.jsonl" in (d / "README.md").read_text()


def test_init_domain_default_dir_and_bad_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert init_domain("legal2") == Path("legal2") and (tmp_path / "legal2" / "domain.yaml").is_file()
    with pytest.raises(VerticalizeError, match="domain name 'a b' is not allowed"):
        init_domain("a b")
    init_domain("yes")  # a YAML 1.1 boolean as a name stays a string
    from verticalize.packs import load_domain

    assert load_domain(tmp_path / "yes").name == "yes"


def test_init_domain_refuses_a_non_empty_dir_and_force_overwrites(tmp_path: Path) -> None:
    d = tmp_path / "pack"
    d.mkdir()
    (d / "notes.txt").write_text("keep me")
    runner = CliRunner()
    r = runner.invoke(cli, ["init", "domain", "pack", "--dir", str(d)])
    assert r.exit_code == 2 and r.output.startswith(f"error: {d} is not empty") and "--force" in r.output
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt"]  # nothing written
    r = runner.invoke(cli, ["init", "domain", "pack", "--dir", str(d), "--force"])
    assert r.exit_code == 0, r.output
    (d / "domain.yaml").write_text("name: edited\n")
    r = runner.invoke(cli, ["init", "domain", "pack", "--dir", str(d)])
    assert r.exit_code == 2 and (d / "domain.yaml").read_text() == "name: edited\n"
    r = runner.invoke(cli, ["init", "domain", "pack", "--dir", str(d), "--force"])
    assert r.exit_code == 0 and "name: pack" in (d / "domain.yaml").read_text()
    assert (d / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("method", ["lora", "qlora", "full"])
def test_init_recipe_validates_at_once(tmp_path: Path, method: str) -> None:
    out = tmp_path / "r.yaml"
    r = CliRunner().invoke(cli, ["init", "recipe", str(out), "--domain", "finance", "--base", "tiny",
                                 "--method", method])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert text.count("#") > 20  # commented
    r = CliRunner().invoke(cli, ["validate", str(out)])
    assert r.exit_code == 0, r.output
    recipe = load_recipe(out)
    assert recipe.method.kind == method and recipe.domain == "finance" and recipe.base.model == "tiny"
    assert recipe.eval.suites == ["finance", "general"] and recipe.replay is not None and recipe.pot.enabled


def test_init_recipe_for_a_new_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from verticalize.data.pipeline import build_training_data

    pack = init_domain("acme", tmp_path / "acme")
    monkeypatch.chdir(tmp_path)
    out = init_recipe(None, domain=str(pack), base="tiny", method="qlora")
    assert out == Path("acme-tiny-qlora.yaml")
    assert CliRunner().invoke(cli, ["validate", str(out)]).exit_code == 0
    recipe = load_recipe(out)
    assert recipe.eval.suites == [str(pack), "general"] and not recipe.pot.enabled
    data = yaml.safe_load(out.read_text())
    assert data["domain"] == str(pack)
    built = build_training_data(recipe.model_copy(update={"replay": None}))
    assert built.report["train_examples"] == 3


def test_init_recipe_refuses_existing_file_and_bad_names(tmp_path: Path) -> None:
    out = tmp_path / "r.yaml"
    out.write_text("base: tiny\n")
    runner = CliRunner()
    r = runner.invoke(cli, ["init", "recipe", str(out), "--domain", "finance", "--base", "tiny"])
    assert r.exit_code == 2 and f"{out} already exists" in r.output and out.read_text() == "base: tiny\n"
    r = runner.invoke(cli, ["init", "recipe", str(out), "--domain", "finance", "--base", "tiny", "--force"])
    assert r.exit_code == 0 and "domain: finance" in out.read_text()
    r = runner.invoke(cli, ["init", "recipe", str(tmp_path / "x.yaml"), "--domain", "finanse", "--base", "tiny"])
    assert r.exit_code == 2 and "did you mean 'finance'" in r.output and not (tmp_path / "x.yaml").exists()
    r = runner.invoke(cli, ["init", "recipe", str(tmp_path / "x.yaml"), "--domain", "finance", "--base", "Qwen3-4"])
    assert r.exit_code == 2 and "did you mean 'Qwen3-4B'" in r.output and "Traceback" not in r.output
