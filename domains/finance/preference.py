#!/usr/bin/env python3
"""Write preference.jsonl: preference pairs for DPO (train: {kind: dpo}) from this pack's train.jsonl.

For each numeric question (one in three, deterministic) the chosen response is the gold worked
answer; the rejected one is the same reasoning with a wrong result -- one of the mistakes the
tasks invite: a percentage left as a fraction (÷100), the figure off by 10%, a sign flip, or a
digit slip -- substituted everywhere the result appears. Multiple-choice questions get a rejected
response naming a wrong option. Only train questions are used, so eval stays unseen.

Usage: python preference.py [--seed 0]     Running twice gives a byte-identical file.
"""
import argparse
import json
import os
import random
import re

HERE = os.path.dirname(os.path.abspath(__file__))


def fmt_like(value, text):
    """Format ``value`` with as many decimals as ``text`` shows."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"{value:.{decimals}f}"


def wrong_number(ans_text, rng):
    x = float(ans_text)
    kind = rng.choice(["fraction", "off10", "sign", "digit"])
    if kind == "fraction" and x != 0:
        return fmt_like(x / 100, ans_text + "00"), kind
    if kind == "sign" and x != 0:
        return fmt_like(-x, ans_text), kind
    if kind == "digit":
        digits = [i for i, c in enumerate(ans_text) if c.isdigit()]
        i = rng.choice(digits)
        d = str((int(ans_text[i]) + rng.randint(1, 8)) % 10)
        out = ans_text[:i] + d + ans_text[i + 1:]
        if out != ans_text and not (out.startswith("0") and len(out) > 1 and out[1].isdigit()):
            return out, kind
    return fmt_like(x * rng.choice([0.9, 1.1]), ans_text), "off10"


def pair(row, rng):
    prompt = row["instruction"] + (("\n\n" + row["input"]) if row.get("input") else "")
    if row["kind"] == "numeric":
        m = list(re.finditer(r"-?\d+(?:\.\d+)?", row["output"]))
        if not m:
            return None
        ans = m[-1].group(0)  # the stated result closes every worked answer
        bad, mistake = wrong_number(ans, rng)
        if bad == ans:
            return None
        rejected = re.sub(rf"(?<![\d.]){re.escape(ans)}(?!\.?\d)", bad, row["output"])
    elif row["kind"] == "mc":
        choices = row.get("choices") or []
        letters = "ABCD"[: len(choices)]
        wrong = [L for L in letters if L != row["answer"]]
        if not wrong:
            return None
        L = rng.choice(wrong)
        rejected = row["output"].replace(f"{row['answer']}. ", f"{L}. ", 1)
        rejected = rejected.replace(choices[letters.index(row["answer"])], choices[letters.index(L)])
        mistake = "wrong_option"
    else:
        return None
    if rejected == row["output"]:
        return None
    return {"id": row["id"].replace("fin-", "fin-pref-"), "task": row["task"], "lang": row["lang"],
            "mistake": mistake, "prompt": prompt, "chosen": row["output"], "rejected": rejected}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=HERE)
    a = ap.parse_args()
    rng = random.Random(f"fin-pref:{a.seed}")
    with open(os.path.join(HERE, "train.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    out = []
    for i, row in enumerate(rows):
        if i % 3 == 0:
            p = pair(row, rng)
            if p is not None:
                out.append(p)
    with open(os.path.join(a.out, "preference.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for p in out:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    print(f"preference: {len(out)} pairs")


if __name__ == "__main__":
    main()
