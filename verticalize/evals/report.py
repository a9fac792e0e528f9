"""EvalReport: before/after scores per suite and task, domain gain and forgetting."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EvalReport"]


@dataclass(frozen=True)
class EvalReport:
    """``stages`` maps ``before``/``after`` to the output of ``run_suites``."""

    stages: dict[str, dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def retention_suites(self) -> tuple[str, ...]:
        """Suites whose role is retention (general ability); a drop there is forgetting."""
        names = {n for st in self.stages.values() for n, res in st.items() if res.get("role") == "retention"}
        return tuple(sorted(names))

    @property
    def scores(self) -> dict[str, dict[str, float]]:
        """``{suite: {"before": x, "after": y, "delta": y - x}}`` (keys present as measured)."""
        out: dict[str, dict[str, float]] = {}
        for stage, suites in self.stages.items():
            for name, res in suites.items():
                out.setdefault(name, {})[stage] = round(res["score"], 4)
        for row in out.values():
            if "before" in row and "after" in row:
                row["delta"] = round(row["after"] - row["before"], 4)
        return out

    @property
    def intervals(self) -> dict[str, dict[str, Any]]:
        """95% intervals: ``{suite: {"n": examples, "before": [lo, hi], "after": [lo, hi], "delta": [lo, hi]}}``.

        A suite's score is the mean of its tasks' scores (each a proportion over its ``n`` examples),
        so its variance is ``sum(p_t (1 - p_t) / n_t) / T**2``, with Agresti-Coull adjusted proportions
        (``(k + 2) / (n + 4)``) so that 0 of 4 is not read as certainty. ``delta`` treats before and after
        as independent, which overstates its width when they are correlated (same questions): read an
        interval that excludes 0 as a real change, one that includes it as not shown by this many
        questions."""
        import math

        out: dict[str, dict[str, Any]] = {}
        var: dict[tuple[str, str], float] = {}
        for stage, suites in self.stages.items():
            for name, res in suites.items():
                tasks = [t for t in res.get("tasks", {}).values() if t.get("n") and 0.0 <= t["score"] <= 1.0]
                if not tasks:
                    continue
                v = 0.0
                for t in tasks:
                    n = t["n"]
                    p = (t["score"] * n + 2) / (n + 4)
                    v += p * (1 - p) / (n + 4)
                v /= len(tasks) ** 2
                var[(name, stage)] = v
                half = 1.96 * math.sqrt(v)
                row = out.setdefault(name, {"n": sum(t["n"] for t in tasks)})
                row[stage] = [round(max(0.0, res["score"] - half), 4), round(min(1.0, res["score"] + half), 4)]
        for name, row in out.items():
            if (name, "before") in var and (name, "after") in var:
                d = self.stages["after"][name]["score"] - self.stages["before"][name]["score"]
                half = 1.96 * math.sqrt(var[(name, "before")] + var[(name, "after")])
                row["delta"] = [round(d - half, 4), round(d + half, 4)]
        return out

    @property
    def forgetting(self) -> dict[str, float]:
        """Drop of each retention suite (positive = forgot)."""
        return {s: -row["delta"] for s, row in self.scores.items() if s in self.retention_suites and "delta" in row}

    @property
    def gain(self) -> dict[str, float]:
        return {s: row["delta"] for s, row in self.scores.items() if s not in self.retention_suites and "delta" in row}

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        stages = list(self.stages)
        names = sorted({n for s in self.stages.values() for n in s})
        for name in names:
            tasks = sorted({t for st in stages for t in self.stages[st].get(name, {}).get("tasks", {})})
            for task in tasks:
                row: dict[str, Any] = {"suite": name, "task": task}
                for st in stages:
                    t = self.stages[st].get(name, {}).get("tasks", {}).get(task)
                    if t:
                        row.update(metric=t["primary"], n=t["n"])
                        row[st] = t["score"]
                rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {"scores": self.scores, "intervals": self.intervals, "gain": self.gain, "forgetting": self.forgetting,
                "stages": self.stages, "meta": self.meta}

    def _tables(self) -> tuple[list[str], list[list[str]], list[str], list[tuple[str, bool, list[str]]]]:
        """The cells of both tables, formatted once for :meth:`to_markdown` and :meth:`to_html`:
        (task header, task rows, suite header, [(suite, is_retention, cells)])."""
        stages = list(self.stages)
        both = "before" in stages and "after" in stages
        head = ["suite", "task", "metric", "n", *stages] + (["delta"] if both else [])
        task_rows = []
        for r in self.rows():
            cells = [r["suite"], r["task"], r.get("metric", ""), str(r.get("n", ""))]
            cells += [f"{r[s]:.3f}" if s in r else "–" for s in stages]
            if both:
                cells.append(f"{r['after'] - r['before']:+.3f}" if "before" in r and "after" in r else "–")
            task_rows.append(cells)
        suite_rows = []
        ci = self.intervals
        for name, row in self.scores.items():
            iv = ci.get(name, {})
            cells = [str(iv.get("n", "–"))]
            cells += [f"{row[s]:.3f} [{iv[s][0]:.2f}, {iv[s][1]:.2f}]" if s in row and s in iv else
                      f"{row[s]:.3f}" if s in row else "–" for s in stages]
            if both:
                cells.append(f"{row['delta']:+.3f} [{iv['delta'][0]:+.2f}, {iv['delta'][1]:+.2f}]" if "delta" in iv else
                             f"{row['delta']:+.3f}" if "delta" in row else "–")
            suite_rows.append((name, name in self.retention_suites, cells))
        return head, task_rows, ["suite", "n", *stages] + (["delta"] if both else []), suite_rows

    def _summary_lines(self, bold: Callable[[str], str]) -> list[str]:
        ci = self.intervals

        def shown(s: str, sign: float) -> str:
            iv = ci.get(s, {}).get("delta")
            if iv is None:
                return ""
            lo, hi = sorted((sign * iv[0], sign * iv[1]))
            verdict = "" if lo > 0 or hi < 0 else ": not shown by this many questions"
            return f", 95% interval {lo:+.3f} to {hi:+.3f} over n={ci[s]['n']}{verdict}"

        lines = [f"domain gain on {bold(s)}: {g:+.3f}{shown(s, 1.0)}" for s, g in self.gain.items()]
        lines += [f"forgetting on {bold(s)}: {f:+.3f} ({'dropped' if f > 0 else 'no drop'}){shown(s, -1.0)}"
                  for s, f in self.forgetting.items()]
        return lines

    def to_markdown(self) -> str:
        head, task_rows, suite_head, suite_rows = self._tables()
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(cells) + " |" for cells in task_rows]
        lines.append("")
        lines.append("| " + " | ".join(suite_head) + " |")
        lines.append("|---|" + "---|" * (len(suite_head) - 1))
        for name, retention, cells in suite_rows:
            kind = " (retention)" if retention else ""
            lines.append(f"| **{name}**{kind} | " + " | ".join(cells) + " |")
        summary = self._summary_lines(lambda s: f"**{s}**")
        if summary:
            lines.append("")
            lines += [f"- {s}" for s in summary]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        """The tables of :meth:`to_markdown` as HTML (what Jupyter shows for a report)."""
        from html import escape

        def table(head: list[str], rows: list[list[str]]) -> str:
            th = "".join(f"<th>{escape(h)}</th>" for h in head)
            body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
            return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"

        head, task_rows, suite_head, suite_rows = self._tables()
        suites = [[f"<b>{escape(n)}</b>" + (" (retention)" if ret else ""), *cells] for n, ret, cells in suite_rows]
        parts = [table(head, [[escape(c) for c in r] for r in task_rows]), table(suite_head, suites)]
        summary = self._summary_lines(lambda s: f"<b>{escape(s)}</b>")
        if summary:
            items = "".join(f"<li>{s}</li>" for s in summary)
            parts.append(f"<ul>{items}</ul>")
        return "\n".join(parts)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.to_markdown()

    def plot(self, path: str | Path) -> Path:
        """A grouped bar chart per task, before vs after; retention suites hatched (forgetting)."""
        from verticalize.plots import new_figure, save_figure

        rows = self.rows()
        stages = list(self.stages)
        fig, ax = new_figure((max(6, 0.9 * len(rows) + 2), 4.2))
        width = 0.8 / max(1, len(stages))
        colors = {"before": "#9aa5b1", "after": "#2f6fde"}
        for k, st in enumerate(stages):
            xs = [i + (k - (len(stages) - 1) / 2) * width for i in range(len(rows))]
            vals = [r.get(st, 0.0) for r in rows]
            # Agresti-Coull 95% error bars per task: with 4 questions a task's bar is a coarse estimate
            half = [1.96 * ((q := (v * r["n"] + 2) / (r["n"] + 4)) * (1 - q) / (r["n"] + 4)) ** 0.5
                    if r.get("n") and 0.0 <= v <= 1.0 else 0.0 for v, r in zip(vals, rows)]
            errs = [[min(v, h) for v, h in zip(vals, half)], [min(1.0 - v, h) for v, h in zip(vals, half)]]
            bars = ax.bar(xs, vals, width, label=st, color=colors.get(st, None), yerr=errs, capsize=2,
                          error_kw={"elinewidth": 0.8, "alpha": 0.7})
            for b, r in zip(bars, rows):
                if r["suite"] in self.retention_suites:
                    b.set_hatch("//")
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([f"{r['suite']}\n{r['task']}" for r in rows], rotation=45, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("score (primary metric)")
        title = "before vs after"
        if self.forgetting:
            title += "; forgetting " + ", ".join(f"{s} {v:+.3f}" for s, v in self.forgetting.items())
        ax.set_title(title + "  (hatched: retention suites; bars: 95% intervals)", fontsize=9)
        ax.legend()
        return save_figure(fig, path)

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str))
        (out / "report.md").write_text(self.to_markdown(), encoding="utf-8")
        png = self.plot(out / "report.png")
        return {"json": out / "report.json", "md": out / "report.md", "png": png}

    @classmethod
    def load(cls, path: str | Path) -> EvalReport:
        p = Path(path)
        data = json.loads((p / "report.json" if p.is_dir() else p).read_text())
        return cls(stages=data["stages"], meta=data.get("meta", {}))
