"""Continued pre-training, DPO and multi-stage runs on the tiny offline base (real TRL/PEFT, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verticalize import Adapter, DataError


def _tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


@pytest.fixture
def pref_jsonl(tmp_path: Path) -> Path:
    p = tmp_path / "pref.jsonl"
    rows = []
    for i in range(24):
        a, b = 100 + i, 110 + 3 * i
        right = round((b - a) / a * 100, 2)
        rows.append({"prompt": f"Revenue went from {a} to {b}. Percent change?",
                     "chosen": f"The answer is {right}.", "rejected": f"The answer is {right + 7}."})
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return p


def test_cpt_on_the_legal_corpus_windows_long_laws_and_trains_embeddings(tmp_path: Path) -> None:
    run = (Adapter(base="tiny").with_domain("legal")
           .cpt(max_steps=3, max_length=128, overlap=32, batch_size=2, grad_accum=1, logging_steps=1,
                train_embeddings=True)
           .train(output_dir=tmp_path / "cpt", quiet=True))
    m = run.metrics
    w = m["windows"]
    assert w["documents"] == run.manifest["data"]["train_examples"] >= 20
    assert w["documents_split"] >= 20 and w["windows"] > w["documents"]  # long laws split, not truncated
    assert m["packing"] == "grouped" and w["row_fill"] > 0.9  # CPU: windows grouped into full rows
    assert run.manifest["data"]["kind"] == "cpt"
    keys = _tensors(run.adapter_path)
    assert any("embed_tokens" in k for k in keys) and any("lora_A" in k for k in keys)
    cfg = json.loads((run.adapter_path / "adapter_config.json").read_text())
    assert set(cfg["modules_to_save"]) >= {"embed_tokens"}
    assert run.recipe.stages[0].lr == 5e-5  # the lower CPT default


def test_two_stages_cpt_then_sft_continue_one_adapter(tmp_path: Path) -> None:
    a = (Adapter(base="tiny").with_domain("legal")
         .cpt(max_steps=3, max_length=96, overlap=16, batch_size=2, grad_accum=1, lr=5e-3, logging_steps=1)
         .then("sft", max_steps=2, max_length=96, batch_size=2, grad_accum=1, lr=1e-12, logging_steps=1,
               warmup_ratio=0.0))
    assert a.recipe.to_yaml() == Adapter.from_yaml(_write(tmp_path / "r.yaml", a.to_yaml())).to_yaml()
    run = a.train(output_dir=tmp_path / "two", quiet=True)
    d = run.output_dir
    s1, s2 = d / "stages" / "01-cpt", d / "stages" / "02-sft"
    for s in (s1, s2):
        assert (s / "adapter" / "adapter_model.safetensors").is_file() and (s / "stage.json").is_file()
        assert (s / "train_log.jsonl").is_file() and (s / "loss.png").is_file()
        assert not (s / "checkpoints").exists()
    assert [s["kind"] for s in run.manifest["stages"]] == ["cpt", "sft"]
    assert [r["kind"] for r in run.manifest["data"]["stages"]] == ["cpt", "sft"]
    first, last = _tensors(s1 / "adapter"), _tensors(run.adapter_path)
    b_keys = [k for k in first if "lora_B" in k]
    assert b_keys and any(first[k].abs().max() > 0 for k in b_keys)  # stage 1 trained the adapter
    # stage 2 ran at lr ~0: had it started from a fresh adapter, lora_B would be zeros again
    for k in b_keys:
        assert (first[k] - last[k]).abs().max() < 1e-6
    assert (d / "loss.png").is_file()
    assert run.load()[0] is not None


def _margin(model, tok, rows) -> float:
    """Mean log p(chosen) - log p(rejected) over the pairs, under the chat template."""
    import torch

    total = 0.0
    for r in rows:
        prompt = tok.apply_chat_template([{"role": "user", "content": r["prompt"]}], add_generation_prompt=True,
                                         tokenize=False)
        lp = []
        for answer in (r["chosen"], r["rejected"]):
            p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
            a_ids = tok(answer, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([p_ids + a_ids])
            with torch.no_grad():
                logits = model(ids).logits[0, len(p_ids) - 1: -1].float()
            lp.append(torch.log_softmax(logits, -1).gather(1, torch.tensor(a_ids)[:, None]).sum().item())
        total += lp[0] - lp[1]
    return total / len(rows)


def test_dpo_with_lora_learns_the_preference(tmp_path: Path, pref_jsonl: Path) -> None:
    run = (Adapter(base="tiny").with_data(str(pref_jsonl))
           .dpo(max_steps=12, lr=1e-2, batch_size=4, grad_accum=1, max_length=64, logging_steps=1, beta=0.1,
                warmup_ratio=0.0)
           .train(output_dir=tmp_path / "dpo", quiet=True))
    assert run.manifest["data"]["kind"] == "dpo" and run.metrics["loss_type"] == "sigmoid"
    log = [json.loads(x) for x in (run.output_dir / "train_log.jsonl").read_text().splitlines()]
    assert sum("rewards/margins" in r for r in log) >= 10
    rows = [json.loads(x) for x in pref_jsonl.read_text().splitlines()]
    model, tok = run.load()
    after = _margin(model, tok, rows)
    with model.disable_adapter():
        before = _margin(model, tok, rows)
    assert after > before + 0.5  # the chosen answers pulled away from the rejected ones


def test_dpo_with_qlora(tmp_path: Path, pref_jsonl: Path) -> None:
    run = (Adapter(base="tiny").with_data(str(pref_jsonl)).qlora(bits=4)
           .dpo(max_steps=2, lr=1e-3, batch_size=2, grad_accum=1, max_length=64, logging_steps=1)
           .train(output_dir=tmp_path / "dpo-q", quiet=True))
    assert run.metrics["global_step"] == 2 and run.recipe.method.kind == "qlora"


def test_each_kind_names_the_data_it_needs(tmp_path: Path, chat_jsonl: Path) -> None:
    with pytest.raises(DataError, match=r"dpo trains on preference pairs.*format: preference"):
        Adapter(base="tiny").with_data(str(chat_jsonl)).dpo(max_steps=1).train(output_dir=tmp_path / "x", quiet=True)
    with pytest.raises(DataError, match=r"cpt trains on raw text.*the pack 'finance' has no corpus"):
        Adapter(base="tiny").with_domain("finance").cpt(max_steps=1).train(output_dir=tmp_path / "y", quiet=True)
    assert not (tmp_path / "x.incomplete").exists() and not (tmp_path / "y.incomplete").exists()


def test_unused_examples_are_counted_not_lost(tmp_path: Path, chat_jsonl: Path, pref_jsonl: Path) -> None:
    from verticalize.data.pipeline import build_training_data

    r = Adapter(base="tiny").with_data(str(chat_jsonl)).with_data(str(pref_jsonl)).recipe
    sft = build_training_data(r, kind="sft").report["sources"]
    assert [(s["used_by"], s["used"]) for s in sft] == [("sft", 48), ("sft", 0)]
    dpo = build_training_data(r, kind="dpo").report["sources"]
    assert [(s["used_by"], s["used"]) for s in dpo] == [("dpo", 0), ("dpo", 24)]


def _write(p: Path, text: str) -> Path:
    p.write_text(text, encoding="utf-8")
    return p


def test_finance_pack_supplies_dpo_pairs_with_its_system_prompt() -> None:
    from verticalize.data.pipeline import build_training_data

    data = build_training_data(Adapter(base="tiny").with_domain("finance").dpo().recipe)
    assert data.report["kind"] == "dpo" and data.report["sources"][0]["source"].endswith("preference.jsonl")
    ex = data.train[0]
    assert ex["prompt"][0]["role"] == "system" and ex["chosen"] != ex["rejected"]
    assert len(data.train) >= 500


def test_cpt_overlap_must_fit_the_window_at_validation() -> None:
    from verticalize.errors import RecipeError
    from verticalize.recipe import parse_recipe

    with pytest.raises(RecipeError, match=r"train\[0\].*overlap \(128\) must be smaller than max_length \(64\)"):
        parse_recipe({"train": [{"kind": "cpt", "max_length": 64}, {"kind": "sft"}]})


def test_max_length_that_cuts_off_every_answer_is_a_clear_error(tmp_path: Path) -> None:
    import random

    rng = random.Random(0)
    p = tmp_path / "long.jsonl"
    rows = [{"instruction": " ".join(f"w{rng.randint(0, 99999)}" for _ in range(120)), "output": "ok"}
            for _ in range(8)]
    p.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with pytest.raises(DataError, match=r"train.max_length=64 cuts off every answer.*raise train.max_length"):
        Adapter(base="tiny").with_data(str(p)).sft(max_steps=1, max_length=64, batch_size=2, grad_accum=1) \
            .train(output_dir=tmp_path / "r", quiet=True)
    assert not (tmp_path / "r.incomplete").exists()
    with p.open("a", encoding="utf-8") as f:
        f.write("\n" + "\n".join(json.dumps({"instruction": f"short {i}", "output": "ok"}) for i in range(8)))
    run = Adapter(base="tiny").with_data(str(p)).sft(max_steps=1, max_length=64, batch_size=2, grad_accum=1) \
        .train(output_dir=tmp_path / "r2", quiet=True)
    assert run.metrics["truncated_away"] == 8 and run.metrics["examples"] == 16


def test_training_does_not_depend_on_whether_the_base_was_evaluated_first(tmp_path: Path) -> None:
    base = (Adapter(base="tiny").with_domain("finance").clean(languages=["en"], tasks=["term_mc", "percent_change"])
            .sft(max_steps=3, batch_size=2, grad_accum=1, max_length=256, logging_steps=1))
    a = base.evaluate_with("finance", tasks=["term_mc"], max_examples=4, when=["before"]) \
        .train(output_dir=tmp_path / "a", quiet=True)
    b = base.train(output_dir=tmp_path / "b", quiet=True)
    wa, wb = _tensors(a.adapter_path), _tensors(b.adapter_path)
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) == 0.0


def test_dpo_after_sft_saves_only_the_trained_adapter(tmp_path: Path, pref_jsonl: Path, chat_jsonl: Path) -> None:
    """After SFT on the same adapter, TRL's DPO keeps a frozen copy (``ref``) as its reference policy;
    the run's adapter/ holds the trained adapter only."""
    run = (Adapter(base="tiny").with_data(str(chat_jsonl)).with_data(str(pref_jsonl))
           .sft(max_steps=2, batch_size=2, grad_accum=1, max_length=64, save_steps=1000)
           .then("dpo", max_steps=2, batch_size=2, grad_accum=1, max_length=64, beta=0.1, save_steps=1000)
           .train(output_dir=tmp_path / "sft-dpo", quiet=True))
    assert (run.adapter_path / "adapter_model.safetensors").is_file()
    assert not (run.adapter_path / "ref").exists()
    model, _ = run.load()
    assert list(model.peft_config) == ["default"]


def test_mixed_stage_trains_chats_and_raw_text_at_the_token_ratio(tmp_path: Path) -> None:
    """train: {kind: sft, cpt_ratio: r}: the legal chats and windows of the legal corpus in one pass, raw
    text making up r of the learned tokens to within one window, reported in the manifest."""
    a = Adapter(base="tiny").with_domain("legal").sft(max_steps=2, max_length=96, batch_size=2, grad_accum=1,
                                                      logging_steps=1, cpt_ratio=0.3)
    assert a.recipe.to_yaml() == Adapter.from_yaml(_write(tmp_path / "r.yaml", a.to_yaml())).to_yaml()
    run = a.train(output_dir=tmp_path / "mixed", quiet=True)
    m = run.metrics
    total = m["text_tokens"] + m["chat_tokens_learned"]
    assert m["text_windows"] > 0 and m["chat_tokens_learned"] > 0 and m["cpt_ratio_target"] == 0.3
    assert abs(m["text_tokens"] / total - 0.3) <= 96 / total  # exact to one window
    assert m["cpt_ratio_tokens"] == round(m["text_tokens"] / total, 4)
    assert run.manifest["data"]["kind"] == "sft" and run.manifest["data"]["text"]["kind"] == "cpt"
    assert (run.adapter_path / "adapter_model.safetensors").is_file()


def test_mixed_stage_without_raw_text_names_the_key(tmp_path: Path, chat_jsonl: Path) -> None:
    a = Adapter(base="tiny").with_data(chat_jsonl).sft(max_steps=1, cpt_ratio=0.2)
    with pytest.raises(DataError, match=r"train\.cpt_ratio .*format: text"):
        a.train(output_dir=tmp_path / "r", quiet=True)
