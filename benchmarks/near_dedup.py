"""Benchmark MinHash LSH near dedup: ``python benchmarks/near_dedup.py [--n 100000] [--chars 170]``.

N short texts (en and zh, drawn from the words and characters of the bundled ``domains/*/train.jsonl``,
about ``--chars`` characters each), 10% of them an earlier text with one word (en) or one character
(zh) changed (true Jaccard about 0.9). Times ``signatures`` (normalise, character 5-grams, 128 permutations) and
``near_duplicates`` (LSH bands, greedy decision) on one core, and checks that the planted near
duplicates are found.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _texts(n: int, chars: int, seed: int = 0) -> tuple[list[str], int]:
    words: list[str] = []
    hanzi: list[str] = []
    for dom in ("finance", "legal", "medical"):
        for line in (REPO / "domains" / dom / "train.jsonl").read_text("utf-8").splitlines():
            rec = json.loads(line) if line.strip() else {}
            text = " ".join(str(rec.get(k, "")) for k in ("instruction", "input", "output"))
            words += text.split()
            hanzi += [c for c in text if "\u4e00" <= c <= "\u9fff"]
    rng = random.Random(seed)
    out: list[str] = []
    planted = 0
    for _ in range(n):
        if out and rng.random() < 0.1:
            src = out[rng.randrange(len(out))]
            if " " in src:  # en: one word
                w = src.split(" ")
                w[rng.randrange(len(w))] = rng.choice(words)
                out.append(" ".join(w))
            else:  # zh: one character
                t = list(src)
                t[rng.randrange(len(t))] = rng.choice(hanzi)
                out.append("".join(t))
            planted += 1
        elif rng.random() < 0.5:
            s = ""
            while len(s) < chars:
                s += rng.choice(words) + " "
            out.append(s.strip())
        else:
            out.append("".join(rng.choice(hanzi) for _ in range(chars // 2)))
    return out, planted


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--chars", type=int, default=170)
    ap.add_argument("--threshold", type=float, default=0.8)
    args = ap.parse_args()
    from verticalize.data.minhash import near_duplicates, signatures

    texts, planted = _texts(args.n, args.chars)
    mean = sum(map(len, texts)) / len(texts)
    t0 = time.perf_counter()
    sigs = signatures(texts)
    t1 = time.perf_counter()
    res = near_duplicates(sigs, threshold=args.threshold)
    t2 = time.perf_counter()
    print(f"{args.n} texts, {mean:.0f} chars on average, {planted} planted near duplicates")
    print(f"signatures      {t1 - t0:6.2f} s  {args.n / (t1 - t0):9.0f} texts/s")
    print(f"near_duplicates {t2 - t1:6.2f} s  {args.n / (t2 - t1):9.0f} texts/s  ({res.removed} removed)")
    print(f"both            {t2 - t0:6.2f} s  {args.n / (t2 - t0):9.0f} texts/s")


if __name__ == "__main__":
    main()
