"""Evaluation suites: a named set of examples, grouped into tasks scored by their kind.

A suite is a YAML file -- each bundled pack has ``domains/<name>/suite.yaml`` -- or a user's::

    name: my-suite
    role: domain                        # or retention (general ability: its drop is forgetting)
    system_prompt: "You are ..."        # optional; "pack" takes the pack's per-language prompt
    pot: true                           # numeric tasks may be answered by programs (default: the pack's)
    data:
      - {path: my_eval.jsonl, format: alpaca}   # paths relative to the suite file

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
    role: str = "domain"  # domain | retention

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
        return Suite(self.name, tuple(picked), self.pot, self.role)

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
        return Suite(self.name, tuple(picked[:max_examples] if len(picked) > max_examples else picked), self.pot,
                     self.role)


def list_suites() -> list[str]:
    from verticalize.packs import list_domains

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
    """A bundled suite by name (a pack's suite.yaml) or a suite YAML path."""
    from verticalize.data.pipeline import with_system_prompt, load_pack_split
    from verticalize.packs import list_domains, load_domain

    p = Path(name_or_path).expanduser()
    if p.suffix in (".yaml", ".yml"):
        return _suite_file(p, None)
    if str(name_or_path) in list_domains() or (p / "domain.yaml").is_file():
        pack = load_domain(name_or_path)
        if (pack.dir / "suite.yaml").is_file():
            return _suite_file(pack.dir / "suite.yaml", pack)
        examples, _ = load_pack_split(pack, "eval")
        if not examples:
            raise DataError(f"domain {pack.name!r} has no eval data (eval: in {pack.dir / 'domain.yaml'})")
        examples = with_system_prompt(examples, pack)
        _check(examples, str(pack.dir))
        return Suite(pack.name, tuple(examples), pack.pot, "retention" if pack.name == "general" else "domain")
    from verticalize.errors import UnknownNameError

    raise UnknownNameError("suite", str(name_or_path), list_suites(), hint="Or give the path of a suite YAML")


_SUITE_KEYS = {"name", "role", "description", "system_prompt", "data", "pot"}


def _suite_file(p: Path, pack: Any) -> Suite:
    from verticalize.data.pipeline import with_system_prompt, load_source
    from verticalize.recipe import DataSpec

    if not p.is_file():
        raise DataError(f"suite file not found: {p}")
    raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict) or set(raw) - _SUITE_KEYS:
        bad = sorted(set(raw) - _SUITE_KEYS) if isinstance(raw, dict) else ["(not a mapping)"]
        raise DataError(f"{p}: unknown suite key(s) {bad}; allowed: {', '.join(sorted(_SUITE_KEYS))}")
    role = raw.get("role", "domain")
    if role not in ("domain", "retention"):
        raise DataError(f"{p}: role {role!r} is not allowed; allowed: domain, retention")
    examples: list[dict[str, Any]] = []
    for entry in raw.get("data") or []:
        src = DataSpec(**({"path": entry} if isinstance(entry, str) else entry))
        ex, _ = load_source(src, base_dir=p.parent)
        examples += ex
    if not examples:
        raise DataError(f"{p}: the suite has no examples (data: is empty)")
    sp = raw.get("system_prompt")
    if sp == "pack" and pack is not None:
        examples = with_system_prompt(examples, pack)
    elif sp and sp != "pack":
        prompts = sp if isinstance(sp, dict) else None
        examples = [{**e, "messages": [{"role": "system", "content": prompts.get(e.get("lang"), next(iter(prompts.values())))
                                        if prompts else str(sp)}, *e["messages"]]} for e in examples]
    _check(examples, str(p))
    pot = bool(raw.get("pot", pack.pot if pack is not None else False))
    return Suite(str(raw.get("name", p.stem)), tuple(examples), pot, role)
