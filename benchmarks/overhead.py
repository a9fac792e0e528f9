"""Training-step overhead: verticalize against a hand-written TRL+PEFT script, and our CPU defaults
against TRL's defaults.

    python benchmarks/overhead.py [--model smollm2-135m] [--steps 6] [--rounds 2]

Every variant trains the same LoRA SFT (same model, data, chat template, assistant-only masking,
batch, length, seed, learning rate) in its own subprocess; variants alternate round by round so
machine drift hits them alike. Step time = mean wall time of optimizer steps after the first.

- ``verticalize``: ``Adapter(...).train()``, the full SDK path (run dir, manifest, logs).
- ``trl``: a plain TRL 1.x script, SFTTrainer + LoraConfig, with CPU-sane settings set by hand
  (fp32, no gradient checkpointing, no packing) -- the fair baseline.
- ``trl-defaults``: the same script leaving TRL's own defaults (bf16/gradient checkpointing/
  fused AdamW) in place, setting only ``use_cpu`` (without it TRL refuses to start on a CPU):
  what a user gets without device-aware defaults.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SETTINGS = dict(batch_size=4, max_length=256, lr=2e-4, seed=42, r=16, alpha=32)


def _examples(n: int) -> list[dict]:
    rows = [json.loads(line) for line in (REPO / "domains/finance/train.jsonl").read_text("utf-8").splitlines()]
    rows = [r for r in rows if r["lang"] == "en"][:n]
    return [{"messages": [{"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["output"]}]}
            for r in rows]


class _Timer:
    def __init__(self):
        from transformers import TrainerCallback

        outer = self
        self.times: list[float] = []

        class CB(TrainerCallback):
            def on_step_begin(self, *a, **k):
                outer._t = time.perf_counter()

            def on_step_end(self, *a, **k):
                outer.times.append(time.perf_counter() - outer._t)

        self.callback = CB()


def run_verticalize(model: str, steps: int, out: Path) -> dict:
    from verticalize import Adapter

    data = out / "data.jsonl"
    data.write_text("\n".join(json.dumps(e) for e in _examples(400)), encoding="utf-8")
    s = SETTINGS
    a = (Adapter(base=model).with_data(str(data), format="messages").clean(dedup="none")
         .lora(r=s["r"], alpha=s["alpha"], dropout=0.0)
         .sft(max_steps=steps, batch_size=s["batch_size"], grad_accum=1, max_length=s["max_length"], lr=s["lr"],
              seed=s["seed"], warmup_ratio=0.0, logging_steps=1, save_steps=10_000))
    run = a.train(output_dir=out / "run", quiet=True)
    log = [json.loads(line) for line in (run.output_dir / "train_log.jsonl").read_text().splitlines()]
    times = [row["step_seconds"] for row in log if "step_seconds" in row]
    return {"step_times": times or None, "mean_step_seconds": run.metrics["mean_step_seconds"],
            "losses": [row["loss"] for row in log if "loss" in row]}


def run_trl(model: str, steps: int, out: Path, defaults: bool) -> dict:
    """What a user writes by hand with TRL + PEFT."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from verticalize.models import load_model, load_tokenizer, resolve_model
    from verticalize.recipe import BaseSpec

    resolved = resolve_model(BaseSpec(model=model))  # same weights and generation-marked template
    tok = load_tokenizer(resolved)
    m = load_model(resolved)
    s = SETTINGS
    kwargs = dict(output_dir=str(out / "trl"), max_steps=steps, per_device_train_batch_size=s["batch_size"],
                  gradient_accumulation_steps=1, learning_rate=s["lr"], seed=s["seed"], max_length=s["max_length"],
                  assistant_only_loss=True, logging_steps=1, save_strategy="no", report_to="none",
                  lr_scheduler_type="cosine", disable_tqdm=True)
    import torch

    cpu = not torch.cuda.is_available()
    if defaults:
        # the one setting TRL refuses to run without on a CPU ("doesn't support bf16/gpu");
        # bf16, activation checkpointing and the fused optimizer stay at TRL's defaults
        kwargs.update(use_cpu=cpu)
    else:
        kwargs.update(bf16=not cpu, fp16=False, use_cpu=cpu, packing=False, optim="adamw_torch",
                      activation_checkpointing=False)
    args = SFTConfig(**kwargs)
    peft = LoraConfig(r=s["r"], lora_alpha=s["alpha"], lora_dropout=0.0, target_modules=list(resolved.info.lora_targets),
                      task_type="CAUSAL_LM")
    timer = _Timer()
    trainer = SFTTrainer(model=m, args=args, train_dataset=Dataset.from_list(_examples(400)), processing_class=tok,
                         peft_config=peft, callbacks=[timer.callback])
    trainer.train()
    times = timer.times[1:] or timer.times
    return {"step_times": timer.times, "mean_step_seconds": statistics.mean(times),
            "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h]}


def _child(variant: str, model: str, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d)
        if variant == "verticalize":
            return run_verticalize(model, steps, out)
        return run_trl(model, steps, out, defaults=variant == "trl-defaults")


def _spawn(variant: str, model: str, steps: int) -> dict:
    p = subprocess.run([sys.executable, __file__, "--child", variant, "--model", model, "--steps", str(steps)],
                       capture_output=True, text=True, cwd=REPO)
    if p.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--defaults-steps", type=int, default=3, help="steps for the (slow) TRL-defaults variant; 0 skips it")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.model, args.steps)))
        return
    results: dict[str, list[float]] = {"verticalize": [], "trl": [], "trl-defaults": []}
    losses: dict[str, list[float]] = {}
    for r in range(args.rounds):
        order = ["verticalize", "trl"] if r % 2 == 0 else ["trl", "verticalize"]
        for v in order:
            res = _spawn(v, args.model, args.steps)
            results[v].append(res["mean_step_seconds"])
            losses[v] = res["losses"]
            print(f"round {r + 1}: {v:12s} {res['mean_step_seconds']:.3f} s/step", flush=True)
    if args.defaults_steps > 0:
        res = _spawn("trl-defaults", args.model, args.defaults_steps)
        results["trl-defaults"].append(res["mean_step_seconds"])
        print(f"          trl-defaults {res['mean_step_seconds']:.3f} s/step", flush=True)
    # the fastest round of each variant: interference from other processes only ever adds time
    vz, trl = (min(results[k]) for k in ("verticalize", "trl"))
    dflt = min(results["trl-defaults"]) if results["trl-defaults"] else float("nan")
    same = all(abs(a - b) <= 1e-3 * max(1.0, abs(b)) for a, b in zip(losses["verticalize"], losses["trl"]))
    print()
    print(f"model {args.model}, LoRA r={SETTINGS['r']}, batch {SETTINGS['batch_size']}, max_length "
          f"{SETTINGS['max_length']}, {args.steps} steps x {args.rounds} rounds (fastest round)")
    print(f"losses step for step, verticalize vs TRL script: {'identical (rtol 1e-3)' if same else 'DIFFER'}")
    print(f"  verticalize  {vz:.3f} s/step")
    print(f"  TRL script   {trl:.3f} s/step")
    print(f"  TRL defaults {dflt:.3f} s/step")
    print(f"RESULT verticalize/TRL-script step-time ratio: {vz / trl:.3f} (goal <= 1.03)")
    print(f"RESULT TRL-defaults/verticalize-defaults step-time ratio: {dflt / vz:.1f}x (what CPU users gain)")


if __name__ == "__main__":
    main()
