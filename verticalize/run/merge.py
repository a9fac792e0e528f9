"""``verticalize merge``: combine several finished runs of one base (TIES, DARE, linear... through PEFT's
``add_weighted_adapter`` for LoRA runs, PEFT's merge rules on the full changes for full fine-tunes) into a
new run dir, without retraining.

The merged dir is a run like any other -- ``recipe.yaml`` (the first run's, with every run's eval suites),
``manifest.json`` (``merge``: the runs, method, weights, density, seed; ``data``: every run's sources),
``adapter/`` or ``model/`` -- so ``Run(dir)``, ``verticalize eval``, ``curve``, ``export`` and ``chat`` work
on it. Scored, it gets the evaluation ``eval/merge/``: before (the base) and after (the merge) on the suites.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from verticalize.errors import RunError

__all__ = ["merge_runs"]


def merge_runs(runs: Sequence[Any], out_dir: str | Path, *, method: str = "ties",
               weights: Sequence[float] | None = None, density: float | None = None, seed: int | None = None,
               force: bool = False, evaluate: bool = True, suites: Sequence[Any] | None = None,
               max_examples: int | None = None, progress: Callable[[str], None] | None = None) -> Any:
    """Merge the runs (Run objects or run dirs) into ``out_dir`` and return it as a Run; with ``evaluate``
    score the base and the merge on ``suites`` (default: every run's suites, plus ``general`` when none is
    a retention suite) and keep that evaluation as ``eval/merge/``."""
    from verticalize.models import load_model, resolve_model
    from verticalize.run.curve import run_curve
    from verticalize.run.result import Run
    from verticalize.run.rundir import write_manifest, write_recipe
    from verticalize.train.merging import check_merge_args, merge_adapters, merge_full
    from verticalize.train.weights import load_weights
    from verticalize.versions import package_versions

    t0 = time.perf_counter()
    opened = [r if isinstance(r, Run) else Run(r) for r in runs]
    full = [r.adapter_path is None for r in opened]
    if any(full) and not all(full):
        kinds = ", ".join(f"{r.output_dir} ({'full' if f else 'adapter'})" for r, f in zip(opened, full))
        raise RunError(f"cannot merge LoRA adapters with full fine-tunes: {kinds}")
    w, density = check_merge_args(method, len(opened), weights, density, full=all(full))
    first = opened[0]
    base_spec = first.recipe.base.model_dump(mode="json")
    for r in opened[1:]:
        if r.recipe.base.model_dump(mode="json") != base_spec:
            raise RunError(f"{r.output_dir} was trained from {r.recipe.base.model!r} ({r.recipe.base.source}), "
                           f"{first.output_dir} from {first.recipe.base.model!r} ({first.recipe.base.source}): "
                           "only runs of the same base model can be merged")
    if len({r.output_dir.resolve() for r in opened}) < len(opened):
        raise RunError("the same run is given twice: merge distinct runs (weigh one more with --weights)")
    out = Path(out_dir)
    if out.resolve() in {r.output_dir.resolve() for r in opened}:
        raise RunError(f"merge output {out} is one of the runs being merged: write the merge to a new dir")
    if evaluate:  # no suites to score: say so before anything is written
        from verticalize.run.curve import curve_suites

        curve_suites(_merged_recipe(opened, out), suites)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not force:
            raise RunError(f"merge output {out} exists and is not empty (pass force=True / --force to overwrite)")
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    out.mkdir(parents=True, exist_ok=True)
    seed = first.recipe.seed if seed is None else int(seed)
    say = progress or (lambda _m: None)
    base = lambda: load_model(resolve_model(first.recipe.base))
    say(f"[verticalize] merging {len(opened)} runs with {method}"
        + (f" (density {density:g})" if density is not None else "") + f", weights {', '.join(f'{x:g}' for x in w)}")
    if all(full):
        dest = out / "model"
        info = merge_full([r.model_path for r in opened], w, base=base, method=method, density=density, seed=seed,
                          dest=dest, load=lambda p: load_weights(p, base=base, full=True))
    else:
        dest = out / "adapter"
        info = merge_adapters([r.adapter_path for r in opened], w, base=base, method=method, density=density,
                              seed=seed, dest=dest)
    _copy_tokenizer(first.model_path, dest)
    recipe = _merged_recipe(opened, out)
    write_recipe(recipe, out / "recipe.yaml")
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest = {
        "status": "complete", "started": now, "finished": now, "recipe_sha256": recipe.fingerprint(),
        "versions": package_versions(), "base": first.manifest.get("base") or {},
        "data": {"sources": [s for r in opened for s in _sources(r.manifest)]},
        "metrics": {}, "timings": {"total": round(time.perf_counter() - t0, 3)},
        "artifact": "model" if all(full) else "adapter",
        "merge": {**info, "runs": [str(r.output_dir) for r in opened]},
    }
    write_manifest(out / "manifest.json", manifest)
    merged = Run(out)
    from verticalize.train.card import write_model_card

    write_model_card(dest, merged.recipe, merged.manifest, None)
    if evaluate:
        curve = run_curve(merged, (0.0, 1.0), suites, max_examples=max_examples, save=False, progress=progress)
        report = curve.report(curve.point(1.0))
        from verticalize.evals import EvalReport
        from verticalize.evals.history import EvalHistory

        report = EvalReport(report.stages, meta={"run": str(out), "merge": manifest["merge"]})
        report, _ = EvalHistory(out / "eval").add(report, "merge")  # eval/merge/report.*, eval/index.json
        write_model_card(dest, merged.recipe, merged.manifest, report)
        manifest["timings"]["total"] = round(time.perf_counter() - t0, 3)
        write_manifest(out / "manifest.json", manifest)
        merged = Run(out)
    return merged


def _merged_recipe(runs: Sequence[Any], out: Path) -> Any:
    """The first run's recipe, scoring every run's eval suites, with the merged dir as its output_dir."""
    recipe = runs[0].recipe
    suites: list[Any] = []
    for r in runs:
        for s in r.recipe.eval.suites:
            if s not in suites:
                suites.append(s)
    ev = recipe.eval.model_copy(update={"suites": suites})
    return recipe.model_copy(update={"eval": ev, "output_dir": str(out)})


def _sources(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    data = manifest.get("data") or {}
    if "stages" in data:
        return [s for st in data["stages"] for s in st.get("sources", [])]
    return list(data.get("sources", []))


def _copy_tokenizer(src: Path, dest: Path) -> None:
    """The tokenizer files (and chat template) of the first run, so the merged dir loads as a run does."""
    keep = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
            "chat_template.json", "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json")
    for name in keep:
        if (src / name).is_file() and not (dest / name).exists():
            shutil.copy2(src / name, dest / name)
