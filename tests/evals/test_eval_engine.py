"""The evaluation engine: batching (padding, order) must not change greedy outputs or log-likelihoods."""

from __future__ import annotations

import random

import pytest

from verticalize.evals.engine import chat_prompt, generate, loglikelihoods
from verticalize.models import load_model, load_tokenizer, resolve_model
from verticalize.recipe import BaseSpec, GenerationSpec

QUESTIONS = [
    "Hi.",
    "What is 2 + 2?",
    "Revenue went from 100 to 125. What is the percent change?",
    "A bond with a face value of 1,000 pays a 5% coupon and trades at 950. What is its current yield?",
    "Net income rose from $384.6M to $433.8M over the fiscal year, while revenue stayed flat at $2.1B. "
    "What is the percent change in net income, and what does it say about the profit margin?",
    "Compute the monthly payment on a 30-year fixed mortgage of 250,000 at 6% annual interest, compounded "
    "monthly, and explain each step of the formula you use, including how the number of periods and the "
    "periodic rate are derived from the annual figures.",
]


@pytest.fixture(scope="module")
def tiny() -> tuple:
    """The ``tiny`` base (Qwen3 config and real tokenizer) with sharper seeded random weights.

    Its embedded weights greedily decode every prompt to the same run of newlines, which would make
    the batched == sequential comparison vacuous (a batch without its attention mask passes it too);
    with ``initializer_range`` 0.5 each prompt gets its own text and the top-2 logit margins stay
    far above fp32 rounding, while a padding bug changes the outputs.
    """
    import copy

    import torch
    from transformers import AutoModelForCausalLM

    r = resolve_model(BaseSpec(model="tiny"))
    cfg = copy.deepcopy(load_model(r).config)
    cfg.initializer_range = 0.5
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    model.eval()
    return model, load_tokenizer(r)


def _prompts(tok) -> list[str]:
    system = {"role": "system", "content": "You are a careful financial analyst."}
    return [chat_prompt(tok, [system, {"role": "user", "content": q}]) for q in QUESTIONS]


def _pairs(tok) -> list[tuple[str, str]]:
    prompts = _prompts(tok)
    conts = ["The answer is 4.", " A", "C. Revenue minus cost of goods sold, divided by revenue",
             "25%", "Percent change = (433.8 - 384.6) / 384.6 x 100 = 12.79%.", "B. 1,498.88"]
    return list(zip(prompts, conts))


def test_batched_greedy_generate_matches_sequential(tiny) -> None:
    model, tok = tiny
    prompts = _prompts(tok)
    lengths = {len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts}
    assert len(lengths) == len(prompts)  # all different: the batch needs left padding
    gen = GenerationSpec(max_new_tokens=12)
    side = tok.padding_side
    sequential = generate(model, tok, prompts, gen, batch_size=1)
    batched = generate(model, tok, prompts, gen, batch_size=len(prompts))
    partial = generate(model, tok, prompts, gen, batch_size=4)  # a full batch and a short one
    assert tok.padding_side == side  # restored
    assert all(len(o) == 1 for o in sequential)
    assert len({o[0] for o in sequential}) == len(prompts)  # not a degenerate model
    assert batched == sequential
    assert partial == sequential


def test_loglikelihood_equals_direct_forward(tiny) -> None:
    import torch

    model, tok = tiny
    prompt, cont = _pairs(tok)[2]
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    c = tok(cont, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p + c])
    with torch.inference_mode():
        logprobs = torch.log_softmax(model(input_ids=ids).logits.float()[0], dim=-1)
    expected = sum(float(logprobs[len(p) + j - 1, t]) for j, t in enumerate(c))

    (alone,) = loglikelihoods(model, tok, [(prompt, cont)], batch_size=1)
    assert alone[1] == len(c)
    assert alone[0] == pytest.approx(expected, abs=1e-4)
    # right-padded among longer and shorter pairs, the same value
    batch = loglikelihoods(model, tok, _pairs(tok), batch_size=6)
    assert batch[2][1] == len(c)
    assert batch[2][0] == pytest.approx(expected, abs=1e-4)


def test_batch_order_and_size_do_not_change_results(tiny) -> None:
    model, tok = tiny
    pairs = _pairs(tok)
    base = loglikelihoods(model, tok, pairs, batch_size=1)
    perm = list(range(len(pairs)))
    random.Random(0).shuffle(perm)
    for bs in (2, 3, 16):
        shuffled = loglikelihoods(model, tok, [pairs[i] for i in perm], batch_size=bs)
        for j, i in enumerate(perm):
            assert shuffled[j][1] == base[i][1]
            assert shuffled[j][0] == pytest.approx(base[i][0], abs=1e-4)

    prompts = _prompts(tok)
    gen = GenerationSpec(max_new_tokens=8)
    out = generate(model, tok, prompts, gen, batch_size=3)
    out_shuffled = generate(model, tok, [prompts[i] for i in perm], gen, batch_size=3)
    assert [out[i] for i in perm] == out_shuffled


def test_shared_prompt_cache_gives_the_direct_forward_values(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long prompt with several continuations (a multiple-choice question) runs once and its cache is
    reused: each option's log-likelihood is still the full sequence's, whatever the option lengths
    (one token, none, several) and however the options split into batches; a spy shows the prompt ran once."""
    import torch

    from verticalize.evals import engine

    model, tok = tiny
    prompt = _prompts(tok)[-1]
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    assert len(p) >= engine.SHARED_PROMPT_TOKENS
    conts = ["A. 1,498.88", "B", "", "C. 1,250.00 because the rate is 6% a year over 360 months", "D. 998"]

    def direct(cont: str) -> float:
        c = tok(cont, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            lp = torch.log_softmax(model(input_ids=torch.tensor([p + c])).logits.float()[0], dim=-1)
        return sum(float(lp[len(p) + j - 1, t]) for j, t in enumerate(c))

    calls = []
    real = engine._shared_prompt
    monkeypatch.setattr(engine, "_shared_prompt", lambda *a: calls.append(len(a[2])) or real(*a))
    short = _pairs(tok)[:2]  # short prompts, one continuation each: the batched path
    pairs = [(prompt, c) for c in conts] + short
    for bs in (1, 2, 16):
        got = engine.loglikelihoods(model, tok, pairs, batch_size=bs)
        for (value, n), cont in zip(got, conts):
            assert n == len(tok(cont, add_special_tokens=False)["input_ids"])
            assert value == pytest.approx(direct(cont), abs=1e-4)
        for (value, n), (ref, m) in zip(got[len(conts):], loglikelihoods(model, tok, short, batch_size=1)):
            assert n == m and value == pytest.approx(ref, abs=1e-4)
    assert calls == [len(conts)] * 3
