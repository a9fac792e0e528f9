"""Every plug-in point driven by a user-defined object (tests/user_strategies.py imports nothing of
verticalize): in Python, and the same objects named by import path in a recipe YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests import user_strategies as us
from verticalize import Adapter, RecipeError
from verticalize import strategies as st
from verticalize.cli.main import cli

SMALL = dict(max_steps=3, batch_size=2, grad_accum=1, max_length=128, logging_steps=1, save_steps=1000)


def test_builtins_and_user_objects_satisfy_the_protocols() -> None:
    from verticalize.pot import PythonSandbox
    from verticalize.recipe import LoraSpec, SFTSpec
    from verticalize.train.methods import SpecMethod
    from verticalize.train.stages import SpecStage

    from verticalize.data.mix import RatioMixer
    from verticalize.data.sources import FileSource

    assert isinstance(us.PercentSource(), st.DataSource) and isinstance(st.ExamplesSource([]), st.DataSource)
    assert isinstance(FileSource("x.jsonl"), st.DataSource) and isinstance(RatioMixer(), st.Mixer)
    assert isinstance(us.DropMentions(), st.Step)
    assert isinstance(us.AlternateMixer(), st.Mixer)
    assert isinstance(us.DoraMethod(), st.Method) and isinstance(SpecMethod(LoraSpec()), st.Method)
    assert isinstance(us.ManualLoopStage(), st.Stage) and isinstance(SpecStage(SFTSpec()), st.Stage)
    assert isinstance(us.ConstantExecutor(), st.Executor) and isinstance(st.FakeExecutor(), st.Executor)
    assert issubclass(PythonSandbox, st.Executor)
    assert isinstance(us.DigitCountTask(), st.Task)
    assert isinstance(us.Recorder(), st.Reporter) and isinstance(st.RecordingReporter(), st.Reporter)
    assert not isinstance(us.DropMentions(), st.Executor)  # structural checks can fail


def test_objects_drive_a_real_tiny_run(tmp_path: Path) -> None:
    """Data source, list of dicts, step, replay source + mixer, method, stage, executor, task, reporter."""
    step, rec = us.DropMentions("forbidden"), us.Recorder()
    extra = [{"instruction": "A forbidden question", "input": "", "output": "dropped"},
             {"instruction": "What is 2+2?", "input": "", "output": "4"}]
    a = (Adapter(base="tiny").with_data(us.PercentSource(n=30)).with_data(extra)
         .clean(steps=[step], pii="keep")
         .replay(us.PercentSource(n=10, offset=500), mixer=us.AlternateMixer(every=3))
         .method(us.DoraMethod(r=4))
         .then(us.ManualLoopStage(steps=3))
         .pot(executor=us.ConstantExecutor(42.0))
         .evaluate_with(us.DigitCountTask(n=3), when=["after"])
         .report_to(rec))
    a = Adapter(recipe=a.recipe.model_copy(update={"train": a.recipe.stages[1:]}))  # only the object stage
    run = a.train(output_dir=tmp_path / "run", quiet=True)
    m = json.loads((run.output_dir / "manifest.json").read_text())
    steps = {s["step"]: s for s in m["data"]["steps"]}
    assert steps["drop_mentions"]["dropped"] == 1 and steps["drop_mentions"]["out"] == steps["drop_mentions"]["in"] - 1
    assert steps["replay"]["every"] == 3 and steps["replay"]["replayed"] == 10
    srcs = m["data"]["sources"]
    assert srcs[0]["provenance"]["license"] == "cc0" and srcs[0]["sha256"] == us.PercentSource(n=30).fingerprint()
    assert m["metrics"]["global_step"] == 3 and m["artifact"] == "adapter"
    cfg = json.loads((run.output_dir / "adapter" / "adapter_config.json").read_text())
    assert cfg["use_dora"] is True and cfg["r"] == 4
    rep = json.loads((run.output_dir / "eval" / "train" / "report.json").read_text())
    task = rep["stages"]["after"]["has_digit"]["tasks"]["has_digit"]
    assert task["n"] == 3 and 0.0 <= task["score"] <= 1.0 and "n_digit" in task["metrics"]
    assert any("training examples" in msg for msg in rec.messages) and rec.reports and rec.closed
    yaml_text = (run.output_dir / "recipe.yaml").read_text()
    assert "# not repeatable" not in yaml_text  # every object has an import path; the list's rows are inline
    assert "tests.user_strategies:DoraMethod" in yaml_text and "What is 2+2?" in yaml_text


def test_callbacks_and_reporter_metrics_reach_trl(tmp_path: Path, chat_jsonl: Path) -> None:
    cb, rec = us.CountSteps(), st.RecordingReporter()
    run = (Adapter(base="tiny").with_data(str(chat_jsonl)).sft(**SMALL).callbacks(cb).report_to(rec)
           .train(output_dir=tmp_path / "run", quiet=True))
    assert cb.steps == 3 == run.metrics["global_step"]
    assert [r["step"] for r in rec.metric_rows if "loss" in r] == [1, 2, 3]


def test_datasets_dataset_trains_and_cannot_be_written_as_yaml(tmp_path: Path) -> None:
    from datasets import Dataset

    ds = Dataset.from_list(list(us.PercentSource(n=12)))
    a = Adapter(base="tiny").with_data(ds).sft(**SMALL)
    with pytest.raises(RecipeError, match=r"data\[0\]\.source: .*datasets.Dataset in memory has no import path"):
        a.to_yaml()
    run = a.train(output_dir=tmp_path / "run", quiet=True)
    m = json.loads((run.output_dir / "manifest.json").read_text())
    assert m["data"]["sources"][0]["sha256"] == ds._fingerprint and m["metrics"]["global_step"] == 3


def test_local_class_works_in_python_and_to_yaml_names_it() -> None:
    class Local:
        name = "local"

        def __call__(self, batch):
            return batch

        def counts(self):
            return {}

    a = Adapter(base="tiny").with_domain("finance").clean(steps=[Local()])
    assert a.recipe.clean.steps[0].obj is not None
    with pytest.raises(RecipeError, match=r"clean\.steps\[0\]: .*defined inside a function"):
        a.to_yaml()
    b = Adapter(base="tiny").with_domain("finance").clean(steps=[us.DropMentions("x")])
    assert Adapter.from_yaml(_write(b), trust_code=True) == b  # importable: exact round trip


def _write(a: Adapter) -> Path:
    import tempfile

    p = Path(tempfile.mkdtemp()) / "r.yaml"
    a.to_yaml(p)
    return p


RECIPE = """\
base: tiny
data:
  - source: {target: tests.user_strategies:PercentSource, args: {n: 24}}
clean:
  pii: keep
  steps:
    - {target: tests.user_strategies:DropMentions, args: {word: forbidden}}
replay:
  source: {target: tests.user_strategies:PercentSource, args: {n: 6, offset: 300}}
  mixer: {target: tests.user_strategies:AlternateMixer, args: {every: 4}}
method: {target: tests.user_strategies:DoraMethod, args: {r: 4}}
train: {kind: sft, max_steps: 2, batch_size: 2, grad_accum: 1, max_length: 128, logging_steps: 1}
pot: {enabled: true, executor: {target: tests.user_strategies:ConstantExecutor, args: {value: 1.5}}}
eval:
  suites: [{target: tests.user_strategies:DigitCountTask, args: {n: 2}}]
  when: [after]
callbacks: [{target: tests.user_strategies:CountSteps}]
reporters: [{target: tests.user_strategies:Recorder}]
"""


def test_stage_and_suite_objects_by_import_path(tmp_path: Path) -> None:
    p = tmp_path / "stage.yaml"
    p.write_text("base: tiny\ndata: [{source: {target: tests.user_strategies:PercentSource, args: {n: 8}}}]\n"
                 "method: {kind: lora, r: 4, alpha: 8}\n"
                 "train: [{target: tests.user_strategies:ManualLoopStage, args: {steps: 2}}]\n"
                 "eval: {suites: [{target: tests.user_strategies:TwoTaskSuite, args: {n: 2}}], when: [after]}\n")
    assert CliRunner().invoke(cli, ["validate", "--trust-code", str(p)]).exit_code == 0
    a = Adapter.from_yaml(p, trust_code=True)
    assert Adapter.from_yaml(_write(a), trust_code=True) == a
    run = a.train(output_dir=tmp_path / "run", quiet=True)
    assert run.metrics["global_step"] == 2 and (run.output_dir / "adapter" / "adapter_config.json").is_file()
    after = json.loads((run.output_dir / "eval" / "train" / "report.json").read_text())["stages"]["after"]
    assert after["digits"]["role"] == "retention" and set(after["digits"]["tasks"]) == {"has_digit", "has_digit_large"}
    assert after["digits"]["n"] == 5


def test_recipe_by_import_path_validates_round_trips_and_trains(tmp_path: Path) -> None:
    p = tmp_path / "objects.yaml"
    p.write_text(RECIPE)
    r = CliRunner().invoke(cli, ["validate", str(p)])  # not trusted: names the module, imports nothing
    assert r.exit_code == 2 and "would import module 'tests.user_strategies'" in r.output
    assert f"{p}:2: data[0].source" in r.output and f"{p}:11: method" in r.output and "--trust-code" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["validate", "--trust-code", str(p)])
    assert r.exit_code == 0 and "ok" in r.output, r.output
    a = Adapter.from_yaml(p, trust_code=True)
    assert Adapter.from_yaml(_write(a), trust_code=True) == a
    run = a.train(output_dir=tmp_path / "run", quiet=True)
    m = json.loads((run.output_dir / "manifest.json").read_text())
    assert m["metrics"]["global_step"] == 2 and {s["step"] for s in m["data"]["steps"]} >= {"drop_mentions", "replay"}
    assert json.loads((run.output_dir / "adapter" / "adapter_config.json").read_text())["use_dora"] is True
    assert "has_digit" in json.loads((run.output_dir / "eval" / "train" / "report.json").read_text())["stages"]["after"]


def test_validate_reports_every_strategy_problem_at_once(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("base: tiny\ndomain: finance\n"
                 "clean: {steps: [{target: tests.user_strategies:DoraMethod}]}\n"          # not a Step
                 "replay: {source: general, mixer: {target: tests.user_strategies:AlternateMixer, args: {evry: 2}}}\n"
                 "pot: {executor: {target: tests.user_strategies:NoSuchThing}}\n")
    r = CliRunner().invoke(cli, ["validate", "--trust-code", str(p)])
    assert r.exit_code == 2 and "3 problem(s)" in r.output, r.output
    assert "is not a Step: it has no __call__(), counts()" in r.output
    assert "args {'evry': 2} do not fit" in r.output
    assert "has no 'NoSuchThing'" in r.output


def test_trust_allow_list_counts_only_in_a_base_recipe(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text("base: tiny\ntrust: [tests]\n")
    (tmp_path / "mine.yaml").write_text("extends: team.yaml\ndomain: finance\n"
                                        "clean: {steps: [{target: tests.user_strategies:DropMentions}]}\n")
    assert Adapter.from_yaml(tmp_path / "mine.yaml").recipe.clean.steps[0].target.endswith("DropMentions")
    (tmp_path / "self.yaml").write_text("base: tiny\ntrust: [tests]\ndomain: finance\n"
                                        "clean: {steps: [{target: tests.user_strategies:DropMentions}]}\n")
    with pytest.raises(RecipeError, match="does not count"):
        Adapter.from_yaml(tmp_path / "self.yaml")


def test_fake_executor_scores_pot_without_workers(tmp_path: Path) -> None:
    from verticalize.evals import run_suites
    from verticalize.models import load_model, load_tokenizer, resolve_model
    from verticalize.recipe import EvalSpec, PotSpec
    from verticalize.strategies import ref_of

    fake = st.FakeExecutor(default=0.0)
    resolved = resolve_model(Adapter(base="tiny").recipe.base)
    pot = PotSpec(enabled=True, executor=ref_of(fake, "pot.executor"))
    out = run_suites(load_model(resolved), load_tokenizer(resolved), ["finance"], EvalSpec(max_examples=6), pot)
    assert out["finance"]["n"] == 6 and not fake.closed  # the caller's executor stays open
