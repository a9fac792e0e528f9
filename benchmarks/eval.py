"""Benchmark batched vs one-at-a-time evaluation: ``python benchmarks/eval.py [--model smollm2-135m] [--n 24]``.

1. Generation: greedy answers to ``--n`` English numeric questions of the finance suite (prompts by
   ``chat_prompt``, spread evenly over the numeric tasks), through ``generate(..., batch_size=n)``
   (left padding) and through ``generate(..., batch_size=1)``, timed in the same run after a warm-up.
   The outputs must be the same text for every prompt (fp32 greedy: left padding with the attention
   mask and position ids derived from it must not change a token); goal: batched >= 3x faster.
2. Multiple choice: log-likelihood scoring of the suite's ``term_mc`` task (English, as
   ``verticalize.evals.tasks`` scores it: one continuation per lettered option), seconds per question
   with ``--mc-batch-size`` vs batch size 1; the predicted letters must be the same. On a CPU this
   is prefill, bound by compute, so batching cannot make it cheaper (padding and the log-softmax
   over every position's full vocabulary make the batched run a little slower).

Runs offline. With ``--threads 1`` (default) torch uses one intra-op thread: on a small shared CPU,
OpenMP with a thread per core slows small-batch decoding many times over as soon as anything else
runs (threads spin at every barrier waiting for a descheduled peer); ``--threads 0`` keeps torch's
default. Exit status 1 when an output or a predicted letter differs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from verticalize.evals.engine import chat_prompt, generate, loglikelihoods  # noqa: E402
from verticalize.evals.suite import load_suite  # noqa: E402
from verticalize.evals.tasks import _answer_prefix, _letter  # noqa: E402
from verticalize.models import load_model, load_tokenizer, resolve_model  # noqa: E402
from verticalize.recipe import BaseSpec, GenerationSpec  # noqa: E402


def pick_numeric(examples: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """``n`` English numeric examples, round-robin over the tasks (deterministic)."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ex in examples:
        if ex.get("kind") == "numeric" and ex.get("lang") == "en":
            by_task[ex["task"]].append(ex)
    picked: list[dict[str, Any]] = []
    depth = max((len(v) for v in by_task.values()), default=0)
    for i in range(depth):
        for task in sorted(by_task):
            if i < len(by_task[task]) and len(picked) < n:
                picked.append(by_task[task][i])
    return picked


def mc_pairs(tok: Any, items: list[dict[str, Any]]) -> tuple[list[tuple[str, str]], list[tuple[int, int]]]:
    """(prompt, continuation) pairs as ``tasks._mc`` builds them, and each question's span."""
    pairs: list[tuple[str, str]] = []
    spans: list[tuple[int, int]] = []
    for ex in items:
        prompt = chat_prompt(tok, ex["messages"])
        prefix = _answer_prefix(ex)
        conts = [f"{prefix}{_letter(i)}. {c}" for i, c in enumerate(ex["choices"])]
        spans.append((len(pairs), len(conts)))
        pairs += [(prompt, c) for c in conts]
    return pairs, spans


def mc_predictions(lls: list[tuple[float, int]], spans: list[tuple[int, int]],
                   pairs: list[tuple[str, str]], items: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Predicted letters by summed log-prob (acc) and per character (acc_norm), as ``tasks._mc``."""
    preds, preds_norm = [], []
    for ex, (start, k) in zip(items, spans):
        scores = [lls[start + i][0] for i in range(k)]
        plen = len(_answer_prefix(ex))
        norm = [s / max(1, len(pairs[start + i][1]) - plen) for i, s in enumerate(scores)]
        preds.append(_letter(max(range(k), key=scores.__getitem__)))
        preds_norm.append(_letter(max(range(k), key=norm.__getitem__)))
    return preds, preds_norm


def first_divergence(a: str, b: str) -> int:
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return i


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m", help="model alias, hub id or local dir")
    ap.add_argument("--n", type=int, default=24, help="numeric questions to generate for")
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--mc-n", type=int, default=4, help="term_mc questions to score (0: skip)")
    ap.add_argument("--mc-batch-size", type=int, default=16, help="batch size of the batched MC run")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    args = ap.parse_args()

    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    resolved = resolve_model(BaseSpec(model=args.model))
    (tok, model), load_s = timed(lambda: (load_tokenizer(resolved), load_model(resolved)))
    model.eval()
    print(f"model:      {args.model} ({sum(p.numel() for p in model.parameters()) / 1e6:.0f}M params, "
          f"{model.dtype}, {resolved.source}) loaded in {load_s:.1f} s; torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), {os.cpu_count()} cpus")

    suite = load_suite("finance")
    items = pick_numeric(list(suite.examples), args.n)
    if not items:
        print("no English numeric examples in the finance suite")
        return 1
    prompts = [chat_prompt(tok, ex["messages"]) for ex in items]
    lens = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    gen = GenerationSpec(max_new_tokens=args.max_new_tokens)  # greedy (temperature 0)
    n = len(prompts)
    print(f"generate:   {n} prompts from {len({ex['task'] for ex in items})} numeric tasks, "
          f"{min(lens)}-{max(lens)} tokens, greedy, max_new_tokens {gen.max_new_tokens}")

    # warm-up: both paths (padded batch and single prompt), a few tokens
    warm = GenerationSpec(max_new_tokens=4)
    generate(model, tok, prompts[:2], warm, batch_size=2)
    generate(model, tok, prompts[:1], warm, batch_size=1)

    batched, t_batched = timed(generate, model, tok, prompts, gen, batch_size=n)
    seq, t_seq = timed(generate, model, tok, prompts, gen, batch_size=1)
    same = [b == s for b, s in zip(batched, seq)]
    n_same = sum(same)
    new_tokens = [len(tok(s[0], add_special_tokens=False)["input_ids"]) for s in seq]
    speedup = t_seq / t_batched
    print(f"            batched (batch_size={n}): {t_batched:7.2f} s  ({t_batched / n:.3f} s/prompt)")
    print(f"            sequential (batch_size=1): {t_seq:7.2f} s  ({t_seq / n:.3f} s/prompt, "
          f"{sum(new_tokens)} new tokens in all, {sum(new_tokens) / t_seq:.1f} tok/s)")
    print(f"            identical greedy outputs: {n_same}/{n}")
    if n_same < n:
        k = same.index(False)
        b, s = batched[k][0], seq[k][0]
        at = first_divergence(b, s)
        print(f"            {n - n_same} differ; first: prompt {k} ({items[k].get('id')}, {lens[k]} tokens), "
              f"diverging at character {at}:")
        print(f"              batched:    {b!r}")
        print(f"              sequential: {s!r}")
    print(f"            sample: {seq[0][0][:120]!r}")

    mc_rows: list[tuple[str, float, float]] = []
    mc_ok = True
    if args.mc_n > 0:
        mc_items = [ex for ex in suite.examples if ex.get("task") == "term_mc" and ex.get("lang") == "en"]
        mc_items = mc_items[: args.mc_n]
        pairs, spans = mc_pairs(tok, mc_items)
        q = len(mc_items)
        loglikelihoods(model, tok, pairs[:2], batch_size=2)  # warm-up
        lb, t_lb = timed(loglikelihoods, model, tok, pairs, batch_size=args.mc_batch_size)
        ls, t_ls = timed(loglikelihoods, model, tok, pairs, batch_size=1)
        pb, pbn = mc_predictions(lb, spans, pairs, mc_items)
        ps, psn = mc_predictions(ls, spans, pairs, mc_items)
        same_letters = sum(a == b and c == d for a, b, c, d in zip(pb, ps, pbn, psn))
        mc_ok = same_letters == q
        max_diff = max(abs(a[0] - b[0]) for a, b in zip(lb, ls))
        refs = [str(ex["answer"]).strip()[:1].upper() for ex in mc_items]
        acc = sum(p == r for p, r in zip(pb, refs)) / q
        ptoks = sum(len(tok(p + c, add_special_tokens=False)["input_ids"]) for p, c in pairs)
        print(f"mc:         term_mc (en) {q} questions x {len(pairs) // q} options = {len(pairs)} continuations, "
              f"{ptoks} tokens")
        print(f"            batched (batch_size={args.mc_batch_size}): {t_lb:6.2f} s  ({t_lb / q:.3f} s/question)")
        print(f"            sequential (batch_size=1): {t_ls:6.2f} s  ({t_ls / q:.3f} s/question)")
        print(f"            identical predicted letters (acc and acc_norm): {same_letters}/{q}; "
              f"max |log-lik batched - sequential| {max_diff:.2e}; acc {acc:.2f}")
        mc_rows.append((f"mc log-lik (bs={args.mc_batch_size} vs 1)", t_lb / q, t_ls / q))

    print()
    print(f"{'':34s} {'batched':>10s} {'sequential':>11s} {'speedup':>8s}")
    print(f"{f'generate (bs={n} vs 1), s/prompt':34s} {t_batched / n:10.3f} {t_seq / n:11.3f} {speedup:7.1f}x")
    for name, b, s in mc_rows:
        print(f"{name + ', s/question':34s} {b:10.3f} {s:11.3f} {s / b:7.1f}x")
    print(f"total runtime {time.perf_counter() - t_start:.0f} s")
    print(f"RESULT batched/sequential speedup: {speedup:.1f}x (goal >= 3x), identical {n_same}/{n}"
          + (f", mc letters {'identical' if mc_ok else 'DIFFER'}" if mc_rows else ""))
    return 0 if n_same == n and mc_ok else 1


if __name__ == "__main__":
    sys.exit(main())
