"""Legal in two stages: continued pre-training on statute text, then SFT on legal Q&A.

    python examples/legal_cpt_then_sft.py                                  # SmolLM2-135M, ~11 min on 2 CPU cores
    python examples/legal_cpt_then_sft.py --base Qwen3-0.6B                # a base that reads Chinese (hub)
    python examples/legal_cpt_then_sft.py --base tiny --steps 2 --eval-max 4 --max-new-tokens 8   # smoke run

Stage 1 (``cpt``) reads the legal pack's ``corpus:``, 24 PRC civil and commercial laws as raw
text, cut into overlapping windows; stage 2 (``sft``) starts from stage 1's weights and learns
the pack's statute and deadline questions. The corpus is Chinese: SmolLM2 is English-only, so
it shows the mechanics here, and a Chinese-capable base is the one to use for real.
"""

from __future__ import annotations

import argparse

from verticalize import Adapter


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Legal: CPT on the statute corpus, then SFT.")
    ap.add_argument("--base", default="smollm2-135m", help="model alias, HF id or dir ('tiny': smoke run)")
    ap.add_argument("--steps", type=int, default=30, help="steps of each stage")
    ap.add_argument("--eval-max", type=int, default=24, help="held-out legal questions scored")
    ap.add_argument("--max-new-tokens", type=int, default=64, help="longest generated answer")
    ap.add_argument("--out", default=None, help="run dir to create (default: runs/legal-<base>-<time>)")
    args = ap.parse_args(argv)

    adapter = (
        Adapter(base=args.base)
        .with_domain("legal")
        .lora(r=16, alpha=32, dropout=0.0)
        .cpt(max_steps=args.steps, lr=2e-4, batch_size=2, grad_accum=1, max_length=256, overlap=32)
        .then("sft", max_steps=args.steps, lr=1e-3, batch_size=4, grad_accum=1, max_length=256)
        .pot()
        .evaluate_with("legal", max_examples=args.eval_max, batch_size=24,
                       generation={"max_new_tokens": args.max_new_tokens})
    )
    run = adapter.train(output_dir=args.out)

    print(f"\nrun dir: {run.output_dir}")
    for stage, data in zip(run.manifest["stages"], run.manifest["data"]["stages"]):
        m = stage["metrics"]
        unit = "documents" if stage["kind"] == "cpt" else "examples"
        print(f"  {stage['kind']}: {data['train_examples']} {unit}, {m['global_step']} steps, "
              f"mean loss {m['train_loss']:.4f}  ({stage['dir']}/loss.png)")
    s = run.report.scores["legal"]
    print(f"legal: before {s['before']:.3f} -> after {s['after']:.3f} ({s['delta']:+.3f})")


if __name__ == "__main__":
    main()
