"""GPU throughput: LoRA and QLoRA SFT on the Qwen3-4B architecture, verticalize vs a plain TRL script.

    python benchmarks/gpu_throughput.py [--methods lora,qlora] [--steps 20] [--batch 4] [--seq 2048] [--record]
    python benchmarks/gpu_throughput.py --arch tiny --steps 3 --seq 128      # smoke run, any machine

The model is built from Qwen3-4B's config with random weights (throughput needs no real weights)
and saved once to a temp dir; the tokenizer is the embedded ``tiny`` one (ids fit the vocab).
Each (path, method) trains in its own subprocess so peak memory is its own:

- ``verticalize``: ``Adapter(base=<dir>).with_data(...).lora()|.qlora().sft(...).train()`` with the
  SDK's GPU defaults (bf16, gradient checkpointing, padding-free BFD packing, lean loss).
- ``trl``: a plain TRL 1.x script: SFTTrainer + LoraConfig (+ BitsAndBytesConfig for QLoRA) with
  the same settings set by hand (bf16, gradient checkpointing, packing, same batch/length/LoRA).

Reported per run: tokens/s over the timed steps (all but the first 2; packed rows are full, so
tokens/step = batch x seq) and peak CUDA memory. Ratios verticalize/trl are printed; ``--record``
appends them to benchmarks/RESULTS.md with the command and the GPU name.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Qwen/Qwen3-4B config.json (the dims that set the cost of a step)
QWEN3_4B = dict(vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
                rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True)
TINY = dict(vocab_size=4096, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, max_position_embeddings=4096, tie_word_embeddings=True)
LORA = dict(r=16, alpha=32, dropout=0.0)
SKIP = 2  # first optimizer steps (compilation, allocator warm-up) left out of the timing


def build_model(arch: str, out: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config

    from verticalize.models import load_tokenizer, resolve_model
    from verticalize.recipe import BaseSpec

    cfg = Qwen3Config(**(QWEN3_4B if arch == "qwen3-4b" else TINY))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    model.save_pretrained(out)
    load_tokenizer(resolve_model(BaseSpec(model="tiny"))).save_pretrained(out)
    return out


def write_data(path: Path, n: int = 2000) -> Path:
    rows = [json.loads(x) for x in (REPO / "domains/finance/train.jsonl").read_text("utf-8").splitlines()]
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            r = rows[i % len(rows)]
            f.write(json.dumps({"instruction": r["instruction"], "output": r["output"]}, ensure_ascii=False) + "\n")
    return path


class StepTimer:
    def __init__(self) -> None:
        from transformers import TrainerCallback

        outer = self
        self.times: list[float] = []

        class CB(TrainerCallback):
            def on_step_begin(self, *a, **k):
                import torch

                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                outer._t = time.perf_counter()

            def on_step_end(self, *a, **k):
                import torch

                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                outer.times.append(time.perf_counter() - outer._t)

        self.callback = CB()


def worker(path: str, method: str, model_dir: Path, data: Path, a: argparse.Namespace) -> dict:
    import torch

    timer = StepTimer()
    t0 = time.perf_counter()
    if path == "verticalize":
        from verticalize import Adapter
        from verticalize.recipe import parse_recipe
        from verticalize.run import execute

        adapter = Adapter(base=str(model_dir), source="local").with_data(str(data))
        adapter = adapter.qlora(bits=4, **LORA) if method == "qlora" else adapter.lora(**LORA)
        recipe = adapter.sft(max_steps=a.steps, batch_size=a.batch, grad_accum=1, max_length=a.seq, lr=1e-4,
                             logging_steps=1000, save_steps=10_000).recipe
        import verticalize.train.stages as stages

        real = stages.TRAINERS["sft"]

        def timed(*args, **kw):  # the same synchronised step timer as the TRL script gets
            args[8].append(timer.callback)  # train_sft's callbacks list
            return real(*args, **kw)

        out = Path(tempfile.mkdtemp(prefix="vz-gpu-")) / "run"

        stages.TRAINERS["sft"] = timed
        execute(parse_recipe(recipe.to_dict()), out, quiet=True)
    else:
        from datasets import load_dataset
        from peft import LoraConfig
        from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
        from trl import SFTConfig, SFTTrainer

        tok = AutoTokenizer.from_pretrained(model_dir)
        kw: dict = {"dtype": torch.bfloat16}
        if method == "qlora":
            kw["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_use_double_quant=True,
                                                           bnb_4bit_compute_dtype=torch.bfloat16,
                                                           bnb_4bit_quant_storage=torch.bfloat16)
            kw["device_map"] = {"": 0} if torch.cuda.is_available() else None
        model = AutoModelForCausalLM.from_pretrained(model_dir, **kw)
        ds = load_dataset("json", data_files=str(data), split="train")
        ds = ds.map(lambda r: {"messages": [{"role": "user", "content": r["instruction"]},
                                            {"role": "assistant", "content": r["output"]}]},
                    remove_columns=ds.column_names)
        args = SFTConfig(output_dir=tempfile.mkdtemp(prefix="trl-gpu-"), max_steps=a.steps,
                         per_device_train_batch_size=a.batch, gradient_accumulation_steps=1, learning_rate=1e-4,
                         bf16=True, gradient_checkpointing=True, packing=True, max_length=a.seq,
                         assistant_only_loss=True, logging_steps=1000, save_strategy="no", report_to="none",
                         use_cpu=not torch.cuda.is_available())
        peft = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                          target_modules="all-linear", task_type="CAUSAL_LM")
        SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=peft,
                   callbacks=[timer.callback]).train()
    timed_steps = timer.times[SKIP:] or timer.times
    step = sum(timed_steps) / len(timed_steps)
    return {"path": path, "method": method, "step_s": step, "tokens_per_s": a.batch * a.seq / step,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
            "wall_s": time.perf_counter() - t0, "steps": len(timer.times)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=["qwen3-4b", "tiny"], default="qwen3-4b")
    ap.add_argument("--methods", default="lora,qlora")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=2048)
    ap.add_argument("--record", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    ap.add_argument("--worker", nargs=2, metavar=("PATH", "METHOD"), help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if a.worker:
        print("RESULT_JSON " + json.dumps(worker(a.worker[0], a.worker[1], Path(a.model_dir), Path(a.data), a)))
        return

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU (CPU)"
    with tempfile.TemporaryDirectory(prefix="vz-gpu-bench-") as tmp:
        t = time.perf_counter()
        model_dir = build_model(a.arch, Path(tmp) / "model")
        data = write_data(Path(tmp) / "data.jsonl")
        print(f"{a.arch} (random weights) saved in {time.perf_counter() - t:.0f} s; device: {gpu}")
        results: dict[tuple[str, str], dict] = {}
        for method in a.methods.split(","):
            for path in ("trl", "verticalize"):
                cmd = [sys.executable, __file__, "--worker", path, method, "--model-dir", str(model_dir),
                       "--data", str(data), "--steps", str(a.steps), "--batch", str(a.batch), "--seq", str(a.seq)]
                r = subprocess.run(cmd, capture_output=True, text=True)
                line = [x for x in r.stdout.splitlines() if x.startswith("RESULT_JSON ")]
                if r.returncode != 0 or not line:
                    print(f"{path}/{method} FAILED:\n{r.stderr[-3000:]}")
                    continue
                res = results[(path, method)] = json.loads(line[-1].split(" ", 1)[1])
                mem = f", peak {res['peak_gib']:.1f} GiB" if res["peak_gib"] is not None else ""
                print(f"{path:>11} {method:<5}: {res['tokens_per_s']:,.0f} tokens/s ({res['step_s']:.3f} s/step){mem}")
        lines = []
        for method in a.methods.split(","):
            v, b = results.get(("verticalize", method)), results.get(("trl", method))
            if v and b:
                mem = (f", peak memory ratio {v['peak_gib'] / b['peak_gib']:.3f}" if v["peak_gib"] and b["peak_gib"]
                       else "")
                lines.append(f"RESULT {method}: verticalize/trl tokens/s ratio {v['tokens_per_s'] / b['tokens_per_s']:.3f}"
                             f"{mem} ({v['tokens_per_s']:,.0f} vs {b['tokens_per_s']:,.0f} tokens/s)")
        print("\n".join(lines))
        if a.record and lines:
            cmd = "python benchmarks/gpu_throughput.py " + " ".join(sys.argv[1:])
            with (REPO / "benchmarks" / "RESULTS.md").open("a", encoding="utf-8") as f:
                f.write(f"\n### gpu_throughput, {gpu}, {time.strftime('%Y-%m-%d')}\n`{cmd}` "
                        f"(arch {a.arch}, batch {a.batch}, seq {a.seq}, {a.steps} steps)\n\n"
                        + "\n".join(f"- {x}" for x in lines) + "\n")


if __name__ == "__main__":
    main()
