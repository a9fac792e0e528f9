"""verticalize.packs: pydantic specs of domain.yaml and suite files (every problem at once, file:line,
closest key) and the one resolve rule (path | bundled name | plugin name | hf:<id> | import path)."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from click.testing import CliRunner

from verticalize import DataError, RecipeError, UnknownNameError, packs
from verticalize.cli.main import cli
from verticalize.team.scaffold import init_domain

BAD_PACK = """\
name: bad
descripton: typo
languages: [en]
pot: maybe
train:
  - {path: train.jsonl, fromat: alpaca}
  - {path: missing.jsonl, format: alpacca}
tasks:
  - {name: t1, kind: numerc}
suite: nosuite.yaml
"""


def test_a_bad_domain_yaml_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "domain.yaml").write_text(BAD_PACK)
    (d / "train.jsonl").write_text("{}\n")
    with pytest.raises(packs.SpecError) as e:
        packs.load_domain(d)
    f = d / "domain.yaml"
    assert e.value.problems == [
        (f"{f}:2: descripton: unknown key (did you mean 'description'?); allowed: corpus, description, eval, "
         "languages, name, pot, preference, provenance, suite, suites, system_prompt, tasks, train"),
        f"{f}:4: pot: Input should be a valid boolean, unable to interpret input (got 'maybe')",
        (f"{f}:6: train[0].fromat: unknown key (did you mean 'format'?); allowed: columns, config, encoding, format, "
         "layout, limit, on_error, path, preset, split, split_file, weight"),
        (f"{f}:7: train[1].format: 'alpacca' is not allowed (did you mean 'alpaca'?); allowed: auto, alpaca, "
         "sharegpt, messages, text, prompt_completion, preference, kto"),
        f"{f}:7: train[1].path: file not found: {d / 'missing.jsonl'}",
        (f"{f}:9: tasks[0].kind: 'numerc' is not allowed (did you mean 'numeric'?); allowed: mc, mc_multi, classification, "
         "numeric, generation"),
        f"{f}:10: suite: file not found: {d / 'nosuite.yaml'}",
    ]
    assert str(e.value).startswith(f"7 problem(s) in {f}:") and isinstance(e.value, DataError)
    # the same through `verticalize validate` of a recipe using the pack: one line per problem, exit 2
    (tmp_path / "r.yaml").write_text(f"base: tiny\ndomain: {d}\n")
    r = CliRunner().invoke(cli, ["validate", str(tmp_path / "r.yaml")])
    assert r.exit_code == 2 and "did you mean 'description'" in r.output and "numerc" in r.output


@pytest.mark.parametrize("text,needle", [
    ("name: yes\n", "name: expected a string, got bool True: quote it"),
    ("system_prompt: [a, b]\n", "system_prompt: expected a string or a mapping language -> prompt"),
    ("- a\n- b\n", "a domain.yaml is a mapping of keys"),
    ("name: x\ntrain: {path: a.jsonl\n", "YAML syntax error"),
])
def test_domain_yaml_value_errors(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "domain.yaml").write_text(text)
    with pytest.raises(packs.SpecError, match=needle):
        packs.load_domain(tmp_path)


def test_suite_spec_errors_and_shorthands(tmp_path: Path) -> None:
    from verticalize.evals.suite import load_suite

    (tmp_path / "q.jsonl").write_text('{"instruction": "2+2?", "output": "4", "kind": "numeric", "answer": 4}\n')
    (tmp_path / "bad.yaml").write_text("name: s\nrol: domain\nrole: retension\ndata: [q.jsonl, {path: gone.jsonl}]\n")
    with pytest.raises(packs.SpecError) as e:
        load_suite(tmp_path / "bad.yaml")
    f = tmp_path / "bad.yaml"
    assert e.value.problems == [
        f"{f}:2: rol: unknown key (did you mean 'role'?); allowed: data, description, name, pot, role, system_prompt",
        f"{f}:3: role: 'retension' is not allowed (did you mean 'retention'?); allowed: domain, retention",
        f"{f}:4: data[1].path: file not found: {tmp_path / 'gone.jsonl'}",
    ]
    (tmp_path / "ok.yaml").write_text("data: q.jsonl\nsystem_prompt: {en: Be brief.}\n")  # a bare path is one entry
    s = load_suite(tmp_path / "ok.yaml")
    assert s.name == "ok" and s.examples[0]["messages"][0] == {"role": "system", "content": "Be brief."}
    (tmp_path / "pack.yaml").write_text("data: q.jsonl\nsystem_prompt: pack\n")
    with pytest.raises(DataError, match="system_prompt: 'pack' takes the prompt of the pack"):
        load_suite(tmp_path / "pack.yaml")


def test_pack_data_keys_are_the_recipes_data_keys() -> None:
    """A pack's data entries become recipe DataSpecs: same formats, no key DataSpec lacks."""
    from verticalize.recipe.schema import DataSpec

    assert set(packs.PackDataSpec.model_fields) == set(DataSpec.model_fields) - {"source"}
    assert packs.DATA_FORMATS == typing.get_args(DataSpec.model_fields["format"].annotation)
    from verticalize.evals.suite import KINDS

    assert KINDS == packs.TASK_KINDS == ("mc", "mc_multi", "classification", "numeric", "generation")


def test_bundled_packs_load_as_before() -> None:
    p = packs.load_domain("finance")
    assert p.origin == "bundled" and p.train == ({"path": "train.jsonl", "format": "alpaca"},)
    assert p.suite_path() == p.dir / "suite.yaml" and p.tasks[0]["kind"] == "numeric"
    assert packs.list_suites() == packs.list_domains() == ["finance", "general", "legal", "medical"]


def test_the_resolve_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a path wins, then bundled names
    d = init_domain("mine", tmp_path / "mine")
    assert packs.resolve_ref("domain", d).origin == "path" and packs.load_domain(str(d)).name == "mine"
    assert packs.resolve_ref("domain", "legal").origin == "bundled"
    assert packs.resolve_ref("suite", d).is_pack and packs.resolve_ref("suite", d / "suite.yaml").origin == "path"
    assert packs.find_recipe("quickstart").name == "quickstart.yaml"
    # an import path: the dir of a package, found without running its code
    pkg = tmp_path / "site" / "vzpkg"
    (pkg / "packs").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('imported!')\n")
    init_domain("deep", pkg / "packs" / "deep")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    r = packs.resolve_ref("domain", "vzpkg.packs.deep")
    assert r.origin == "import path vzpkg.packs.deep" and packs.load_domain("vzpkg.packs.deep").name == "deep"
    assert packs.resolve_ref("suite", "vzpkg.packs.deep").is_pack
    # misses: the closest name, or what is wrong with a path
    with pytest.raises(UnknownNameError, match=r"unknown domain 'finanse'; did you mean 'finance'\?"):
        packs.load_domain("finanse")
    with pytest.raises(DataError, match="a dir without domain.yaml"):
        packs.load_domain(tmp_path / "site")
    with pytest.raises(UnknownNameError, match=r"unknown suite 'generl'; did you mean 'general'\?"):
        packs.resolve_ref("suite", "generl")
    with pytest.raises(DataError, match="suite file not found"):
        packs.resolve_ref("suite", tmp_path / "nope.yaml")
    with pytest.raises(RecipeError, match="recipe file not found"):
        packs.find_recipe(tmp_path / "nope.yaml")
    with pytest.raises(UnknownNameError, match="unknown reference kind 'domian'; did you mean 'domain'"):
        packs.resolve_ref("domian", "finance")
    assert packs.resolve_ref("domain", "nothing-here", missing_ok=True) is None


def test_hub_packs_fail_offline_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"hf:acme/tax-pack: cannot get the hub dataset .*huggingface-cli download "
                                        r"--repo-type dataset acme/tax-pack"):
        packs.load_domain("hf:acme/tax-pack")
    assert packs.resolve_ref("domain", "acme/tax-pack", missing_ok=True) is None  # no hf: prefix, no hub
