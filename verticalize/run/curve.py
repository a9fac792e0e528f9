"""A gain/forgetting curve without retraining: score a run's trained change scaled by lambda
(``W_base + lambda * (W_trained - W_base)``; 0 is the base model, 1 the trained model) on its domain and
retention suites, find the Pareto front (most domain gain for the least forgetting) and pick a point to
export (``verticalize export RUN --scale 0.5``).

Other runs of the same base (a merge of several runs from ``verticalize merge``, another recipe) can be
scored into the same curve as extra points. The same examples (the recipe's seed) are scored at every
point, so the points differ only by the weights.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verticalize.errors import RunError

__all__ = ["DEFAULT_SCALES", "Curve", "CurvePoint", "parse_scales", "run_curve"]

DEFAULT_SCALES = (0.0, 0.25, 0.5, 0.75, 1.0)


def parse_scales(text: str) -> tuple[float, ...]:
    """``"0,0.5,1"`` -> (0.0, 0.5, 1.0); a RunError naming what is not a number."""
    from verticalize.train.scaling import check_scale

    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts:
        raise RunError(f"--scales {text!r}: give comma-separated numbers, e.g. 0,0.25,0.5,0.75,1")
    return tuple(check_scale(p, f"--scales entry {p!r}") for p in parts)


@dataclass(frozen=True)
class CurvePoint:
    """One scored model: the run scaled by ``scale``, or another run (``scale`` None) named ``label``."""

    label: str
    scale: float | None
    stage: dict[str, Any]  # run_suites output for this model (samples dropped)
    source: str = ""


@dataclass(frozen=True)
class Curve:
    """The points of a curve; ``base`` is the scale-0 stage (the base model) every gain and forgetting is
    measured from."""

    run: str
    points: tuple[CurvePoint, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    # ---- what was measured -------------------------------------------------------------------
    @property
    def base(self) -> dict[str, Any]:
        p = self.point(0.0)
        if p is None:
            raise RunError("this curve has no scale-0 point (the base model) to measure gain and forgetting from")
        return p.stage

    def point(self, scale: float) -> CurvePoint | None:
        return next((p for p in self.points if p.scale is not None and math.isclose(p.scale, scale, abs_tol=1e-9)),
                    None)

    @property
    def retention_suites(self) -> tuple[str, ...]:
        return tuple(n for n, r in self.base.items() if r.get("role") == "retention")

    @property
    def domain_suites(self) -> tuple[str, ...]:
        return tuple(n for n, r in self.base.items() if r.get("role") != "retention")

    def report(self, point: CurvePoint) -> Any:
        """The point as an EvalReport: ``before`` the base, ``after`` the point (scores and intervals)."""
        from verticalize.evals import EvalReport

        return EvalReport({"before": self.base, "after": point.stage}, meta={"run": self.run, "point": point.label})

    def rows(self) -> list[dict[str, Any]]:
        """Per point: scores per suite with 95% intervals, mean domain gain and mean forgetting (each with a
        95% interval), n per suite, and whether the point is on the Pareto front."""
        out = []
        for p in self.points:
            rep = self.report(p)
            ci = rep.intervals
            scores = {s: rep.scores[s]["after"] for s in (*self.domain_suites, *self.retention_suites)
                      if s in rep.scores and "after" in rep.scores[s]}
            gain, gain_ci = _mean_delta(rep, ci, self.domain_suites, 1.0)
            forget, forget_ci = _mean_delta(rep, ci, self.retention_suites, -1.0)
            if p.scale == 0.0:  # the base itself: the reference, its change is 0 by construction
                gain_ci = forget_ci = None
            out.append({"label": p.label, "scale": p.scale, "source": p.source, "scores": scores,
                        "intervals": {s: ci[s]["after"] for s in scores if "after" in ci.get(s, {})},
                        "n": {s: p.stage[s].get("n") for s in scores}, "gain": gain, "gain_interval": gain_ci,
                        "forgetting": forget, "forgetting_interval": forget_ci})
        front = _pareto([(r["gain"], r["forgetting"]) for r in out])
        for r, on in zip(out, front):
            r["pareto"] = on
        return out

    def pareto(self) -> list[CurvePoint]:
        """The points no other point beats on both domain gain (higher) and forgetting (lower)."""
        return [p for p, r in zip(self.points, self.rows()) if r["pareto"]]

    def choose(self, tolerance: float = 0.02) -> CurvePoint | None:
        """The scaled point with the most domain gain whose forgetting is at most ``tolerance`` (ties: the
        smaller scale, the smaller change); None when every scale forgets more."""
        ok = [(r["gain"], -(r["scale"] or 0.0), p) for p, r in zip(self.points, self.rows())
              if r["scale"] is not None and r["forgetting"] is not None and r["forgetting"] <= tolerance + 1e-12]
        return max(ok, key=lambda t: (t[0] if t[0] is not None else -math.inf, t[1]))[2] if ok else None

    # ---- showing it ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "domain_suites": list(self.domain_suites),
                "retention_suites": list(self.retention_suites), "rows": self.rows(), "meta": self.meta,
                "points": [{"label": p.label, "scale": p.scale, "source": p.source, "stage": p.stage}
                           for p in self.points]}

    def to_markdown(self, tolerance: float = 0.02) -> str:
        rows = self.rows()
        suites = [*self.domain_suites, *self.retention_suites]
        head = ["point", *[f"{s} ({'retention' if s in self.retention_suites else 'domain'})" for s in suites],
                "domain gain", "forgetting", "Pareto"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            cells = [_label(r)]
            for s in suites:
                iv = r["intervals"].get(s)
                cells.append(f"{r['scores'][s]:.3f} [{iv[0]:.2f}, {iv[1]:.2f}]" if s in r["scores"] and iv else
                             f"{r['scores'][s]:.3f}" if s in r["scores"] else "–")
            for k in ("gain", "forgetting"):
                v, iv = r[k], r[f"{k}_interval"]
                cells.append("–" if v is None else f"{v:+.3f}" + (f" [{iv[0]:+.2f}, {iv[1]:+.2f}]" if iv else
                                                                  " (reference)" if r["scale"] == 0.0 else ""))
            cells.append("yes" if r["pareto"] else "")
            lines.append("| " + " | ".join(cells) + " |")
        n = {s: self.base[s].get("n") for s in suites}
        lines += ["", "n (examples per suite, the same at every point): "
                  + ", ".join(f"{s} {v}" for s, v in n.items()) + ". Intervals: 95%; gain and forgetting are means "
                  "over the domain / retention suites, measured from scale 0 (the base model)."]
        front = [_label(r) for r in rows if r["pareto"]]
        lines.append(f"Pareto-optimal (no other point has more gain and less forgetting): {', '.join(front)}")
        best = self.choose(tolerance)
        if best is not None and best.scale == 0.0:
            lines.append(f"No scale above 0 gains on the domain with forgetting <= {tolerance:g}: the base model "
                         "(scale 0) is the best of these points.")
        elif best is not None:
            lines.append(f"Most domain gain with forgetting <= {tolerance:g}: scale {best.scale:g}; export it with "
                         f"`verticalize export {self.run} --scale {best.scale:g}`")
        else:
            lines.append(f"No scale keeps forgetting <= {tolerance:g}.")
        return "\n".join(lines) + "\n"

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_markdown()

    def plot(self, path: str | Path) -> Path:
        """Domain gain (up) against forgetting (right) per point, labelled by scale; the Pareto front joined
        in red; bars are 95% intervals."""
        from verticalize.plots import new_figure, save_figure

        rows = [r for r in self.rows() if r["gain"] is not None and r["forgetting"] is not None]
        from matplotlib.colors import to_rgba

        fig, ax = new_figure((6.4, 4.6))
        scaled = sorted((r for r in rows if r["scale"] is not None), key=lambda r: r["scale"])
        others = [r for r in rows if r["scale"] is None]
        ax.axhline(0, color="#bbbbbb", lw=0.8)
        ax.axvline(0, color="#bbbbbb", lw=0.8)
        if scaled:
            ax.plot([r["forgetting"] for r in scaled], [r["gain"] for r in scaled], "-", color="#9aa5b1", lw=1,
                    zorder=1)
        for group, marker, colour in ((scaled, "o", "#2f6fde"), (others, "s", "#e0702f")):
            for r in group:
                ax.errorbar([r["forgetting"]], [r["gain"]], xerr=_err(r["forgetting"], r["forgetting_interval"]),
                            yerr=_err(r["gain"], r["gain_interval"]), fmt=marker, color=colour, ms=6, capsize=2,
                            elinewidth=0.7, ecolor=to_rgba(colour, 0.35), zorder=2)
                ax.annotate(_label(r), (r["forgetting"], r["gain"]), textcoords="offset points", xytext=(6, 5),
                            fontsize=8)
        front = sorted((r for r in rows if r["pareto"]), key=lambda r: (r["forgetting"], r["gain"]))
        if front:
            ax.plot([r["forgetting"] for r in front], [r["gain"] for r in front], "o-", color="#c7364a", lw=1.8,
                    ms=10, mfc="none", mew=1.6, zorder=3, label="Pareto front")
        if others:
            ax.plot([], [], "s", color="#e0702f", label="other runs / merges")
        ax.plot([], [], "o", color="#2f6fde", label="trained change x scale")
        ax.set_xlabel("forgetting (drop on " + ", ".join(self.retention_suites) + "; left is better)")
        ax.set_ylabel("domain gain (on " + ", ".join(self.domain_suites) + "; up is better)")
        n = ", ".join(f"{s} n={self.base[s].get('n')}" for s in (*self.domain_suites, *self.retention_suites))
        ax.set_title(f"gain vs forgetting by scale, from the base model ({n})", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        return save_figure(fig, path)

    def save(self, out_dir: str | Path, tolerance: float = 0.02) -> dict[str, Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        best = self.choose(tolerance)
        data["chosen"] = {"tolerance": tolerance, "scale": best.scale if best else None}
        (out / "curve.json").write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        (out / "curve.md").write_text(self.to_markdown(tolerance), encoding="utf-8")
        return {"json": out / "curve.json", "md": out / "curve.md", "png": self.plot(out / "curve.png")}

    @classmethod
    def load(cls, path: str | Path) -> Curve:
        p = Path(path)
        p = p / "curve.json" if p.is_dir() else p
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            points = tuple(CurvePoint(d["label"], d["scale"], d["stage"], d.get("source", "")) for d in data["points"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RunError(f"{p} is not a readable curve.json ({type(e).__name__}: {e})") from None
        return cls(data.get("run", ""), points, data.get("meta", {}))


def _label(r: dict[str, Any]) -> str:
    return f"scale {r['scale']:g}" if r["scale"] is not None else r["label"]


def _err(v: float, iv: list[float] | None) -> list[list[float]] | None:
    return [[max(0.0, v - iv[0])], [max(0.0, iv[1] - v)]] if iv else None


def _mean_delta(rep: Any, ci: dict[str, Any], suites: Sequence[str], sign: float) -> tuple[float | None, list | None]:
    """Mean over ``suites`` of ``sign * (after - before)`` and its 95% interval (the suites' delta intervals
    combined as independent)."""
    deltas, var = [], 0.0
    for s in suites:
        row = rep.scores.get(s, {})
        if "delta" not in row:
            continue
        deltas.append(sign * row["delta"])
        iv = ci.get(s, {}).get("delta")
        var = math.nan if iv is None or math.isnan(var) else var + ((iv[1] - iv[0]) / 2 / 1.96) ** 2
    if not deltas:
        return None, None
    m = sum(deltas) / len(deltas)
    if math.isnan(var):
        return round(m, 4), None
    half = 1.96 * math.sqrt(var) / len(deltas)
    return round(m, 4), [round(m - half, 4), round(m + half, 4)]


def _pareto(points: list[tuple[float | None, float | None]]) -> list[bool]:
    """For (gain, forgetting) pairs: True where no other pair has gain >= and forgetting <=, one strictly."""
    out = []
    for i, (g, f) in enumerate(points):
        if g is None or f is None:
            out.append(False)
            continue
        out.append(not any(j != i and g2 is not None and f2 is not None and g2 >= g and f2 <= f and (g2 > g or f2 < f)
                           for j, (g2, f2) in enumerate(points)))
    return out


def _strip(stage: dict[str, Any]) -> dict[str, Any]:
    """A stage without the sample predictions (the curve keeps scores, n and roles)."""
    return {s: {**res, "tasks": {t: {k: v for k, v in r.items() if k != "samples"} for t, r in res.get("tasks", {}).items()}}
            for s, res in stage.items()}


def curve_suites(recipe: Any, suites: Sequence[Any] | None) -> list[Any]:
    """The suites given, else the recipe's, plus ``general`` when none of them is a retention suite."""
    from verticalize.run.evaluate import suites_of

    chosen = suites_of(recipe, list(suites) if suites else None)
    if suites:
        return chosen
    from verticalize.errors import VerticalizeError
    from verticalize.evals import load_suite

    def role(s: Any) -> str | None:
        try:
            return getattr(load_suite(s), "role", None) if isinstance(s, str) else None
        except VerticalizeError:
            return None

    if not any(role(s) == "retention" for s in chosen) and "general" not in chosen:
        chosen.append("general")
    return chosen


def _check_roles(stage: dict[str, Any]) -> None:
    roles = {n: r.get("role", "domain") for n, r in stage.items()}
    if "retention" not in roles.values() or all(v == "retention" for v in roles.values()):
        got = ", ".join(f"{n} ({r})" for n, r in roles.items()) or "none"
        raise RunError("a curve weighs domain gain against forgetting: it needs at least one domain suite and one "
                       "retention suite (role: retention, e.g. general); scored: " + got)


def _same_base(run: Any, other: Any) -> None:
    a, b = run.recipe.base.model_dump(mode="json"), other.recipe.base.model_dump(mode="json")
    if a != b:
        raise RunError(f"{other.output_dir} was trained from another base ({other.recipe.base.model!r}, "
                       f"{other.recipe.base.source}) than {run.output_dir} ({run.recipe.base.model!r}, "
                       f"{run.recipe.base.source}): only runs of the same base share a curve")


def run_curve(run: Any, scales: Sequence[float] = DEFAULT_SCALES, suites: Sequence[Any] | None = None, *,
              max_examples: int | None = None, compare: Sequence[Any] = (), save: bool = True,
              tolerance: float = 0.02, progress: Callable[[str], None] | None = None) -> Curve:
    """Score ``run`` at each scale (0 is always added: the base every gain and forgetting is measured from)
    and each run of ``compare`` as it is; write ``curve.json``, ``curve.md`` and ``curve.png`` into the run
    dir when ``save``."""
    from verticalize.models import load_model, resolve_model
    from verticalize.run.evaluate import score
    from verticalize.train.scaling import ScaledModel, check_scale

    if max_examples is not None and (isinstance(max_examples, bool) or not isinstance(max_examples, int)
                                     or max_examples < 1):
        raise RunError(f"max_examples must be a whole number >= 1 (examples per suite), got {max_examples!r}")
    values = sorted({0.0, *(check_scale(s) for s in scales)})
    others = list(compare)  # Run objects (Run.curve opens the dirs)
    for o in others:
        _same_base(run, o)
    recipe = run.recipe
    if max_examples is not None:
        recipe = recipe.model_copy(update={"eval": recipe.eval.model_copy(update={"max_examples": max_examples})})
    chosen = curve_suites(run.recipe, suites)
    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    model, tok = run.load()
    scaler = ScaledModel(model, base=lambda: load_model(resolve_model(run.recipe.base)))
    points: list[CurvePoint] = []
    try:
        for v in values:
            say(f"[verticalize] curve: scoring scale {v:g} ({scaler.how})")
            stage = _strip(score(scaler.set(v), tok, recipe, chosen))
            if v == 0.0:
                _check_roles(stage)
            points.append(CurvePoint(f"scale {v:g}", v, stage, str(run.output_dir)))
    finally:
        scaler.restore()
    for o in others:
        say(f"[verticalize] curve: scoring {o.output_dir}")
        om, otok = o.load()  # scored as this run's points are: same suites, examples, seed and PoT settings
        points.append(CurvePoint(o.output_dir.name, None, _strip(score(om, otok, recipe, chosen)), str(o.output_dir)))
    meta = {"suites": [s if isinstance(s, str) else str(s) for s in chosen], "max_examples": recipe.eval.max_examples,
            "how": scaler.how, "why": scaler.why, "seed": recipe.seed, "seconds": round(time.perf_counter() - t0, 1)}
    curve = Curve(str(run.output_dir), tuple(points), meta)
    if save:
        curve.save(run.output_dir, tolerance)
    return curve
