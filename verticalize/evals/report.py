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
        return {"scores": self.scores, "gain": self.gain, "forgetting": self.forgetting, "stages": self.stages,
                "meta": self.meta}

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
        for name, row in self.scores.items():
            cells = [f"{row[s]:.3f}" if s in row else "–" for s in stages]
            if both:
                cells.append(f"{row['delta']:+.3f}" if "delta" in row else "–")
            suite_rows.append((name, name in self.retention_suites, cells))
        return head, task_rows, ["suite", *stages] + (["delta"] if both else []), suite_rows

    def _summary_lines(self, bold: Callable[[str], str]) -> list[str]:
        lines = [f"domain gain on {bold(s)}: {g:+.3f}" for s, g in self.gain.items()]
        lines += [f"forgetting on {bold(s)}: {f:+.3f} ({'dropped' if f > 0 else 'no drop'})"
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
            bars = ax.bar(xs, vals, width, label=st, color=colors.get(st, None))
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
        ax.set_title(title + "  (hatched: retention suites)", fontsize=9)
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
