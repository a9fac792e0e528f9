"""Team-recipe commands: ``show``, ``lock``, ``diff`` and ``init domain|recipe|plugin``.

``register(cli)`` adds them to the ``verticalize`` group, wrapping each callback in main.py's
``friendly`` (a VerticalizeError becomes one ``error: ...`` line and exit code 2). Importing this
module imports only click: the work happens in verticalize.recipe / lock / diff / scaffold when a
command runs, so ``verticalize --help`` stays fast and torch-free.
"""

from __future__ import annotations

from typing import Any

import click

from verticalize.cli._common import set_option

__all__ = ["COMMANDS", "register"]


@click.command()
@click.argument("recipe")
@set_option
@click.option("--all", "show_defaults", is_flag=True, help="Also mark the values that are defaults (# default).")
def show(recipe: str, overrides: tuple[str, ...], show_defaults: bool) -> None:
    """Print the fully resolved recipe (extends, --set, defaults) and where each value came from."""
    from verticalize.recipe import annotated_yaml, read_overlay
    from verticalize.packs import find_recipe

    ov = read_overlay(find_recipe(recipe)).with_overrides(list(overrides))
    click.echo(annotated_yaml(ov, ov.parse(), show_defaults), nl=False)


@click.command()
@click.argument("recipe")
@set_option
@click.option("--force", is_flag=True, help="Overwrite an existing lock.")
def lock(recipe: str, overrides: tuple[str, ...], force: bool) -> None:
    """Write RECIPE's lock beside it (<stem>.lock.json): resolved recipe, data and base sha256, versions.

    `verticalize train` then refuses to run when any of them changed (unless --ignore-lock).
    """
    from verticalize.team.lock import read_lock, write_lock
    from verticalize.recipe import load_recipe
    from verticalize.packs import find_recipe

    path = find_recipe(recipe)
    out = write_lock(path, load_recipe(path, list(overrides)), list(overrides), force=force)
    data = read_lock(out)
    files = data["base"].get("files")
    base = f"{len(files)} base model file(s)" if isinstance(files, dict) else (
        f"base {files}" if files else f"base {data['base']['location']} (id only)")
    click.echo(f"locked {path} -> {out}: {len(data['data'])} data file(s), {base}, "
               f"{sum(v is not None for v in data['versions'].values())} package versions")


@click.command()
@click.argument("a")
@click.argument("b")
def diff(a: str, b: str) -> None:
    """Compare two recipes (paths or shipped names) or two run dirs key by key; runs also by metrics and
    eval scores. Always exits 0 when both inputs load."""
    from verticalize.team.diff import diff_report

    click.echo(diff_report(a, b))


@click.group()
def init() -> None:
    """Start a domain pack, a recipe or a plugin package from a template that loads and validates at once."""


@init.command(name="domain")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None, help="Pack dir (default: ./NAME).")
@click.option("--force", is_flag=True, help="Write into a non-empty dir, overwriting the pack's files.")
def init_domain_cmd(name: str, directory: str | None, force: bool) -> None:
    """Create a domain pack dir: domain.yaml, train.jsonl, eval.jsonl, suite.yaml, README.md."""
    from verticalize.team.scaffold import init_domain

    d = init_domain(name, directory, force=force)
    click.echo(f"wrote domain pack {name!r} in {d}: domain.yaml, train.jsonl, eval.jsonl, suite.yaml, README.md")
    click.echo(f"next: verticalize init recipe --domain {d} --base tiny")


@init.command(name="recipe")
@click.argument("path", required=False)
@click.option("--domain", required=True, help="Bundled domain pack name or a pack dir.")
@click.option("--base", required=True, help="Base model: alias, HF id, 'modelscope:<id>' or a local dir.")
@click.option("--method", type=click.Choice(["lora", "qlora", "full"]), default="lora", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init_recipe_cmd(path: str | None, domain: str, base: str, method: str, force: bool) -> None:
    """Write a commented recipe YAML (default ./<domain>-<base>-<method>.yaml) that validates at once."""
    from verticalize.team.scaffold import init_recipe

    out = init_recipe(path, domain=domain, base=base, method=method, force=force)
    click.echo(f"wrote {out}; check it with: verticalize validate {out}")


@init.command(name="plugin")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="Package dir (default: ./NAME).")
@click.option("--force", is_flag=True, help="Write into a non-empty dir, overwriting the plugin's files.")
def init_plugin_cmd(name: str, directory: str | None, force: bool) -> None:
    """Create an installable plugin package: a domain pack, an eval suite and a cleaning Step, found by
    verticalize through the entry points of its pyproject.toml once installed."""
    from verticalize.team.scaffold import init_plugin, plugin_files

    d = init_plugin(name, directory, force=force)
    click.echo(f"wrote plugin {name!r} in {d}: {', '.join(plugin_files(name))}")
    click.echo(f"next: pip install -e {d}   then: verticalize ls domains (shows {name!r}, origin plugin)")


COMMANDS: tuple[click.Command, ...] = (show, lock, diff, init)


def _wrap(cmd: click.Command, friendly: Any) -> None:
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            _wrap(sub, friendly)
    if cmd.callback is not None and not getattr(cmd.callback, "_verticalize_friendly", False):
        cmd.callback = friendly(cmd.callback)
        cmd.callback._verticalize_friendly = True  # type: ignore[attr-defined]


def register(cli: click.Group) -> None:
    """Add the team commands to ``cli``, their errors made friendly by main.py's ``friendly``."""
    from verticalize.cli._common import friendly

    for cmd in COMMANDS:
        _wrap(cmd, friendly)
        cli.add_command(cmd)
