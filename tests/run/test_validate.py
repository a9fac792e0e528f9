"""validate(): every problem at once, each with file:line; names even when keys are wrong; data rows."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from verticalize.cli.main import cli
from verticalize.run import validate


def test_every_problem_at_once_with_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("base: {model: qwen3-4bb}\ndomain: finanse\ntrain: {learning_rate: 1.0e-4, kind: sft}\n"
                 "eval: {suites: [finance, generl]}\ndata: [nope.jsonl]\nmethod: {lora_rank: 8}\n")
    problems = validate(p)
    assert len(problems) == 6, problems
    expect = [f"{p}:3: train.learning_rate: unknown key; did you mean 'lr'? (TRL's learning_rate)",
              f"{p}:6: method.lora_rank: unknown key; did you mean 'r'? (LLaMA-Factory's lora_rank)",
              f"{p}:1: base.model: unknown model 'qwen3-4bb'; did you mean 'Qwen3-4B'?",
              f"{p}:2: domain: unknown domain 'finanse'; did you mean 'finance'?",
              f"{p}:5: data[0].path: file not found: nope.jsonl",
              f"{p}:4: eval.suites[1]: unknown suite 'generl'; did you mean 'general'?"]
    for e in expect:
        assert any(x.startswith(e) for x in problems), (e, problems)


def test_foreign_keys_point_to_ours_and_messages_have_separators(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("domain: finance\nlearning_rate: 1.0e-4\nper_device_train_batch_size: 4\nnum_train_epochs: 2\n"
                 "train: {zzzz: 1}\n")
    problems = validate(p)
    assert any("learning_rate: unknown key; did you mean 'train.lr'? (TRL's learning_rate)" in x for x in problems)
    assert any("did you mean 'train.batch_size'? (TRL's per_device_train_batch_size)" in x for x in problems)
    assert any("did you mean 'train.epochs'? (TRL's num_train_epochs)" in x for x in problems)
    assert any("train.zzzz: unknown key. Allowed: " in x for x in problems), problems


def test_data_rows_are_parsed_with_data(tmp_path: Path) -> None:
    good = '{"instruction": "q", "input": "", "output": "a"}\n'
    (tmp_path / "d.jsonl").write_text(good + "{broken\n" + good + '{"instruction": 1\n' + good, encoding="utf-8")
    p = tmp_path / "r.yaml"
    p.write_text("base: tiny\ndata: [d.jsonl]\n")
    assert validate(p) == []  # the file exists; its rows are read only with data=True
    problems = validate(p, data=True)
    assert len(problems) == 2 and all(x.startswith(f"{p}:2: data[0]: ") for x in problems), problems
    assert "d.jsonl:2" in problems[0] and "d.jsonl:4" in problems[1]
    r = CliRunner().invoke(cli, ["validate", "--data", str(p)])
    assert r.exit_code == 2 and "2 problem(s)" in r.output and "Traceback" not in r.output
