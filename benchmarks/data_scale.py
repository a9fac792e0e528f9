"""Data at corpus scale: the Python-list path against the Arrow engine, and a streamed corpus.

    python benchmarks/data_scale.py [--n 1000000] [--corpus-gb 2] [--num-proc 2] [--rounds 1]

Generated here (nothing downloaded): ``--n`` alpaca examples (benchmarks/data_pipeline.py's synthetic
finance/legal/medical rows, en+zh, ~5% exact duplicates, ~1% with e-mails/phones) and a ``--corpus-gb``
JSON Lines text corpus (paragraphs drawn from the bundled packs, renumbered). Each measurement runs in
its own process (its peak RSS is that process's ``ru_maxrss``, plus the largest forked worker's),
alternating, in the same run; the clock starts after the imports (``datasets`` included: every training
run imports it through TRL, whichever engine built the data):

1. **examples**: ``build_training_data`` of one recipe (load -> convert -> PII redaction -> length ->
   quality -> exact dedup -> replay 20%) on the Python path (``processing.engine: python``, its own
   2-process fork pool) and on Arrow (``engine: arrow``, ``num_proc``), cold cache; then Arrow again with
   the cache warm. Printed: examples/s, peak RSS, the ratio arrow/python, cached/cold time.
2. **corpus**: the ``--corpus-gb`` corpus read to the end as a streamed cpt data set
   (``processing.streaming: true``: exact dedup, quality, length) -- peak RSS and MB/s; ``--corpus-python``
   adds the Python path on the same corpus for comparison (it holds everything in memory).

Goals (issue: data at corpus scale): arrow >= 3x python examples/s at 2 processes; streamed corpus
peak RSS < 2 GB; cached rerun < 5% of the cold build.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def make_corpus(path: Path, gb: float, seed: int = 0) -> dict[str, int]:
    """JSON Lines documents of 3-12 paragraphs from the packs' texts, numbers re-drawn."""
    from data_pipeline import DOMAINS, _perturb_digits, _records

    rng = random.Random(seed)
    paras = [r["output"] for d in (*DOMAINS, "general") for r in _records(d) if len(r.get("output", "")) > 40]
    target = int(gb * (1 << 30))
    docs = written = 0
    with path.open("w", encoding="utf-8") as fh:
        while written < target:
            body = "\n\n".join(_perturb_digits(rng.choice(paras), rng) for _ in range(rng.randint(3, 12)))
            line = json.dumps({"text": body, "id": f"doc-{docs:08d}"}, ensure_ascii=False) + "\n"
            fh.write(line)
            written += len(line.encode("utf-8"))
            docs += 1
    return {"documents": docs, "bytes": written}


def _recipe(kind: str, data: Path, general: Path | None, engine: str, num_proc: int, cache: Path,
            streaming: bool = False):
    from verticalize.recipe import parse_recipe

    r: dict = {"base": "tiny", "data": [{"path": str(data), "format": "alpaca" if kind == "sft" else "text"}],
               "clean": {"dedup": "exact", "pii": "redact" if kind == "sft" else "keep"},
               "processing": {"engine": engine, "num_proc": num_proc, "cache_dir": str(cache), "streaming": streaming},
               "train": {"kind": kind, "max_steps": 1}}
    if general is not None:
        r["replay"] = {"source": str(general), "ratio": 0.2}
    return parse_recipe(r)


def child(args: argparse.Namespace) -> None:
    """One measurement, in this process; prints one JSON line."""
    import datasets  # noqa: F401 -- imported before the clock: every training run imports it (TRL does), ~1 s

    from verticalize.data.pipeline import build_training_data

    recipe = _recipe(args.kind, Path(args.data), Path(args.general) if args.general else None, args.engine,
                     args.num_proc, Path(args.cache), args.streaming)
    t0 = time.perf_counter()
    built = build_training_data(recipe, kind=args.kind)
    n = 0
    if args.streaming:
        for _ in built.train:
            n += 1
    else:
        n = len(built.train)
    secs = time.perf_counter() - t0
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": secs, "out": n, "rss_mb": me, "child_rss_mb": kids,
                      "cached": bool(built.report.get("cache", {}).get("hit"))}))


def measure(name: str, **kw) -> dict:
    cmd = [sys.executable, __file__, "--child", *sum(([f"--{k.replace('_', '-')}", str(v)] for k, v in kw.items()
                                                       if v not in (None, False, True)), []),
           *[f"--{k.replace('_', '-')}" for k, v in kw.items() if v is True]]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if out.returncode:
        sys.exit(f"{name} failed:\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["peak_mb"] = res["rss_mb"] + res["child_rss_mb"]
    print(f"  {name:<22} {res['seconds']:8.1f} s   out {res['out']:>9}   peak RSS {res['rss_mb']:7.0f} MB "
          f"(+ largest worker {res['child_rss_mb']:6.0f} MB){'   cached' if res['cached'] else ''}", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--corpus-gb", type=float, default=2.0)
    ap.add_argument("--num-proc", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--corpus-python", action="store_true", help="also the Python path on the corpus (all in RAM)")
    ap.add_argument("--work", default=None, help="where the generated data goes (default: a temp dir, removed)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for k in ("kind", "data", "general", "engine", "cache"):
        ap.add_argument(f"--{k}", help=argparse.SUPPRESS)
    ap.add_argument("--streaming", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    from data_pipeline import make_data

    work = Path(args.work or tempfile.mkdtemp(prefix="vz-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(f"data in {work}; {os.cpu_count()} cores; num_proc {args.num_proc}", flush=True)
        results: dict[str, list[dict]] = {}
        if args.n:
            t = time.perf_counter()
            domain, general, facts = make_data(work, args.n, max(1000, args.n // 10))
            print(f"examples: {facts} ({domain.stat().st_size / 2**20:.0f} MiB) generated in "
                  f"{time.perf_counter() - t:.0f} s", flush=True)
            common = dict(kind="sft", data=domain, general=general, num_proc=args.num_proc)
            for rnd in range(args.rounds):
                cache = work / f"cache-{rnd}"
                order = ["python", "arrow"] if rnd % 2 == 0 else ["arrow", "python"]
                for eng in order:
                    results.setdefault(eng, []).append(measure(f"{eng} (round {rnd + 1})", engine=eng,
                                                               cache=cache, **common))
                results.setdefault("arrow cached", []).append(measure(f"arrow cached (round {rnd + 1})",
                                                                      engine="arrow", cache=cache, **common))
                shutil.rmtree(cache, ignore_errors=True)
            py, ar, hit = (sum(r["seconds"] for r in results[k]) / args.rounds for k in ("python", "arrow", "arrow cached"))
            outs = {results[k][0]["out"] for k in ("python", "arrow", "arrow cached")}
            print(f"\n{args.n} examples -> {results['arrow'][0]['out']} (identical counts: {len(outs) == 1})")
            print(f"  python {args.n / py:9.0f} ex/s   peak {max(r['peak_mb'] for r in results['python']):6.0f} MB")
            print(f"  arrow  {args.n / ar:9.0f} ex/s   peak {max(r['peak_mb'] for r in results['arrow']):6.0f} MB   "
                  f"ratio arrow/python {py / ar:.2f}x (goal >= 3x)")
            print(f"  cached rerun {hit:.1f} s = {100 * hit / ar:.1f}% of the cold arrow build (goal < 5%)", flush=True)
        if args.corpus_gb:
            corpus = work / "corpus.jsonl"
            t = time.perf_counter()
            facts = make_corpus(corpus, args.corpus_gb)
            print(f"\ncorpus: {facts['documents']} documents, {facts['bytes'] / 2**30:.2f} GiB, generated in "
                  f"{time.perf_counter() - t:.0f} s", flush=True)
            st = measure("streamed (arrow)", kind="cpt", data=corpus, engine="arrow", num_proc=1,
                         cache=work / "cache-c", streaming=True)
            mbs = facts["bytes"] / 2**20 / st["seconds"]
            print(f"  streamed: {mbs:.1f} MB/s, {st['out'] / st['seconds']:.0f} docs/s, peak RSS {st['peak_mb']:.0f} MB "
                  f"(goal < 2048 MB)", flush=True)
            if args.corpus_python:
                pyc = measure("python (in RAM)", kind="cpt", data=corpus, engine="python", num_proc=args.num_proc,
                              cache=work / "cache-c")
                print(f"  python path on the corpus: peak RSS {pyc['peak_mb']:.0f} MB, {pyc['seconds']:.0f} s")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
