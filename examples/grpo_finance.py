"""Does verifiable-reward RL help after SFT? SmolLM2-135M on finance PoT: SFT alone vs SFT then GRPO.

    python examples/grpo_finance.py                          # SmolLM2-135M, CPU: see the README for the time it takes
    python examples/grpo_finance.py --base tiny --steps 2 --grpo-steps 2 --eval-max 4 --max-new-tokens 8  # smoke run

Two runs with the same LoRA SFT stage (same data, steps and seed): the first stops there; the second
continues the same adapter with GRPO, rewarded by the PoT executor's answer against the gold one
(``pot_answer``) and the answer's format (``format``). Both are scored on the same held-out finance
questions; the script prints each score with its 95% interval and the change GRPO made with its own
interval (computed as if the two scores were independent: conservative for the same questions).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from verticalize import Adapter

TASKS = ["percent_change", "profit_margin", "simple_interest", "currency_conversion", "bond_current_yield",
         "financial_ratio"]


def _adapter(args: argparse.Namespace) -> Adapter:
    return (
        Adapter(base=args.base)
        .with_domain("finance")
        .clean(dedup="exact", pii="redact", languages=["en"], tasks=TASKS)
        .lora(r=16, alpha=32, dropout=0.0)
        .sft(max_steps=args.steps, lr=2e-3, batch_size=4, grad_accum=1, max_length=256, warmup_ratio=0.1, seed=args.seed)
        .pot(timeout_s=2.0)
        .evaluate_with("finance", languages=["en"], tasks=TASKS, max_examples=args.eval_max, batch_size=24,
                       when=["after"], generation={"max_new_tokens": args.max_new_tokens})
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Finance PoT: SFT alone vs SFT then GRPO, scored with 95% intervals.")
    ap.add_argument("--base", default="smollm2-135m", help="model alias, HF id or dir ('tiny': smoke run)")
    ap.add_argument("--steps", type=int, default=30, help="LoRA SFT steps (both runs)")
    ap.add_argument("--grpo-steps", type=int, default=20, help="GRPO steps after SFT (second run)")
    ap.add_argument("--grpo-lr", type=float, default=5e-5, help="GRPO learning rate (LoRA)")
    ap.add_argument("--generations", type=int, default=4, help="answers sampled per prompt")
    ap.add_argument("--prompts", type=int, default=2, help="prompts per GRPO step")
    ap.add_argument("--completion-tokens", type=int, default=128, help="longest sampled answer in GRPO")
    ap.add_argument("--eval-max", type=int, default=72, help="held-out questions scored (72: all English ones of TASKS)")
    ap.add_argument("--max-new-tokens", type=int, default=96, help="longest generated answer at evaluation")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=None, help="dir for the two run dirs (default: runs/grpo-finance-<base>)")
    args = ap.parse_args(argv)

    out = Path(args.out or f"runs/grpo-finance-{Path(args.base).name}")
    sft = _adapter(args)
    grpo = sft.then("grpo", max_steps=args.grpo_steps, lr=args.grpo_lr, rewards=["pot_answer", "format"],
                    num_generations=args.generations, batch_size=args.generations * args.prompts, grad_accum=1,
                    max_completion_length=args.completion_tokens, max_length=512, logging_steps=1, warmup_ratio=0.0,
                    seed=args.seed)

    run_sft = sft.train(output_dir=out / "sft")
    run_grpo = grpo.train(output_dir=out / "sft-grpo")

    from verticalize import EvalReport

    a, b = run_sft.report, run_grpo.report
    both = EvalReport({"before": a.stages["after"], "after": b.stages["after"]})  # "before": SFT alone
    s, ci = both.scores["finance"], both.intervals["finance"]
    g = run_grpo.manifest["stages"][1]["metrics"]
    print(f"\nrun dirs: {run_sft.output_dir}  {run_grpo.output_dir}")
    print(f"GRPO: {g['global_step']} steps on {g['examples']} prompts, {args.generations} answers each, "
          f"rewards {', '.join(g['rewards'])}, {g['train_seconds']:.0f} s")
    if "reward_first" in g:
        print(f"  mean reward: first quarter of the steps {g['reward_first']:.3f}, last quarter {g['reward_last']:.3f}")
    print(f"finance (n={ci['n']}, numeric_match with PoT):")
    print(f"  SFT alone    {s['before']:.3f}  95% interval {ci['before'][0]:.3f} to {ci['before'][1]:.3f}")
    print(f"  SFT + GRPO   {s['after']:.3f}  95% interval {ci['after'][0]:.3f} to {ci['after'][1]:.3f}")
    print(f"  GRPO's change {s['delta']:+.3f}  95% interval {ci['delta'][0]:+.3f} to {ci['delta'][1]:+.3f}"
          + ("  (includes 0: not shown by this many questions)" if ci["delta"][0] <= 0 <= ci["delta"][1] else ""))
    for row in both.rows():
        print(f"    {row['task']:<20} {row.get('before', float('nan')):.2f} -> {row.get('after', float('nan')):.2f}"
              f"  (n={row['n']})")


if __name__ == "__main__":
    main()
