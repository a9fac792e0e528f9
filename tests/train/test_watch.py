"""train.watch: forgetting watched while training, on the tiny base -- the curve, the rule, the weights, early stop.

Real trainings, no mocks. Where a test needs scores that move (a random tiny model scores 0 on every
bundled suite), the suites are Task objects whose scores follow a script, one value per scoring: a
test double of the Task Protocol (verticalize.strategies), so the rule can be checked on a known curve.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import TrainerCallback

from tests.conftest import tiny_adapter
from verticalize import Adapter, RecipeError
from verticalize.recipe import parse_recipe


class Snapshots(TrainerCallback):
    """Keeps the trainable weights after every optimizer step (what the checkpoint of that step holds)."""

    def __init__(self) -> None:
        self.at: dict[int, dict[str, object]] = {}

    def on_step_end(self, args, state, control, model=None, **kw):
        self.at[state.global_step] = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


class ScriptedTask:
    """A Task whose score is the next value of ``script`` at each scoring round (then the last one again):
    ``predict`` opens a round (the runner may call ``score`` more than once per round, e.g. per sample)."""

    def __init__(self, name: str, role: str, script: list[float]):
        self.name, self.role, self.script, self.rounds = name, role, list(script), 0

    def examples(self):
        return [{"id": "q0", "messages": [{"role": "user", "content": "What is 2 + 2?"}], "answer": 4}]

    def predict(self, lm, examples):
        self.rounds += 1
        return lm.generate([lm.chat_prompt(ex["messages"]) for ex in examples], max_new_tokens=2)

    def score(self, examples, predictions):
        return {"score": self.script[min(self.rounds, len(self.script)) - 1]}


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "watch.jsonl").read_text().splitlines()]


def _check_rule(rows: list[dict], chosen: int, tolerance: float) -> dict:
    """The issue's rule, written out again: the largest domain gain among the checks whose forgetting is
    within tolerance (none within: the least forgetting)."""
    checks = [r for r in rows if r["step"] > 0]
    row = next(r for r in checks if r["step"] == chosen)
    ok = [r for r in checks if r["forgetting"] is None or r["forgetting"] <= tolerance]
    if ok:
        assert row in ok and row["gain"] == max(r["gain"] for r in ok), (chosen, rows)
    else:
        assert row["forgetting"] == min(r["forgetting"] for r in checks), (chosen, rows)
    return row


def _assert_adapter_is(run_dir: Path, weights: dict[str, object]) -> None:
    import torch
    from safetensors.torch import load_file

    saved = load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))
    want = {n.replace(".default", ""): t for n, t in weights.items()}
    assert set(saved) == set(want)
    for name, t in saved.items():
        assert torch.equal(t, want[name].to(t.dtype)), name


def test_watch_records_the_curve_and_keeps_the_selected_checkpoint(tmp_path: Path, chat_jsonl: Path) -> None:
    """Bundled suites (finance domain, general retention): a check at each of 3 steps, the baseline first;
    the selection follows the rule on the recorded curve and adapter/ holds that step's weights."""
    snaps = Snapshots()
    a = (tiny_adapter(tmp_path, chat_jsonl, max_steps=3, lr=5e-3).lora(r=4, alpha=8)
         .evaluate_with("finance", "general", languages=["en"], when=[],
                        tasks=["term_mc", "science_mc"])  # log-likelihood kinds: quick
         .watch(eval_steps=1, max_examples=4, tolerance=0.02)
         .callbacks(snaps))
    run = a.train(output_dir=tmp_path / "run", quiet=True)
    rows = _rows(run.output_dir)
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    assert rows[0]["baseline"] and rows[0]["gain"] == 0.0 and rows[0]["forgetting"] == 0.0
    assert all(set(r["scores"]) == {"finance", "general"} for r in rows)
    assert all(isinstance(r["general_loss"], float) for r in rows)  # held-out general text: the retention answers
    for r in rows[1:]:  # each check against the baseline on the same questions: n and a 95% paired interval
        assert {k: v["n"] for k, v in r["changes"].items()} == {"finance": 4, "general": 4}
        lo, hi = r["gain_interval"]
        assert lo <= r["gain"] <= hi
        lo, hi = r["forgetting_interval"]
        assert lo <= r["forgetting"] <= hi
    w = run.metrics["watch"]
    row = _check_rule(rows, w["step"], 0.02)
    assert w["final_step"] == 3 and w["checks"] == 3 and w["gain"] == row["gain"]
    assert f"step {w['step']} of 3" in w["reason"]
    _assert_adapter_is(run.output_dir, snaps.at[w["step"]])
    assert (run.output_dir / "watch.png").is_file() and not (run.output_dir / "watch").exists()


def test_watch_restores_the_best_checkpoint_within_tolerance(tmp_path: Path, chat_jsonl: Path) -> None:
    """Domain gain rises at every check, but the retention score drops after step 2: the selected
    checkpoint is step 2 (not the last), adapter/ holds its weights, and the report says why."""
    domain = ScriptedTask("fin", "domain", [0.0, 0.1, 0.3, 0.6, 0.8])  # baseline, steps 1 2 3 4 (then after)
    general = ScriptedTask("gen", "retention", [0.5, 0.5, 0.5, 0.2, 0.2])
    snaps = Snapshots()
    a = (tiny_adapter(tmp_path, chat_jsonl, max_steps=4, lr=5e-3).lora(r=4, alpha=8)
         .evaluate_with(domain, general, when=["after"])
         .sft(watch={"eval_steps": 1, "tolerance": 0.02})
         .callbacks(snaps))
    run = a.train(output_dir=tmp_path / "run", quiet=True)
    rows = _rows(run.output_dir)
    assert [(r["step"], r["gain"], r["forgetting"]) for r in rows] == [
        (0, 0.0, 0.0), (1, 0.1, 0.0), (2, 0.3, 0.0), (3, 0.6, 0.3), (4, 0.8, 0.3)]
    w = run.metrics["watch"]
    assert (w["step"], w["final_step"], w["restored"], w["within_tolerance"]) == (2, 4, True, True)
    _check_rule(rows, 2, 0.02)
    _assert_adapter_is(run.output_dir, snaps.at[2])
    import torch

    assert any(not torch.equal(snaps.at[2][n], snaps.at[4][n]) for n in snaps.at[2])  # restoring changed them
    assert w["reason"].startswith("step 2 of 4: domain +0.300, forgetting 0.000 <= tolerance 0.02")
    assert f"**checkpoint** (sft stage): {w['reason']}" in (run.output_dir / "eval" / "report.md").read_text()


def test_watch_stops_early_when_patience_runs_out(tmp_path: Path, chat_jsonl: Path) -> None:
    """No new best after step 1: with early_stop_patience 2 training stops at step 3 of 20 and keeps step 1."""
    domain = ScriptedTask("fin", "domain", [0.0, 0.2, 0.1, 0.1, 0.1])
    snaps = Snapshots()
    a = (tiny_adapter(tmp_path, chat_jsonl, max_steps=20, lr=5e-3).lora(r=4, alpha=8)
         .evaluate_with(domain, when=[])
         .watch(eval_steps=1, early_stop_patience=2)
         .callbacks(snaps))
    run = a.train(output_dir=tmp_path / "run", quiet=True)
    rows = _rows(run.output_dir)
    assert [r["step"] for r in rows] == [0, 1, 2, 3] and rows[-1]["stop"]
    assert run.metrics["global_step"] == 3  # of max_steps 20
    w = run.metrics["watch"]
    assert (w["step"], w["stopped_early"], w["forgetting"]) == (1, True, None)
    assert "forgetting not measured" in w["reason"] and "stopped early at step 3" in w["reason"]
    _assert_adapter_is(run.output_dir, snaps.at[1])


# ---------------------------------------------------------------------------------------------- recipe keys
def test_watch_keys_validate_and_round_trip(tmp_path: Path) -> None:
    r = parse_recipe({"train": {"watch": 25}})
    assert r.train.watch.eval_steps == 25 and r.train.watch.select == "best"
    assert parse_recipe({"train": {"kind": "cpt", "watch": True}}).train.watch.max_examples == 32
    assert parse_recipe({"train": {"watch": False}}).train.watch is None
    a = (Adapter(base="tiny").with_domain("finance").evaluate_with("finance", "general")
         .cpt(max_steps=4).then("sft", max_steps=4, watch={"eval_steps": 2, "select": "last"})
         .watch(tolerance=0.05, early_stop_patience=3))
    w = a.recipe.stages[1].watch
    assert (w.eval_steps, w.select, w.tolerance, w.early_stop_patience) == (2, "last", 0.05, 3)
    assert a.recipe.stages[0].watch is None
    a.to_yaml(tmp_path / "r.yaml")
    assert Adapter.from_yaml(tmp_path / "r.yaml") == a
    assert Adapter.from_yaml(tmp_path / "r.yaml").to_yaml() == a.to_yaml()
    assert a.watch(False).recipe.stages[1].watch is None


@pytest.mark.parametrize("watch, message", [
    ({"eval_step": 5}, "train.watch.eval_step: unknown key; did you mean 'eval_steps'?"),
    ({"select": "top"}, "train.watch.select: 'top' is not allowed"),
    ({"tolerance": -0.1}, "train.watch.tolerance"),
    ({"early_stop_patience": 0}, "train.watch.early_stop_patience"),
])
def test_bad_watch_keys_are_named(watch: dict, message: str) -> None:
    with pytest.raises(RecipeError) as e:
        parse_recipe({"train": {"watch": watch}}, source="r.yaml")
    assert message in str(e.value)


def test_watch_without_suites_fails_before_training(tmp_path: Path, chat_jsonl: Path) -> None:
    from verticalize.run import validate

    a = tiny_adapter(tmp_path, chat_jsonl).watch()
    with pytest.raises(RecipeError, match=r"train\.watch: watching needs suites to score: set eval\.suites"):
        a.train(output_dir=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.incomplete").exists()
    a.to_yaml(tmp_path / "r.yaml")
    assert any("train.watch: watching needs suites" in p for p in validate(tmp_path / "r.yaml"))


def test_watch_resumes_after_a_crash(tmp_path: Path) -> None:
    """A resumed stage keeps the checks up to the checkpoint it resumes from and the best weights when they
    are not newer; a best that came later is gone with its steps (those checks stay in the curve, unselectable)."""
    import torch
    from transformers import TrainerControl, TrainerState

    from verticalize.recipe import WatchSpec
    from verticalize.train.watch import Watch, WatchProbe

    model = torch.nn.Linear(2, 1)

    def drive(watch: Watch, gains: dict[int, float], max_steps: int) -> None:
        state, control = TrainerState(max_steps=max_steps), TrainerControl()
        for step, g in gains.items():
            with torch.no_grad():
                model.weight.fill_(step)  # the weights of step N are all N
            now["gain"] = g
            state.global_step = step
            watch.on_step_end(None, state, control, model=model)

    now = {"gain": 0.0}
    probe = WatchProbe(score=lambda m: {"scores": {"fin": now["gain"]}, "roles": {"fin": "domain"}},
                       baseline={"scores": {"fin": 0.0}, "roles": {"fin": "domain"}})
    spec = WatchSpec(eval_steps=1)
    for case, before, after, chosen in [
        ("kept", {1: 0.1, 2: 0.3, 3: 0.2, 4: 0.25}, {4: 0.25, 5: 0.2}, 2),  # crash after step 4, resume from 3
        ("lost", {1: 0.1, 2: 0.3, 3: 0.2, 4: 0.5}, {4: 0.15, 5: 0.12}, 4),
    ]:
        d = tmp_path / case
        drive(Watch(spec, probe, d), before, 5)
        resumed = Watch(spec, probe, d, resume_step=3)
        drive(resumed, after, 5)
        summary = resumed.finish(model, 5)
        rows = _rows(d)
        assert [r["step"] for r in rows] == [0, 1, 2, 3, 4, 5], case
        assert summary["step"] == chosen and float(model.weight[0, 0]) == chosen, case
        assert all(r.get("lost") for r in rows[1:4]) == (case == "lost"), case
