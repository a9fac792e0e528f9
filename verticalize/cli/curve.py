"""``verticalize curve RUN`` (domain gain against forgetting as the trained change is scaled, without
retraining) and ``verticalize merge RUN1 RUN2 ...`` (TIES / DARE / linear merges of several runs into a new
run dir). ``register(cli)`` adds both to the ``verticalize`` group.

Importing this module imports only click: torch and the model load when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from verticalize.cli._common import friendly, silence_progress

__all__ = ["COMMANDS", "curve", "merge", "register"]


def _quiet(quiet: bool) -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root().obj if ctx else None
    return quiet or bool(isinstance(root, dict) and root.get("quiet"))


def _say(quiet: bool) -> Any:
    return None if quiet else (lambda m: click.echo(m, err=True))


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--scales", default="0,0.25,0.5,0.75,1", show_default=True,
              help="Comma-separated scales of the trained change (0: the base model, always scored; 1: the run).")
@click.option("--suite", "suites", multiple=True,
              help="Suite to score (repeatable; default: the recipe's, plus general when none is a retention suite).")
@click.option("--max-examples", type=click.IntRange(min=1), default=None,
              help="Examples per suite (default: the recipe's eval.max_examples).")
@click.option("--compare", "compare", multiple=True, type=click.Path(exists=True, file_okay=False),
              metavar="RUN_DIR", help="Another run (or `verticalize merge` dir) of the same base to score as a point "
              "(repeatable).")
@click.option("--tolerance", type=float, default=0.02, show_default=True,
              help="Forgetting allowed when picking the scale to export.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@friendly
def curve(run_dir: str, scales: str, suites: tuple[str, ...], max_examples: int | None, compare: tuple[str, ...],
          tolerance: float, quiet: bool) -> None:
    """Score the run's trained change scaled by each of --scales on its domain and retention suites: domain
    gain against forgetting, the Pareto front, and the scale to export (`verticalize export RUN --scale S`).
    Writes curve.json, curve.md and curve.png into the run dir."""
    from verticalize.run import Run
    from verticalize.run.curve import parse_scales

    values = parse_scales(scales)
    quiet = _quiet(quiet)
    with silence_progress(quiet):
        c = Run(run_dir).curve(values, list(suites) or None, max_examples=max_examples, compare=list(compare),
                               tolerance=tolerance, progress=_say(quiet))
    click.echo(c.to_markdown(tolerance))
    out = Path(run_dir)
    click.echo(f"curve: {out / 'curve.md'}, plot {out / 'curve.png'}, data {out / 'curve.json'}")


def _floats(text: str | None, what: str) -> list[float] | None:
    from verticalize.errors import RunError

    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise RunError(f"{what} {text!r}: expected comma-separated numbers, one per run, e.g. 1,0.5") from None


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True, help="The merged run dir to write.")
@click.option("--method", default="ties", show_default=True, metavar="METHOD",
              help="ties | dare_ties | dare_linear | linear | cat | svd | ties_svd | dare_ties_svd | dare_linear_svd "
                   "| magnitude_prune | magnitude_prune_svd (PEFT's combination types; full fine-tunes: ties, "
                   "dare_ties, dare_linear, linear, magnitude_prune). cat is the exact weighted sum of the changes.")
@click.option("--weights", default=None, help="One weight per run, comma-separated (default: 1 each).")
@click.option("--density", type=float, default=None,
              help="Share of each change kept by ties / dare / magnitude_prune (default 0.5).")
@click.option("--seed", type=int, default=None, help="Seed of DARE's random drop (default: the first run's seed).")
@click.option("--no-eval", is_flag=True, help="Do not score the base and the merge.")
@click.option("--suite", "suites", multiple=True, help="Suite to score (repeatable; default: the runs' suites, plus "
              "general when none is a retention suite).")
@click.option("--max-examples", type=click.IntRange(min=1), default=None, help="Examples per suite.")
@click.option("--force", is_flag=True, help="Overwrite a non-empty output dir.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@friendly
def merge(runs: tuple[str, ...], out: str, method: str, weights: str | None, density: float | None, seed: int | None,
          no_eval: bool, suites: tuple[str, ...], max_examples: int | None, force: bool, quiet: bool) -> None:
    """Merge several runs of one base into a new run dir (no retraining): LoRA adapters through PEFT's
    add_weighted_adapter, full fine-tunes on their full changes. The merged dir works with eval, curve,
    export and chat."""
    from verticalize.run.merge import merge_runs

    quiet = _quiet(quiet)
    with silence_progress(quiet):
        run = merge_runs(list(runs), out, method=method, weights=_floats(weights, "--weights"), density=density,
                         seed=seed, force=force, evaluate=not no_eval, suites=list(suites) or None,
                         max_examples=max_examples, progress=_say(quiet))
    rep = run.report
    if rep is not None:
        click.echo(rep.to_markdown())
    click.echo(f"merged run dir: {run.output_dir} (`verticalize curve {runs[0]} --compare {run.output_dir}` puts it "
               "on the first run's curve)")


COMMANDS = (curve, merge)


def register(cli: click.Group) -> None:
    """Add ``curve`` and ``merge`` to ``cli``."""
    for cmd in COMMANDS:
        cli.add_command(cmd)
