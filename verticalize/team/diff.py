"""``verticalize diff A B``: two recipes or two run dirs, key by key over their resolved recipes.

A side is a recipe YAML path, a shipped recipe name, or a run dir (``recipe.yaml`` + ``manifest.json``).
Recipes are compared after ``extends:`` and defaults, as dotted key paths (``train.lr``,
``data[0].path``); lists of plain values compare whole (``eval.suites``). When both sides are
runs, their metrics (``manifest["metrics"]``) and eval scores (``eval/``: the evaluation made during
training, else the latest) are shown side by side with the delta. Diff is informational: it never fails on differences.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from verticalize.errors import RunError

__all__ = ["Change", "Side", "diff_dicts", "diff_report", "load_side"]


@dataclass(frozen=True)
class Change:
    """One differing key: ``kind`` is changed, added (only in b) or removed (only in a)."""

    key: str
    kind: str
    a: Any = None
    b: Any = None

    def __str__(self) -> str:
        if self.kind == "added":
            return f"+ {self.key}: {_flow(self.b)}"
        if self.kind == "removed":
            return f"- {self.key}: {_flow(self.a)}"
        return f"{self.key}: {_flow(self.a)} -> {_flow(self.b)}"


def diff_dicts(a: Any, b: Any, prefix: str = "") -> list[Change]:
    """Differences between two JSON-like values as dotted key paths.

    >>> [str(c) for c in diff_dicts({"train": {"lr": 1, "seed": 1}}, {"train": {"lr": 2, "seed": 1}, "x": [1]})]
    ['train.lr: 1 -> 2', '+ x: [1]']
    """
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[Change] = []
        for k in list(a) + [k for k in b if k not in a]:
            key = f"{prefix}.{k}" if prefix else str(k)
            if k not in b:
                out.append(Change(key, "removed", a=a[k]))
            elif k not in a:
                out.append(Change(key, "added", b=b[k]))
            else:
                out += diff_dicts(a[k], b[k], key)
        return out
    if isinstance(a, list) and isinstance(b, list) and any(isinstance(x, (dict, list)) for x in a + b):
        out = []
        for i in range(max(len(a), len(b))):
            key = f"{prefix}[{i}]"
            if i >= len(b):
                out.append(Change(key, "removed", a=a[i]))
            elif i >= len(a):
                out.append(Change(key, "added", b=b[i]))
            else:
                out += diff_dicts(a[i], b[i], key)
        return out
    return [] if a == b and type(a) is type(b) else [Change(prefix or "(value)", "changed", a, b)]


@dataclass
class Side:
    """One input of a diff: its resolved recipe, and for a run its metrics and eval scores."""

    name: str
    recipe: dict[str, Any]
    is_run: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)


def load_side(ref: str | Path) -> Side:
    """A recipe path or shipped name, or a run dir holding recipe.yaml and manifest.json."""
    from verticalize.recipe import load_recipe

    p = Path(ref).expanduser()
    if p.is_dir():
        if not ((p / "recipe.yaml").is_file() and (p / "manifest.json").is_file()):
            raise RunError(f"{p} is a directory but not a run dir (a run dir holds recipe.yaml and manifest.json); "
                           "give a recipe YAML, a shipped recipe name or a run dir")
        try:
            manifest = json.loads((p / "manifest.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise RunError(f"{p / 'manifest.json'}: not valid JSON ({e})") from None
        from verticalize.evals.history import EvalHistory

        report = EvalHistory(p / "eval").main()  # the evaluation made during training, else the latest
        scores: dict[str, dict[str, float]] = report.scores if report is not None else {}
        metrics = manifest.get("metrics") if isinstance(manifest, dict) else None
        return Side(str(p), load_recipe(p / "recipe.yaml", trust_code=True).to_dict(), True, dict(metrics or {}), scores)
    from verticalize.packs import find_recipe

    return Side(str(ref), load_recipe(find_recipe(str(ref)), trust_code=True).to_dict())  # compared, never built


def _flow(v: Any) -> str:
    s = yaml.safe_dump(v, default_flow_style=True, width=1 << 30, allow_unicode=True, sort_keys=False).strip()
    return s[:-3].rstrip() if s.endswith("\n...") else s


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _cell(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1e5 else f"{v:.4g}"
    return str(v)


def _table(title: str, rows: list[tuple[str, Any, Any]], a: str, b: str) -> list[str]:
    cells = [(k, _cell(x), _cell(y), _delta(x, y)) for k, x, y in rows]
    head = (title, a, b, "delta")
    widths = [max(len(str(r[i])) for r in [head, *cells]) for i in range(4)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return lines


def _delta(x: Any, y: Any) -> str:
    if not (_num(x) and _num(y)):
        return ""
    d = y - x
    return f"{d:+d}" if isinstance(d, int) else f"{d:+.4f}"


def diff_report(a_ref: str | Path, b_ref: str | Path) -> str:
    """The text ``verticalize diff`` prints."""
    a, b = load_side(a_ref), load_side(b_ref)
    changes = diff_dicts(a.recipe, b.recipe)
    lines = [f"--- {a.name}", f"+++ {b.name}"]
    if changes:
        n = {k: sum(c.kind == k for c in changes) for k in ("changed", "added", "removed")}
        lines.append(f"recipe: {n['changed']} changed, {n['added']} added, {n['removed']} removed")
        lines += [f"  {c}" for c in changes]
    else:
        lines.append("recipe: identical")
    if a.is_run and b.is_run:
        keys = list(a.metrics) + [k for k in b.metrics if k not in a.metrics]
        rows = [(k, a.metrics.get(k), b.metrics.get(k)) for k in keys]
        lines += ["", *(_table("metric", rows, "a", "b") if rows else ["metrics: none recorded"])]
        srows: list[tuple[str, Any, Any]] = []
        for suite in list(a.scores) + [s for s in b.scores if s not in a.scores]:
            ra, rb = a.scores.get(suite, {}), b.scores.get(suite, {})
            for stage in ("before", "after", "delta"):
                if stage in ra or stage in rb:
                    srows.append((f"{suite}.{stage}", ra.get(stage), rb.get(stage)))
        lines += ["", *(_table("eval score", srows, "a", "b") if srows else ["eval scores: none (neither run was evaluated)"])]
    return "\n".join(lines)
