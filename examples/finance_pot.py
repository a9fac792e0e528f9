"""Finance with Program-of-Thoughts: LoRA SFT on SmolLM2-135M, scored before and after training.

    python examples/finance_pot.py                                   # the quickstart: ~4 min on 2 CPU cores
    python examples/finance_pot.py --base tiny --steps 2 --eval-max 4 --max-new-tokens 8  # smoke run

Numeric finance questions are answered by Python programs run in the PoT sandbox; 20% general
replay guards against forgetting. Prints the per-task scores before and after.
"""

from __future__ import annotations

import argparse

from verticalize import Adapter

TASKS = ["percent_change", "profit_margin", "simple_interest", "currency_conversion", "bond_current_yield",
         "financial_ratio"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Finance PoT: LoRA SFT, before/after scores.")
    ap.add_argument("--base", default="smollm2-135m", help="model alias, HF id or dir ('tiny': smoke run)")
    ap.add_argument("--steps", type=int, default=30, help="LoRA SFT steps")
    ap.add_argument("--eval-max", type=int, default=24, help="held-out questions scored (4 per task at 24)")
    ap.add_argument("--max-new-tokens", type=int, default=72, help="longest generated answer")
    ap.add_argument("--out", default=None, help="run dir to create (default: runs/finance-<base>-<time>)")
    args = ap.parse_args(argv)

    adapter = (
        Adapter(base=args.base)
        .with_domain("finance")
        .clean(dedup="exact", pii="redact", languages=["en"], tasks=TASKS)
        .replay("general", ratio=0.2)
        .lora(r=16, alpha=32, dropout=0.0)
        .sft(max_steps=args.steps, lr=2e-3, batch_size=4, grad_accum=1, max_length=256, warmup_ratio=0.1)
        .pot(timeout_s=2.0)
        .evaluate_with("finance", languages=["en"], tasks=TASKS, max_examples=args.eval_max, batch_size=24,
                       generation={"max_new_tokens": args.max_new_tokens})
    )
    run = adapter.train(output_dir=args.out)

    m, report = run.metrics, run.report
    print(f"\nrun dir: {run.output_dir}")
    print(f"trained {m['global_step']} steps on {m['examples']} examples, mean train loss {m['train_loss']:.4f}")
    for row in report.rows():
        print(f"  {row['task']:<20} {row['before']:.2f} -> {row['after']:.2f}  (n={row['n']})")
    s = report.scores["finance"]
    print(f"finance: before {s['before']:.3f} -> after {s['after']:.3f} ({s['delta']:+.3f})")


if __name__ == "__main__":
    main()
