"""execute(recipe) -> Run: resolve, load, build data, evaluate before, train each stage, evaluate after.

The run dir is written under ``<output_dir>.incomplete`` and renamed to ``<output_dir>`` only
when everything succeeded, so a crash never leaves a dir that looks complete. A crash during
training keeps the ``.incomplete`` dir with its checkpoints: ``execute(..., resume=True)``
(``verticalize train --resume RUN_DIR``) continues from the last complete checkpoint.

Layout of a finished run::

    recipe.yaml       the resolved recipe (every key)
    manifest.json     versions, device, data sources with sha256, cleaning counts, timings, metrics
    train_log.jsonl   one line per logging step (one-stage runs; else in each stage dir)
    run.log           everything said during the run: verticalize's lines, the libraries' progress bars,
                      logging and warnings (kept off the console), each evaluation's too
    loss.png          the loss curve (every stage)
    adapter/          a standard PEFT dir (LoRA/QLoRA) -- or model/ for full fine-tuning
    stages/NN-kind/   multi-stage runs: each stage's train_log.jsonl, loss.png, weights, stage.json
    eval/             every evaluation (verticalize.evals.history): train/ (the one made here, before/after),
                      eval-1/... (later ones), each report.json|md|png; index.json; report.md (all of them)

Under ``torchrun`` / ``accelerate launch`` every rank builds the data and trains; only rank 0
writes the run dir, evaluates and renames it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from verticalize.errors import RunError
from verticalize.recipe import Recipe
from verticalize.run.result import Run
from verticalize.run.rundir import (RunLock, Writer, check_paths, default_output_dir, nothing_trained, rank_and_world,
                                    read_manifest, resumable, stage_dirs, write_failure, write_manifest, write_recipe,
                                    writing)
from verticalize.versions import package_versions

__all__ = ["Run", "execute", "resume", "default_output_dir"]

def execute(recipe: Recipe, output_dir: str | Path | None = None, *, quiet: bool = False,
            resume: bool = False, trust_paths: bool = False) -> Run:
    """Run a recipe end to end; ``resume``: continue the crashed run at ``output_dir``.

    One process at a time per run dir (``<output_dir>.lock``; a second one stops at once, naming the
    holder). A recipe may not choose a run dir outside the working directory -- ``output_dir`` given
    here may -- nor make training read kernel or device files, unless ``trust_paths``. A write that
    fails (disk full, quota, file size limit) ends the run with a one-line RunError naming the path and
    the cause; the ``.incomplete`` dir and its last complete checkpoint are kept for ``resume``."""
    rank, world = rank_and_world()
    main = rank == 0
    if world > 1 and not (output_dir or recipe.output_dir):
        raise RunError("a multi-process run needs a fixed run dir (every rank must agree on it): pass --output-dir "
                       "or set output_dir: in the recipe")
    final = Path(output_dir or recipe.output_dir or default_output_dir(recipe))
    work = final.with_name(final.name + ".incomplete")
    if not resume:
        problems = check_paths(recipe, explicit_output=output_dir is not None, trust_paths=trust_paths)
        if problems:
            raise RunError(problems[0] if len(problems) == 1 else
                           f"{len(problems)} problem(s):\n  " + "\n  ".join(problems))
    lock = RunLock(final) if main else None
    if lock is not None:
        lock.acquire()
    try:
        return _execute_locked(recipe, final, work, main, world, quiet, resume)
    finally:
        if lock is not None:
            lock.release()


def _execute_locked(recipe: Recipe, final: Path, work: Path, main: bool, world: int, quiet: bool,
                    resume: bool) -> Run:
    if resume:
        recipe = resumable(final, work)
        done = read_manifest(work / "manifest.json", strict=False) if (work / "manifest.json").is_file() else {}
        if main and done.get("status") == "complete" and ((work / "adapter").is_dir() or (work / "model").is_dir()):
            os.replace(work, final)  # it finished; only the rename was missed
            return Run(final)
    else:
        if final.exists():
            raise RunError(f"run dir {final} already exists; choose another output_dir (or remove it)")
        if work.exists() and main:
            raise RunError(f"an unfinished run is at {work}: continue it with `verticalize train --resume {final}` "
                           "(or remove that dir to start over)")
        recipe = recipe.model_copy(update={"output_dir": str(final)})
        if main:
            try:
                work.mkdir(parents=True)
                write_recipe(recipe, work / "recipe.yaml")
            except OSError as e:
                shutil.rmtree(work, ignore_errors=True)
                failed = _failed_write(e, work, final, kept=False)
                if failed is None:
                    raise
                raise failed from e
    from verticalize.strategies import build

    reporters = [build(r, f"reporters[{i}]") for i, r in enumerate(recipe.reporters)]
    out = Writer(work, main, quiet, reporters)
    try:
        from verticalize.console import run_log

        with run_log(work / "run.log", rank=0 if main else int(os.environ.get("RANK", "0"))):
            return _execute(recipe, final, work, out, resume, world)
    except BaseException as e:
        kept = True
        if main and not resume and nothing_trained(work):  # nothing of value yet: leave no dir behind
            shutil.rmtree(work, ignore_errors=True)
            kept = False
        if hasattr(e, "signum") and isinstance(e, RunError):  # preempted: say how to continue
            e.args = (f"{e.args[0]}; resume with `verticalize train --resume {final}`",)
        if main and isinstance(e, Exception):
            failed = _failed_write(e, work, final, kept=kept and work.is_dir())
            if failed is not None:
                _mark_failed(work, str(failed))
                raise failed from e
        raise
    finally:
        for r in reporters:
            r.close()


def _failed_write(e: BaseException, work: Path, final: Path, kept: bool) -> RunError | None:
    """A failed write as one line: the path, the cause, what was kept and how to continue (None: not a write)."""
    hit = write_failure(e, work)
    if hit is None:
        return None
    path, cause = hit
    what = f"could not write {path}" if path is not None else f"a write under {work} failed"
    if not kept:
        return RunError(f"{what}: {cause}; nothing was trained yet and no run dir was kept")
    from verticalize.train.checkpoints import last_complete_checkpoint

    ckpts = [c for d in _stage_dirs_on_disk(work) if (c := last_complete_checkpoint(d / "checkpoints", warn=False))]
    last = f"last complete checkpoint {ckpts[-1].relative_to(work)}" if ckpts else "no complete checkpoint yet"
    return RunError(f"{what}: {cause}; the unfinished run is kept at {work} ({last}): free space (or lift the "
                    f"limit), then continue with `verticalize train --resume {final}`")


def _stage_dirs_on_disk(work: Path) -> list[Path]:
    """The run's stage dirs as they are on disk (the run dir itself, or stages/NN-kind/)."""
    stages = sorted(p for p in (work / "stages").glob("*") if p.is_dir()) if (work / "stages").is_dir() else []
    return stages or [work]


def _mark_failed(work: Path, message: str) -> None:
    """Best effort (the disk may be full): status "failed" and the error in the manifest."""
    try:
        m = read_manifest(work / "manifest.json", strict=False) if (work / "manifest.json").is_file() else {}
        if m:
            m.update(status="failed", error=message)
            write_manifest(work / "manifest.json", m)
    except Exception:  # noqa: BLE001, S110 -- best effort: the error being reported matters more
        pass


def resume(run_dir: str | Path, *, quiet: bool = False) -> Run:
    """Continue a crashed run (``RUN_DIR`` or ``RUN_DIR.incomplete``) from its last complete checkpoint,
    with the recipe it was started with."""
    p = Path(run_dir)
    final = p.with_name(p.name[: -len(".incomplete")]) if p.name.endswith(".incomplete") else p
    work = final.with_name(final.name + ".incomplete")
    return execute(resumable(final, work), final, quiet=quiet, resume=True)


@dataclass
class _Ctx:
    """What every step of one run shares: the recipe, its dirs, the writer, and the manifest being filled."""

    recipe: Recipe
    final: Path
    work: Path
    out: Writer
    resume: bool
    world: int
    manifest: dict[str, Any] = field(default_factory=dict)
    old: dict[str, Any] = field(default_factory=dict)  # the crashed run's manifest when resuming
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - t


@dataclass
class _Base:
    resolved: Any
    device: Any
    tokenizer: Any


@dataclass
class _Plan:
    stages: list[Any]  # Stage objects
    method: Any        # the Method object
    datas: list[Any]   # one DataBuild per stage


@dataclass
class _Trained:
    model: Any
    results: list[Any]  # one StageResult per stage
    dest: Path          # where the final weights were saved
    adapter: bool       # a PEFT adapter (else a whole model)


def _execute(recipe: Recipe, final: Path, work: Path, out: Writer, resume: bool, world: int) -> Run:
    """The flow of one run, each step a function of the previous values."""
    t_start = time.perf_counter()
    ctx = _start(recipe, final, work, out, resume, world)
    base = _resolve_base(ctx)
    plan = _plan(ctx, base)
    model = _load_model(ctx, base, plan)
    before = _evaluate_before(ctx, base, model)
    trained = _train(ctx, base, plan, model)
    if out.main:
        _finish(ctx, base, plan, trained, before, t_start)
    _barrier(world)
    return Run(final)


def _start(recipe: Recipe, final: Path, work: Path, out: Writer, resume: bool, world: int) -> _Ctx:
    old = read_manifest(work / "manifest.json", strict=False) if resume and (work / "manifest.json").is_file() else {}
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest: dict[str, Any] = {
        "status": "running", "started": old.get("started") or now, "recipe_sha256": recipe.fingerprint(),
        "versions": package_versions(), "python": platform.python_version(), "platform": platform.platform(),
        "world_size": world,
    }
    if resume:
        manifest["resumed"] = [*(old.get("resumed") or []), now]
    out.json("manifest.json", manifest)
    return _Ctx(recipe, final, work, out, resume, world, manifest, old)


def _resolve_base(ctx: _Ctx) -> _Base:
    from verticalize.models import load_tokenizer, resolve_model
    from verticalize.train import detect_device

    with ctx.timed("load_tokenizer"):
        resolved = resolve_model(ctx.recipe.base)
        dev = detect_device()
        ctx.manifest["device"] = {"kind": dev.kind, "bf16": dev.bf16, "count": dev.count}
        ctx.manifest["base"] = {"name": resolved.name, "source": resolved.source, "location": resolved.location}
        ctx.out.say(f"[verticalize] base {resolved.name} ({resolved.source}) on {dev.kind}"
                    + (f", {ctx.world} processes" if ctx.world > 1 else ""))
        tokenizer = load_tokenizer(resolved)
    return _Base(resolved, dev, tokenizer)


def _plan(ctx: _Ctx, base: _Base) -> _Plan:
    """The Stage and Method objects, and each stage's training data (cleaned, mixed)."""
    from verticalize.data.pipeline import build_training_data
    from verticalize.run.watch import watch_problems
    from verticalize.train.methods import method_for
    from verticalize.train.stages import DATA_KIND, stage_for

    recipe = ctx.recipe
    problems = watch_problems(recipe)  # train.watch with nothing to score: said before the base loads
    if problems:
        from verticalize.errors import RecipeError

        raise RecipeError(problems[0])
    with ctx.timed("build_data"):
        stages = [stage_for(s, i) for i, s in enumerate(recipe.stages)]
        length = lambda ex: _n_tokens(base.tokenizer, ex)  # noqa: E731
        datas = [build_training_data(recipe, length=length, kind=DATA_KIND[st.examples]) for st in stages]
        datas = [_with_text(recipe, st, d, length) for st, d in zip(stages, datas)]
        for st, d in zip(stages, datas):
            ctx.out.say(f"[verticalize] {st.kind} data: {_data_steps(d.report)}")
            n = "streamed" if d.report.get("streaming") else f"{len(d.train)} training examples"
            ctx.out.say(f"[verticalize] {st.kind}: {n}" + (" (cached)" if d.report.get("cache", {}).get("hit") else ""))
        ctx.manifest["data"] = datas[-1].report if len(stages) == 1 else {"stages": [d.report for d in datas]}
    data_sha = _data_sha(datas)
    if ctx.resume and ctx.old.get("data_sha256") and ctx.old["data_sha256"] != data_sha:
        raise RunError(f"cannot resume {ctx.final}: the training data differ from the crashed run's "
                       f"(data {ctx.old['data_sha256'][:12]} then, {data_sha[:12]} now); a data file changed")
    ctx.manifest["data_sha256"] = data_sha
    ctx.out.json("manifest.json", ctx.manifest)
    return _Plan(stages, method_for(recipe.method), datas)


def _load_model(ctx: _Ctx, base: _Base, plan: _Plan) -> Any:
    from verticalize.models import load_model, lora_targets
    from verticalize.strategies import MethodContext
    from verticalize.train import model_dtype

    with ctx.timed("load_model"):
        dtype = model_dtype(ctx.recipe.base.dtype, getattr(plan.stages[0], "spec", None), base.device)
        qconf = plan.method.quantization_config(MethodContext(target_modules=lora_targets(base.resolved),
                                                              device=base.device, compute_dtype=dtype))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        attn = ctx.recipe.base.attn_implementation
        if attn.startswith("flash_attention") and base.device.kind != "cuda":
            from verticalize.errors import RecipeError

            raise RecipeError(f"base.attn_implementation: {attn} runs on CUDA GPUs only, and this run is on "
                              f"{base.device.kind}; allowed here: auto, eager, sdpa, flex_attention")
        return load_model(base.resolved, dtype=dtype, quantization_config=qconf, attn_implementation=attn,
                          device_map={"": local} if (qconf is not None and base.device.kind == "cuda") else None)


def _evaluate_before(ctx: _Ctx, base: _Base, model: Any) -> dict[str, Any] | None:
    """Scores of the base model (rank 0; cached in the run dir so a resumed run does not redo them)."""
    ev = ctx.recipe.eval
    if not (ev.suites and "before" in ev.when and ctx.out.main):
        return None
    cached = ctx.work / "eval_before.json"
    if ctx.resume and cached.is_file():
        return json.loads(cached.read_text("utf-8"))
    with ctx.timed("eval_before"):
        ctx.out.say(f"[verticalize] evaluating the base on {_suite_names(ev.suites)}")
        scores = _eval(model, base.tokenizer, ctx.recipe, "before", ctx.out.quiet)
    ctx.out.json("eval_before.json", scores)
    return scores


def _train(ctx: _Ctx, base: _Base, plan: _Plan, model: Any) -> _Trained:
    """Every stage in order, then the final weights saved (``adapter/``, or ``model/`` for full)."""
    from verticalize.models import lora_targets
    from verticalize.strategies import build
    from verticalize.train.callbacks import ReporterCallback
    from verticalize.train.stages import run_stages, save_result
    from verticalize.train.weights import weights_dir

    recipe = ctx.recipe
    callbacks = [build(c, f"callbacks[{i}]") for i, c in enumerate(recipe.callbacks)]
    if ctx.out.reporters and ctx.out.main:
        callbacks.append(ReporterCallback(ctx.out.reporters))
    dirs = stage_dirs(recipe, ctx.work)
    if ctx.resume and ctx.out.main:
        _discard_unusable_checkpoints(ctx, dirs)
    probes = None
    if any(getattr(s, "watch", None) is not None for s in recipe.stages):
        from verticalize.run.watch import watch_probes

        with ctx.timed("watch_baseline"):  # train.watch: the base scored on the watch's subset
            probes = watch_probes(recipe, model, base.tokenizer, ctx.world)
    with ctx.timed("train"):
        model, results = run_stages(recipe, plan.stages, plan.method, model, base.tokenizer,
                                    [d.train for d in plan.datas], dirs, base.device, lora_targets(base.resolved),
                                    ctx.out, ctx.resume, callbacks, probes)
    if len(plan.stages) > 1:
        ctx.manifest["stages"] = [{"kind": st.kind, "dir": str(d.relative_to(ctx.work)), "metrics": r.metrics}
                                  for st, d, r in zip(plan.stages, dirs, results)]
    adapter = hasattr(model, "peft_config")  # a PeftModel: save the adapter, else the whole model
    dest = weights_dir(ctx.work, "lora" if adapter else "full")
    with writing(dest):
        save_result(results[-1], dest, ctx.out.main)
    return _Trained(model, results, dest, adapter)


def _discard_unusable_checkpoints(ctx: _Ctx, dirs: list[Path]) -> None:
    """Resuming: checkpoints newer than the last good one (unfinished saves, damaged ones -- each named in a
    warning) are removed, so that the steps they held are saved afresh with no stale file mixed in."""
    from verticalize.train.checkpoints import discard_after, last_complete_checkpoint

    for d in dirs:
        keep = last_complete_checkpoint(d / "checkpoints")
        gone = discard_after(d / "checkpoints", keep)
        if gone:
            ctx.out.say(f"[verticalize] discarded {', '.join(g.name for g in gone)} (unfinished or damaged); "
                        + (f"resuming from {keep.name}" if keep else "no complete checkpoint: the stage starts over"))


def _finish(ctx: _Ctx, base: _Base, plan: _Plan, trained: _Trained, before: dict[str, Any] | None,
            t_start: float) -> None:
    """Rank 0: tokenizer and loss plot beside the weights, evaluation after, the report, the manifest,
    and the rename that marks the run complete."""
    recipe, work = ctx.recipe, ctx.work
    _save_final(recipe, plan.stages, base.tokenizer, work, trained.dest, trained.results)
    evals = {"before": before} if before is not None else {}
    if recipe.eval.suites and "after" in recipe.eval.when:
        with ctx.timed("eval_after"):
            ctx.out.say(f"[verticalize] evaluating the adapted model on {_suite_names(recipe.eval.suites)}")
            model = trained.model
            if trained.results[-1].sharded:  # FSDP / ZeRO-3 weights live across ranks: score the saved ones
                model = _reload(base.resolved, trained.dest, full=not trained.adapter)
            evals["after"] = _eval(model, base.tokenizer, recipe, "after", ctx.out.quiet)
    if evals:
        from verticalize.evals import EvalReport
        from verticalize.run.watch import watch_summaries

        watched = watch_summaries(plan.stages, trained.results)  # train.watch: which step, and why
        from verticalize.evals.history import TRAIN_LABEL, EvalHistory
        from verticalize.run.evaluate import eval_meta

        meta = {**eval_meta(recipe, source="training", run=ctx.final), **({"watch": watched} if watched else {})}
        report = EvalReport(evals, meta=meta)
        with writing(work / "eval"):  # eval/train/, the index and eval/report.md (verticalize.evals.history)
            report, _ = EvalHistory(work / "eval").add(report, TRAIN_LABEL, force=ctx.resume, reserved_ok=True)
        for r in ctx.out.reporters:
            r.scores(report.to_dict())
    ctx.timings["total"] = time.perf_counter() - t_start
    ctx.manifest.update(status="complete", finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        timings={k: round(v, 3) for k, v in ctx.timings.items()},
                        metrics=dict(trained.results[-1].metrics), artifact="adapter" if trained.adapter else "model")
    from verticalize.train.card import write_model_card
    from verticalize.train.checkpoints import prune_checkpoints

    with writing(trained.dest / "README.md"):
        write_model_card(trained.dest, recipe, ctx.manifest, report if evals else None)
    ctx.out.json("manifest.json", ctx.manifest)  # the last write: checkpoints stay until it succeeded
    dirs = stage_dirs(recipe, work)
    for d in dirs[:-1]:  # earlier stages: their weights are saved in their stage dir
        shutil.rmtree(d / "checkpoints", ignore_errors=True)
    prune_checkpoints(dirs[-1] / "checkpoints", int(getattr(recipe.stages[-1], "keep_checkpoints", 1)))
    from verticalize.train.watch import discard_watch_weights

    for d in dirs:  # train.watch: the selected check's weights are the stage's weights now
        discard_watch_weights(d)
    (work / "eval_before.json").unlink(missing_ok=True)
    os.replace(work, ctx.final)


def _save_final(recipe: Recipe, stages: list[Any], tokenizer: Any, work: Path, dest: Path, results: list[Any]) -> None:
    from verticalize.plots import loss_curve

    with writing(dest):
        tokenizer.save_pretrained(dest)
    title = f"{recipe.domain or 'custom'} {'+'.join(st.kind for st in stages)} {recipe.method.kind} loss"
    with writing(work / "loss.png"):
        loss_curve([(st.kind, r.log_history) for st, r in zip(stages, results)], work / "loss.png", title=title)


def _reload(resolved: Any, dest: Path, full: bool) -> Any:
    from verticalize.models import load_model
    from verticalize.train.weights import load_weights

    return load_weights(dest, base=lambda: load_model(resolved), full=full)


def _suite_names(suites: list[Any]) -> str:
    return ", ".join(s if isinstance(s, str) else s.label for s in suites)


def _barrier(world: int) -> None:
    """Non-zero ranks wait until rank 0 has written and renamed the run dir."""
    if world <= 1:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _with_text(recipe: Any, stage: Any, data: Any, length: Any) -> Any:
    """A mixed stage's data (``train.cpt_ratio``): its chats, then the raw text a cpt stage would read."""
    from verticalize.data.pipeline import DataBuild, build_training_data
    from verticalize.errors import DataError

    if not getattr(getattr(stage, "spec", None), "cpt_ratio", None):
        return data
    if data.report.get("streaming"):
        raise DataError("train.cpt_ratio mixes raw text into built chat data; processing.streaming streams cpt "
                        "corpora only: set streaming: false")
    try:
        text = build_training_data(recipe, length=length, kind="cpt")
    except DataError as e:
        raise DataError(f"train.cpt_ratio mixes raw domain text into the sft stage: {e}") from None
    if text.report.get("streaming"):
        raise DataError("train.cpt_ratio needs the raw text built, not streamed: set processing.streaming: false")
    return DataBuild(train=[*data.train, *text.train], report={**data.report, "text": text.report})


def _data_sha(datas: list[Any]) -> str:
    import hashlib

    h = hashlib.sha256()
    for d in datas:
        if d.report.get("engine") == "arrow":  # built on Arrow: its sources (sha256 each) and every step's counts
            text = d.report.get("text") or {}
            h.update(json.dumps([d.report.get("sources"), d.report.get("steps"), text.get("sources"),
                                 text.get("steps")], sort_keys=True, default=str).encode("utf-8"))
            continue
        h.update(json.dumps(d.train, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
    return h.hexdigest()


def _data_steps(report: dict[str, Any]) -> str:
    """How the training data were built, in one line: what was read, then each step with what it dropped."""
    sources = [s for s in report.get("sources") or [] if isinstance(s, dict)]
    read = sum(int(s.get("converted", s.get("read", 0)) or 0) for s in sources)
    parts = [f"{read} read from {len(sources)} source{'s' if len(sources) != 1 else ''}"] if sources else []
    for st in report.get("steps") or []:
        if not isinstance(st, dict) or not st.get("step"):
            continue
        n_in, n_out = st.get("in"), st.get("out")
        n_in = sum(n_in) if isinstance(n_in, list) else n_in
        gone = n_in - n_out if isinstance(n_in, int) and isinstance(n_out, int) and n_in > n_out else 0
        parts.append(f"{st['step']}" + (f" -{gone}" if gone else ""))
    return " -> ".join(parts) or "built"


def _n_tokens(tokenizer: Any, ex: dict[str, Any]) -> int:
    from verticalize.data.clean import example_text

    return len(tokenizer(example_text(ex), add_special_tokens=False)["input_ids"])


def _eval(model: Any, tokenizer: Any, recipe: Recipe, stage: str, quiet: bool) -> dict[str, Any]:
    from verticalize.run.evaluate import score

    return score(model, tokenizer, recipe, stage=stage, quiet=quiet)
