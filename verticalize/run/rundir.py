"""The run dir's conventions: where it goes, how it is written (rank 0 only, atomically), and
when an unfinished one may be resumed."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from verticalize.errors import RunError
from verticalize.recipe import Recipe, load_recipe

__all__ = ["default_output_dir", "write_json", "rank_and_world", "Writer", "stage_dirs", "write_recipe",
           "nothing_trained", "resumable"]


def default_output_dir(recipe: Recipe) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = Path(recipe.base.model).name.replace(":", "-").lower()
    return Path("runs") / f"{Path(recipe.domain).name if recipe.domain else 'custom'}-{name}-{stamp}"


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment (torchrun and accelerate set both)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


class Writer:
    """Writes only on rank 0; every other rank's writes are no-ops. Progress lines go to the
    Reporters: the console's (``PrintReporter``, silent when ``quiet``) and the recipe's."""

    def __init__(self, work: Path, main: bool, quiet: bool, reporters: list[Any] = ()):
        from verticalize.strategies import PrintReporter

        self.work, self.main, self.quiet = work, main, quiet
        self.reporters = list(reporters)  # the recipe's: they also get training metrics and scores
        self._console = PrintReporter(quiet)

    def say(self, msg: str) -> None:
        if self.main:
            for r in (self._console, *self.reporters):
                r.message(msg)

    def json(self, name: str | Path, data: Any) -> None:
        if self.main:
            write_json(self.work / name, data)


def stage_dirs(recipe: Recipe, work: Path) -> list[Path]:
    specs = recipe.stages
    if len(specs) == 1:
        return [work]
    return [work / "stages" / f"{i + 1:02d}-{s.kind}" for i, s in enumerate(specs)]


def write_recipe(recipe: Recipe, path: Path) -> None:
    """The run's recipe.yaml. Strategy objects without an import path are written as their class's
    path under a comment saying so: the run works, but resuming it needs them importable."""
    bad = [ref.portable for _, ref in recipe.refs() if ref.portable]
    if not bad:
        recipe.to_yaml(path)
        return
    import yaml

    head = "".join(f"# not repeatable from this file: {b}\n" for b in bad)
    path.write_text(head + yaml.safe_dump(recipe.to_dict(), sort_keys=False, allow_unicode=True), encoding="utf-8")


def nothing_trained(work: Path) -> bool:
    """True while no stage has started training (no checkpoint, no log): nothing of value to keep."""
    if not work.is_dir():
        return True
    return not any(work.rglob("checkpoint-*")) and not any(work.rglob("train_log.jsonl"))


def resumable(final: Path, work: Path) -> Recipe:
    if not work.is_dir():
        if (final / "manifest.json").is_file():
            raise RunError(f"{final} is a finished run: nothing to resume")
        raise RunError(f"nothing to resume: {work} does not exist")
    if not (work / "recipe.yaml").is_file():
        raise RunError(f"{work} has no recipe.yaml: not a verticalize run dir")
    return load_recipe(work / "recipe.yaml", trust_code=True)  # written by this run, trusted when it started
