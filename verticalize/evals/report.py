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
    def paired(self) -> dict[str, dict[str, Any]]:
        """Before/after on the same questions (``verticalize.evals.paired``): ``{suite: {"n", "delta", "interval"
        (95%, paired bootstrap), "flips": [right->wrong, wrong->right], "p_value" (McNemar, exact)}}`` for the
        suites whose results carry per-question outcomes (computed once)."""
        cached = self.__dict__.get("_paired")
        if cached is None:
            from verticalize.evals.paired import paired_change

            cached = {}
            if "before" in self.stages and "after" in self.stages:
                for name, after in self.stages["after"].items():
                    before = self.stages["before"].get(name)
                    res = paired_change(before, after) if before else None
                    if res is not None:
                        cached[name] = res
            object.__setattr__(self, "_paired", cached)
        return cached

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
        return {"scores": self.scores, "intervals": self.intervals, "paired": self.paired, "gain": self.gain,
                "forgetting": self.forgetting, "stages": self.stages, "meta": self.meta}

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

    def _summary_lines(self, bold: Callable[[str], str], text: Callable[[str], str] = str) -> list[str]:
        ci = self.intervals

        paired = self.paired

        def shown(s: str, sign: float) -> str:
            pr = paired.get(s)
            iv = pr["interval"] if pr else ci.get(s, {}).get("delta")
            if iv is None:
                return ""
            lo, hi = sorted((sign * iv[0], sign * iv[1]))
            verdict = "" if lo > 0 or hi < 0 else ": not shown by this many questions"
            if pr is None:
                return f", 95% interval {lo:+.3f} to {hi:+.3f} over n={ci[s]['n']}{verdict}"
            test = (f"; {pr['flips'][1]} questions went wrong -> right, {pr['flips'][0]} right -> wrong, McNemar "
                    f"p={pr['p_value']:.3g}" if pr.get("p_value") is not None else "")
            return f", paired 95% interval {lo:+.3f} to {hi:+.3f} over n={pr['n']}{verdict}{test}"

        lines = [f"domain gain on {bold(s)}: {g:+.3f}{shown(s, 1.0)}" for s, g in self.gain.items()]
        lines += [f"forgetting on {bold(s)}: {f:+.3f} ({'dropped' if f > 0 else 'no drop'}){shown(s, -1.0)}"
                  for s, f in self.forgetting.items()]
        # train.watch: which checkpoint became the weights scored "after", and why
        lines += [f"{bold('checkpoint')} ({text(str(w.get('stage', '')))} stage): {text(str(w.get('reason', '')))}"
                  for w in self.meta.get("watch") or [] if isinstance(w, dict)]
        return lines

    def samples(self, per_suite: int = 4, stage: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """A few sample predictions per suite (``{suite: [{task, question, prediction, answer, correct, ...}]}``)
        from ``stage`` (default: the last one scored, ``after`` when there is one), taken in turn from each
        task so that a suite's tasks all show."""
        if stage is None:
            stage = "after" if "after" in self.stages else (list(self.stages)[-1] if self.stages else None)
        out: dict[str, list[dict[str, Any]]] = {}
        for name, res in (self.stages.get(stage) or {}).items() if stage else ():
            per_task = [[{"task": t, **s} for s in (r.get("samples") or []) if isinstance(s, dict)]
                        for t, r in sorted((res.get("tasks") or {}).items())]
            picked: list[dict[str, Any]] = []
            for i in range(max((len(x) for x in per_task), default=0)):
                picked += [x[i] for x in per_task if i < len(x)]
            if picked[:per_suite]:
                out[name] = picked[:per_suite]
        return out

    def samples_markdown(self, per_suite: int = 4, stage: str | None = None) -> str:
        """:meth:`samples` as a markdown table ('' when the report keeps none)."""
        rows = [(suite, s) for suite, ss in self.samples(per_suite, stage).items() for s in ss]
        if not rows:
            return ""
        lines = ["| suite | task | question | prediction | gold | correct |", "|---|---|---|---|---|---|"]
        for suite, s in rows:
            cells = [suite, str(s.get("task", "")), _cell(s.get("question")), _cell(s.get("prediction")),
                     _cell(s.get("answer"), 60), _verdict(s)]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_markdown(self, samples: int = 0) -> str:
        """The task and suite tables with 95% intervals, and the gain / forgetting lines; ``samples``: also that
        many sample predictions per suite."""
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
        table = self.samples_markdown(samples) if samples else ""
        if table:
            stage = "after" if "after" in self.stages else next(iter(self.stages), "")
            lines += ["", f"Sample predictions ({stage}):", "", table.rstrip("\n")]
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
        summary = self._summary_lines(lambda s: f"<b>{escape(s)}</b>", escape)
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
        """``report.json``, ``report.md`` (with sample predictions) and ``report.png`` in ``out_dir``. A run keeps
        one such dir per evaluation: see :class:`verticalize.evals.history.EvalHistory`."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str),
                                         encoding="utf-8")
        title = f"# Evaluation {self.meta['label']}\n\n" if self.meta.get("label") else ""
        (out / "report.md").write_text(title + self.to_markdown(samples=4), encoding="utf-8")
        png = self.plot(out / "report.png")
        return {"json": out / "report.json", "md": out / "report.md", "png": png}

    @classmethod
    def load(cls, path: str | Path) -> EvalReport:
        p = Path(path)
        data = json.loads((p / "report.json" if p.is_dir() else p).read_text(encoding="utf-8"))
        return cls(stages=data["stages"], meta=data.get("meta", {}))


def _cell(value: Any, width: int = 120) -> str:
    """One markdown table cell: a single line, pipes escaped, cut to ``width`` characters."""
    if value is None:
        return "–"
    text = " ".join(str(value).split()).replace("|", "\\|")
    if not text:
        return "(empty)"
    return text if len(text) <= width else text[: width - 1] + "…"


def _verdict(sample: dict[str, Any]) -> str:
    if sample.get("correct") is True:
        return "yes"
    if sample.get("correct") is False:
        return "no"
    return f"{sample['score']:.2f}" if isinstance(sample.get("score"), (int, float)) else "–"
