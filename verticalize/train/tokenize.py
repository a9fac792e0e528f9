"""Tokenize training data once, in batches, before a trainer sees it.

TRL's SFTTrainer tokenizes a conversational dataset one example at a time through
``Dataset.map`` (render the chat template, tokenize, walk every token's offsets in Python for the
assistant mask). Doing the same work in batches here -- one template render per batch, one Rust
``encode_batch`` call, assistant spans located by bisecting the token offsets -- gives the
trainer a processed dataset (``input_ids`` + ``labels`` with -100 outside the loss) that it only
truncates or packs. benchmarks/data_pipeline.py checks the packed rows are identical to TRL's
own preparation and measures the speed-up.

The text is always the model's own chat template's. The assistant's tokens are found by
``{% generation %}`` spans (the template's own, or TRL's training variant where it renders the same
text), else by rendered prefix -- the chat up to each assistant turn with the generation prompt,
what TRL does for prompt-completion data (see verticalize/models/templates.py).

Text for continued pre-training is cut into windows of ``max_length`` tokens that overlap by
``overlap`` tokens (a long document is split, never truncated); the repeated tokens of a window
are context only (label -100), so every token is learned exactly once.
"""

from __future__ import annotations

import bisect
import itertools
import logging
from collections.abc import Sequence
from typing import Any

from verticalize.data.sources import gc_paused
from verticalize.errors import DataError

__all__ = ["tokenize_chats", "tokenize_text_windows", "group_rows"]

log = logging.getLogger("verticalize")


def tokenize_chats(conversations: Sequence[list[dict[str, Any]]], tokenizer: Any, assistant_only: bool,
                   chunk: int = 2048, workers: int | None = None, template: Any = None) -> Any:
    """A ``datasets.Dataset`` of ``input_ids`` and ``labels`` per conversation, as TRL would build them.

    The text is the tokenizer's own chat template's. ``assistant_only``: labels are -100 outside the
    assistant's turns, located by ``template`` (a :class:`~verticalize.models.templates.TrainingTemplate`;
    default: :func:`~verticalize.models.templates.training_template` of the tokenizer): its
    ``{% generation %}`` spans, or the rendered prefix of each assistant turn. Token ids are
    gathered into one flat array and handed to Arrow as list columns, never as millions of small
    Python lists. ``workers``: processes (forked) that each tokenize a slice; default: one per CPU
    core (at most 8) from 20,000 conversations on, in a single-process run.
    """
    import numpy as np

    from verticalize.data.parallel import fork_map
    from verticalize.models.templates import training_template

    plan = (template or training_template(tokenizer)) if assistant_only else None

    def job(convs: Sequence[Any], lo: int, hi: int) -> tuple[Any, list[int], Any, int]:
        flat, lengths, learned, skipped = _tokenize_range(convs, tokenizer, plan, chunk, lo, hi)
        return (flat.astype(np.int32 if flat.size == 0 or int(flat.max()) < 2**31 else np.int64), lengths, learned,
                skipped)

    parts = fork_map(job, conversations, workers)
    flat = np.concatenate([p[0] for p in parts]).astype(np.int64)
    lengths = [x for p in parts for x in p[1]]
    learned = np.concatenate([p[2] for p in parts])
    skipped = sum(p[3] for p in parts)
    if skipped:
        log.warning("%d earlier assistant turns render differently once later turns follow (the chat template "
                    "is not prefix-preserving); they are context only, not learned", skipped)
    labels = np.where(learned, flat, -100)
    return _list_columns({"input_ids": flat, "labels": labels}, lengths)


@gc_paused
def _tokenize_range(conversations: Sequence[list[dict[str, Any]]], tokenizer: Any, plan: Any,
                    chunk: int, lo: int, hi: int) -> tuple[Any, list[int], Any, int]:
    """(flat token ids, per-conversation lengths, flat learned mask, assistant turns left unlearned) of
    conversations[lo:hi]; ``plan``: a TrainingTemplate (assistant-only loss) or None (every token)."""
    import numpy as np

    from verticalize.models.templates import own_template

    parts: list[list[int]] = []
    lengths: list[int] = []
    keep: list[tuple[int, int]] = []  # flat [start, end) ranges that are learned
    base = skipped = 0
    backend = getattr(tokenizer, "backend_tokenizer", None)
    own = own_template(tokenizer)
    for start in range(lo, hi, chunk):
        batch = [_plain(c) for c in conversations[start: min(start + chunk, hi)]]
        if plan is None:
            texts, spans = _render(tokenizer, own, batch)
        elif plan.template is not None:
            rendered = _render(tokenizer, plan.template, batch, spans=True) if backend is not None else None
            if rendered is None:  # a slow (Python) tokenizer: transformers' own batched call
                out = tokenizer.apply_chat_template(batch, tokenize=True, return_dict=True, chat_template=plan.template,
                                                    return_assistant_tokens_mask=True)
                for i, ids in enumerate(out["input_ids"]):
                    ranges = _mask_ranges(out["assistant_masks"][i])
                    _check(ranges, start + i)
                    keep += [(base + a, base + b) for a, b in ranges]
                    parts.append(list(ids))
                    lengths.append(len(ids))
                    base += len(ids)
                continue
            texts, spans = rendered
        else:
            texts, spans, n_skipped = _prefix_spans(tokenizer, own, batch)
            skipped += n_skipped
        if backend is not None:
            encoded = [(enc.ids, _span_tokens(enc, sp) if plan is not None else [(0, len(enc.ids))])
                       for enc, sp in zip(backend.encode_batch(texts, add_special_tokens=False), spans)]
        else:
            encoded = [_slow_encode(tokenizer, text, sp, plan is not None) for text, sp in zip(texts, spans)]
        for i, (ids, ranges) in enumerate(encoded):
            _check(ranges, start + i)
            keep += [(base + a, base + b) for a, b in ranges]
            parts.append(ids)
            lengths.append(len(ids))
            base += len(ids)
    flat = np.fromiter(itertools.chain.from_iterable(parts), dtype=np.int64, count=base)
    del parts
    learned = np.zeros(base, dtype=bool)
    for a, b in keep:
        learned[a:b] = True
    return flat, lengths, learned, skipped


def _render(tokenizer: Any, template: str | None, convs: list[Any], *, gen: bool = False,
            spans: bool = False) -> tuple[list[str], list[Any]]:
    """(texts, generation spans) of chats rendered with ``template``."""
    from verticalize.train import _hf

    out = _hf.render_chats(tokenizer, convs, spans, template=template, add_generation_prompt=gen)
    if out is not None:
        return out
    texts = tokenizer.apply_chat_template(convs, tokenize=False, chat_template=template, add_generation_prompt=gen)
    return list(texts), [[] for _ in texts]


def _prefix_spans(tokenizer: Any, template: str | None, convs: list[list[dict[str, Any]]]
                  ) -> tuple[list[str], list[list[tuple[int, int]]], int]:
    """Completion-only masking by rendered prefix, for a template without ``{% generation %}`` markers:
    assistant turn i spans from the end of the chat rendered up to it with the generation prompt
    (``messages[:i]``; where that is not a prefix of the full text, from where they diverge, as TRL
    does for prompt-completion data) to the end of the chat rendered through it (``messages[:i+1]``).
    An earlier turn whose rendering changes once later turns follow is left out (counted)."""
    texts, _ = _render(tokenizer, template, convs)
    where = [(ci, i) for ci, conv in enumerate(convs) for i, m in enumerate(conv) if m.get("role") == "assistant"]
    prompts = _render_each(tokenizer, template, [convs[ci][:i] for ci, i in where], gen=True)
    inner = [(ci, i) for ci, i in where if i + 1 < len(convs[ci])]
    ends = dict(zip(inner, _render_each(tokenizer, template, [convs[ci][: i + 1] for ci, i in inner])))
    spans: list[list[tuple[int, int]]] = [[] for _ in convs]
    skipped = 0
    for (ci, i), prompt in zip(where, prompts):
        full = texts[ci]
        end = ends.get((ci, i), full)
        if prompt is None or end is None or not full.startswith(end):
            skipped += 1
            continue
        a = len(prompt) if full.startswith(prompt) else _common_prefix(prompt, full)
        if len(end) > a:
            spans[ci].append((a, len(end)))
    return texts, spans, skipped


def _render_each(tokenizer: Any, template: str | None, convs: list[list[dict[str, Any]]], gen: bool = False
                 ) -> list[str | None]:
    """Rendered texts of partial chats, None where the template refuses one (e.g. an empty chat)."""
    if not convs:
        return []
    try:
        return list(_render(tokenizer, template, convs, gen=gen)[0])
    except Exception:  # noqa: BLE001 -- one chat the template rejects: render one by one
        out: list[str | None] = []
        for c in convs:
            try:
                out.append(_render(tokenizer, template, [c], gen=gen)[0][0])
            except Exception:  # noqa: BLE001
                out.append(None)
        return out


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _slow_encode(tokenizer: Any, text: str, spans: list[tuple[int, int]], masked: bool
                 ) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids and learned token ranges without a Rust tokenizer (no offsets): a span starts
    where the tokens of the text before it stop matching, as TRL's prompt-completion masking does."""
    ids = list(tokenizer.encode(text, add_special_tokens=False))
    if not masked:
        return ids, [(0, len(ids))]

    def upto(c: int) -> int:
        if c >= len(text):
            return len(ids)
        pre = tokenizer.encode(text[:c], add_special_tokens=False)
        k = 0
        while k < min(len(pre), len(ids)) and pre[k] == ids[k]:
            k += 1
        return k

    return ids, [(upto(a), upto(b)) for a, b in spans if upto(b) > upto(a)]


def _span_tokens(enc: Any, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Token ranges overlapping each character span [s0, s1): the token holding s0 to the token
    holding s1 - 1 (two Rust lookups); bisecting the offsets when a span edge is whitespace that
    belongs to no token."""
    out = []
    offsets = None
    for s0, s1 in spans:
        if s1 <= s0:
            continue
        a, b = enc.char_to_token(s0), enc.char_to_token(s1 - 1)
        if a is None or b is None:
            offsets = offsets if offsets is not None else enc.offsets
            a = bisect.bisect_right([o[1] for o in offsets], s0)
            b = bisect.bisect_left([o[0] for o in offsets], s1) - 1
        if b >= a:
            out.append((a, b + 1))
    return out


def _mask_ranges(mask: Sequence[int]) -> list[tuple[int, int]]:
    out, start = [], None
    for i, m in enumerate(list(mask) + [0]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append((start, i))
            start = None
    return out


def _list_columns(flat: dict[str, Any], lengths: list[int]) -> Any:
    import numpy as np
    import pyarrow as pa
    from datasets import Dataset
    from datasets.table import InMemoryTable

    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]), type=pa.int64())
    cols = {k: pa.LargeListArray.from_arrays(offsets, pa.array(v)) for k, v in flat.items()}
    table = pa.table(cols).cast(pa.schema([(k, pa.list_(pa.int64())) for k in cols]))
    return Dataset(InMemoryTable(table))


def _plain(conversation: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if v is not None} for m in conversation]


def _check(ranges: list[tuple[int, int]], index: int) -> None:
    if not any(b > a for a, b in ranges):
        raise DataError(f"training example {index} has no assistant tokens to learn from: its chat has no "
                        "assistant turn, or the chat template renders none of its assistant turns where the "
                        "chat before it ends (see verticalize/models/templates.py)")


@gc_paused
def tokenize_text_windows(texts: Sequence[str], tokenizer: Any, max_length: int, overlap: int,
                          chunk: int = 1024) -> dict[str, Any]:
    """Cut each document (plus EOS) into windows of at most ``max_length`` tokens.

    Consecutive windows of one document share ``overlap`` tokens; in the later window those are
    labelled -100 (context, not learned twice). Returns input_ids, labels and counts.
    """
    if not 0 <= overlap < max_length:
        raise DataError(f"cpt overlap must be in [0, max_length={max_length}), got {overlap}")
    eos = tokenizer.eos_token_id
    step = max_length - overlap
    input_ids: list[list[int]] = []
    labels: list[list[int]] = []
    docs = split = 0
    for start in range(0, len(texts), chunk):
        enc = tokenizer(list(texts[start: start + chunk]), add_special_tokens=False)["input_ids"]
        for ids in enc:
            if eos is not None:
                ids = list(ids) + [eos]
            if not ids:
                continue
            docs += 1
            if len(ids) > max_length:
                split += 1
            pos = 0
            while True:
                win = ids[pos: pos + max_length]
                input_ids.append(win)
                labels.append(win if pos == 0 else [-100] * overlap + win[overlap:])
                if pos + max_length >= len(ids):
                    break
                pos += step
    return {"input_ids": input_ids, "labels": labels,
            "stats": {"documents": docs, "documents_split": split, "windows": len(input_ids),
                      "tokens": sum(len(x) for x in input_ids)}}


def group_rows(input_ids: list[list[int]], labels: list[list[int]], max_length: int) -> dict[str, list[list[int]]]:
    """Concatenate windows, in order, into rows of at most ``max_length`` tokens (next-fit; a window is
    never cut). Padded batches of short documents waste most of a CPU step; grouped rows do not.
    Attention spans the documents of a row, as in classic causal-LM pre-training."""
    rows_i: list[list[int]] = []
    rows_l: list[list[int]] = []
    cur_i: list[int] = []
    cur_l: list[int] = []
    for ids, lab in zip(input_ids, labels):
        if cur_i and len(cur_i) + len(ids) > max_length:
            rows_i.append(cur_i)
            rows_l.append(cur_l)
            cur_i, cur_l = [], []
        cur_i.extend(ids)
        cur_l.extend(lab)
    if cur_i:
        rows_i.append(cur_i)
        rows_l.append(cur_l)
    return {"input_ids": rows_i, "labels": rows_l}
