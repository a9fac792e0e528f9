"""Evaluation suites: a named set of examples, grouped into tasks scored by their kind.

A suite is a domain pack's eval split (``finance``, ``general`` ...) or a user's suite YAML::

    name: my-suite
    system_prompt: "You are ..."        # optional
    data:
      - {path: my_eval.jsonl, format: alpaca}

Every example carries ``task`` and ``kind`` (mc | classification | numeric | generation).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from verticalize.errors import DataError

__all__ = ["Suite", "load_suite", "list_suites", "KINDS"]

KINDS = ("mc", "classification", "numeric", "generation")


@dataclass(frozen=True)
class Suite:
    name: str
    examples: tuple[dict[str, Any], ...]
    pot: bool = False

    def tasks(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for ex in self.examples:
            out[ex.get("task") or ex.get("kind") or "default"].append(ex)
        return dict(sorted(out.items()))

    def select(self, languages: list[str] | None = None, tasks: list[str] | None = None) -> Suite:
        from verticalize.data.pipeline import select

        if not languages and not tasks:
            return self
        picked = select(list(self.examples), languages, tasks)
        if not picked:
            raise DataError(f"suite {self.name!r}: no examples left for languages={languages} tasks={tasks}")
        return Suite(self.name, tuple(picked), self.pot)

    def subsample(self, max_examples: int | None, seed: int = 0) -> Suite:
        """At most ``max_examples``, spread evenly over tasks and deterministic under ``seed``."""
        if max_examples is None or len(self.examples) <= max_examples:
            return self
        tasks = self.tasks()
        rng = random.Random(seed)
        per = max(1, max_examples // len(tasks))
        picked: list[dict[str, Any]] = []
        for name in tasks:
            items = list(tasks[name])
            rng.shuffle(items)
            picked += items[:per]
        return Suite(self.name, tuple(picked[:max_examples] if len(picked) > max_examples else picked), self.pot)


def list_suites() -> list[str]:
    from verticalize.registry import list_domains

    return list_domains()


def _check(examples: list[dict[str, Any]], source: str) -> None:
    for i, ex in enumerate(examples):
        kind = ex.get("kind", "generation")
        if kind not in KINDS:
            raise DataError(f"{source}: example {ex.get('id', i)}: unknown kind {kind!r}; allowed: {', '.join(KINDS)}")
        if kind == "mc" and not (isinstance(ex.get("choices"), list) and ex.get("answer")):
            raise DataError(f"{source}: example {ex.get('id', i)}: kind mc needs 'choices' and an 'answer' letter")
        if kind == "classification" and not (isinstance(ex.get("labels"), list) and ex.get("answer") in ex["labels"]):
            raise DataError(f"{source}: example {ex.get('id', i)}: kind classification needs 'labels' holding 'answer'")
        if kind == "numeric" and not isinstance(ex.get("answer"), (int, float)):
            raise DataError(f"{source}: example {ex.get('id', i)}: kind numeric needs a number 'answer'")


def load_suite(name_or_path: str | Path) -> Suite:
    from verticalize.data.pipeline import _with_system, load_pack_split, load_source
    from verticalize.recipe import DataSource
    from verticalize.registry import list_domains, load_domain

    p = Path(name_or_path).expanduser()
    if p.suffix in (".yaml", ".yml"):
        if not p.is_file():
            raise DataError(f"suite file not found: {p}")
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        allowed = {"name", "system_prompt", "data", "pot"}
        if not isinstance(raw, dict) or set(raw) - allowed:
            bad = sorted(set(raw) - allowed) if isinstance(raw, dict) else ["(not a mapping)"]
            raise DataError(f"{p}: unknown suite key(s) {bad}; allowed: {', '.join(sorted(allowed))}")
        examples: list[dict[str, Any]] = []
        for entry in raw.get("data") or []:
            ex, _ = load_source(DataSource(**({"path": entry} if isinstance(entry, str) else entry)), base_dir=p.parent)
            examples += ex
        if raw.get("system_prompt"):
            examples = [{**e, "messages": [{"role": "system", "content": raw["system_prompt"]}, *e["messages"]]}
                        for e in examples]
        _check(examples, str(p))
        return Suite(str(raw.get("name", p.stem)), tuple(examples), bool(raw.get("pot", False)))
    if str(name_or_path) in list_domains() or (p / "domain.yaml").is_file():
        pack = load_domain(name_or_path)
        examples, _ = load_pack_split(pack, "eval")
        if not examples:
            raise DataError(f"domain {pack.name!r} has no eval data (eval: in {pack.dir / 'domain.yaml'})")
        examples = _with_system(examples, pack)
        _check(examples, str(pack.dir))
        return Suite(pack.name, tuple(examples), pack.pot)
    from verticalize.errors import UnknownNameError

    raise UnknownNameError("suite", str(name_or_path), list_suites(), hint="Or give the path of a suite YAML")
