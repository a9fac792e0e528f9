"""Benchmark the data pipeline: ``python benchmarks/data_pipeline.py [--n 100000] [--max-length 1024]``.

N synthetic alpaca examples (sampled and perturbed from the bundled ``domains/*/train.jsonl``,
en+zh, ~5% exact duplicates, ~1% carrying e-mails/phones) go load -> convert -> clean (PII
redaction, length filter, exact dedup) -> replay mix (20% general) -> chat template -> tokenize
(assistant masks) -> pack, two ways, in this run, on the same input files:

- ``sdk``: what training really runs: ``build_training_data`` on a recipe, then ``train_sft``'s
  batched tokenization (``verticalize.train.tokenize.tokenize_chats``: input_ids + assistant-only
  labels), then TRL's packing inside the SFTTrainer the SDK builds (``_hf.sft_config`` +
  ``_hf.make_sft_trainer``, ``packing=True``: BFD, padding-free) on the ``tiny`` model (the
  tokenizer is what matters; ``--model smollm2-135m`` for the real one).
- ``reference``: the same chats handed to TRL as conversations, which it tokenizes one example
  at a time; its packed rows must be identical to the ``sdk`` ones (checked, printed).
  ``--no-reference`` skips it.
- ``baseline``: a straightforward unbatched ``Dataset.map`` pipeline of the same steps, with the
  SDK's own per-example functions (format converter, PII redaction, dedup key), so both do the
  same cleaning and keep the same examples (it tokenizes the rendered text and builds no
  assistant-only labels: less work than the sdk paths); then a greedy next-fit packer.

Goals: sdk examples/s >= 3x baseline; packing efficiency (non-padding tokens / (packed rows x
max_length)) >= 95%. ``--baseline-n`` times the baseline on a subset and scales (printed).
``--num-proc`` sets TRL's ``dataset_num_proc`` for the sdk paths (the SDK leaves it None);
``--profile`` prints a cProfile of the sdk path. Timings on a shared machine drift: compare the
paths of one run only.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

DOMAINS = ("finance", "legal", "medical")
KEEP = ("id", "task", "kind", "lang", "instruction", "input", "output", "answer")
_DIGITS = re.compile(r"\d+")


# ---------------------------------------------------------------------------------------------
# synthetic data


def _records(domain: str) -> list[dict[str, Any]]:
    path = REPO / "domains" / domain / "train.jsonl"
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _perturb_digits(text: str, rng: random.Random) -> str:
    """Re-draw every number (same digit count): new amounts, doses, article numbers."""
    def sub(m: re.Match) -> str:
        s = m.group(0)
        if len(s) > 6:
            return s
        first = str(rng.randint(1, 9)) if len(s) > 1 else str(rng.randint(0, 9))
        return first + "".join(str(rng.randint(0, 9)) for _ in range(len(s) - 1))
    return _DIGITS.sub(sub, text)


def _pii(lang: str, rng: random.Random) -> str:
    user = f"{rng.choice(['li.wei', 'j.smith', 'chen_m', 'a.garcia', 'wang.fang'])}{rng.randint(1, 999)}"
    email = f"{user}@{rng.choice(['example.com', 'mail.example.cn', 'corp.example.org'])}"
    if lang == "zh":
        phone = f"1{rng.choice('3456789')}{rng.randint(0, 9)}{rng.randint(0, 99999999):08d}"
        return f"客户联系方式：{phone}，邮箱 {email}。"
    phone = f"({rng.randint(200, 989)}) {rng.randint(200, 989)}-{rng.randint(0, 9999):04d}"
    return f"Client contact: {email}, phone {phone}."


def _row(rec: dict[str, Any], idx: int, prefix: str, rng: random.Random, pool: list[dict[str, Any]],
         context_p: float) -> dict[str, Any]:
    row = {k: rec[k] for k in KEEP if k in rec}
    row["id"] = f"{prefix}-{idx:07d}"
    row["instruction"] = _perturb_digits(rec["instruction"], rng)
    row["output"] = _perturb_digits(rec["output"], rng)
    row["input"] = rec.get("input") or ""
    if "answer" in rec:
        row["answer"] = str(rec["answer"])  # one type per column, as a json dataset needs
    if rng.random() < context_p:  # a context paragraph from another example in the same language
        same = [r for r in (rng.choice(pool) for _ in range(4)) if r.get("lang") == rec.get("lang")]
        if same:
            row["input"] = (row["input"] + "\n\n" if row["input"] else "") + _perturb_digits(same[0]["output"], rng)
    return row


def make_data(out: Path, n: int, n_general: int, seed: int = 0) -> tuple[Path, Path, dict[str, int]]:
    rng = random.Random(seed)
    pool = [r for d in DOMAINS for r in _records(d)]
    rows: list[dict[str, Any]] = []
    dups = pii = 0
    for i in range(n):
        if rows and rng.random() < 0.05:
            rows.append(dict(rng.choice(rows)))  # exact duplicate (same id too)
            dups += 1
            continue
        rec = rng.choice(pool)
        row = _row(rec, i, "syn", rng, pool, 0.9 if not _DIGITS.search(rec["instruction"]) else 0.3)
        if rng.random() < 0.01:
            row["input"] = (row["input"] + "\n" if row["input"] else "") + _pii(row.get("lang", "en"), rng)
            pii += 1
        rows.append(row)
    gpool = _records("general")
    general = [_row(rng.choice(gpool), i, "gen", rng, gpool, 0.0) for i in range(n_general)]
    domain_path, general_path = out / "domain.jsonl", out / "general.jsonl"
    for path, data in ((domain_path, rows), (general_path, general)):
        with path.open("w", encoding="utf-8") as fh:
            for r in data:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    langs = sum(1 for r in rows if r.get("lang") == "zh")
    return domain_path, general_path, {"rows": n, "duplicates": dups, "pii": pii, "zh": langs,
                                       "general_rows": n_general}


# ---------------------------------------------------------------------------------------------
# helpers


class Stages:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._t = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name] = self.times.get(name, 0.0) + now - self._t
        self._t = now

    @property
    def total(self) -> float:
        return sum(self.times.values())


def _recipe(domain_path: Path, general_path: Path, model: str, max_length: int):
    from verticalize.recipe import parse_recipe

    return parse_recipe({
        "base": model,
        "data": [{"path": str(domain_path)}],
        "clean": {"dedup": "exact", "pii": "redact"},
        "replay": {"source": str(general_path), "ratio": 0.2},
        "train": {"kind": "sft", "max_length": max_length, "packing": True},
    })


def load_tokenizer(name: str):
    from verticalize.models import load_tokenizer as _load, resolve_model
    from verticalize.recipe import BaseSpec

    return _load(resolve_model(BaseSpec(model=name)))


# ---------------------------------------------------------------------------------------------
# the SDK path


def warm_up(model: Any, tokenizer: Any, max_length: int, work: Path) -> float:
    """Run the data build on 200 rows and build one SFTTrainer on 16: imports and one-time setup stay
    out of the timed runs."""
    from datasets import Dataset

    from verticalize.data.pipeline import build_training_data
    from verticalize.recipe import SFTSpec
    from verticalize.train import _hf

    t = time.perf_counter()
    (work / "warm").mkdir(exist_ok=True)
    d, g, _ = make_data(work / "warm", 200, 100, seed=1)
    build_training_data(_recipe(d, g, "tiny", max_length))
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(16)]
    args = _hf.sft_config(SFTSpec(max_length=max_length, packing=True), str(work / "warm"), _hf.Device("cpu", False),
                          method=None, has_assistant_masks=True, eos_token=tokenizer.eos_token)
    _hf.make_sft_trainer(model, tokenizer, Dataset.from_list(rows), args, None, [])
    return time.perf_counter() - t


def run_sdk(domain_path: Path, general_path: Path, model: Any, tokenizer: Any, model_name: str,
            max_length: int, work: Path, num_proc: int | None, trl_prep: bool = False) -> dict[str, Any]:
    """The SDK's data path. ``trl_prep``: the chats go to TRL as conversations and TRL tokenizes them
    one example at a time (what train_sft did before it pre-tokenized; the reference for equality)."""
    from datasets import Dataset

    from verticalize.data.pipeline import build_training_data
    from verticalize.models.templates import has_generation_markers
    from verticalize.train import _hf
    from verticalize.train.tokenize import tokenize_chats

    recipe = _recipe(domain_path, general_path, model_name, max_length)
    masks = has_generation_markers(tokenizer.chat_template)
    st = Stages()
    data = build_training_data(recipe)  # load -> convert -> clean -> replay mix
    st.mark("build_training_data (load, convert, clean, mix)")
    convs = [ex["messages"] for ex in data.train if "messages" in ex]  # as train_sft does
    if not trl_prep:
        dataset = tokenize_chats(convs, tokenizer, recipe.train.assistant_only_loss and masks)
        st.mark("train_sft: batched template+tokenize+labels")
    else:
        dataset = Dataset.from_list([{"messages": c} for c in convs])
        st.mark("Dataset.from_list")
    # pre-tokenized labels already carry the masking; conversations leave it to TRL
    args = _hf.sft_config(recipe.train, str(work / "checkpoints"), _hf.Device("cpu", False), method=recipe.method,
                          has_assistant_masks=masks and trl_prep, eos_token=tokenizer.eos_token,
                          dataset_num_proc=num_proc)
    trainer = _hf.make_sft_trainer(model, tokenizer, dataset, args, None, [])
    st.mark("TRL prepare (template+tokenize+labels per example, pack)" if trl_prep else "TRL prepare (pack only)")
    packed = trainer.train_dataset
    seq_lengths = packed["seq_lengths"]
    row_tokens = [sum(s) for s in seq_lengths]
    st.mark("read packed row lengths")
    inner = {s["step"]: s for s in data.report["steps"]}
    return {
        "stages": st.times, "seconds": st.total, "examples": len(dataset), "tokens": sum(row_tokens),
        "rows": len(row_tokens), "row_tokens": row_tokens, "seqs_per_row": [len(s) for s in seq_lengths],
        "masked": bool(recipe.train.assistant_only_loss and masks), "report": inner, "packed": packed,
    }


def same_packed(a: Any, b: Any) -> bool:
    """The two packed datasets hold the same rows (input_ids, labels, seq_lengths) in the same order."""
    cols = ["input_ids", "labels", "seq_lengths"]
    ta, tb = a.data.table.select(cols), b.data.table.select(cols)
    ia, ib = a._indices, b._indices
    same_idx = (ia is None and ib is None) or (ia is not None and ib is not None and ia.equals(ib))
    if ta.schema != tb.schema:
        tb = tb.cast(ta.schema)
    return same_idx and ta.equals(tb)


# ---------------------------------------------------------------------------------------------
# the baseline: a straightforward unbatched Dataset.map pipeline of the same steps


def greedy_pack(lengths: list[int], max_length: int) -> list[int]:
    """Next-fit: append sequences to the current row until the next one does not fit."""
    rows: list[int] = []
    cur = 0
    for n in lengths:
        n = min(n, max_length)
        if cur and cur + n > max_length:
            rows.append(cur)
            cur = 0
        cur += n
    if cur:
        rows.append(cur)
    return rows


def run_baseline(domain_path: Path, general_path: Path, tokenizer: Any, max_length: int, cache: Path,
                 limit: int | None, ratio: float = 0.2, seed: int = 42) -> dict[str, Any]:
    import datasets

    from verticalize.data.clean import dedup_key, example_text
    from verticalize.data.formats import alpaca
    from verticalize.data.pii import redact_pii

    st = Stages()
    ds = datasets.load_dataset("json", data_files=str(domain_path), split="train", cache_dir=str(cache))
    gen = datasets.load_dataset("json", data_files=str(general_path), split="train", cache_dir=str(cache))
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    st.mark("load_dataset(json)")

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        return {"messages": alpaca(row)["messages"]}

    ds = ds.map(convert, remove_columns=ds.column_names)
    st.mark("map convert")
    ds = ds.map(lambda ex: {"messages": [{**m, "content": redact_pii(m["content"])} for m in ex["messages"]]})
    st.mark("map redact")
    ds = ds.filter(lambda ex: len(example_text(ex)) >= 1)
    st.mark("filter length")
    seen: set[bytes] = set()

    def first(ex: dict[str, Any]) -> bool:
        k = dedup_key(example_text(ex))
        if k in seen:
            return False
        seen.add(k)
        return True

    ds = ds.filter(first)
    st.mark("filter dedup")
    gen = gen.map(convert, remove_columns=gen.column_names)
    k = round(ratio * len(ds) / (1 - ratio))
    gen = gen.shuffle(seed=seed).select(range(min(k, len(gen))))
    ds = datasets.concatenate_datasets([ds, gen]).shuffle(seed=seed)
    st.mark("mix (convert general, sample, concat, shuffle)")
    ds = ds.map(lambda ex: {"text": tokenizer.apply_chat_template(ex["messages"], tokenize=False)})
    st.mark("map chat template")
    ds = ds.map(lambda ex: {"input_ids": tokenizer(ex["text"], add_special_tokens=False)["input_ids"]})
    st.mark("map tokenize")
    lengths = [len(x) for x in ds["input_ids"]]
    rows = greedy_pack(lengths, max_length)
    st.mark("greedy pack")
    return {"stages": st.times, "seconds": st.total, "examples": len(ds),
            "tokens": sum(min(n, max_length) for n in lengths), "rows": len(rows), "row_tokens": rows}


# ---------------------------------------------------------------------------------------------


def _print_stages(title: str, res: dict[str, Any], scale: float = 1.0) -> None:
    print(f"\n{title}: {res['examples']:,} examples, {res['tokens']:,} tokens in {res['seconds']:.1f} s "
          f"-> {res['examples'] / res['seconds']:,.0f} examples/s")
    for name, sec in res["stages"].items():
        extra = f"  (x{scale:.2f} -> {sec * scale:.1f} s)" if scale != 1.0 else ""
        print(f"  {name:<56} {sec:8.2f} s  {sec / res['seconds']:5.1%}{extra}")


def _print_packing(res: dict[str, Any], max_length: int) -> float:
    eff = res["tokens"] / (res["rows"] * max_length)
    rt = res["row_tokens"]
    print(f"  TRL packed rows (BFD, padding-free, max_length {max_length}): {res['rows']:,} rows, tokens/row "
          f"min {min(rt)} mean {sum(rt) / len(rt):.1f} max {max(rt)}, {sum(res['seqs_per_row']) / len(rt):.1f} "
          f"sequences/row, {sum(1 for x in rt if x == max_length):,} rows exactly full -> efficiency {eff:.1%}; "
          f"assistant-only labels: {res['masked']}")
    return eff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="synthetic domain examples")
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--model", default="tiny", help="base whose tokenizer is used (tiny loads fast)")
    ap.add_argument("--baseline-n", type=int, default=None,
                    help="time the baseline on the first N rows only and scale to the sdk count (default: all)")
    ap.add_argument("--num-proc", type=int, default=None, help="TRL dataset_num_proc for the sdk paths")
    ap.add_argument("--no-reference", action="store_true",
                    help="skip the reference run of TRL's per-example preparation (and the equality check)")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--profile", action="store_true", help="cProfile the sdk path, print the top functions")
    args = ap.parse_args()

    import datasets
    import transformers

    datasets.disable_progress_bars()
    datasets.disable_caching()  # nothing is reused between the paths or between runs
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    from verticalize.models import load_model, resolve_model
    from verticalize.recipe import BaseSpec

    with tempfile.TemporaryDirectory(prefix="vz-bench-data-") as tmp:
        tmp_p = Path(tmp)
        t = time.perf_counter()
        domain_path, general_path, info = make_data(tmp_p, args.n, max(2000, int(args.n * 0.3)))
        print(f"data: {info['rows']:,} domain rows ({info['zh']:,} zh, {info['duplicates']:,} exact duplicates, "
              f"{info['pii']:,} with PII), {info['general_rows']:,} general rows; written in "
              f"{time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        tokenizer = load_tokenizer(args.model)
        model = load_model(resolve_model(BaseSpec(model="tiny")))  # weights do not matter for data prep
        warm = warm_up(model, tokenizer, args.max_length, tmp_p)
        print(f"tokenizer {args.model} + tiny model loaded, warmed up in {time.perf_counter() - t:.1f} s "
              f"(data build on 200 rows + SFTTrainer on 16 rows: {warm:.1f} s; not timed below)")

        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
        sdk = run_sdk(domain_path, general_path, model, tokenizer, args.model, args.max_length, tmp_p, args.num_proc)
        if args.profile:
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        _print_stages(f"SDK path (build_training_data + train_sft's batched tokenization + TRL packing, "
                      f"dataset_num_proc={args.num_proc})", sdk)
        rep = sdk["report"]
        print("  clean/mix report: " + "; ".join(
            f"{k} {v['in']}->{v['out']}" + (f" ({v['changed']} redacted)" if "changed" in v else "")
            for k, v in rep.items() if isinstance(v.get("in"), int)) + (
            f"; replay +{rep['replay']['general_examples']:,} general" if "replay" in rep else ""))
        eff = _print_packing(sdk, args.max_length)
        sdk_rate = sdk["examples"] / sdk["seconds"]

        props: dict[str, dict[str, Any]] = {}
        if not args.no_reference:
            gc.collect()
            res = run_sdk(domain_path, general_path, model, tokenizer, args.model, args.max_length, tmp_p,
                          args.num_proc, trl_prep=True)
            _print_stages("REFERENCE: TRL's own per-example preparation of the same chats", res)
            same = same_packed(sdk["packed"], res["packed"])
            print(f"  packed rows identical to the SDK path (input_ids, labels, seq_lengths, order): {same}")
            del res["packed"], res["row_tokens"], res["seqs_per_row"]
            props["TRL per-example prep"] = res
        del sdk["packed"], sdk["row_tokens"], sdk["seqs_per_row"]
        gc.collect()

        speedup = None
        if not args.skip_baseline:
            cache = tmp_p / "hf-cache"
            base = run_baseline(domain_path, general_path, tokenizer, args.max_length, cache, args.baseline_n)
            scale = 1.0
            if args.baseline_n is not None and args.baseline_n < args.n:
                scale = sdk["examples"] / base["examples"]
                print(f"\nNOTE: baseline timed on the first {args.baseline_n:,} rows only and scaled by "
                      f"{scale:.2f} (linear) to the sdk path's example count")
            _print_stages("Baseline (unbatched Dataset.map of the same steps, no labels; greedy next-fit pack)",
                          base, scale)
            beff = base["tokens"] / (base["rows"] * args.max_length)
            print(f"  greedy next-fit packed rows: {base['rows']:,}, efficiency {beff:.1%}")
            base_rate = base["examples"] / base["seconds"]
            if scale == 1.0:
                d_ex = abs(sdk["examples"] - base["examples"]) / base["examples"]
                d_tok = abs(sdk["tokens"] - base["tokens"]) / base["tokens"]
                ok = d_ex < 0.01 and d_tok < 0.02
                print(f"\ncheck: examples sdk {sdk['examples']:,} vs baseline {base['examples']:,} ({d_ex:.2%}); "
                      f"tokens sdk {sdk['tokens']:,} vs baseline {base['tokens']:,} ({d_tok:.2%}) -> "
                      f"{'OK' if ok else 'MISMATCH'}")
            speedup = sdk_rate / base_rate
            print(f"\nthroughput (examples/s): sdk as shipped {sdk_rate:,.0f}"
                  + "".join(f", sdk {k} {r['examples'] / r['seconds']:,.0f}" for k, r in props.items())
                  + f", baseline {base_rate:,.0f}")
        print()
        if speedup is not None:
            print(f"RESULT speedup {speedup:.2f}x (goal >= 3x) {'PASS' if speedup >= 3 else 'FAIL'}")
            for k, r in props.items():
                print(f"reference: {k} {r['examples'] / r['seconds'] / base_rate:.2f}x the baseline")
        print(f"RESULT packing efficiency {eff:.1%} (goal >= 95%) {'PASS' if eff >= 0.95 else 'FAIL'}")


if __name__ == "__main__":
    main()
