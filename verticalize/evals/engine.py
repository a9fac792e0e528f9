"""Batched model calls for evaluation: log-likelihood of continuations and greedy/sampled generation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["loglikelihoods", "generate", "chat_prompt"]


def chat_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The prompt text for the conversation up to the assistant's turn."""
    msgs = [m for m in messages if m["role"] != "assistant"] if messages[-1]["role"] == "assistant" else messages
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    return "\n\n".join(m["content"] for m in msgs) + "\n\n"


#: a prompt of at least this many tokens, shared by several continuations (the options of a multiple-choice
#: question, the labels of a classification), is run once and its key/value cache reused for each of them
SHARED_PROMPT_TOKENS = 96
_MAX_TOKENS = 4096


def loglikelihoods(model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], batch_size: int = 16,
                   progress: Any = None) -> list[tuple[float, int]]:
    """Sum of log-probabilities of each continuation given its prompt, and its token count.

    Prompts are tokenized on their own, so the continuation's tokens are exactly the ones after the
    prompt's. A long prompt with several continuations runs once, its cache then extended by all its
    continuations in one batch (a 4-option question over a statute costs one prompt, not four); the
    rest go in batches right-padded and ordered by length to waste little compute.
    """
    import torch

    p_ids: dict[str, list[int]] = {}
    groups: dict[str, list[int]] = {}
    encoded: list[tuple[list[int], int]] = []
    for i, (prompt, cont) in enumerate(pairs):
        if prompt not in p_ids:
            p_ids[prompt] = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        p = p_ids[prompt]
        c = tokenizer(cont, add_special_tokens=False)["input_ids"]
        encoded.append(((p + c)[-_MAX_TOKENS:] if len(p) + len(c) > _MAX_TOKENS else p + c, len(c)))
        groups.setdefault(prompt, []).append(i)
    out: list[tuple[float, int]] = [(0.0, 0)] * len(encoded)
    flat: list[int] = []
    model.eval()
    for prompt, idx in groups.items():
        p = p_ids[prompt]
        if (len(idx) > 1 and len(p) >= SHARED_PROMPT_TOKENS
                and all(len(encoded[i][0]) == len(p) + encoded[i][1] for i in idx)):  # none cut
            with torch.inference_mode():
                for i, value in zip(idx, _shared_prompt(model, p, [encoded[i][0][len(p):] for i in idx],
                                                        tokenizer, batch_size)):
                    out[i] = value
            if progress is not None:
                progress(len(idx))
        else:
            flat += idx
    _flat(model, tokenizer, encoded, flat, out, batch_size, progress)
    return out


def _shared_prompt(model: Any, prompt: list[int], conts: list[list[int]], tokenizer: Any,
                   batch_size: int) -> list[tuple[float, int]]:
    """The continuations' log-likelihoods after one run of ``prompt`` (its cache repeated per continuation)."""
    import copy

    import torch

    device = next(model.parameters()).device
    first = model(input_ids=torch.tensor([prompt], device=device), use_cache=True, logits_to_keep=1)
    first_lp = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
    cache = first.cache if getattr(first, "cache", None) is not None else first.past_key_values
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out: list[tuple[float, int]] = []
    for lo in range(0, len(conts), batch_size):
        part = conts[lo: lo + batch_size]
        width = max(len(c) for c in part)
        sums = [float(first_lp[c[0]]) if c else 0.0 for c in part]
        if width > 1:  # the tokens after the first, predicted from the cache plus the continuation so far
            ids = torch.full((len(part), width - 1), pad, dtype=torch.long)
            mask = torch.zeros((len(part), len(prompt) + width - 1), dtype=torch.long)
            mask[:, : len(prompt)] = 1
            for row, c in enumerate(part):
                if len(c) > 1:
                    ids[row, : len(c) - 1] = torch.tensor(c[:-1])
                    mask[row, len(prompt): len(prompt) + len(c) - 1] = 1
            past = copy.deepcopy(cache)
            past.batch_repeat_interleave(len(part))
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=True,
                           **{_cache_kwarg(model): past}).logits
            lp = torch.log_softmax(logits.float(), dim=-1)
            for row, c in enumerate(part):
                if len(c) > 1:
                    tgt = torch.tensor(c[1:], device=device)
                    sums[row] += float(lp[row, : len(c) - 1].gather(-1, tgt.unsqueeze(-1)).sum())
        out += [(s, len(c)) for s, c in zip(sums, part)]
    return out


def _cache_kwarg(model: Any) -> str:
    """The forward's name for the key/value cache: ``cache`` in recent transformers 5, ``past_key_values`` before."""
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(inner.forward).parameters else "past_key_values"


def _flat(model: Any, tokenizer: Any, encoded: list[tuple[list[int], int]], which: list[int],
          out: list[tuple[float, int]], batch_size: int, progress: Any) -> None:
    """The pairs ``which`` of ``encoded`` (token ids, continuation length), each sequence run whole."""
    import torch

    device = next(model.parameters()).device
    order = sorted(which, key=lambda i: -len(encoded[i][0]))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start: start + batch_size]
            seqs = [encoded[i][0] for i in idx]
            width = max(len(s) for s in seqs)
            ids = torch.full((len(seqs), width), pad, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for row, s in enumerate(seqs):
                ids[row, : len(s)] = torch.tensor(s)
                mask[row, : len(s)] = 1
            # only the positions that predict continuation tokens go through the LM head: the
            # vocabulary-sized logits of the prompt positions are never needed
            lo = max(0, min(len(seqs[row]) - 1 - encoded[i][1] for row, i in enumerate(idx)))
            keep = torch.arange(lo, width - 1, device=device)
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), logits_to_keep=keep).logits
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            targets = ids[:, lo + 1:].to(device)
            tok_lp = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            for row, i in enumerate(idx):
                n, k = len(seqs[row]), encoded[i][1]
                out[i] = (float(tok_lp[row, n - 1 - k - lo: n - 1 - lo].sum()), k)
            if progress is not None:
                progress(len(idx))


def generate(model: Any, tokenizer: Any, prompts: Sequence[str], gen: Any, batch_size: int = 16,
             progress: Any = None, num_return_sequences: int = 1) -> list[list[str]]:
    """Batched generation with left padding; greedy when temperature is 0."""
    import torch

    device = next(model.parameters()).device
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    kwargs: dict[str, Any] = dict(
        max_new_tokens=gen.max_new_tokens,
        num_beams=gen.num_beams,
        repetition_penalty=gen.repetition_penalty,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        num_return_sequences=num_return_sequences,
    )
    if gen.no_repeat_ngram_size:
        kwargs["no_repeat_ngram_size"] = gen.no_repeat_ngram_size
    if gen.temperature > 0:
        kwargs.update(do_sample=True, temperature=gen.temperature, top_p=gen.top_p, top_k=gen.top_k or None)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    out: list[list[str]] = [[] for _ in prompts]
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start: start + batch_size]
                enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
                enc = {k: v.to(device) for k, v in enc.items()}
                steps = _TokenSteps(progress, len(idx), gen.max_new_tokens) if progress is not None else None
                seqs = model.generate(**enc, **kwargs, **({"stopping_criteria": [steps]} if steps else {}))
                new = seqs[:, enc["input_ids"].shape[1]:]
                texts = tokenizer.batch_decode(new, skip_special_tokens=True)
                for j, i in enumerate(idx):
                    out[i] = texts[j * num_return_sequences: (j + 1) * num_return_sequences]
                if steps is not None:
                    steps.finish()
    finally:
        tokenizer.padding_side = old_side
    return out


class _TokenSteps:
    """Progress inside one generate call (a batch on a CPU can take minutes): each decoding step reports its
    share of the batch's prompts; the rest when the batch is done. Never stops generation."""

    def __init__(self, progress: Any, prompts: int, max_new_tokens: int):
        self.progress, self.prompts, self.max_new = progress, prompts, max(1, max_new_tokens)
        self.done = 0.0

    def __call__(self, input_ids: Any, scores: Any, **kw: Any) -> Any:
        import torch

        share = min(self.prompts / self.max_new, self.prompts * 0.99 - self.done)
        if share > 0:
            self.done += share
            self.progress(share)
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    def finish(self) -> None:
        if self.prompts - self.done > 0:
            self.progress(self.prompts - self.done)
        self.done = float(self.prompts)
