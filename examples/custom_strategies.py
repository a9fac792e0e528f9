"""Extending verticalize: one object of your own at every plug-in point, then the same adapter as a
shareable recipe that names them by import path.

    python examples/custom_strategies.py                          # SmolLM2-135M, a few minutes on 2 CPU cores
    python examples/custom_strategies.py --base tiny --steps 2 --eval-max 4 --max-new-tokens 8   # smoke run

The objects live in examples/acme_strategies.py and import nothing of verticalize (structural
typing against the Protocols in verticalize.strategies).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from acme_strategies import (ArithmeticExecutor, AnswerOnlyLoop, CsvReporter, DoRA, EveryNth, GlossaryRecall,
                             GlossarySource, RedactTickers, StopOnNan)

from verticalize import Adapter
from verticalize.run import validate


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Every plug-in point with a user object; then the recipe.")
    ap.add_argument("--base", default="smollm2-135m", help="model alias, HF id or dir ('tiny': smoke run)")
    ap.add_argument("--steps", type=int, default=30, help="steps of each of the two stages")
    ap.add_argument("--eval-max", type=int, default=24, help="finance questions scored")
    ap.add_argument("--max-new-tokens", type=int, default=72, help="longest generated answer")
    ap.add_argument("--out", default="runs/custom-strategies", help="run dir to create")
    args = ap.parse_args(argv)
    out = Path(args.out)

    adapter = (
        Adapter(base=args.base)
        .with_domain("finance")
        .with_data(GlossarySource(repeat=4))                          # DataSource
        .clean(languages=["en"], steps=[RedactTickers()])             # Step, after the built-in cleaning
        .replay("general", ratio=0.2, mixer=EveryNth(n=4))            # Mixer
        .method(DoRA(r=8, alpha=16))                                  # Method
        .sft(max_steps=args.steps, lr=2e-3, batch_size=4, grad_accum=1, max_length=256)
        .then(AnswerOnlyLoop(steps=args.steps, lr=2e-4))              # Stage
        .pot(executor=ArithmeticExecutor())                           # Executor
        .evaluate_with("finance", GlossaryRecall(max_new_tokens=args.max_new_tokens),  # Task
                       languages=["en"], max_examples=args.eval_max, generation={"max_new_tokens": args.max_new_tokens})
        .callbacks(StopOnNan())                                       # transformers TrainerCallback
        .report_to(CsvReporter(str(out.with_name(out.name + "-metrics.csv"))))  # Reporter
    )
    run = adapter.train(output_dir=out)

    print(f"\nrun dir: {run.output_dir}")
    steps = {s["step"]: s for s in run.manifest["data"]["stages"][0]["steps"]}
    print(f"redact_tickers changed {steps['redact_tickers']['changed']} examples; "
          f"the mixer replayed {steps['replay']['replayed']}")
    for suite, row in run.report.scores.items():
        print(f"{suite}: before {row['before']:.3f} -> after {row['after']:.3f} ({row['delta']:+.3f})")

    recipe = out.with_name(out.name + ".yaml")
    adapter.to_yaml(recipe)  # every object has an import path (acme_strategies:...): the recipe is shareable
    problems = validate(recipe, trust_code=True)
    same = Adapter.from_yaml(recipe, trust_code=True) == adapter
    print(f"recipe {recipe}: {'valid' if not problems else problems}; round trip: {'exact' if same else 'DIFFERS'}")


if __name__ == "__main__":
    main()
