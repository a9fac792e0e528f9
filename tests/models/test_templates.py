"""Chat templates: the model's own template is kept; assistant tokens are found by its markers, by TRL's
training variant where that renders the same text, else by rendered prefix (as TRL's prompt-completion)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from verticalize.models.templates import FALLBACK_TEMPLATE, PROBES, has_generation_markers, render, training_template

tcu = pytest.importorskip("trl.chat_template_utils")

#: SmolLM2-Instruct's own template (ChatML, a default system prompt, no generation markers)
SMOLLM2 = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
           "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
           "trained by Hugging Face<|im_end|>\n' }}"
           "{% endif %}"
           "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
           "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def _families() -> list[str]:
    """Every template family TRL ships a training variant of."""
    return sorted(n[: -len("_training_chat_template")] for n in dir(tcu)
                  if n.endswith("_training_chat_template") and hasattr(tcu, n[: -len("_training_chat_template")]
                                                                         + "_chat_template"))


@pytest.fixture(scope="module")
def tiny_tok():
    from verticalize.models import load_tokenizer, resolve_model
    from verticalize.recipe import BaseSpec

    tok = load_tokenizer(resolve_model(BaseSpec(model="tiny")))
    tok.bos_token = "<|endoftext|>"  # Llama-3-style templates start with bos_token
    return tok


def _with(tok, template: str):
    t = copy.deepcopy(tok)
    t.chat_template = template
    return t


def _renders_text(tok, template: str) -> bool:
    """Whether the template renders plain string content (the VLM ones want content blocks)."""
    try:
        return "4, because" in render(tok, template, PROBES[0][0], False)[0]
    except Exception:  # noqa: BLE001
        return False


def test_every_trl_family_is_covered() -> None:
    fams = _families()
    for f in ("qwen2_5", "qwen3", "llama3", "phi3", "gemma"):
        assert f in fams


@pytest.mark.parametrize("family", _families())
def test_training_template_renders_the_original_text(tiny_tok, family: str) -> None:
    """For every family TRL ships: whatever verticalize trains with renders exactly the model's own text
    for multi-turn, system and generation-prompt chats, and its loss covers every assistant answer."""
    from verticalize.train.tokenize import tokenize_chats

    own = getattr(tcu, f"{family}_chat_template")
    tok = _with(tiny_tok, own)
    if not _renders_text(tok, own):
        pytest.skip(f"{family}: a vision template, it renders content blocks only")
    plan = training_template(tok)
    assert tok.chat_template == own  # never replaced
    checked = 0
    for messages, gen in PROBES:
        try:
            want = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
        except Exception:  # noqa: BLE001 -- a shape the model's own template refuses (Gemma: no system role)
            continue
        checked += 1
        if plan.source == "trl":
            got = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen,
                                          chat_template=plan.template)
            assert got == want, (family, messages, gen)
        if gen:
            continue
        ds = tokenize_chats([messages], tok, True, template=plan, workers=1)
        ids, labels = ds[0]["input_ids"], ds[0]["labels"]
        assert ids == tok(want, add_special_tokens=False)["input_ids"]  # the model's own text, token for token
        learned = tok.decode([t for t, lab in zip(ids, labels) if lab != -100])
        last = [m for m in messages if m["role"] == "assistant"][-1]["content"].strip()
        assert last in learned
        assert "What is 2 + 2?" not in learned and "careful assistant" not in learned  # prompts are not learned
        if plan.source != "prefix":  # a prefix-preserving template: every answer is learned
            assert all(m["content"].strip() in learned for m in messages if m["role"] == "assistant")
    assert checked >= 3
    if plan.source == "prefix":  # TRL's variant would change the text, e.g. Qwen3's thinking blocks in earlier turns
        trl = getattr(tcu, f"{family}_training_chat_template")
        assert any(_differs(tok, own, trl, m, g) for m, g in PROBES)


def _differs(tok, own: str, other: str, messages, gen) -> bool:
    try:
        a = render(tok, own, messages, gen)[0]
    except Exception:  # noqa: BLE001
        return False
    try:
        return render(tok, other, messages, gen)[0] != a
    except Exception:  # noqa: BLE001
        return True


def test_which_way_each_main_family_masks(tiny_tok) -> None:
    assert training_template(_with(tiny_tok, tcu.qwen2_5_chat_template)).source == "trl"
    assert training_template(_with(tiny_tok, tcu.llama3_chat_template)).source == "trl"
    assert training_template(_with(tiny_tok, tcu.phi3_chat_template)).source == "trl"
    assert training_template(_with(tiny_tok, tcu.gemma_chat_template)).source == "trl"
    assert training_template(_with(tiny_tok, tcu.qwen3_chat_template)).source == "prefix"  # multi-turn differs
    assert training_template(_with(tiny_tok, SMOLLM2)).source == "prefix"  # TRL ships none
    assert training_template(tiny_tok).source == "own"  # tiny's template has markers


def _pc_convs():
    sys_ = {"role": "system", "content": "You are a careful analyst."}
    out = []
    for i, (q, a) in enumerate([("2+2?", "4"), ("Capital of France?", "Paris.\n\nThat is all."),
                                 ("Spell cat.", " c-a-t "), ("增长率是多少？", "增长率 = 20%。")]):
        msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        out.append([sys_, *msgs] if i % 2 else msgs)
    return out


@pytest.mark.parametrize("template", ["smollm2", "qwen3"])
def test_prefix_masking_equals_trl_prompt_completion(tmp_path, tiny_tok, template) -> None:
    """Without markers: the same input_ids and labels as TRL's own conversational prompt-completion
    preparation (the answer, the end-of-turn token and the newline after it are learned)."""
    from datasets import Dataset

    from verticalize.models import load_model, resolve_model
    from verticalize.recipe import BaseSpec, SFTSpec
    from verticalize.train import _hf
    from verticalize.train.tokenize import tokenize_chats

    tok = _with(tiny_tok, SMOLLM2 if template == "smollm2" else tcu.qwen3_chat_template)
    convs = _pc_convs()
    ours = tokenize_chats(convs, tok, True, workers=1)
    args = _hf.sft_config(SFTSpec(max_length=4096, packing=False), str(tmp_path), _hf.Device("cpu", False),
                          method=None, has_assistant_masks=False, eos_token=tok.eos_token)
    rows = [{"prompt": c[:-1], "completion": c[-1:]} for c in convs]
    trl = _hf.make_sft_trainer(load_model(resolve_model(BaseSpec(model="tiny"))), tok, Dataset.from_list(rows),
                               args).train_dataset
    assert trl["input_ids"] == ours["input_ids"]
    assert trl["labels"] == ours["labels"]
    first = tok.decode([t for t, lab in zip(ours[0]["input_ids"], ours[0]["labels"]) if lab != -100])
    assert first == ("4<|im_end|>\n" if template == "smollm2" else "<think>\n\n</think>\n\n4<|im_end|>\n")


def test_trl_template_masking_equals_trl_assistant_only_loss(tmp_path, tiny_tok) -> None:
    """With TRL's training variant (Qwen2.5): the same columns as TRL's assistant_only_loss on messages."""
    from datasets import Dataset

    from verticalize.models import load_model, resolve_model
    from verticalize.recipe import BaseSpec, SFTSpec
    from verticalize.train import _hf
    from verticalize.train.tokenize import tokenize_chats

    tok = _with(tiny_tok, tcu.qwen2_5_chat_template)
    convs = _pc_convs() + [list(PROBES[3][0])]  # and a two-turn chat
    ours = tokenize_chats(convs, tok, True, workers=1)
    args = _hf.sft_config(SFTSpec(max_length=4096, packing=False), str(tmp_path), _hf.Device("cpu", False),
                          method=None, has_assistant_masks=True, eos_token=tok.eos_token)
    trl = _hf.make_sft_trainer(load_model(resolve_model(BaseSpec(model="tiny"))), tok,
                               Dataset.from_list([{"messages": c} for c in convs]), args).train_dataset
    assert trl["input_ids"] == ours["input_ids"]
    assert trl["labels"] == ours["labels"]


def test_multi_turn_prefix_masking_learns_stable_turns(tiny_tok) -> None:
    """ChatML without markers: both answers of a two-turn chat; Qwen3 (history turns render without the
    thinking block): the last answer, the earlier one is context."""
    from verticalize.train.tokenize import tokenize_chats

    chat = PROBES[3][0]
    for template, both in ((SMOLLM2, True), (tcu.qwen3_chat_template, False)):
        tok = _with(tiny_tok, template)
        ds = tokenize_chats([chat], tok, True, workers=1)
        learned = tok.decode([t for t, lab in zip(ds[0]["input_ids"], ds[0]["labels"]) if lab != -100])
        assert "That is all." in learned
        assert ("4, because" in learned) is both
        assert ds[0]["input_ids"] == tok(tok.apply_chat_template(chat, tokenize=False),
                                         add_special_tokens=False)["input_ids"]


def test_load_tokenizer_keeps_the_models_own_template(tmp_path: Path) -> None:
    """A local Llama-type dir keeps its ChatML template (it used to be trained with 'User: / Assistant:');
    a tokenizer without any template gets the plain fallback."""
    import json

    from transformers import AutoTokenizer

    from verticalize.models import load_tokenizer, resolve_model
    from verticalize.models.offline import offline_model_dir
    from verticalize.recipe import BaseSpec

    src = AutoTokenizer.from_pretrained(offline_model_dir("tiny"))
    for name, template in (("smol", SMOLLM2), ("none", None)):
        d = tmp_path / name
        tok = copy.deepcopy(src)
        tok.chat_template = template
        tok.save_pretrained(d)
        (d / "config.json").write_text(json.dumps({"model_type": "llama"}))
        got = load_tokenizer(resolve_model(BaseSpec(model=str(d))))
        assert got.chat_template == (template or FALLBACK_TEMPLATE)
    assert has_generation_markers(FALLBACK_TEMPLATE)


def test_prefix_masking_without_a_rust_tokenizer(tiny_tok) -> None:
    """A slow (Python) tokenizer has no offsets: the prefix spans map to tokens by common token prefix,
    with the same columns as the Rust path."""
    from verticalize.train.tokenize import tokenize_chats

    class Slow:
        def __init__(self, tok):
            self._tok = tok

        def __getattr__(self, name):
            if name == "backend_tokenizer":
                raise AttributeError(name)
            return getattr(self._tok, name)

    tok = _with(tiny_tok, SMOLLM2)
    convs = _pc_convs() + [list(PROBES[3][0])]
    fast = tokenize_chats(convs, tok, True, workers=1)
    slow = tokenize_chats(convs, Slow(tok), True, workers=1)
    assert slow["input_ids"] == fast["input_ids"] and slow["labels"] == fast["labels"]
