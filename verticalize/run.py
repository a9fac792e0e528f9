"""execute(recipe) -> Run: resolve, load, build data, evaluate before, train, evaluate after.

The run dir is written under ``<output_dir>.incomplete`` and renamed to ``<output_dir>`` only
when everything succeeded, so a crash never leaves a dir that looks complete.

Layout of a finished run::

    recipe.yaml       the resolved recipe (every key)
    manifest.json     versions, device, data sources with sha256, cleaning counts, timings, metrics
    train_log.jsonl   one line per logging step
    loss.png          the loss curve
    adapter/          a standard PEFT dir (LoRA/QLoRA) -- or model/ for full fine-tuning
    eval/             report.json, report.md, report.png (when the recipe has eval suites)
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from verticalize.errors import RunError
from verticalize.recipe import Recipe, load_recipe

__all__ = ["Run", "execute", "default_output_dir"]

_PACKAGES = ("verticalize", "torch", "transformers", "peft", "trl", "datasets", "accelerate", "bitsandbytes",
             "evaluate", "pydantic")


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for p in _PACKAGES:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = None
    return out


def default_output_dir(recipe: Recipe) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = Path(recipe.base.model).name.replace(":", "-").lower()
    return Path("runs") / f"{Path(recipe.domain).name if recipe.domain else 'custom'}-{name}-{stamp}"


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _say(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, flush=True)


def execute(recipe: Recipe, output_dir: str | Path | None = None, *, quiet: bool = False) -> Run:
    from verticalize.data.pipeline import build_training_data
    from verticalize.models import load_model, load_tokenizer, lora_targets, resolve_model
    from verticalize.train import _hf
    from verticalize.train.progress import ProgressLog
    from verticalize.train.sft import train_sft

    final = Path(output_dir or recipe.output_dir or default_output_dir(recipe))
    if final.exists():
        raise RunError(f"run dir {final} already exists; choose another output_dir (or remove it)")
    work = final.with_name(final.name + ".incomplete")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    recipe = recipe.model_copy(update={"output_dir": str(final)})
    recipe.to_yaml(work / "recipe.yaml")
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    manifest: dict[str, Any] = {
        "status": "running", "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recipe_sha256": recipe.fingerprint(), "versions": _versions(),
        "python": platform.python_version(), "platform": platform.platform(),
    }
    _write_json(work / "manifest.json", manifest)

    try:  # everything before training: on failure nothing of value exists, so leave no dir behind
        t = time.perf_counter()
        resolved = resolve_model(recipe.base)
        dev = _hf.detect_device()
        manifest["device"] = {"kind": dev.kind, "bf16": dev.bf16, "count": dev.count}
        manifest["base"] = {"name": resolved.name, "source": resolved.source, "location": resolved.location}
        _say(f"[verticalize] base {resolved.name} ({resolved.source}) on {dev.kind}", quiet)
        tokenizer = load_tokenizer(resolved)
        timings["load_tokenizer"] = time.perf_counter() - t

        t = time.perf_counter()
        data = build_training_data(recipe, length=lambda ex: _n_tokens(tokenizer, ex))
        manifest["data"] = data.report
        timings["build_data"] = time.perf_counter() - t
        _say(f"[verticalize] {len(data.train)} training examples", quiet)
        _write_json(work / "manifest.json", manifest)

        t = time.perf_counter()
        dtype = _hf.model_dtype(recipe.base.dtype, recipe.train, dev)
        qconf = _hf.quantization_config(recipe.method, dev, dtype)
        model = load_model(resolved, dtype=dtype, quantization_config=qconf,
                           device_map={"": 0} if (qconf is not None and dev.kind == "cuda") else None)
        timings["load_model"] = time.perf_counter() - t
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise

    stages: dict[str, Any] = {}
    ev = recipe.eval
    if ev.suites and "before" in ev.when:
        t = time.perf_counter()
        _say(f"[verticalize] evaluating the base on {', '.join(ev.suites)}", quiet)
        stages["before"] = _eval(model, tokenizer, recipe)
        timings["eval_before"] = time.perf_counter() - t

    t = time.perf_counter()
    progress = ProgressLog(work / "train_log.jsonl", show=not quiet, desc=f"{recipe.train.kind}:{recipe.method.kind}")
    result = train_sft(recipe, model, tokenizer, data.train, work, lora_targets(resolved), dev, [progress])
    timings["train"] = time.perf_counter() - t
    step_times = progress.step_times[1:] or progress.step_times
    result["metrics"]["mean_step_seconds"] = round(sum(step_times) / len(step_times), 4) if step_times else None
    trained = result["model"]
    dest = work / ("model" if result["full"] else "adapter")
    trained.save_pretrained(dest)
    tokenizer.save_pretrained(dest)

    from verticalize.plots import loss_curve

    loss_curve(result["log_history"], work / "loss.png", title=f"{recipe.domain or 'custom'} {recipe.method.kind} loss")
    if ev.suites and "after" in ev.when:
        t = time.perf_counter()
        _say(f"[verticalize] evaluating the adapted model on {', '.join(ev.suites)}", quiet)
        stages["after"] = _eval(trained, tokenizer, recipe)
        timings["eval_after"] = time.perf_counter() - t
    if stages:
        from verticalize.evals import EvalReport

        EvalReport(stages, meta={"recipe_sha256": recipe.fingerprint()}).save(work / "eval")
    shutil.rmtree(work / "checkpoints", ignore_errors=True)
    timings["total"] = time.perf_counter() - t_start
    manifest.update(status="complete", finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    timings={k: round(v, 3) for k, v in timings.items()}, metrics=result["metrics"],
                    artifact=dest.name)
    _write_json(work / "manifest.json", manifest)
    os.replace(work, final)
    return Run(final)


def _n_tokens(tokenizer: Any, ex: dict[str, Any]) -> int:
    from verticalize.data.clean import example_text

    return len(tokenizer(example_text(ex), add_special_tokens=False)["input_ids"])


def _eval(model: Any, tokenizer: Any, recipe: Recipe) -> dict[str, Any]:
    from verticalize.evals import run_suites

    was_training = model.training
    try:
        return run_suites(model, tokenizer, list(recipe.eval.suites), recipe.eval, recipe.pot if recipe.pot.enabled
                          else None, seed=recipe.train.seed)
    finally:
        model.train(was_training)


class Run:
    """A finished run dir: its recipe, manifest, metrics and trained weights."""

    def __init__(self, output_dir: str | Path):
        self.output_dir = Path(output_dir)
        mpath = self.output_dir / "manifest.json"
        if not mpath.is_file():
            inc = self.output_dir.with_name(self.output_dir.name + ".incomplete")
            hint = f" (an unfinished run is at {inc})" if inc.exists() else ""
            raise RunError(f"{self.output_dir} is not a finished verticalize run (no manifest.json){hint}")
        self.manifest: dict[str, Any] = json.loads(mpath.read_text(encoding="utf-8"))
        if self.manifest.get("status") != "complete":
            raise RunError(f"{self.output_dir}: run status is {self.manifest.get('status')!r}, not complete")
        self.recipe: Recipe = load_recipe(self.output_dir / "recipe.yaml")
        self._loaded: tuple[Any, Any] | None = None

    @property
    def metrics(self) -> dict[str, Any]:
        return self.manifest.get("metrics", {})

    @property
    def adapter_path(self) -> Path | None:
        p = self.output_dir / "adapter"
        return p if p.is_dir() else None

    @property
    def model_path(self) -> Path:
        return self.adapter_path or self.output_dir / "model"

    @property
    def report(self) -> Any:
        from verticalize.evals import EvalReport

        p = self.output_dir / "eval" / "report.json"
        return EvalReport.load(p) if p.is_file() else None

    def __repr__(self) -> str:
        return f"Run({str(self.output_dir)!r}, base={self.recipe.base.model!r}, method={self.recipe.method.kind!r})"

    def _repr_markdown_(self) -> str:
        m = self.metrics
        lines = [f"**verticalize run** `{self.output_dir}`", "",
                 f"- base `{self.recipe.base.model}`, domain `{self.recipe.domain}`, method `{self.recipe.method.kind}`",
                 f"- steps {m.get('global_step')}, train loss {m.get('train_loss', float('nan')):.4f}, "
                 f"{self.manifest.get('timings', {}).get('total', 0):.0f} s"]
        if (self.output_dir / "loss.png").is_file():
            lines.append(f"\n![loss]({self.output_dir / 'loss.png'})")
        rep = self.report
        if rep is not None:
            lines += ["", rep.to_markdown()]
        return "\n".join(lines)

    # ---- using the trained model ------------------------------------------------------
    def load(self) -> tuple[Any, Any]:
        """(model, tokenizer) of the trained model; cached on this Run."""
        if self._loaded is None:
            from verticalize.models import load_model, load_tokenizer, resolve_model

            if self.adapter_path is not None:
                from peft import PeftModel

                resolved = resolve_model(self.recipe.base)
                base = load_model(resolved)
                model = PeftModel.from_pretrained(base, str(self.adapter_path))
            else:
                from transformers import AutoModelForCausalLM

                model = AutoModelForCausalLM.from_pretrained(self.output_dir / "model")
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(self.model_path)
            model.eval()
            self._loaded = (model, tok)
        return self._loaded

    def generate(self, prompts: list[str] | str, system: str | None = None, **gen: Any) -> list[str]:
        """Answer each prompt with the trained model (chat template applied; greedy by default)."""
        from verticalize.evals.engine import chat_prompt, generate
        from verticalize.recipe import GenerationSpec

        if isinstance(prompts, str):
            prompts = [prompts]
        model, tok = self.load()
        if system is None and self.recipe.domain:
            from verticalize.registry import load_domain

            system = load_domain(self.recipe.domain).system_for("en")
        texts = []
        for p in prompts:
            msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": p}]
            texts.append(chat_prompt(tok, msgs))
        spec = self.recipe.eval.generation.model_copy(update=gen) if gen else self.recipe.eval.generation
        GenerationSpec.model_validate(spec.model_dump())
        return [o[0] for o in generate(model, tok, texts, spec, self.recipe.eval.batch_size)]

    def evaluate(self, suites: list[str] | None = None, *, before: bool | None = None, save: bool = True) -> Any:
        """Score the suites on the trained model (and on the base when ``before`` or the recipe asks)."""
        from verticalize.evals import EvalReport, run_suites
        from verticalize.models import load_model, load_tokenizer, resolve_model

        ev = self.recipe.eval
        suites = list(suites or ev.suites or ([self.recipe.domain] if self.recipe.domain else []))
        if not suites:
            raise RunError("no suites to evaluate: pass suites=[...] or set eval.suites in the recipe")
        pot = self.recipe.pot if self.recipe.pot.enabled else None
        stages: dict[str, Any] = {}
        if before if before is not None else "before" in ev.when:
            resolved = resolve_model(self.recipe.base)
            stages["before"] = run_suites(load_model(resolved), load_tokenizer(resolved), suites, ev, pot,
                                          seed=self.recipe.train.seed)
        model, tok = self.load()
        stages["after"] = run_suites(model, tok, suites, ev, pot, seed=self.recipe.train.seed)
        report = EvalReport(stages, meta={"run": str(self.output_dir)})
        if save:
            report.save(self.output_dir / "eval")
        return report

    def export(self, out_dir: str | Path, merge: bool = True) -> Path:
        """Write a model dir that plain transformers loads (LoRA merged into the base when ``merge``)."""
        out = Path(out_dir)
        if out.exists() and any(out.iterdir()):
            raise RunError(f"export dir {out} is not empty")
        model, tok = self.load()
        if merge and self.adapter_path is not None:
            model = model.merge_and_unload()
        model.save_pretrained(out)
        tok.save_pretrained(out)
        return out
