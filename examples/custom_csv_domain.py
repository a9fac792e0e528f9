"""A custom domain from your own CSV: a company's expense policy as question/answer rows.

    python examples/custom_csv_domain.py                                  # SmolLM2-135M, 30 steps, ~1 min on 2 CPUs
    python examples/custom_csv_domain.py --csv my_faq.csv                 # your file: question,answer columns
    python examples/custom_csv_domain.py --base tiny --steps 2            # smoke run

Without --csv the script writes a small sample CSV. Its columns are renamed to the
prompt_completion format's (``columns={"question": "prompt", "answer": "completion"}``); no domain
pack is involved. Prints how many of the policy's answers the trained model reproduces.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from verticalize import Adapter

ALLOWANCES = {"Berlin": 45, "London": 60, "New York": 75, "Paris": 55, "Tokyo": 70, "Madrid": 40}
PHRASINGS = ["What is the daily meal allowance in {c}?", "How much can I spend on meals per day in {c}?",
             "Meal per diem for a trip to {c}?"]


def write_sample_csv(path: Path) -> Path:
    """ACME Corp's meal allowances, three phrasings per city."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["question", "answer"])
        for city, eur in ALLOWANCES.items():
            for q in PHRASINGS:
                w.writerow([q.format(c=city), f"The ACME meal allowance in {city} is {eur} EUR per day."])
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Custom domain from a CSV of question/answer rows.")
    ap.add_argument("--base", default="smollm2-135m", help="model alias, HF id or dir ('tiny': smoke run)")
    ap.add_argument("--steps", type=int, default=30, help="LoRA SFT steps")
    ap.add_argument("--csv", default=None, help="your CSV with question,answer columns (default: a sample)")
    ap.add_argument("--out", default=None, help="run dir to create (default: runs/custom-<base>-<time>)")
    args = ap.parse_args(argv)
    path = Path(args.csv) if args.csv else write_sample_csv(Path(tempfile.mkdtemp()) / "acme_expenses.csv")

    adapter = (
        Adapter(base=args.base)
        .with_data(path, format="prompt_completion", columns={"question": "prompt", "answer": "completion"})
        .clean(dedup="exact")
        .lora(r=16, alpha=32, dropout=0.0)
        .sft(max_steps=args.steps, lr=2e-3, batch_size=4, grad_accum=1, max_length=128, warmup_ratio=0.1)
    )
    run = adapter.train(output_dir=args.out)
    print(f"\nrun dir: {run.output_dir}; mean train loss {run.metrics['train_loss']:.4f}")

    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[::3]  # one phrasing per fact
    answers = run.generate([r["question"] for r in rows], max_new_tokens=24)
    hits = 0
    for row, answer in zip(rows, answers):
        hits += row["answer"].strip() in answer
        print(f"Q: {row['question']}\n   model: {answer.strip()[:100]!r}")
    print(f"reproduced {hits}/{len(rows)} policy answers exactly")


if __name__ == "__main__":
    main()
