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


def loglikelihoods(model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], batch_size: int = 16,
                   progress: Any = None) -> list[tuple[float, int]]:
    """Sum of log-probabilities of each continuation given its prompt, and its token count.

    Prompts are tokenized on their own, so the continuation's tokens are exactly the ones after the
    prompt's; batches are right-padded and ordered by length to waste little compute.
    """
    import torch

    device = next(model.parameters()).device
    encoded = []
    for prompt, cont in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        c = tokenizer(cont, add_special_tokens=False)["input_ids"]
        encoded.append((p + c)[-4096:] if len(p) + len(c) > 4096 else p + c)
        encoded[-1] = (encoded[-1], len(c))
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    out: list[tuple[float, int]] = [(0.0, 0)] * len(encoded)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    model.eval()
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
    return out


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
