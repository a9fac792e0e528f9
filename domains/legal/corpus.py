#!/usr/bin/env python3
"""Write corpus.jsonl: raw PRC statute text for continued pre-training (the `cpt` training kind).

One document per law of the civil and commercial law department (民法商法: the Civil Code, the
Company, Contract-era, Insurance, Securities, Negotiable Instruments, Partnership ... laws) that
generate.py draws its questions from: the law's title, then its articles in order as
"第N条 text" lines. Only the articles generate.py keeps for *train* are written -- the ~8% it
reserves for eval never appear here, so pre-training on this corpus cannot leak eval answers.
Long laws (the Civil Code is ~100k characters) are cut into overlapping token windows by the
trainer, not truncated.

Usage: python corpus.py [--seed 0] [--out DIR] [--db PATH]   (same seed as generate.py)
Running twice with the same seed gives a byte-identical file.
"""
import argparse
import json
import os

import generate

DEPARTMENT = "民法商法"


def build(seed, db):
    pools = generate.Pools(generate.load_articles(db), seed)
    docs = []
    for law_id in pools.laws:
        if pools.law_dept[law_id] != DEPARTMENT:
            continue
        arts = sorted(pools.split["train"][law_id], key=lambda a: (a["no_ar"], a["id"]))
        if not arts:
            continue
        law = pools.law_name[law_id]
        text = f"《{law}》\n" + "\n".join(f"{a['no']} {a['text']}" for a in arts)
        docs.append({"id": f"law-corpus-{len(docs) + 1:04d}", "lang": "zh", "law": law, "articles": len(arts),
                     "text": text})
    return docs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=generate.HERE)
    ap.add_argument("--db", default=None)
    a = ap.parse_args()
    docs = build(a.seed, a.db or generate.find_db())
    generate.write_jsonl(os.path.join(a.out, "corpus.jsonl"), docs)
    print(f"corpus: {len(docs)} laws, {sum(d['articles'] for d in docs)} articles, "
          f"{sum(len(d['text']) for d in docs):,} characters")


if __name__ == "__main__":
    main()
