"""Replay sweep: train one run per replay ratio and weigh domain gain against general retention.

The base model is scored once (``before``); each ratio's run is scored ``after``. The result is a
table, a Pareto plot (domain score against general score) and the smallest ratio whose
forgetting stays within a tolerance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verticalize.errors import RecipeError

__all__ = ["SweepResult", "run_sweep"]


@dataclass(frozen=True)
class SweepResult:
    rows: tuple[dict[str, Any], ...]  # ratio, run_dir, domain, general, gain, forgetting
    domain_suite: str
    retention_suite: str
    before: dict[str, float]
    output_dir: Path

    def best(self, tolerance: float = 0.02) -> float | None:
        """The smallest replay ratio whose forgetting is at most ``tolerance``."""
        ok = [r["ratio"] for r in self.rows if r["forgetting"] <= tolerance]
        return min(ok) if ok else None

    def to_markdown(self, tolerance: float = 0.02) -> str:
        d, g = self.domain_suite, self.retention_suite
        lines = [f"| replay ratio | {d} (domain) | gain | {g} (retention) | forgetting |", "|---|---|---|---|---|",
                 f"| base model | {self.before[d]:.3f} | – | {self.before[g]:.3f} | – |"]
        for r in self.rows:
            lines.append(f"| {r['ratio']:g} | {r['domain']:.3f} | {_change(r, 'gain')} | {r['general']:.3f} | "
                         f"{_change(r, 'forgetting')} |")
        best = self.best(tolerance)
        lines.append("")
        if any(r.get("gain_interval") for r in self.rows):
            lines.append("Changes with their 95% interval (paired over the same questions when the results carry "
                         "per-question outcomes); *within noise*: the interval includes 0.")
            lines.append("")
        lines.append(f"Smallest ratio with forgetting <= {tolerance:g}: "
                     + (f"**{best:g}**" if best is not None else "none of those tried"))
        return "\n".join(lines) + "\n"

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def plot(self, path: str | Path) -> Path:
        from verticalize.plots import new_figure, save_figure

        fig, ax = new_figure((5.6, 4.2))
        xs = [r["general"] for r in self.rows]
        ys = [r["domain"] for r in self.rows]
        ax.plot(xs, ys, "o-", color="#2f6fde")
        for r in self.rows:
            ax.annotate(f"replay {r['ratio']:g}", (r["general"], r["domain"]), textcoords="offset points",
                        xytext=(6, 4), fontsize=8)
        ax.plot([self.before[self.retention_suite]], [self.before[self.domain_suite]], "s", color="#9aa5b1",
                label="base model")
        ax.set_xlabel(f"{self.retention_suite} score (retention)")
        ax.set_ylabel(f"{self.domain_suite} score (domain)")
        ax.set_title("replay sweep: domain gain vs general retention", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        return save_figure(fig, path)

    def save(self, tolerance: float = 0.02) -> dict[str, Path]:
        out = self.output_dir
        (out / "sweep.json").write_text(json.dumps({"rows": list(self.rows), "before": self.before,
                                                    "best": self.best(tolerance), "tolerance": tolerance},
                                                   indent=2, default=str))
        (out / "sweep.md").write_text(self.to_markdown(tolerance), encoding="utf-8")
        return {"json": out / "sweep.json", "md": out / "sweep.md", "png": self.plot(out / "sweep.png")}


def _change(row: dict[str, Any], key: str) -> str:
    iv = row.get(f"{key}_interval")
    if not iv:
        return f"{row[key]:+.3f}"
    noise = " *within noise*" if iv[0] <= 0 <= iv[1] else ""
    return f"{row[key]:+.3f} [{iv[0]:+.3f}, {iv[1]:+.3f}]{noise}"


def _intervals(before: dict[str, Any], after: dict[str, Any], suite: str, sign: float) -> list[float] | None:
    """The 95% interval of ``sign * (after - before)`` of one suite: paired when both carry per-question
    outcomes, else treating before and after as independent."""
    from verticalize.evals import EvalReport

    rep = EvalReport({"before": {suite: before[suite]}, "after": {suite: after[suite]}})
    iv = rep.paired.get(suite, {}).get("interval") or rep.intervals.get(suite, {}).get("delta")
    return sorted(round(sign * x, 4) for x in iv) if iv else None


def run_sweep(adapter: Any, ratios: list[float], output_dir: str | Path, *, retention: str = "general",
              source: str = "general", tolerance: float = 0.02, quiet: bool = False) -> SweepResult:
    recipe = adapter.recipe
    domain = next((s for s in recipe.eval.suites if s != retention), recipe.domain)
    if not domain:
        raise RecipeError("a sweep needs a domain suite: set domain: or eval.suites")
    if not ratios:
        raise RecipeError("a sweep needs at least one replay ratio")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    suites = [domain, retention]
    rows: list[dict[str, Any]] = []
    before: dict[str, float] = {}
    for i, ratio in enumerate(sorted(ratios)):
        a = adapter.replay(source, ratio=ratio) if ratio > 0 else adapter.replay(None)
        a = a.evaluate_with(*suites, when=["before", "after"] if i == 0 else ["after"])
        run = a.train(output_dir=out / f"replay-{ratio:g}", quiet=quiet)
        scores = run.report.scores
        if i == 0:
            before = {s: scores[s]["before"] for s in suites}
            before_stage = run.report.stages["before"]
        after_stage = run.report.stages["after"]
        dom, gen = scores[domain]["after"], scores[retention]["after"]
        rows.append({"ratio": ratio, "run_dir": str(run.output_dir), "domain": dom, "general": gen,
                     "gain": round(dom - before[domain], 4), "forgetting": round(before[retention] - gen, 4),
                     "gain_interval": _intervals(before_stage, after_stage, domain, 1.0),
                     "forgetting_interval": _intervals(before_stage, after_stage, retention, -1.0)})
    result = SweepResult(tuple(rows), domain, retention, before, out)
    result.save(tolerance)
    return result
