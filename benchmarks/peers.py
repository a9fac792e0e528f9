"""Training step against the peers: verticalize, LLaMA-Factory and a plain TRL script on the same LoRA SFT.

    python benchmarks/peers.py --setup                # once: LLaMA-Factory into its own venv (.peers-venv/)
    python benchmarks/peers.py [--steps 30] [--rounds 3]

The setting (issue #14): SmolLM2-135M-Instruct (the embedded ``smollm2-135m``: the same weights for all
three), 200 alpaca rows with a system column (``overhead.alpaca_rows``), LoRA r=8, alpha=16, dropout 0 on
all linear layers, batch 4, length 256, lr 1e-4 cosine without warm-up, seed 42, CPU fp32, the loss on
the answers only. verticalize and the TRL script are ``benchmarks/overhead.py``'s (imported, not
copied); LLaMA-Factory runs ``llamafactory-cli train <yaml>`` (its CLI's ``main``, called in a child on the
venv's python so that the hooks below go in) on a YAML written here, in the venv made by ``--setup``
(its own transformers / TRL / PEFT). Every run is its own
subprocess; the three alternate round by round (the order rotates) so machine drift hits them alike.

LLaMA-Factory gets the same work: template ``smollm2`` (checked on every row: the same text and token ids
as the model's own chat template; the answer, ``<|im_end|>`` and the newline learned), the alpaca input
folded into the instruction with verticalize's blank line (LLaMA-Factory joins with one newline), LoRA
``all``, no activation checkpointing (LLaMA-Factory's default turns it on; verticalize's CPU defaults and
the TRL script run without), fp32, ``cutoff_len`` 256 (no row is longer), the optimizer TRL defaults to.

The same hooks, patched into each child's transformers (``CallbackHandler``, ``Trainer.training_step``),
record all three: ``in-step`` is ``on_step_begin`` -> ``on_step_end`` (forward, backward, optimizer),
``wall`` is ``on_step_end`` -> next ``on_step_end`` (also fetching and collating the batch, logging,
callbacks): what a user waits for. Both leave out the first step; the table shows the mean over rounds
+- half their spread, and the median of every step of every round (robust to bursts of other load:
each run's line says how many cores other processes kept busy meanwhile). The batches the model is
given (token ids without padding, learned positions) are compared step for step, and the losses
(each step's logged ``loss`` at full precision) pairwise by their largest absolute difference.

Two ways to compute the same loss: LLaMA-Factory (transformers' Trainer) takes the cross-entropy of the
full fp32 logits; TRL 1.16 runs a chunked, fused log-prob kernel that never holds them. verticalize's
``train.loss_kernel: auto`` takes the full logits on CPUs (faster there: the chunked kernel's backward is
slow on CPU) and the chunked kernel on GPUs (where a large vocabulary's logits do not fit), so on this
CPU its losses are LLaMA-Factory's and differ from TRL's by ~2e-5 (on the first batch an fp64
computation gives 1.5493232, the fused kernel 1.5493233, the full-logit path 1.5493082);
``loss_kernel: chunked`` makes them TRL's bit for bit (tests/train/test_parity.py).

Not part of CI (it needs the venv and minutes of CPU). Step-time ratios need a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import overhead  # (benchmarks/overhead.py: the setting, the data, verticalize's and TRL's runs)

SETTINGS = overhead.SETTINGS
VENV = REPO / ".peers-venv"
LLAMAFACTORY = "llamafactory==0.9.5"
TORCH = "torch==2.13.0"  # the CPU wheel on disk; an unpinned torch would pull a multi-GB CUDA build
#: LLaMA-Factory's template that renders SmolLM2-Instruct's own chat template byte for byte (checked at run time)
TEMPLATE = "smollm2"
DATASET = "peers_alpaca"
VARIANTS = ("verticalize", "llamafactory", "trl")


# ---------------------------------------------------------------- setup


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def setup(venv: Path, spec: str) -> None:
    """A venv with the CPU torch and LLaMA-Factory with its own pinned dependencies; records what got in."""
    if not _venv_python(venv).is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(_venv_python(venv))
    pin = venv / "peers-constraints.txt"
    # torch stays the CPU wheel: torchvision / torchaudio (LLaMA-Factory's multimodal deps) resolve to builds
    # for it instead of upgrading it to a CUDA torch
    pin.write_text(TORCH + "\n", encoding="utf-8")
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check", "-c", str(pin)]
    subprocess.run(pip + [TORCH], check=True)
    subprocess.run(pip + [spec], check=True)
    notes = _repair_media_libs(py, venv)
    frozen = subprocess.run([py, "-m", "pip", "freeze"], check=True, capture_output=True, text=True).stdout
    (venv / "peers-installed.txt").write_text(frozen, encoding="utf-8")
    probe = ("import importlib.metadata as m; print(' '.join(f'{p}=={m.version(p)}' for p in "
             "('llamafactory', 'torch', 'transformers', 'trl', 'peft', 'accelerate', 'datasets')))")
    versions = subprocess.run([py, "-c", probe], check=True, capture_output=True, text=True).stdout.strip()
    (venv / "peers-versions.txt").write_text(versions + "\n", encoding="utf-8")
    (venv / "peers-notes.txt").write_text("".join(n + "\n" for n in notes), encoding="utf-8")
    subprocess.run([py, "-c", "import llamafactory.train.tuner"], check=True, cwd=venv)  # it imports
    print(f"installed into {venv}: {versions}\n(full list: {venv / 'peers-installed.txt'})")
    for n in notes:
        print(f"note: {n}")


def _imports(py: str, module: str, venv: Path) -> bool:
    return subprocess.run([py, "-c", f"import {module}"], check=False, capture_output=True, cwd=venv).returncode == 0


def _repair_media_libs(py: str, venv: Path) -> list[str]:
    """LLaMA-Factory pulls torchvision and torchaudio (images, audio); neither is used for text SFT.

    PyPI's torchvision for torch 2.13 is the CUDA build: against the CPU torch its ops do not load and
    ``import transformers.modeling_utils`` fails through it, so it is removed (transformers then treats
    it as absent). PyPI's newest torchaudio (2.11) has C++ extensions built for an older torch, and
    LLaMA-Factory imports torchaudio at the top of its data package: its compiled libraries are
    removed, and torchaudio imports as Python only (it checks for them and does without)."""
    notes = []
    if not _imports(py, "torchvision", venv):
        subprocess.run([py, "-m", "pip", "uninstall", "-y", "torchvision"], check=True)
        notes.append("torchvision uninstalled: PyPI's wheel for this torch is the CUDA build, whose ops do not "
                     "load with the CPU torch (not used for text SFT)")
    if not _imports(py, "torchaudio", venv):
        where = subprocess.run([py, "-c", "import importlib.util as u; print(u.find_spec('torchaudio').origin)"],
                               check=True, capture_output=True, text=True, cwd=venv).stdout.strip()
        libs = sorted((Path(where).parent / "lib").glob("*.so")) + sorted((Path(where).parent / "lib").glob("*.pyd"))
        for lib in libs:
            lib.unlink()
        notes.append(f"torchaudio's C++ extensions removed ({', '.join(x.name for x in libs)}): built for an "
                     "older torch; LLaMA-Factory imports torchaudio but uses it only for audio data")
        if not _imports(py, "torchaudio", venv):
            raise SystemExit("torchaudio still does not import in the venv")
    elif subprocess.run([py, "-c", "import torchaudio._extension as e; print(e._IS_TORCHAUDIO_EXT_AVAILABLE)"],
                        check=True, capture_output=True, text=True, cwd=venv).stdout.strip() != "True":
        notes.append("torchaudio imports without its C++ extensions (removed by an earlier --setup: built for an "
                     "older torch; LLaMA-Factory imports torchaudio but uses it only for audio data)")
    return notes


# ---------------------------------------------------------------- what every child records


class _Record:
    """Hooks in transformers' CallbackHandler and Trainer.training_step, the same in all three frameworks:
    step timestamps, the logged losses and the batches the model was given (unpadded ids, learned positions)."""

    def __init__(self) -> None:
        self.begin: list[float] = []
        self.end: list[float] = []
        self.losses: list[float] = []
        self.batches: list[list[list[list[int]]]] = []  # step -> example -> [ids, learned 0/1]

    def install(self) -> None:
        import transformers
        from transformers.trainer_callback import CallbackHandler

        rec = self
        begin, end, on_log = CallbackHandler.on_step_begin, CallbackHandler.on_step_end, CallbackHandler.on_log
        step = transformers.Trainer.training_step

        def on_step_begin(self, *a, **k):
            out = begin(self, *a, **k)
            rec.begin.append(time.perf_counter())  # after the frameworks' own callbacks: the step proper starts
            return out

        def on_step_end(self, *a, **k):
            rec.end.append(time.perf_counter())
            return end(self, *a, **k)

        def log(self, args, state, control, logs=None, *a, **k):
            if logs and "loss" in logs:
                rec.losses.append(float(logs["loss"]))
            return on_log(self, args, state, control, logs, *a, **k)

        def training_step(self, model, inputs, *a, **k):
            rec.batches.append(_batch(inputs))
            return step(self, model, inputs, *a, **k)

        CallbackHandler.on_step_begin, CallbackHandler.on_step_end = on_step_begin, on_step_end
        CallbackHandler.on_log = log
        transformers.Trainer.training_step = training_step

    def result(self) -> dict:
        steps = [e - b for b, e in zip(self.begin, self.end)]
        walls = [b - a for a, b in zip(self.end, self.end[1:])]  # step i's end -> step i+1's end
        return {"step_times": steps, "wall_times": walls,
                "step_s": statistics.mean(steps[1:] or steps) if steps else None,
                "wall_s": statistics.mean(walls) if walls else None,
                "losses": self.losses, "batches": self.batches}


def _batch(inputs) -> list[list[list[int]]]:
    """One batch as the model sees it, padding stripped: per example [token ids, learned (1) or not (0)]."""
    ids = inputs["input_ids"].tolist()
    mask = inputs["attention_mask"].tolist() if inputs.get("attention_mask") is not None else None
    labels = inputs["labels"].tolist() if inputs.get("labels") is not None else None
    out = []
    for i, row in enumerate(ids):
        keep = [j for j in range(len(row)) if mask is None or mask[i][j]]
        out.append([[row[j] for j in keep], [int(labels is not None and labels[i][j] != -100) for j in keep]])
    return out


# ---------------------------------------------------------------- LLaMA-Factory's side


def lf_rows(rows: list[dict]) -> list[dict]:
    """The rows for LLaMA-Factory, rendering the same user turn as verticalize and the TRL script.

    LLaMA-Factory joins an alpaca row's instruction and input with one newline; verticalize (and
    Stanford alpaca's own prompt) with a blank line (``overhead.prompt_completion``). The input is folded
    into the instruction here so that all three train on the same text (15 of the 200 rows have an input).
    """
    out = []
    for r in rows:
        user = overhead.prompt_completion(r)["prompt"][1]["content"]
        out.append({"instruction": user, "input": "", "output": r["output"], "system": r["system"]})
    return out


def write_lf_inputs(work: Path, model_dir: str, steps: int, optim: str) -> Path:
    """The dataset, dataset_info.json and the training YAML for ``llamafactory-cli train``."""
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / f"{DATASET}.json").write_text(json.dumps(lf_rows(overhead.alpaca_rows(SETTINGS["rows"])), indent=1),
                                          encoding="utf-8")
    (data / "dataset_info.json").write_text(json.dumps({DATASET: {
        "file_name": f"{DATASET}.json",
        "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system"}}},
        indent=2), encoding="utf-8")
    s = SETTINGS
    cfg = {
        "model_name_or_path": model_dir,
        "stage": "sft", "do_train": True, "finetuning_type": "lora",
        "lora_rank": s["r"], "lora_alpha": s["alpha"], "lora_dropout": 0.0, "lora_target": "all",
        "dataset": DATASET, "dataset_dir": str(data), "template": TEMPLATE, "cutoff_len": s["max_length"],
        "overwrite_cache": True,
        "output_dir": str(work / "lf-out"), "overwrite_output_dir": True,
        "logging_steps": 1, "save_strategy": "no", "plot_loss": False, "report_to": "none", "disable_tqdm": True,
        "per_device_train_batch_size": s["batch_size"], "gradient_accumulation_steps": 1,
        "learning_rate": s["lr"], "lr_scheduler_type": "cosine", "warmup_steps": 0, "max_steps": steps,
        "seed": s["seed"], "optim": optim,
        # CPU fp32 and the same work as verticalize's CPU defaults / the TRL script: no activation
        # checkpointing (LLaMA-Factory turns it on by default), no bf16/fp16
        "bf16": False, "fp16": False, "use_cpu": True, "disable_gradient_checkpointing": True,
        "dataloader_num_workers": 0,
    }
    # JSON is YAML: strings quoted ("no" stays a string), numbers and booleans as they are
    cfg_path = work / "llamafactory_sft.yaml"
    cfg_path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in cfg.items()), encoding="utf-8")
    return cfg_path


def check_lf_template(cfg_path: Path) -> dict:
    """In the venv: LLaMA-Factory's template against the model's own chat template, on every row.

    ``same_text``: rows whose LLaMA-Factory text (prompt + answer, decoded) equals the model template's
    rendering; ``same_ids``: rows whose token ids equal the rendering's tokenization (what verticalize and
    the TRL script train on); ``learned``: the answer, ``<|im_end|>`` and the newline after it."""
    import yaml
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoTokenizer

    cfg = yaml.safe_load(cfg_path.read_text("utf-8"))
    tok = AutoTokenizer.from_pretrained(cfg["model_name_or_path"])
    jinja = tok.chat_template  # before LLaMA-Factory may touch it
    template = get_template_and_fix_tokenizer(tok, DataArguments(template=cfg["template"]))
    rows = json.loads((Path(cfg["dataset_dir"]) / f"{DATASET}.json").read_text("utf-8"))
    same_text = same_ids = 0
    first_diff = None
    for r in rows:
        msgs = [{"role": "user", "content": "\n".join(x for x in (r["instruction"], r["input"]) if x)},
                {"role": "assistant", "content": r["output"]}]
        prompt, answer = template.encode_oneturn(tok, msgs, r["system"])
        text = tok.apply_chat_template([{"role": "system", "content": r["system"]}] + msgs, tokenize=False,
                                       chat_template=jinja)
        ref = tok(text, add_special_tokens=False)["input_ids"]
        ok_text = tok.decode(prompt + answer) == text
        same_text += ok_text
        same_ids += prompt + answer == ref
        if not ok_text and first_diff is None:
            first_diff = {"llamafactory": tok.decode(prompt + answer), "model": text}
    return {"rows": len(rows), "same_text": same_text, "same_ids": same_ids, "first_diff": first_diff,
            "learned_tail": tok.decode(answer[-2:])}


def run_llamafactory(cfg_path: Path) -> dict:
    """``llamafactory-cli train <yaml>`` in this (the venv's) process: the console script's ``main``."""
    from llamafactory.cli import main as cli

    sys.argv = ["llamafactory-cli", "train", str(cfg_path)]
    cli()
    return {}


# ---------------------------------------------------------------- children and the table


def _child(variant: str, model: str, steps: int, config: str | None) -> dict:
    rec = _Record()
    extra: dict = {}
    if variant == "llamafactory":
        cfg = Path(config)
        extra["template"] = check_lf_template(cfg)
        rec.install()
        run_llamafactory(cfg)
        import importlib.metadata as md

        extra["version"] = md.version("llamafactory")
        import yaml

        log = Path(yaml.safe_load(cfg.read_text("utf-8"))["output_dir"]) / "trainer_log.jsonl"
        rows = [json.loads(x) for x in log.read_text("utf-8").splitlines() if x.strip()] if log.is_file() else []
        extra["own_log_losses"] = [r["loss"] for r in rows if "loss" in r]  # LLaMA-Factory's log: 4 decimals
    else:
        rec.install()
        with tempfile.TemporaryDirectory() as d:
            if variant == "verticalize":
                res = overhead.run_verticalize(model, steps, Path(d))
                extra["loss_mask"] = res.get("loss_mask")
            else:
                res = overhead.run_trl(model, steps, Path(d), defaults=False)
            extra["own_log_losses"] = res["losses"]
    return {**rec.result(), **extra}


def _cpu_clock() -> tuple[float, float] | None:
    """(CPU seconds the whole machine was busy, CPU seconds of this process's finished children); None off Linux."""
    import resource

    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait (user nice system irq softirq steal)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return busy / os.sysconf("SC_CLK_TCK"), kids.ru_utime + kids.ru_stime


def _others_load(before: tuple[float, float] | None, after: tuple[float, float] | None, seconds: float) -> str:
    """How many cores other processes kept busy while a child ran: a quiet machine reads ~0."""
    if before is None or after is None or seconds <= 0:
        return ""
    others = (after[0] - before[0]) - (after[1] - before[1])
    return f", others used {max(others, 0.0) / seconds:.1f} of {os.cpu_count()} cores"


def _spawn(variant: str, args, cfg_path: Path, python: Path) -> dict:
    cmd = [str(python if variant == "llamafactory" else sys.executable), __file__, "--child", variant,
           "--model", args.model, "--steps", str(args.steps), "--config", str(cfg_path)]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TOKENIZERS_PARALLELISM="false")
    if variant == "llamafactory":
        env.update(HF_HUB_OFFLINE="1", DISABLE_VERSION_CHECK="1", PYTHONNOUSERSITE="1")
    out = cfg_path.parent / f"child-{variant}.json"
    cmd += ["--out", str(out)]
    p = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=cfg_path.parent, env=env)
    (cfg_path.parent / f"child-{variant}.log").write_text(p.stdout + p.stderr, encoding="utf-8")  # the last round's
    if p.returncode != 0:
        raise SystemExit(f"{variant} failed (rc {p.returncode}):\n{(p.stdout + p.stderr)[-4000:]}")
    return json.loads(out.read_text("utf-8"))


def max_diff(a: list[float], b: list[float]) -> float:
    return overhead.max_loss_difference(a, b)


def first_batch_difference(a: list, b: list) -> str:
    """Where two runs' batches first differ: '' when every step's batch is the same."""
    if len(a) != len(b):
        return f"{len(a)} vs {len(b)} steps"
    for s, (x, y) in enumerate(zip(a, b), 1):
        if len(x) != len(y):
            return f"step {s}: {len(x)} vs {len(y)} examples"
        for e, ((ix, lx), (iy, ly)) in enumerate(zip(x, y)):
            if ix != iy:
                return f"step {s} example {e}: different token ids ({len(ix)} vs {len(iy)} tokens)"
            if lx != ly:
                return f"step {s} example {e}: different learned positions ({sum(lx)} vs {sum(ly)} learned)"
    return ""


def _mean_pm(xs: list[float]) -> str:
    if not xs:
        return "-"
    return f"{statistics.mean(xs):.3f} ± {(max(xs) - min(xs)) / 2:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setup", action="store_true", help="create the venv and install LLaMA-Factory into it, then stop")
    ap.add_argument("--venv", type=Path, default=VENV, help=f"LLaMA-Factory's venv (default {VENV.name}/)")
    ap.add_argument("--llamafactory", default=LLAMAFACTORY, help="what --setup installs (default %(default)s)")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir", type=Path, help="keep the dataset, YAML and logs here (default: a temp dir)")
    ap.add_argument("--child")
    ap.add_argument("--config")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.setup:
        setup(args.venv.resolve(), args.llamafactory)
        return
    if args.child:
        res = _child(args.child, args.model, args.steps, args.config)
        Path(args.out).write_text(json.dumps(res), encoding="utf-8")
        return
    python = _venv_python(args.venv.resolve())
    if not python.is_file():
        raise SystemExit(f"no LLaMA-Factory venv at {args.venv}: run python benchmarks/peers.py --setup first")
    with tempfile.TemporaryDirectory() as d:
        work = (args.workdir or Path(d)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        measure(args, work, python)


def measure(args, work: Path, python: Path) -> None:
    cfg = write_lf_inputs(work, overhead.model_dir(args.model), args.steps, overhead.trl_default_optim())
    versions = (args.venv / "peers-versions.txt")
    wall: dict[str, list[float]] = {v: [] for v in VARIANTS}
    step: dict[str, list[float]] = {v: [] for v in VARIANTS}
    every: dict[str, list[float]] = {v: [] for v in VARIANTS}  # every step's wall time, all rounds
    first: dict[str, dict] = {}
    for r in range(args.rounds):
        order = VARIANTS[r % 3:] + VARIANTS[:r % 3]  # each goes first, second and third in turn
        for v in order:
            t0, c0 = time.perf_counter(), _cpu_clock()
            res = _spawn(v, args, cfg, python)
            seconds = time.perf_counter() - t0
            wall[v].append(res["wall_s"])
            step[v].append(res["step_s"])
            every[v] += res["wall_times"]
            if v in first and first[v]["losses"] != res["losses"]:
                print(f"note: {v}'s losses changed between rounds", flush=True)
            first.setdefault(v, res)
            print(f"round {r + 1}: {v:12s} {res['wall_s']:.3f} s/step wall, {res['step_s']:.3f} s/step in the "
                  f"step ({seconds:.0f} s in all{_others_load(c0, _cpu_clock(), seconds)})", flush=True)
    vz, lf, trl = (first[v] for v in VARIANTS)
    s = SETTINGS
    t = lf.get("template", {})
    print()
    print(f"model {args.model}, LoRA r={s['r']} alpha={s['alpha']} all-linear dropout 0, batch {s['batch_size']}, "
          f"length {s['max_length']}, lr {s['lr']} cosine no warm-up, seed {s['seed']}, {s['rows']} alpaca rows with "
          f"a system column, CPU fp32, {args.steps} steps x {args.rounds} rounds (alternating)")
    if versions.is_file():
        print(f"LLaMA-Factory venv: {versions.read_text().strip()}")
    print(f"LLaMA-Factory template {TEMPLATE!r}: {t.get('same_text')}/{t.get('rows')} rows render the model's own "
          f"chat template's text, {t.get('same_ids')}/{t.get('rows')} its token ids; verticalize's loss mask: "
          f"{vz.get('loss_mask')}")
    if t.get("first_diff"):
        print(f"  first differing row: {json.dumps(t['first_diff'])[:600]}")
    print()
    print("step  verticalize          LLaMA-Factory        TRL script")
    for i, (a, b, c) in enumerate(zip(vz["losses"], lf["losses"], trl["losses"]), 1):
        print(f"{i:4d}  {a:<20.17g} {b:<20.17g} {c:<20.17g}")
    pairs = [("verticalize", "LLaMA-Factory", vz, lf), ("verticalize", "TRL script", vz, trl),
             ("LLaMA-Factory", "TRL script", lf, trl)]
    for na, nb, a, b in pairs:
        d = max_diff(a["losses"], b["losses"])
        where = first_batch_difference(a["batches"], b["batches"])
        print(f"RESULT max |loss difference| {na} vs {nb}: {d:.3g}; batches "
              + (f"DIFFER ({where})" if where else "identical (same token ids and learned tokens, step for step)"))
    print()
    print("s/step         wall: mean ± half-spread of the rounds   median step   in-step: mean ± half-spread")
    for v, name in zip(VARIANTS, ("verticalize", "LLaMA-Factory", "TRL script")):
        med = f"{statistics.median(every[v]):.3f}" if every[v] else "-"
        print(f"  {name:13s} {_mean_pm(wall[v]):>20s}                   {med:>8s}      {_mean_pm(step[v]):>18s}")
    mw = {v: statistics.mean(wall[v]) for v in VARIANTS}
    ms = {v: statistics.mean(step[v]) for v in VARIANTS}
    print(f"RESULT verticalize/LLaMA-Factory step-time ratio: {mw['verticalize'] / mw['llamafactory']:.3f} wall, "
          f"{ms['verticalize'] / ms['llamafactory']:.3f} in-step (goal <= 0.95; needs a quiet machine)")
    print(f"RESULT verticalize/TRL-script step-time ratio: {mw['verticalize'] / mw['trl']:.3f} wall, "
          f"{ms['verticalize'] / ms['trl']:.3f} in-step")


if __name__ == "__main__":
    main()
