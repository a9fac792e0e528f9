"""PEFT and optimizer options as recipe keys: each trains on tiny and lands where PEFT/TRL read it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import tiny_adapter
from verticalize import RecipeError

SMALL = dict(max_steps=2, batch_size=2, grad_accum=1, max_length=96, logging_steps=1)


@pytest.mark.parametrize("kw,expect", [
    ({"use_dora": True}, {"use_dora": True}),
    ({"use_rslora": True}, {"use_rslora": True}),
    ({"init": "gaussian"}, {"init_lora_weights": "gaussian"}),
    ({"init": "pissa"}, {"init_lora_weights": "pissa"}),
    ({"init": "olora"}, {"init_lora_weights": "olora"}),
    ({"init": "eva"}, {"init_lora_weights": "eva"}),
    ({"layers": [1]}, {"layers_to_transform": [1]}),
])
def test_lora_option_trains_and_is_saved(tmp_path: Path, chat_jsonl: Path, kw: dict, expect: dict) -> None:
    run = tiny_adapter(tmp_path, chat_jsonl, **SMALL).lora(r=4, alpha=8, dropout=0.0, **kw) \
        .train(output_dir=tmp_path / "run", quiet=True)
    cfg = json.loads((run.output_dir / "adapter" / "adapter_config.json").read_text())
    for k, v in expect.items():
        assert cfg[k] == v, (k, cfg[k])
    assert run.metrics["global_step"] == 2
    if kw.get("init") == "eva":  # A = the top right singular vectors of each layer's inputs: orthonormal rows
        import torch
        from safetensors.torch import load_file

        ws = load_file(str(run.output_dir / "adapter" / "adapter_model.safetensors"))
        a = next(w for n, w in ws.items() if "q_proj.lora_A" in n).float()
        assert torch.allclose(a @ a.T, torch.eye(a.shape[0]), atol=0.05), a @ a.T
    if "layers" in kw:  # only layer 1 carries LoRA weights
        from safetensors.torch import load_file

        names = load_file(str(run.output_dir / "adapter" / "adapter_model.safetensors"))
        assert names and all(".layers.1." in n for n in names), list(names)[:4]


def test_loftq_needs_cuda(tmp_path: Path, chat_jsonl: Path) -> None:
    import torch

    a = tiny_adapter(tmp_path, chat_jsonl, **SMALL).lora(r=4, alpha=8, init="loftq")
    if torch.cuda.is_available():
        cfg = json.loads((a.train(output_dir=tmp_path / "run", quiet=True).output_dir / "adapter" /
                          "adapter_config.json").read_text())
        assert cfg["init_lora_weights"] == "loftq"
    else:
        with pytest.raises(RecipeError, match="loftq needs a CUDA GPU"):
            a.train(output_dir=tmp_path / "run", quiet=True)


class _Optimizer:
    """Records the optimizer's parameter groups when training starts."""

    def __init__(self) -> None:
        self.groups: list[dict] = []

    def on_train_begin(self, args, state, control, optimizer=None, **kw):  # noqa: ANN001
        self.groups = [{"lr": g.get("initial_lr", g["lr"]), "n": len(g["params"])} for g in optimizer.param_groups]

    def __getattr__(self, name: str):  # every other TrainerCallback event: nothing to do
        if name.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(name)


def test_loraplus_gives_b_a_higher_learning_rate(tmp_path: Path, chat_jsonl: Path) -> None:
    rec = _Optimizer()
    tiny_adapter(tmp_path, chat_jsonl, **SMALL, lr=1e-4).lora(r=4, alpha=8, loraplus_lr_ratio=16).callbacks(rec) \
        .train(output_dir=tmp_path / "run", quiet=True)
    lrs = sorted({g["lr"] for g in rec.groups if g["n"]})
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(16e-4), rec.groups


@pytest.mark.parametrize("optim", ["adamw_torch_fused", "adafactor", "sgd"])
def test_optimizer_choice(tmp_path: Path, chat_jsonl: Path, optim: str) -> None:
    run = tiny_adapter(tmp_path, chat_jsonl, **SMALL, optim=optim).lora(r=4, alpha=8) \
        .train(output_dir=tmp_path / "run", quiet=True)
    assert run.metrics["global_step"] == 2 and run.recipe.train.optim == optim


def test_full_fine_tuning_of_named_layers_only(tmp_path: Path, chat_jsonl: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from verticalize.models import load_model, resolve_model

    run = tiny_adapter(tmp_path, chat_jsonl, **SMALL, lr=1e-2).full() \
        .set(**{"method.trainable": ["model.layers.1.*"]}).train(output_dir=tmp_path / "run", quiet=True)
    base = dict(load_model(resolve_model(run.recipe.base)).named_parameters())
    tuned = load_file(str(next((run.output_dir / "model").glob("*.safetensors"))))
    moved = {n for n, t in tuned.items() if n in base and not torch.equal(t, base[n].detach())}
    assert moved and all(n.startswith("model.layers.1.") for n in moved), sorted(moved)[:5]
    with pytest.raises(RecipeError, match="matches no parameter"):
        tiny_adapter(tmp_path, chat_jsonl, **SMALL).full().set(**{"method.trainable": ["nothing.*"]}) \
            .train(output_dir=tmp_path / "run2", quiet=True)


def test_tensorboard_logs_are_written_and_read_back(tmp_path: Path, chat_jsonl: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tiny_adapter(tmp_path, chat_jsonl, **{**SMALL, "max_steps": 3}, report_to=["tensorboard"]).lora(r=4) \
        .train(output_dir=tmp_path / "run", quiet=True)
    events = list((run.output_dir / "runs").rglob("events.out.tfevents.*"))
    assert events, list(run.output_dir.rglob("*"))
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3]


def test_unsupported_combinations_fail_at_validate(tmp_path: Path) -> None:
    from verticalize.run import validate

    p = tmp_path / "r.yaml"
    p.write_text("domain: finance\nmethod: {kind: qlora, init: loftq}\ntrain: {optim: adamw_9bit}\n")
    problems = validate(p)
    assert any("init 'loftq' needs the base's full-precision weights" in x and "use kind: lora" in x for x in problems)
    assert any("train.optim: 'adamw_9bit' is not allowed; did you mean 'adamw_8bit'?" in x for x in problems), problems


@pytest.mark.parametrize("keep", [0, 2])
def test_keep_checkpoints(tmp_path: Path, chat_jsonl: Path, keep: int) -> None:
    run = tiny_adapter(tmp_path, chat_jsonl, **{**SMALL, "max_steps": 6}, save_steps=2, keep_checkpoints=keep) \
        .lora(r=4).train(output_dir=tmp_path / "run", quiet=True)
    kept = sorted(p.name for p in (run.output_dir / "checkpoints").glob("checkpoint-*"))
    assert kept == ["checkpoint-4", "checkpoint-6"][2 - keep:] if keep else kept == []
    assert (run.output_dir / "adapter" / "README.md").read_text().count("sha256") >= 1  # the model card


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_attention_implementation_is_the_one_loaded_and_trains(tmp_path: Path, chat_jsonl: Path, attn: str) -> None:
    from verticalize.models import load_model, resolve_model
    from verticalize.recipe import BaseSpec

    model = load_model(resolve_model(BaseSpec(model="tiny")), attn_implementation=attn)
    assert model.config._attn_implementation == attn
    a = tiny_adapter(tmp_path, chat_jsonl, **SMALL).lora(r=4, alpha=8).with_base("tiny", attn_implementation=attn)
    run = a.train(output_dir=tmp_path / "run", quiet=True)
    assert run.metrics["global_step"] == 2 and run.recipe.base.attn_implementation == attn


def test_flash_attention_without_its_package_or_gpu_is_refused(tmp_path: Path, chat_jsonl: Path) -> None:
    import importlib.util

    from verticalize.run import validate

    p = tmp_path / "r.yaml"
    p.write_text(f"base: {{model: tiny, attn_implementation: flash_attention_2}}\ndata: [{{path: {chat_jsonl}}}]\n")
    problems = validate(p)
    if importlib.util.find_spec("flash_attn") is None:
        assert any("r.yaml:1: base.attn_implementation: flash_attention_2 needs the flash-attn package" in x
                   for x in problems), problems
    p.write_text(f"base: {{model: tiny, attn_implementation: flash_attn}}\ndata: [{{path: {chat_jsonl}}}]\n")
    assert any("'flash_attn' is not allowed" in x and "flash_attention_2" in x for x in validate(p))
