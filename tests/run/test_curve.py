"""Gain/forgetting curve without retraining (issue #13 item 4): the trained change scaled by lambda, scored
on the domain and retention suites; ``export --scale``; merges of several runs. Real tiny trainings, no mocks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.conftest import tiny_adapter
from verticalize.errors import RunError

PROMPT = [{"role": "user", "content": "Revenue went from 100 to 120. Percent change?"}]


def _data(tmp: Path, name: str, offset: int) -> Path:
    p = tmp / name
    p.write_text("\n".join(json.dumps({"instruction": f"{a} + {offset}?", "output": f"{a + offset}"})
                           for a in range(40)), encoding="utf-8")
    return p


def _train(tmp: Path, name: str, offset: int = 1, **kw):
    a = tiny_adapter(tmp, _data(tmp, f"{name}.jsonl", offset), max_steps=3, lr=5e-2, **kw)
    # scored only by the curve (not while training), on a few short answers
    a = a.evaluate_with("finance", "general", when=[], max_examples=2, generation={"max_new_tokens": 4})
    return a.train(output_dir=tmp / name, quiet=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("curve"), "run")


def _logits(model, tok):
    import torch

    ids = tok.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)["input_ids"]
    with torch.no_grad():
        return model(ids).logits[0].float()


def _base(run):
    from verticalize.models import load_model, resolve_model

    m = load_model(resolve_model(run.recipe.base))
    m.eval()
    return m


def test_scale_0_is_the_base_and_1_the_adapter_exactly(run) -> None:
    import torch

    from verticalize.train.scaling import ScaledModel

    model, tok = run.load()
    trained = _logits(model, tok)
    base = _logits(_base(run), tok)
    assert not torch.equal(trained, base)  # the adapter did change the model
    sm = ScaledModel(model, base=lambda: _base(run))
    assert sm.how == "lora"
    try:
        assert torch.equal(_logits(sm.set(0.0), tok), base)
        assert torch.equal(_logits(sm.set(1.0), tok), trained)
        half = _logits(sm.set(0.5), tok)
        assert not torch.equal(half, base) and not torch.equal(half, trained)
    finally:
        sm.restore()
    assert torch.equal(_logits(model, tok), trained)  # restored: the cached model is the trained one again


def test_export_at_scale_is_base_plus_scaled_delta(run, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from verticalize.train.scaling import ScaledModel

    out = run.export(tmp_path / "half", scale=0.5)
    got = load_file(out / "model.safetensors")
    base = {k: v.detach().clone() for k, v in _base(run).state_dict().items()}
    lora = load_file(run.adapter_path / "adapter_model.safetensors")
    cfg = json.loads((run.adapter_path / "adapter_config.json").read_text())
    s = cfg["lora_alpha"] / cfg["r"]
    checked = 0
    for key, w in got.items():
        a = lora.get(f"base_model.model.{key[:-len('.weight')]}.lora_A.weight")
        if a is None:
            assert torch.equal(w, base[key]), key  # not a LoRA target: the base's weight as it was
            continue
        b = lora[f"base_model.model.{key[:-len('.weight')]}.lora_B.weight"]
        want = base[key] + 0.5 * s * (b @ a)
        assert torch.allclose(w, want, atol=1e-6, rtol=0), key
        checked += 1
    assert checked >= 7 * 2  # q k v o gate up down in both layers of the tiny base
    info = json.loads((out / "verticalize_export.json").read_text())
    assert info["scale"] == 0.5 and info["merged"] is True
    assert "at scale 0.5" in (out / "README.md").read_text()
    # the exported model answers as the adapter scaled by 0.5 does
    from transformers import AutoModelForCausalLM

    model, tok = run.load()  # loaded afresh: the export used the cached one up
    sm = ScaledModel(model, base=lambda: _base(run))
    try:
        want_logits = _logits(sm.set(0.5), tok)
    finally:
        sm.restore()
    plain = AutoModelForCausalLM.from_pretrained(out)
    plain.eval()
    assert (_logits(plain, tok) - want_logits).abs().max() < 1e-4
    # scale 0: the base's weights exactly
    zero = load_file(run.export(tmp_path / "zero", scale=0.0) / "model.safetensors")
    assert all(torch.equal(v, base[k]) for k, v in zero.items())
    with pytest.raises(RunError, match="drop --no-merge"):
        run.export(tmp_path / "nomerge", merge=False, scale=0.5)
    with pytest.raises(RunError, match="finite number"):
        run.export(tmp_path / "nan", scale=float("nan"))


def test_curve_scores_five_points_and_writes_json_and_png(run, other, tmp_path: Path) -> None:
    c = run.curve(max_examples=1, compare=[other.output_dir])  # another run of the base: one more point
    assert [p.scale for p in c.points] == [0.0, 0.25, 0.5, 0.75, 1.0, None]
    assert c.points[-1].label == "other"
    assert c.domain_suites == ("finance",) and c.retention_suites == ("general",)
    rows = c.rows()
    assert rows[0]["gain"] == 0 and rows[0]["forgetting"] == 0  # scale 0 is the base itself
    assert rows[0]["gain_interval"] is None  # the reference: no change by construction
    for r in rows:
        assert r["n"] == {"finance": 1, "general": 1} and set(r["intervals"]) == {"finance", "general"}
    for r in rows[1:]:
        lo, hi = r["gain_interval"]
        assert lo <= r["gain"] <= hi
    assert any(r["pareto"] for r in rows)
    data = json.loads((run.output_dir / "curve.json").read_text())
    assert len(data["points"]) == 6 and len(data["rows"]) == 6 and data["meta"]["max_examples"] == 1
    assert (run.output_dir / "curve.png").stat().st_size > 5000
    md = (run.output_dir / "curve.md").read_text()
    assert "Pareto-optimal" in md and "n (examples per suite" in md
    from verticalize.run.curve import Curve

    again = Curve.load(run.output_dir)
    assert again.rows() == rows
    card = (run.export(tmp_path / "e", scale=0.5) / "README.md").read_text()
    assert "this scale's" in card  # the curve scored 0.5: the model card shows those scores
    assert data["chosen"]["scale"] is not None


def test_pareto_front_and_choice() -> None:
    from verticalize.run.curve import Curve, CurvePoint

    def stage(dom: float, gen: float) -> dict:
        t = lambda s: {"tasks": {"t": {"score": s, "n": 50, "primary": "acc", "kind": "mc"}}}
        return {"fin": {"score": dom, "role": "domain", "n": 50, **t(dom)},
                "general": {"score": gen, "role": "retention", "n": 50, **t(gen)}}

    pts = [CurvePoint(f"scale {s:g}", s, stage(d, g)) for s, d, g in
           [(0, 0.2, 0.6), (0.5, 0.4, 0.59), (0.75, 0.35, 0.5), (1, 0.5, 0.5)]]
    c = Curve("r", tuple(pts))
    assert [p.scale for p in c.pareto()] == [0, 0.5, 1]  # 0.75 has less gain and more forgetting than 1
    assert c.choose(0.02).scale == 0.5 and c.choose(0.2).scale == 1
    r = c.rows()[1]
    assert math.isclose(r["gain"], 0.2) and math.isclose(r["forgetting"], 0.01)


def test_curve_needs_a_retention_suite_and_sane_scales(run) -> None:
    from verticalize.run.curve import parse_scales

    with pytest.raises(RunError, match="retention suite"):
        run.curve((0, 1), ["finance"], max_examples=1, save=False)
    with pytest.raises(RunError, match="entry 'x'"):
        parse_scales("0,x")


def test_cli_curve_and_export_scale(run, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from verticalize.cli.main import cli

    r = CliRunner().invoke(cli, ["curve", str(run.output_dir), "--scales", "1", "--max-examples", "1", "-q"])
    assert r.exit_code == 0, r.output
    assert "Pareto-optimal" in r.output and "scale 1" in r.output and "finance" in r.output
    assert len(json.loads((run.output_dir / "curve.json").read_text())["points"]) == 2  # 0 always added
    r = CliRunner().invoke(cli, ["export", str(run.output_dir), "-o", str(tmp_path / "e"), "--scale", "0.5"])
    assert r.exit_code == 0, r.output
    info = json.loads((tmp_path / "e" / "verticalize_export.json").read_text())
    assert info["scale"] == 0.5
    assert "unscaled run's" in (tmp_path / "e" / "README.md").read_text()  # this curve did not score 0.5
    r = CliRunner().invoke(cli, ["curve", str(run.output_dir), "--scales", "0,half"])
    assert r.exit_code == 2 and "half" in r.output and "Traceback" not in r.output


@pytest.mark.slow  # a second (full) training: ~10 s
def test_full_finetune_scales_and_merges_by_interpolating_weights(run, tmp_path: Path) -> None:
    import torch

    from verticalize.train.scaling import ScaledModel

    a = tiny_adapter(tmp_path, _data(tmp_path, "d.jsonl", 1), max_steps=2, lr=1e-3).full()
    full = a.evaluate_with("finance", when=[]).train(output_dir=tmp_path / "full", quiet=True)
    model, tok = full.load()
    sm = ScaledModel(model, base=lambda: _base(full))
    assert sm.how == "weights"
    base_sd = _base(full).state_dict()
    trained_sd = {k: v.clone() for k, v in model.state_dict().items()}
    for lam in (0.0, 0.5, 1.0):
        sd = sm.set(lam).state_dict()
        for k, v in sd.items():
            want = torch.lerp(base_sd[k], trained_sd[k], lam)
            assert torch.equal(v, want) if lam in (0.0, 1.0) else torch.allclose(v, want, atol=1e-7), (lam, k)
    assert torch.equal(_logits(sm.set(0.0), tok), _logits(_base(full), tok))
    sm.restore()
    out = full.export(tmp_path / "exp", scale=0.25)
    assert json.loads((out / "verticalize_export.json").read_text())["scale"] == 0.25
    # merging full fine-tunes: PEFT's rules on the full changes; linear 0.5/0.5 is the mean of the changes
    import shutil

    from safetensors.torch import load_file, save_file

    from verticalize.run.merge import merge_runs

    twin = tmp_path / "twin"
    shutil.copytree(full.output_dir, twin, ignore=shutil.ignore_patterns("checkpoints"))
    f = twin / "model" / "model.safetensors"
    sd = load_file(f)
    save_file({k: (base_sd[k] - 2 * (v - base_sd[k])).contiguous() for k, v in sd.items()}, f,
              metadata={"format": "pt"})
    merged = merge_runs([full.output_dir, twin], tmp_path / "lin", method="linear", weights=[0.5, 0.5],
                        evaluate=False)
    got = load_file(merged.model_path / "model.safetensors")
    k = "model.layers.0.mlp.up_proj.weight"
    want = base_sd[k] + 0.5 * (sd[k] - base_sd[k]) + 0.5 * (-2) * (sd[k] - base_sd[k])
    assert torch.allclose(got[k], want, atol=1e-6) and not torch.allclose(got[k], base_sd[k])
    ties = merge_runs([full.output_dir, twin], tmp_path / "ties", method="ties", evaluate=False)
    assert ties.load()[0] is not None and ties.manifest["merge"]["density"] == 0.5
    with pytest.raises(RunError, match="cannot merge LoRA adapters with full fine-tunes"):
        merge_runs([full.output_dir, run.output_dir], tmp_path / "mixed")


@pytest.fixture(scope="module")
def other(run, tmp_path_factory):
    """A second real adapter of the same base without a second training: the run's dir with its LoRA B
    factors negated and halved and its A factors permuted (so its change is another matrix)."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from verticalize.run import Run

    dest = tmp_path_factory.mktemp("other") / "other"
    shutil.copytree(run.output_dir, dest, ignore=shutil.ignore_patterns("checkpoints", "curve.*", "export"))
    f = dest / "adapter" / "adapter_model.safetensors"
    sd = load_file(f)
    g = torch.Generator().manual_seed(0)
    save_file({k: (-0.5 * v if ".lora_B." in k else v[torch.randperm(v.shape[0], generator=g)]).contiguous()
               for k, v in sd.items()}, f)
    return Run(dest)


def test_merge_two_runs_loads_and_scores(run, other, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from verticalize.run import Run
    from verticalize.run.merge import merge_runs

    merged = merge_runs([run.output_dir, other.output_dir], tmp_path / "ties", method="ties", density=0.5,
                        max_examples=1)
    assert isinstance(merged, Run) and merged.adapter_path is not None
    m = merged.manifest["merge"]
    assert m["method"] == "ties" and m["density"] == 0.5 and len(m["runs"]) == 2
    rep = merged.report
    assert set(rep.stages) == {"before", "after"} and set(rep.scores) == {"finance", "general"}
    assert merged.generate("1 + 1?", max_new_tokens=2)
    # cat is exact: the merged change is w1 * delta1 + w2 * delta2
    cat = merge_runs([run.output_dir, other.output_dir], tmp_path / "cat", method="cat", weights=[0.5, 0.25],
                     evaluate=False)

    def delta(adapter: Path, key: str) -> torch.Tensor:
        sd = load_file(adapter / "adapter_model.safetensors")
        cfg = json.loads((adapter / "adapter_config.json").read_text())
        return cfg["lora_alpha"] / cfg["r"] * sd[f"{key}.lora_B.weight"] @ sd[f"{key}.lora_A.weight"]

    key = "base_model.model.model.layers.0.self_attn.q_proj"
    want = 0.5 * delta(run.adapter_path, key) + 0.25 * delta(other.adapter_path, key)
    assert not torch.allclose(delta(run.adapter_path, key), -0.5 * delta(other.adapter_path, key))
    assert torch.allclose(delta(cat.adapter_path, key), want, atol=1e-6)
    with pytest.raises(RunError, match="at least two runs"):
        merge_runs([run.output_dir], tmp_path / "one")
    with pytest.raises(RunError, match="did you mean 'ties'"):
        merge_runs([run.output_dir, other.output_dir], tmp_path / "bad", method="tie")
    with pytest.raises(RunError, match="not empty"):
        merge_runs([run.output_dir, other.output_dir], tmp_path / "ties", evaluate=False)


def test_cli_merge(run, other, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from verticalize.cli.main import cli

    out = tmp_path / "dare"
    r = CliRunner().invoke(cli, ["merge", str(run.output_dir), str(other.output_dir), "-o", str(out), "--method",
                                 "dare_linear", "--weights", "1,0.5", "--density", "0.7", "--no-eval", "-q"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "manifest.json").read_text())["merge"]["weights"] == [1.0, 0.5]
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    r = CliRunner().invoke(cli, ["merge", str(run.output_dir), str(other.output_dir), "-o", str(tmp_path / "x"),
                                 "--method", "cat", "--density", "0.5"])
    assert r.exit_code == 2 and "--density applies only to" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["merge", str(run.output_dir), str(other.output_dir), "-o", str(tmp_path / "y"),
                                 "--weights", "1"])
    assert r.exit_code == 2 and "one weight per run" in r.output
