"""End-to-end training on the tiny offline base: LoRA, QLoRA (bitsandbytes on CPU) and full."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import tiny_adapter
from verticalize import Run, RunError


def _check_run_dir(run: Run, artifact: str) -> None:
    d = run.output_dir
    assert d.is_dir() and not d.with_name(d.name + ".incomplete").exists()
    for name in ("recipe.yaml", "manifest.json", "train_log.jsonl", "loss.png"):
        assert (d / name).is_file(), name
    m = json.loads((d / "manifest.json").read_text())
    assert m["status"] == "complete" and m["artifact"] == artifact
    assert m["versions"]["torch"] and m["versions"]["trl"]
    assert m["data"]["sources"][0]["sha256"] and len(m["data"]["sources"][0]["sha256"]) == 64
    assert m["metrics"]["global_step"] == run.recipe.train.max_steps
    assert (d / artifact).is_dir()
    logged = [json.loads(line) for line in (d / "train_log.jsonl").read_text().splitlines()]
    assert any("loss" in row for row in logged)


def test_lora_sft_trains_and_reloads(tmp_path: Path, chat_jsonl: Path) -> None:
    import torch
    from peft import PeftModel

    from verticalize.models import load_model, resolve_model

    a = tiny_adapter(tmp_path, chat_jsonl, max_steps=6, lr=5e-3).lora(r=4, alpha=8)
    run = a.train(output_dir=tmp_path / "run", quiet=True)
    _check_run_dir(run, "adapter")
    assert run.adapter_path is not None and (run.adapter_path / "adapter_config.json").is_file()
    # a standard PEFT dir: plain PeftModel.from_pretrained loads it, and the LoRA weights moved
    base = load_model(resolve_model(run.recipe.base))
    model = PeftModel.from_pretrained(base, str(run.adapter_path))
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(float(p.abs().sum()) > 0 for p in lora_b)
    assert run.metrics["assistant_only_loss"] is True
    out = run.generate("What is 1+1?", max_new_tokens=4)
    assert isinstance(out, list) and len(out) == 1
    assert Run(run.output_dir).recipe == run.recipe
    assert torch.isfinite(torch.tensor(run.metrics["train_loss"]))


def test_loss_falls_with_training(tmp_path: Path, chat_jsonl: Path) -> None:
    run = tiny_adapter(tmp_path, chat_jsonl, max_steps=30, lr=1e-2, batch_size=4, warmup_ratio=0.0).full() \
        .train(output_dir=tmp_path / "run", quiet=True)
    losses = [json.loads(line)["loss"] for line in (run.output_dir / "train_log.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
    assert losses[-1] < losses[0] * 0.8, losses


def test_qlora_4bit_on_cpu(tmp_path: Path, chat_jsonl: Path) -> None:
    pytest.importorskip("bitsandbytes")
    run = tiny_adapter(tmp_path, chat_jsonl).qlora(bits=4, r=4).train(output_dir=tmp_path / "q4", quiet=True)
    _check_run_dir(run, "adapter")
    cfg = json.loads((run.adapter_path / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "LORA" and cfg["r"] == 4


def test_full_finetune_saves_model(tmp_path: Path, chat_jsonl: Path) -> None:
    from transformers import AutoModelForCausalLM

    run = tiny_adapter(tmp_path, chat_jsonl).full().train(output_dir=tmp_path / "full", quiet=True)
    _check_run_dir(run, "model")
    AutoModelForCausalLM.from_pretrained(run.output_dir / "model")


def test_existing_run_dir_is_not_overwritten(tmp_path: Path, chat_jsonl: Path) -> None:
    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(RunError, match="already exists"):
        tiny_adapter(tmp_path, chat_jsonl).train(output_dir=out, quiet=True)
    assert (out / "keep.txt").read_text() == "precious"


def test_failure_before_training_leaves_no_dir(tmp_path: Path) -> None:
    bad = tmp_path / "empty.jsonl"
    bad.write_text("")
    from verticalize import DataError

    with pytest.raises(DataError, match="no examples"):
        tiny_adapter(tmp_path, bad).train(output_dir=tmp_path / "crash", quiet=True)
    assert not (tmp_path / "crash").exists() and not (tmp_path / "crash.incomplete").exists()
    with pytest.raises(RunError, match="not a finished"):
        Run(tmp_path / "crash")


def test_domain_pack_with_eval_before_after(tmp_path: Path) -> None:
    a = (tiny_adapter(tmp_path, None, max_steps=2)
         .evaluate_with("finance", max_examples=6, tasks=["percent_change", "term_mc", "headline_sentiment"],
                        languages=["en"], generation={"max_new_tokens": 8}))
    run = a.train(output_dir=tmp_path / "fin", quiet=True)
    rep = run.report
    assert rep is not None and set(rep.stages) == {"before", "after"}
    for f in ("train/report.json", "train/report.md", "train/report.png", "index.json", "report.md"):
        assert (run.output_dir / "eval" / f).is_file()
    assert "finance" in rep.scores and "delta" in rep.scores["finance"]


def test_qlora_8bit_on_cpu(tmp_path: Path, chat_jsonl: Path) -> None:
    pytest.importorskip("bitsandbytes")
    run = tiny_adapter(tmp_path, chat_jsonl).qlora(bits=8, r=4).train(output_dir=tmp_path / "q8", quiet=True)
    _check_run_dir(run, "adapter")


def test_assistant_only_labels(tmp_path: Path) -> None:
    """Only assistant tokens carry labels: the system and user turns are masked with -100."""
    from datasets import Dataset

    from verticalize.models import load_model, load_tokenizer, resolve_model
    from verticalize.recipe import BaseSpec, LoraSpec, SFTSpec
    from verticalize.train import _hf

    r = resolve_model(BaseSpec(model="tiny"))
    tok = load_tokenizer(r)
    ds = Dataset.from_list([{"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "question"},
                                          {"role": "assistant", "content": "the answer"}]}] * 4)
    args = _hf.sft_config(SFTSpec(max_steps=1, batch_size=2, max_length=64), str(tmp_path), _hf.detect_device(),
                          method=LoraSpec(), has_assistant_masks=True, eos_token=tok.eos_token)
    trainer = _hf.make_sft_trainer(load_model(r), tok, ds, args, _hf.peft_config(LoraSpec(), "all-linear"))
    batch = next(iter(trainer.get_train_dataloader()))
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    trained = tok.decode([int(t) for t, lab in zip(ids, labels) if lab != -100])
    assert trained == "the answer<|im_end|>\n"


def test_same_seed_same_losses(tmp_path: Path, chat_jsonl: Path) -> None:
    def losses(name: str) -> list[float]:
        run = tiny_adapter(tmp_path, chat_jsonl, max_steps=3, seed=7).train(output_dir=tmp_path / name, quiet=True)
        rows = [json.loads(x) for x in (run.output_dir / "train_log.jsonl").read_text().splitlines()]
        return [r["loss"] for r in rows if "loss" in r]

    assert losses("a") == losses("b")


def test_pot_eval_on_trained_tiny_model(tmp_path: Path) -> None:
    """PoT end to end: numeric examples train on gold programs; evaluation extracts the generated
    program, runs it in the sandbox and scores the answer (a random tiny model scores ~0: the point
    is that every stage runs and reports)."""
    a = (tiny_adapter(tmp_path, None, max_steps=2).pot()
         .evaluate_with("finance", tasks=["percent_change"], languages=["en"], max_examples=4, when=["after"],
                        generation={"max_new_tokens": 16}))
    run = a.train(output_dir=tmp_path / "pot", quiet=True)
    task = run.report.stages["after"]["finance"]["tasks"]["percent_change"]
    assert task["kind"] == "numeric" and task["n"] == 4 and "numeric_match" in task["metrics"]
    steps = {s["step"]: s for s in run.manifest["data"]["steps"]}
    assert steps["pot_format"]["programs"] > 0


@pytest.mark.parametrize("domain", ["medical", "legal", "general"])
def test_each_pack_trains_through_a_recipe(tmp_path: Path, domain: str) -> None:
    from verticalize import Adapter

    (tmp_path / "r.yaml").write_text(
        f"base: tiny\ndomain: {domain}\nreplay: {{source: general, ratio: 0.1}}\n"
        "train: {max_steps: 2, batch_size: 2, max_length: 128, save_steps: 1000}\n")
    run = Adapter.from_yaml(tmp_path / "r.yaml").train(output_dir=tmp_path / domain, quiet=True)
    assert run.metrics["global_step"] == 2 and run.manifest["data"]["train_examples"] > 1000
