"""The ``verticalize`` command. Importing this module must stay light: no torch until a command runs.

Every VerticalizeError becomes one line on stderr and exit code 2 -- never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from verticalize.cli._common import friendly, set_option, silence_progress

__all__ = ["main", "cli"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="verticalize")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or library chatter (every command).")
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """verticalize: turn a general base LLM into a vertical (finance / medical / legal) model.

    Start with `verticalize quickstart` (offline, a few minutes on a CPU).
    """
    ctx.obj = {"quiet": quiet}
    if quiet:
        ctx.with_resource(silence_progress())


def _quiet_from_group() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and isinstance(ctx.find_root().obj, dict) and ctx.find_root().obj.get("quiet"))


def trust_option(fn: Any) -> Any:
    return click.option("--trust-code", is_flag=True,
                        help="Import the recipe's strategy objects even from modules outside verticalize and the "
                             "installed plugins (their code runs: only for recipes you trust).")(fn)


@cli.command()
@click.argument("recipes", nargs=-1, required=True)
@set_option
@trust_option
@click.option("--data", "check_data", is_flag=True, help="Also parse every data file and list its bad rows.")
@click.option("--trust-paths", is_flag=True, help="Allow a run dir outside the working directory and kernel/device "
              "files as data, as `train --trust-paths` does.")
@friendly
def validate(recipes: tuple[str, ...], overrides: tuple[str, ...], trust_code: bool, check_data: bool,
             trust_paths: bool) -> None:
    """Check recipes without loading a model: keys, types, names, data files, strategy objects.
    Reports every problem."""
    from verticalize.run.validate import validate as check

    failed = 0
    for name in recipes:
        problems = check(name, list(overrides), trust_code=trust_code, data=check_data, trust_paths=trust_paths)
        if problems:
            failed += 1
            click.echo(f"{name}: {len(problems)} problem(s)", err=True)
            for p in problems:
                click.echo(f"  - {p}", err=True)
        else:
            click.echo(f"{name}: ok")
    if failed:
        sys.exit(2)


@cli.command()
@click.argument("recipe", required=False)
@set_option
@click.option("--output-dir", "-o", type=click.Path(file_okay=False), help="Run dir (default: recipe's output_dir).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), metavar="RUN_DIR",
              help="Continue a crashed run from its last complete checkpoint (no RECIPE: its own recipe is used).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--ignore-lock", is_flag=True, help="Train even if the recipe's <stem>.lock.json does not match.")
@click.option("--trust-paths", is_flag=True,
              help="Let the recipe choose a run dir outside the working directory and read kernel/device files "
                   "(/proc, /dev, /sys); only for recipes you trust.")
@trust_option
@friendly
def train(recipe: str | None, overrides: tuple[str, ...], output_dir: str | None, resume_dir: str | None, quiet: bool,
          ignore_lock: bool, trust_paths: bool, trust_code: bool) -> None:
    """Train a recipe (a YAML path or a shipped recipe name); writes a run dir.

    `verticalize train --resume RUN_DIR` continues a run that was killed (RUN_DIR.incomplete).
    """
    quiet = quiet or _quiet_from_group()
    with silence_progress(quiet):
        _train(recipe, overrides, output_dir, resume_dir, quiet, ignore_lock, trust_paths, trust_code)


def _train(recipe: str | None, overrides: tuple[str, ...], output_dir: str | None, resume_dir: str | None, quiet: bool,
           ignore_lock: bool, trust_paths: bool, trust_code: bool) -> None:
    from verticalize.errors import RecipeError
    from verticalize.recipe import load_recipe
    from verticalize.packs import find_recipe
    from verticalize.run import execute, resume

    if resume_dir is not None:
        if recipe or overrides or output_dir:
            raise RecipeError("--resume RUN_DIR continues a run with the recipe it started with: give no RECIPE, "
                              "--set or --output-dir")
        _print_result(resume(resume_dir, quiet=quiet))
        return
    if recipe is None:
        raise RecipeError("give a RECIPE to train (a YAML path or a shipped recipe name), or --resume RUN_DIR")
    path = find_recipe(recipe)
    r = load_recipe(path, list(overrides), trust_code=trust_code)
    if not ignore_lock:  # a lock beside the recipe pins data, base and versions (verticalize lock)
        from verticalize.team.lock import enforce_lock

        enforce_lock(path, r)
    if output_dir is None and any(o.split("=", 1)[0].strip() == "output_dir" for o in overrides):
        output_dir = r.output_dir  # --set output_dir=... is the user's own choice, like --output-dir
    run = execute(r, output_dir, quiet=quiet, trust_paths=trust_paths)
    _print_result(run)


@cli.command()
@click.option("--base", default="smollm2-135m", show_default=True, help="Base model (offline bases work anywhere).")
@click.option("--steps", type=int, default=None, help="Optimizer steps (default: the quickstart recipe's).")
@click.option("--output-dir", "-o", type=click.Path(file_okay=False), default=None)
@friendly
def quickstart(base: str, steps: int | None, output_dir: str | None) -> None:
    """Offline finance LoRA SFT on an embedded base, scored before and after on held-out questions."""
    from verticalize.recipe import load_recipe
    from verticalize.packs import find_recipe
    from verticalize.run import default_output_dir, execute

    overrides = [f"base.model={base}"] + ([f"train.max_steps={steps}"] if steps else [])
    r = load_recipe(find_recipe("quickstart"), overrides)
    out = output_dir or str(default_output_dir(r))
    click.echo(f"verticalize quickstart: {base} -> finance (LoRA SFT, {r.train.max_steps} steps), run dir {out}")
    run = execute(r, out)
    _print_result(run)


def _print_result(run: Any) -> None:
    import os

    if os.environ.get("RANK", "0") != "0":  # under torchrun / accelerate: rank 0 speaks for the run
        return
    rep = run.report
    m = run.metrics
    click.echo("")
    click.echo(f"trained {m.get('global_step')} steps, mean train loss {m.get('train_loss', float('nan')):.4f}, "
               f"{run.manifest['timings']['total']:.0f} s")
    if rep is not None:
        ci = rep.intervals
        for suite, row in rep.scores.items():
            if "before" in row and "after" in row:
                iv = ci.get(suite, {})
                unc = (f"; n={iv['n']}, 95% interval of the change {iv['delta'][0]:+.3f} to {iv['delta'][1]:+.3f}"
                       if "delta" in iv else "")
                click.echo(f"{suite}: score before {row['before']:.3f} -> after {row['after']:.3f} "
                           f"({row['delta']:+.3f}{unc})")
            else:
                click.echo(f"{suite}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()))
        click.echo(f"report: {run.output_dir / 'eval' / 'report.md'}")
    click.echo(f"run dir: {run.output_dir}")


@cli.command()
@click.argument("recipe")
@set_option
@click.option("--replay", "ratios", default="0,0.05,0.2,0.5", show_default=True, help="Comma-separated ratios.")
@click.option("--tolerance", type=float, default=0.02, show_default=True, help="Allowed drop on the retention suite.")
@click.option("--output-dir", "-o", type=click.Path(file_okay=False), default="runs/sweep", show_default=True)
@click.option("--quiet", "-q", is_flag=True)
@friendly
def sweep(recipe: str, overrides: tuple[str, ...], ratios: str, tolerance: float, output_dir: str, quiet: bool) -> None:
    """Train one run per replay ratio and report domain gain against general retention."""
    from verticalize.adapter import Adapter
    from verticalize.errors import RecipeError
    from verticalize.packs import find_recipe

    try:
        values = [float(x) for x in ratios.split(",") if x.strip()]
    except ValueError:
        raise RecipeError(f"--replay {ratios!r}: expected comma-separated numbers in [0, 1), e.g. 0,0.05,0.2") from None
    quiet = quiet or _quiet_from_group()
    with silence_progress(quiet):
        res = Adapter.from_yaml(find_recipe(recipe), list(overrides)).sweep(values, output_dir, tolerance=tolerance,
                                                                            quiet=quiet)
    click.echo(res.to_markdown(tolerance))
    click.echo(f"sweep: {Path(output_dir) / 'sweep.md'}, plot {Path(output_dir) / 'sweep.png'}")


@cli.command(name="eval")
@click.argument("target")
@set_option
@click.option("--suite", "suites", multiple=True, help="Suite name or suite YAML (default: the recipe's).")
@click.option("--before/--no-before", default=None, help="Also score the base model.")
@click.option("--label", default=None, metavar="NAME",
              help="Name of this evaluation of the run (default eval-<n>): kept in RUN/eval/NAME/.")
@click.option("--force", is_flag=True, help="Replace the run's evaluation of the same --label.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@friendly
def eval_cmd(target: str, overrides: tuple[str, ...], suites: tuple[str, ...], before: bool | None,
             label: str | None, force: bool, quiet: bool) -> None:
    """Evaluate a run dir (after, and before when the recipe asks) or a recipe's base model.

    Each evaluation of a run is kept: RUN/eval/<label>/report.{json,md,png}, listed in RUN/eval/index.json;
    RUN/eval/report.md shows every one (the one made during training is `train`)."""
    quiet = quiet or _quiet_from_group()
    p = Path(target)
    if (p / "manifest.json").is_file() or p.is_dir():
        from verticalize.run import Run

        with silence_progress(quiet):
            rep = Run(p).evaluate(list(suites) or None, before=before, label=label, force=force, quiet=quiet)
        click.echo(rep.to_markdown())
        click.echo(f"report: {p / 'eval' / rep.meta['label'] / 'report.md'}; every evaluation of the run: "
                   f"{p / 'eval' / 'report.md'}")
        return
    if label is not None or force:
        from verticalize.errors import RecipeError

        raise RecipeError(f"--label / --force name an evaluation kept in a run dir; {target} is a recipe (its base "
                          "model's scores are printed, not kept): give a run dir, or drop --label / --force")
    from verticalize.adapter import Adapter
    from verticalize.packs import find_recipe

    adapter = Adapter.from_yaml(find_recipe(target), list(overrides))
    with silence_progress(quiet):
        rep = adapter.evaluate(*suites)
    click.echo(rep.to_markdown())


@cli.command()
@click.argument("what", type=click.Choice(["models", "domains", "suites", "strategies", "recipes"]))
@friendly
def ls(what: str) -> None:
    """List model aliases, domain packs, eval suites, strategy classes or shipped recipes, each with
    its origin: bundled, plugin <dist> <version> (an installed package's entry point) or a path."""
    from verticalize.cli import listing

    click.echo(getattr(listing, what)())


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", type=click.Path(file_okay=False), required=False, help="Default: RUN_DIR/export.")
@click.option("--merge/--no-merge", default=True, show_default=True, help="Merge LoRA weights into the base.")
@click.option("--quantize", type=click.Choice(["8bit", "4bit"]), default=None,
              help="Save bitsandbytes-quantized weights (loading them needs bitsandbytes).")
@click.option("--push-to-hub", "push", metavar="ORG/NAME", default=None, help="Upload the export to the HF hub.")
@click.option("--public", is_flag=True, help="With --push-to-hub: create a public repo (default private).")
@click.option("--force", is_flag=True, help="Overwrite a non-empty export dir.")
@click.option("--scale", type=float, default=None, metavar="S",
              help="Export the base plus S x the trained change (0: the base, 1: the run; a point of "
                   "`verticalize curve`).")
@friendly
def export(run_dir: str, out: str | None, merge: bool, quantize: str | None, push: str | None, public: bool,
           force: bool, scale: float | None) -> None:
    """Write a model dir that plain transformers loads (safetensors, tokenizer, chat template,
    generation config)."""
    from verticalize.run import Run

    dest = Run(run_dir).export(out or str(Path(run_dir) / "export"), merge=merge, quantize=quantize,
                               push_to_hub=push, private=not public, force=force, scale=scale)
    click.echo(f"exported to {dest}" + (f" and pushed to {push}" if push else ""))


@cli.command()
@click.option("--indent", type=int, default=2)
def schema(indent: int) -> None:
    """Print the recipe's JSON Schema (for editors and CI)."""
    from verticalize.recipe import recipe_json_schema

    click.echo(json.dumps(recipe_json_schema(), indent=indent))


def _register_team_commands() -> None:
    from verticalize.cli.team import register  # show, lock, diff, init (verticalize/cli/team.py)

    register(cli)


_register_team_commands()


def _register_chat_commands() -> None:
    from verticalize.cli.chat import register  # chat, serve (verticalize/cli/chat.py)

    register(cli)


_register_chat_commands()


def _register_curve_commands() -> None:
    from verticalize.cli.curve import register  # curve, merge (verticalize/cli/curve.py)

    register(cli)


_register_curve_commands()


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="verticalize")


if __name__ == "__main__":
    main()
