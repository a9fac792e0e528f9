"""Batched tokenization before the trainer: identical to TRL's own per-example preparation."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def tiny_tok():
    from verticalize.models import load_tokenizer, resolve_model
    from verticalize.recipe import BaseSpec

    return load_tokenizer(resolve_model(BaseSpec(model="tiny")))


def _convs(n: int = 120) -> list[list[dict[str, str]]]:
    from verticalize.data.formats import alpaca, to_messages

    out = []
    for domain in ("finance", "legal", "medical"):
        with open(REPO / "domains" / domain / "train.jsonl", encoding="utf-8") as f:
            rows = [json.loads(line) for _, line in zip(range(n // 3), f)]
        out += [to_messages(alpaca(r)) for r in rows]
    # a system prompt, several turns, an empty user turn
    out.append([{"role": "system", "content": "You are a careful analyst."}, {"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": "4"}, {"role": "user", "content": ""},
                {"role": "assistant", "content": "还有问题吗？"}])
    return out


@pytest.mark.parametrize("assistant_only", [True, False])
def test_same_input_ids_and_labels_as_trl(tmp_path, tiny_tok, assistant_only):
    from datasets import Dataset

    from verticalize.models import load_model, resolve_model
    from verticalize.recipe import BaseSpec, SFTSpec
    from verticalize.train import _hf
    from verticalize.train.tokenize import tokenize_chats

    convs = _convs()
    ours = tokenize_chats(convs, tiny_tok, assistant_only, chunk=7, workers=1)  # several chunks
    spec = SFTSpec(max_length=4096, packing=False, assistant_only_loss=assistant_only)
    args = _hf.sft_config(spec, str(tmp_path), _hf.Device("cpu", False), method=None,
                          has_assistant_masks=assistant_only, eos_token=tiny_tok.eos_token)
    model = load_model(resolve_model(BaseSpec(model="tiny")))
    trl = _hf.make_sft_trainer(model, tiny_tok, Dataset.from_list([{"messages": c} for c in convs]), args).train_dataset
    assert len(ours) == len(convs)
    assert trl["input_ids"] == ours["input_ids"]
    assert trl["labels"] == ours["labels"]
    if assistant_only:  # the masking really masks: prompts are not learned
        assert all(-100 in lab for lab in ours["labels"])
    # the slow-tokenizer path (transformers' batched apply_chat_template) gives the same columns
    class Slow:
        def __init__(self, tok):
            self._tok = tok

        def __getattr__(self, name):
            if name == "backend_tokenizer":
                raise AttributeError(name)
            return getattr(self._tok, name)

    slow = tokenize_chats(convs, Slow(tiny_tok), assistant_only, chunk=50)
    assert slow["input_ids"] == ours["input_ids"] and slow["labels"] == ours["labels"]
    # forked workers, each on a slice, give the same columns in the same order
    par = tokenize_chats(convs, tiny_tok, assistant_only, chunk=16, workers=3)
    assert par["input_ids"] == ours["input_ids"] and par["labels"] == ours["labels"]


def test_chat_without_assistant_turn_is_a_data_error(tiny_tok):
    from verticalize.errors import DataError
    from verticalize.train.tokenize import tokenize_chats

    with pytest.raises(DataError, match="example 1 has no assistant tokens"):
        tokenize_chats([[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
                        [{"role": "user", "content": "only a question"}]], tiny_tok, True)


def test_text_windows_overlap_and_learn_each_token_once(tiny_tok):
    from verticalize.train.tokenize import group_rows, tokenize_text_windows

    long_doc = " ".join(f"第{i}条 银行应当依法经营。" for i in range(200))
    out = tokenize_text_windows([long_doc, "short doc"], tiny_tok, max_length=64, overlap=16)
    full = tiny_tok(long_doc, add_special_tokens=False)["input_ids"] + [tiny_tok.eos_token_id]
    n_long = out["stats"]["windows"] - 1
    assert out["stats"]["documents"] == 2 and out["stats"]["documents_split"] == 1
    assert n_long == -(-(len(full) - 16) // 48)  # ceil((n - overlap) / step) windows
    # windows reassemble the document exactly, and the learned tokens are each token once
    rebuilt, learned = list(out["input_ids"][0]), [t for t in out["labels"][0]]
    for ids, lab in zip(out["input_ids"][1:n_long], out["labels"][1:n_long]):
        assert ids[:16] == rebuilt[-16:] and lab[:16] == [-100] * 16
        rebuilt += ids[16:]
        learned += lab[16:]
    assert rebuilt == full and learned == full
    assert all(len(w) <= 64 for w in out["input_ids"])
    rows = group_rows(out["input_ids"], out["labels"], 64)
    assert sum(len(r) for r in rows["input_ids"]) == out["stats"]["tokens"]
    assert all(len(r) <= 64 for r in rows["input_ids"])
    assert len(rows["input_ids"]) == n_long  # the short doc fits beside the last window of the long one


def test_overlap_must_be_smaller_than_the_window(tiny_tok):
    from verticalize.errors import DataError
    from verticalize.train.tokenize import tokenize_text_windows

    with pytest.raises(DataError, match="overlap"):
        tokenize_text_windows(["x"], tiny_tok, max_length=32, overlap=32)
