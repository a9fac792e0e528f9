"""execute(recipe) -> Run: resolve, load, build data, evaluate before, train each stage, evaluate after.

The run dir is written under ``<output_dir>.incomplete`` and renamed to ``<output_dir>`` only
when everything succeeded, so a crash never leaves a dir that looks complete. A crash during
training keeps the ``.incomplete`` dir with its checkpoints: ``execute(..., resume=True)``
(``verticalize train --resume RUN_DIR``) continues from the last complete checkpoint.

Layout of a finished run::

    recipe.yaml       the resolved recipe (every key)
    manifest.json     versions, device, data sources with sha256, cleaning counts, timings, metrics
    train_log.jsonl   one line per logging step (one-stage runs; else in each stage dir)
    loss.png          the loss curve (every stage)
    adapter/          a standard PEFT dir (LoRA/QLoRA) -- or model/ for full fine-tuning
    stages/NN-kind/   multi-stage runs: each stage's train_log.jsonl, loss.png, weights, stage.json
    eval/             report.json, report.md, report.png (when the recipe has eval suites)

Under ``torchrun`` / ``accelerate launch`` every rank builds the data and trains; only rank 0
writes the run dir, evaluates and renames it.
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
from verticalize.run.result import Run
from verticalize.versions import package_versions

__all__ = ["Run", "execute", "resume", "default_output_dir"]

def default_output_dir(recipe: Recipe) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = Path(recipe.base.model).name.replace(":", "-").lower()
    return Path("runs") / f"{Path(recipe.domain).name if recipe.domain else 'custom'}-{name}-{stamp}"


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _rank() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment (torchrun and accelerate set both)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


class _Writer:
    """Writes only on rank 0; every other rank's writes are no-ops. Progress lines also reach the
    recipe's Reporter objects."""

    def __init__(self, work: Path, main: bool, quiet: bool, reporters: list[Any] = ()):
        self.work, self.main, self.quiet, self.reporters = work, main, quiet, list(reporters)

    def say(self, msg: str) -> None:
        if self.main and not self.quiet:
            print(msg, flush=True)
        if self.main:
            for r in self.reporters:
                r.message(msg)

    def json(self, name: str | Path, data: Any) -> None:
        if self.main:
            _write_json(self.work / name, data)


def _stage_dirs(recipe: Recipe, work: Path) -> list[Path]:
    specs = recipe.stages
    if len(specs) == 1:
        return [work]
    return [work / "stages" / f"{i + 1:02d}-{s.kind}" for i, s in enumerate(specs)]


def execute(recipe: Recipe, output_dir: str | Path | None = None, *, quiet: bool = False,
            resume: bool = False) -> Run:
    """Run a recipe end to end; ``resume``: continue the crashed run at ``output_dir``."""
    rank, world = _rank()
    main = rank == 0
    if world > 1 and not (output_dir or recipe.output_dir):
        raise RunError("a multi-process run needs a fixed run dir (every rank must agree on it): pass --output-dir "
                       "or set output_dir: in the recipe")
    final = Path(output_dir or recipe.output_dir or default_output_dir(recipe))
    work = final.with_name(final.name + ".incomplete")
    if resume:
        recipe = _resumable(final, work)
    else:
        if final.exists():
            raise RunError(f"run dir {final} already exists; choose another output_dir (or remove it)")
        if work.exists() and main:
            raise RunError(f"an unfinished run is at {work}: continue it with `verticalize train --resume {final}` "
                           "(or remove that dir to start over)")
        recipe = recipe.model_copy(update={"output_dir": str(final)})
        if main:
            work.mkdir(parents=True)
            _write_recipe(recipe, work / "recipe.yaml")
    from verticalize.strategies import build

    reporters = [build(r, f"reporters[{i}]") for i, r in enumerate(recipe.reporters)]
    out = _Writer(work, main, quiet, reporters)
    try:
        return _execute(recipe, final, work, out, resume, world)
    except BaseException:
        if main and not resume and _nothing_trained(work):  # nothing of value yet: leave no dir behind
            shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        for r in reporters:
            r.close()


def _write_recipe(recipe: Recipe, path: Path) -> None:
    """The run's recipe.yaml. Strategy objects without an import path are written as their class's
    path under a comment saying so: the run works, but resuming it needs them importable."""
    bad = [ref.portable for _, ref in recipe.refs() if ref.portable]
    if not bad:
        recipe.to_yaml(path)
        return
    import yaml

    head = "".join(f"# not repeatable from this file: {b}\n" for b in bad)
    path.write_text(head + yaml.safe_dump(recipe.to_dict(), sort_keys=False, allow_unicode=True), encoding="utf-8")


def resume(run_dir: str | Path, *, quiet: bool = False) -> Run:
    """Continue a crashed run (``RUN_DIR`` or ``RUN_DIR.incomplete``) from its last complete checkpoint,
    with the recipe it was started with."""
    p = Path(run_dir)
    final = p.with_name(p.name[: -len(".incomplete")]) if p.name.endswith(".incomplete") else p
    work = final.with_name(final.name + ".incomplete")
    return execute(_resumable(final, work), final, quiet=quiet, resume=True)


def _nothing_trained(work: Path) -> bool:
    """True while no stage has started training (no checkpoint, no log): nothing of value to keep."""
    if not work.is_dir():
        return True
    return not any(work.rglob("checkpoint-*")) and not any(work.rglob("train_log.jsonl"))


def _resumable(final: Path, work: Path) -> Recipe:
    if not work.is_dir():
        if (final / "manifest.json").is_file():
            raise RunError(f"{final} is a finished run: nothing to resume")
        raise RunError(f"nothing to resume: {work} does not exist")
    if not (work / "recipe.yaml").is_file():
        raise RunError(f"{work} has no recipe.yaml: not a verticalize run dir")
    return load_recipe(work / "recipe.yaml", trust_code=True)  # written by this run, trusted when it started


def _execute(recipe: Recipe, final: Path, work: Path, out: _Writer, resume: bool, world: int) -> Run:
    from verticalize.data.pipeline import build_training_data
    from verticalize.models import load_model, load_tokenizer, lora_targets, resolve_model
    from verticalize.strategies import MethodContext, build
    from verticalize.train import detect_device, model_dtype
    from verticalize.train.methods import method_for
    from verticalize.train.stages import stage_for

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    old = json.loads((work / "manifest.json").read_text("utf-8")) if resume and (work / "manifest.json").is_file() else {}
    manifest: dict[str, Any] = {
        "status": "running", "started": old.get("started") or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recipe_sha256": recipe.fingerprint(), "versions": package_versions(),
        "python": platform.python_version(), "platform": platform.platform(), "world_size": world,
    }
    if resume:
        manifest["resumed"] = [*old.get("resumed", []), datetime.now(timezone.utc).isoformat(timespec="seconds")]
    out.json("manifest.json", manifest)

    t = time.perf_counter()
    resolved = resolve_model(recipe.base)
    dev = detect_device()
    manifest["device"] = {"kind": dev.kind, "bf16": dev.bf16, "count": dev.count}
    manifest["base"] = {"name": resolved.name, "source": resolved.source, "location": resolved.location}
    out.say(f"[verticalize] base {resolved.name} ({resolved.source}) on {dev.kind}"
            + (f", {world} processes" if world > 1 else ""))
    tokenizer = load_tokenizer(resolved)
    timings["load_tokenizer"] = time.perf_counter() - t

    t = time.perf_counter()
    specs = recipe.stages
    stages = [stage_for(s, i) for i, s in enumerate(specs)]
    method = method_for(recipe.method)
    length = lambda ex: _n_tokens(tokenizer, ex)  # noqa: E731
    datas = [build_training_data(recipe, length=length, kind=_DATA_KIND[st.examples]) for st in stages]
    for st, d in zip(stages, datas):
        out.say(f"[verticalize] {st.kind}: {len(d.train)} training examples")
    manifest["data"] = datas[-1].report if len(specs) == 1 else {"stages": [d.report for d in datas]}
    timings["build_data"] = time.perf_counter() - t
    data_sha = _data_sha(datas)
    if resume and old.get("data_sha256") and old["data_sha256"] != data_sha:
        raise RunError(f"cannot resume {final}: the training data differ from the crashed run's "
                       f"(data {old['data_sha256'][:12]} then, {data_sha[:12]} now); a data file changed")
    manifest["data_sha256"] = data_sha
    out.json("manifest.json", manifest)

    t = time.perf_counter()
    dtype = model_dtype(recipe.base.dtype, getattr(stages[0], "spec", None), dev)
    qconf = method.quantization_config(MethodContext(target_modules=lora_targets(resolved), device=dev,
                                                     compute_dtype=dtype))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    model = load_model(resolved, dtype=dtype, quantization_config=qconf,
                       device_map={"": local} if (qconf is not None and dev.kind == "cuda") else None)
    timings["load_model"] = time.perf_counter() - t

    ev = recipe.eval
    evals: dict[str, Any] = {}
    if ev.suites and "before" in ev.when and out.main:
        cached = work / "eval_before.json"
        if resume and cached.is_file():
            evals["before"] = json.loads(cached.read_text("utf-8"))
        else:
            t = time.perf_counter()
            out.say(f"[verticalize] evaluating the base on {_suite_names(ev.suites)}")
            evals["before"] = _eval(model, tokenizer, recipe)
            timings["eval_before"] = time.perf_counter() - t
            out.json("eval_before.json", evals["before"])

    from verticalize.train.stages import run_stages

    t = time.perf_counter()
    callbacks = [build(c, f"callbacks[{i}]") for i, c in enumerate(recipe.callbacks)]
    if out.reporters and out.main:
        callbacks.append(_reporter_callback(out.reporters))
    model, stage_results = run_stages(recipe, stages, method, model, tokenizer, [d.train for d in datas],
                                      _stage_dirs(recipe, work), dev, lora_targets(resolved), out, resume, callbacks)
    timings["train"] = time.perf_counter() - t
    metrics = dict(stage_results[-1].metrics)
    if len(specs) > 1:
        manifest["stages"] = [{"kind": st.kind, "dir": str(d.relative_to(work)), "metrics": r.metrics}
                              for st, d, r in zip(stages, _stage_dirs(recipe, work), stage_results)]
    from verticalize.train.stages import save_result
    from verticalize.train.weights import weights_dir

    adapter = hasattr(model, "peft_config")  # a PeftModel: save the adapter, else the whole model
    dest = weights_dir(work, "lora" if adapter else "full")
    save_result(stage_results[-1], dest, out.main)
    if out.main:
        _save_final(recipe, stages, tokenizer, work, dest, stage_results)
        if ev.suites and "after" in ev.when:
            t = time.perf_counter()
            out.say(f"[verticalize] evaluating the adapted model on {_suite_names(ev.suites)}")
            if stage_results[-1].sharded:  # FSDP / ZeRO-3 weights live across ranks: score the saved ones
                model = _reload(resolved, dest, full=not adapter)
            evals["after"] = _eval(model, tokenizer, recipe)
            timings["eval_after"] = time.perf_counter() - t
        if evals:
            from verticalize.evals import EvalReport

            report = EvalReport(evals, meta={"recipe_sha256": recipe.fingerprint()})
            report.save(work / "eval")
            for r in out.reporters:
                r.scores(report.to_dict())
        for d in _stage_dirs(recipe, work):
            shutil.rmtree(d / "checkpoints", ignore_errors=True)
        (work / "eval_before.json").unlink(missing_ok=True)
        timings["total"] = time.perf_counter() - t_start
        manifest.update(status="complete", finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        timings={k: round(v, 3) for k, v in timings.items()}, metrics=metrics,
                        artifact="adapter" if adapter else "model")
        out.json("manifest.json", manifest)
        os.replace(work, final)
    _barrier(world)
    return Run(final)


def _save_final(recipe: Recipe, stages: list[Any], tokenizer: Any, work: Path, dest: Path, results: list[Any]) -> None:
    from verticalize.plots import loss_curve

    tokenizer.save_pretrained(dest)
    title = f"{recipe.domain or 'custom'} {'+'.join(st.kind for st in stages)} {recipe.method.kind} loss"
    loss_curve([(st.kind, r.log_history) for st, r in zip(stages, results)], work / "loss.png", title=title)


def _reload(resolved: Any, dest: Path, full: bool) -> Any:
    from verticalize.models import load_model
    from verticalize.train.weights import load_weights

    return load_weights(dest, base=lambda: load_model(resolved), full=full)


#: which examples a stage trains on -> the data kind the pipeline builds
_DATA_KIND = {"chat": "sft", "text": "cpt", "preference": "dpo"}


def _suite_names(suites: list[Any]) -> str:
    return ", ".join(s if isinstance(s, str) else s.kind for s in suites)


def _reporter_callback(reporters: list[Any]) -> Any:
    """A TrainerCallback that hands each logging step's metrics to the Reporters."""
    from transformers import TrainerCallback

    class _ToReporters(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            values = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float))}
            for r in reporters:
                r.metrics(values, step=state.global_step, stage=Path(args.output_dir).parent.name)

    return _ToReporters()


def _barrier(world: int) -> None:
    """Non-zero ranks wait until rank 0 has written and renamed the run dir."""
    if world <= 1:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _data_sha(datas: list[Any]) -> str:
    import hashlib

    h = hashlib.sha256()
    for d in datas:
        h.update(json.dumps(d.train, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
    return h.hexdigest()


def _n_tokens(tokenizer: Any, ex: dict[str, Any]) -> int:
    from verticalize.data.clean import example_text

    return len(tokenizer(example_text(ex), add_special_tokens=False)["input_ids"])


def _eval(model: Any, tokenizer: Any, recipe: Recipe) -> dict[str, Any]:
    from verticalize.evals import run_suites

    was_training = model.training
    try:
        return run_suites(model, tokenizer, list(recipe.eval.suites), recipe.eval, recipe.pot if recipe.pot.enabled
                          else None, seed=recipe.seed)
    finally:
        model.train(was_training)
