"""Medical with QLoRA: the base loaded in 4-bit (bitsandbytes nf4), LoRA trained on top.

    python examples/medical_qlora.py                                   # SmolLM2-135M, 30 steps, ~7 min on 2 CPU cores
    python examples/medical_qlora.py --base tiny --steps 2 --eval-max 4 --max-new-tokens 8    # smoke run

bitsandbytes runs 4-bit on CPU too, so this works without a GPU (on a GPU it saves most of the
base model's memory). Dosage, infusion and BMI questions are answered by PoT programs.
"""

from __future__ import annotations

import argparse

from verticalize import Adapter


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Medical QLoRA (4-bit) SFT, before/after scores.")
    ap.add_argument("--base", default="smollm2-135m", help="model alias, HF id or dir ('tiny': smoke run)")
    ap.add_argument("--steps", type=int, default=30, help="QLoRA SFT steps")
    ap.add_argument("--eval-max", type=int, default=24, help="held-out medical questions scored")
    ap.add_argument("--max-new-tokens", type=int, default=72, help="longest generated answer")
    ap.add_argument("--out", default=None, help="run dir to create (default: runs/medical-<base>-<time>)")
    args = ap.parse_args(argv)

    adapter = (
        Adapter(base=args.base)
        .with_domain("medical")
        .clean(dedup="exact", pii="redact", languages=["en"])
        .replay("general", ratio=0.2)
        .qlora(bits=4, r=16, alpha=32, dropout=0.0)
        .sft(max_steps=args.steps, lr=1e-3, batch_size=4, grad_accum=1, max_length=256, warmup_ratio=0.1)
        .pot()
        .evaluate_with("medical", languages=["en"], max_examples=args.eval_max, batch_size=24,
                       generation={"max_new_tokens": args.max_new_tokens})
    )
    run = adapter.train(output_dir=args.out)

    m, s = run.metrics, run.report.scores["medical"]
    print(f"\nrun dir: {run.output_dir}  (LoRA weights in {run.adapter_path.name}/, trained on the 4-bit base)")
    print(f"trained {m['global_step']} QLoRA steps, {m['trainable_params']:,} trainable parameters, "
          f"mean train loss {m['train_loss']:.4f}, {m['mean_step_seconds']:.2f} s/step")
    print(f"medical: before {s['before']:.3f} -> after {s['after']:.3f} ({s['delta']:+.3f})")


if __name__ == "__main__":
    main()
