"""Forgetting watched while training (``train.watch``): score, record, keep the best, stop early.

Every ``eval_steps`` optimizer steps (and at the last step) :class:`Watch` scores the model on a
fixed, seeded subset of the recipe's suites through a :class:`WatchProbe` (built by the run from
the evaluation package -- train/ imports no evals), and records one row in ``watch.jsonl`` of the
stage dir:

- ``gain``: the mean change of the domain suites' scores from the baseline (the weights before
  training, scored on the same subset; row ``step: 0``);
- ``forgetting``: the largest drop of a retention suite's score from the baseline (positive =
  forgot; None without a retention suite);
- ``general_loss``: the mean per-token loss of the retention examples' reference answers (held-out
  general text, a continuous signal where the scores of a small subset move in coarse steps).

The selected check (``select: best``) is the one with the largest gain whose forgetting is at most
``tolerance``; ties go to the smaller forgetting, then the lower general loss, then the later step.
No check within tolerance: the one with the least forgetting, and the reason says so. At each new
best the trainable weights are written to ``watch/best.safetensors``; when training ends,
:meth:`Watch.finish` copies them back into the model in place, so whatever the stage hands on
(``adapter/``, the next stage, the evaluation after) is that checkpoint. ``early_stop_patience``:
training stops once that many checks in a row brought no new best. ``watch.png`` draws the curves.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

__all__ = ["WATCH_DIR", "WATCH_LOG", "Watch", "WatchProbe", "discard_watch_weights", "select_row", "watch_curve"]

log = logging.getLogger("verticalize")

WATCH_LOG = "watch.jsonl"
WATCH_DIR = "watch"  # the best check's weights while the run is unfinished (removed when it completes)
_BEST = "best.safetensors"  # the trainable weights of the best check; its step in the file's metadata


@dataclass
class WatchProbe:
    """How the watch scores a model, given by the run.

    ``score(model)`` -> ``{"scores": {suite: score}, "roles": {suite: "domain" | "retention"},
    "general_loss": float | None}`` on the same fixed subset every time (the model's train/eval
    mode restored afterwards); ``baseline``: that result for the weights before training."""

    score: Callable[[Any], dict[str, Any]]
    baseline: dict[str, Any]


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def _measure(out: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """gain, forgetting and general loss of one scoring against the baseline."""
    scores, roles, base = out["scores"], out.get("roles", {}), baseline["scores"]
    domain = [s for s in scores if roles.get(s) != "retention" and s in base]
    retention = [s for s in scores if roles.get(s) == "retention" and s in base]
    gain = sum(scores[s] - base[s] for s in domain) / len(domain) if domain else None
    forgetting = max(base[s] - scores[s] for s in retention) if retention else None
    row = {"scores": {s: _round(v) for s, v in scores.items()}, "gain": _round(gain),
           "forgetting": _round(forgetting), "general_loss": _round(out.get("general_loss"))}
    changes = out.get("changes") or {}
    if changes:  # each suite's change from the baseline on the same questions: n and a 95% paired interval
        row["changes"] = changes
        if len(domain) == 1 and domain[0] in changes:
            row["gain_interval"] = changes[domain[0]]["interval"]
        if forgetting is not None:
            worst = max(retention, key=lambda s: base[s] - scores[s])
            if worst in changes:
                lo, hi = changes[worst]["interval"]
                row["forgetting_interval"] = [round(-hi, 4), round(-lo, 4)]
    return row


def _within(row: dict[str, Any], tolerance: float) -> bool:
    return row["forgetting"] is None or row["forgetting"] <= tolerance + 1e-9


def _key(row: dict[str, Any], tolerance: float) -> tuple:
    """Higher is better: within tolerance first, then the largest gain (else the least forgetting),
    then the smaller forgetting / larger gain, the lower general loss, the later step."""
    gain = row["gain"] if row["gain"] is not None else 0.0
    forgot = row["forgetting"] if row["forgetting"] is not None else 0.0
    loss = row["general_loss"] if row["general_loss"] is not None else 0.0
    if _within(row, tolerance):
        return (1, gain, -forgot, -loss, row["step"])
    return (0, -forgot, gain, -loss, row["step"])


def select_row(rows: list[dict[str, Any]], tolerance: float) -> dict[str, Any] | None:
    """The check the rule selects among ``rows`` (the baseline, step 0, is never a candidate)."""
    cands = [r for r in rows if r["step"] > 0 and not r.get("lost")]
    return max(cands, key=lambda r: _key(r, tolerance)) if cands else None


class Watch(TrainerCallback):
    """The ``train.watch`` of one stage: a TrainerCallback scoring the model every ``spec.eval_steps``.

    ``stage_dir``: where ``watch.jsonl``, ``watch.png`` and ``watch/`` go. ``resume_step``: the step of
    the checkpoint the stage resumes from (rows after it are dropped; the best weights are kept when
    they are not newer); None: a fresh start. ``say``: progress lines."""

    def __init__(self, spec: Any, probe: WatchProbe, stage_dir: Path, *, resume_step: int | None = None,
                 say: Callable[[str], None] | None = None, label: str = ""):
        self.spec = spec
        self.probe = probe
        self.dir = Path(stage_dir)
        self.say = say or (lambda text: None)
        self.label = label
        self.log_path = self.dir / WATCH_LOG
        self.weights = self.dir / WATCH_DIR
        self.rows: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.since_best = 0
        self.stopped_early = False
        if resume_step is not None and self.log_path.is_file():
            self._resume(resume_step)
        else:
            self.log_path.unlink(missing_ok=True)
            shutil.rmtree(self.weights, ignore_errors=True)
            self._append({"step": 0, "epoch": 0.0, **_measure(probe.baseline, probe.baseline), "seconds": 0.0,
                          "baseline": True})

    # ---- the callback -------------------------------------------------------------------------
    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        step = state.global_step
        last = state.max_steps > 0 and step >= state.max_steps
        if step <= 0 or (step % self.spec.eval_steps and not last) or (self.rows and self.rows[-1]["step"] >= step):
            return
        t0 = time.perf_counter()
        row = {"step": step, "epoch": round(float(state.epoch or 0.0), 4),
               **_measure(self.probe.score(model), self.probe.baseline)}
        row["within_tolerance"] = _within(row, self.spec.tolerance)
        new_best = self._advance(row)
        if new_best and self.spec.select == "best":
            self._save_best(model, step)
        row.update(best=new_best, seconds=round(time.perf_counter() - t0, 3))
        patience = self.spec.early_stop_patience
        if patience is not None and self.since_best >= patience and not last:
            control.should_training_stop = True
            self.stopped_early = True
            row["stop"] = f"no new best in {patience} check{'s' if patience != 1 else ''}"
        self._append(row)
        self.say(f"[verticalize] watch{' ' + self.label if self.label else ''} step {step}: "
                 + _describe(row, self.spec.tolerance) + (" (best so far)" if new_best else "")
                 + (f"; stopping early: {row['stop']}" if row.get("stop") else ""))

    def _advance(self, row: dict[str, Any]) -> bool:
        """Take one check into account: is it the selected one so far? ``since_best`` counts the checks
        since the last real improvement (a tie is selected -- the later step wins -- but improves nothing)."""
        tol = self.spec.tolerance
        merit = _key(row, tol)[:-1]
        best = None if self.best is None else _key(self.best, tol)[:-1]
        improved = best is None or merit > best
        self.since_best = 0 if improved else self.since_best + 1
        if improved or merit == best:
            self.best = row
            return True
        return False

    # ---- the end of the stage -----------------------------------------------------------------
    def finish(self, model: Any, final_step: int | None = None) -> dict[str, Any]:
        """Select the check, put its weights into ``model`` (in place) and draw the curves; returns the
        summary for the stage's metrics (``metrics["watch"]``)."""
        from verticalize.errors import RunError

        tol = self.spec.tolerance
        checks = [r for r in self.rows if r["step"] > 0]
        if not checks:
            raise RunError(f"train.watch{' (' + self.label + ')' if self.label else ''}: no check was recorded "
                           "(the stage trained no step)")
        final = final_step if final_step is not None else checks[-1]["step"]
        last = max(checks, key=lambda r: r["step"])
        chosen = (select_row(self.rows, tol) if self.spec.select == "best" else None) or last
        restored = False
        if chosen["step"] != final:
            self._restore(model, chosen["step"])
            restored = True
        summary = {
            "select": self.spec.select, "step": chosen["step"], "final_step": final, "restored": restored,
            "gain": chosen["gain"], "forgetting": chosen["forgetting"], "general_loss": chosen["general_loss"],
            **{k: chosen[k] for k in ("gain_interval", "forgetting_interval", "changes") if k in chosen},
            "tolerance": tol, "within_tolerance": _within(chosen, tol), "checks": len(checks),
            "stopped_early": any(r.get("stop") for r in checks), "curve": WATCH_LOG,
            "reason": _reason(chosen, checks, self.spec, final),
        }
        try:
            watch_curve(self.rows, self.dir / "watch.png", chosen["step"], tol,
                        title=f"watch{' ' + self.label if self.label else ''}: domain gain and forgetting")
            summary["plot"] = "watch.png"
        except Exception as e:  # noqa: BLE001 -- a plot is a convenience; the curve is in watch.jsonl
            log.warning("watch: could not draw watch.png (%s)", e)
        if not summary["within_tolerance"] and self.spec.select == "best":
            log.warning("train.watch: %s", summary["reason"])
        self.say(f"[verticalize] watch{' ' + self.label if self.label else ''}: {summary['reason']}")
        return summary

    # ---- files --------------------------------------------------------------------------------
    def _append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")

    def _resume(self, step: int) -> None:
        rows = []
        for line in self.log_path.read_text("utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut by the crash
            if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
                rows.append(row)
        self.log_path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        self.rows = rows
        saved = self._saved_step()
        checks = [r for r in rows if r["step"] > 0]
        if self.spec.select == "best" and saved is not None and saved > step:
            # the best came after the resume point: its weights belong to steps trained again now
            log.warning("train.watch: the best check (step %s) came after the checkpoint resumed from (step %s); "
                        "checks up to step %s stay in the curve but only later ones can be selected", saved, step, step)
            shutil.rmtree(self.weights, ignore_errors=True)
            for r in checks:
                r.update(best=False, lost=True)  # in the curve, no longer selectable: their weights are gone
            self.log_path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            return
        for r in checks:
            if not r.get("lost"):
                self._advance(r)

    def _save_best(self, model: Any, step: int) -> None:
        from safetensors.torch import save_file

        self.weights.mkdir(parents=True, exist_ok=True)
        state = {n: p.detach().cpu().clone().contiguous() for n, p in model.named_parameters() if p.requires_grad}
        tmp = self.weights / (_BEST + ".tmp")
        save_file(state, str(tmp), metadata={"step": str(step)})
        os.replace(tmp, self.weights / _BEST)  # weights and step in one file, replaced at once

    def _saved_step(self) -> int | None:
        from safetensors import SafetensorError, safe_open

        f = self.weights / _BEST
        if not f.is_file():
            return None
        try:
            with safe_open(str(f), framework="pt") as fh:
                return int((fh.metadata() or {}).get("step", ""))
        except (OSError, ValueError, SafetensorError):  # unreadable: as if there were none
            return None

    def _restore(self, model: Any, step: int) -> None:
        import torch
        from safetensors.torch import load_file

        from verticalize.errors import RunError

        saved = self._saved_step()
        if saved != step:
            raise RunError(f"train.watch: the weights of step {step} (the selected check) are missing from "
                           f"{self.weights} (found step {saved})")
        state = load_file(str(self.weights / _BEST))
        params = dict(model.named_parameters())
        missing = sorted(set(state) - set(params))
        if missing:
            raise RunError(f"train.watch: {len(missing)} saved tensors of step {step} match no parameter of the "
                           f"model (e.g. {missing[0]!r})")
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value.to(device=params[name].device, dtype=params[name].dtype))


def _describe(row: dict[str, Any], tolerance: float) -> str:
    def iv(key: str) -> str:
        lo_hi = row.get(key)
        return f" [{lo_hi[0]:+.2f}, {lo_hi[1]:+.2f}]" if lo_hi else ""

    parts = [f"domain {row['gain']:+.3f}{iv('gain_interval')}" if row["gain"] is not None else "no domain suite"]
    if row["forgetting"] is not None:
        ok = "<=" if _within(row, tolerance) else ">"
        parts.append(f"forgetting {row['forgetting']:.3f}{iv('forgetting_interval')} {ok} tolerance {tolerance:g}")
    else:
        parts.append("forgetting not measured (no retention suite)")
    if row.get("general_loss") is not None:
        parts.append(f"general loss {row['general_loss']:.4f}")
    return ", ".join(parts)


def _reason(chosen: dict[str, Any], checks: list[dict[str, Any]], spec: Any, final: int) -> str:
    """Why this step: "step 40 of 60: domain +0.120, forgetting 0.010 <= tolerance 0.02 (...)"."""
    head = f"step {chosen['step']} of {final}: {_describe(chosen, spec.tolerance)}"
    n = f"{len(checks)} check{'s' if len(checks) != 1 else ''}"
    if spec.select == "last":
        why = f"the last step (watch.select: last; {n})"
    elif not _within(chosen, spec.tolerance):
        why = f"no check kept forgetting within tolerance {spec.tolerance:g}: the least forgetting of {n}"
    elif chosen["forgetting"] is None:
        why = f"the largest domain gain of {n}"
    else:
        why = f"the largest domain gain within tolerance of {n}"
    stop = next((r for r in checks if r.get("stop")), None)
    if stop is not None:
        why += f"; stopped early at step {stop['step']} ({stop['stop']})"
    return f"{head} -- {why}"


def watch_curve(rows: list[dict[str, Any]], path: str | Path, chosen: int | None, tolerance: float,
                title: str = "domain gain and forgetting") -> Path | None:
    """Gain and forgetting per step (the tolerance dashed, the selected step marked); the held-out
    general loss on a second axis when measured."""
    from verticalize.plots import new_figure, save_figure

    pts = sorted(rows, key=lambda r: r["step"])
    if len(pts) < 2:
        return None
    fig, ax = new_figure((6, 3.6))
    steps = [r["step"] for r in pts]

    def band(key: str, color: str) -> bool:
        """The 95% paired interval of each check, shaded (the baseline's is 0 by definition); False: none."""
        have = [(r["step"], r.get(key) or (0.0, 0.0)) for r in pts if r.get(key) or r["step"] == 0]
        if len(have) < 2:
            return False
        ax.fill_between([x for x, _ in have], [iv[0] for _, iv in have], [iv[1] for _, iv in have], color=color,
                        alpha=0.15, lw=0)
        return True

    if any(r["gain"] is not None for r in pts):
        shaded = band("gain_interval", "#2f6fde")
        ax.plot(steps, [r["gain"] if r["gain"] is not None else float("nan") for r in pts], marker="o", ms=3,
                lw=1.5, color="#2f6fde", label="domain gain" + (" (band: 95% interval)" if shaded else ""))
    if any(r["forgetting"] is not None for r in pts):
        ax.plot(steps, [r["forgetting"] if r["forgetting"] is not None else float("nan") for r in pts], marker="s",
                ms=3, lw=1.5, color="#e0702f", label="forgetting")
        band("forgetting_interval", "#e0702f")
        ax.axhline(tolerance, color="#e0702f", lw=0.8, ls="--", label=f"tolerance {tolerance:g}")
    ax.axhline(0.0, color="#999999", lw=0.6)
    if chosen is not None:
        ax.axvline(chosen, color="#2f9e5a", lw=1.2, ls=":", label=f"selected step {chosen}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("score change from the base")
    handles, labels = ax.get_legend_handles_labels()
    if any(r.get("general_loss") is not None for r in pts):
        ax2 = ax.twinx()
        ax2.plot(steps, [r["general_loss"] if r.get("general_loss") is not None else float("nan") for r in pts],
                 lw=1.0, ls="-.", color="#9b4fd1", label="general loss")
        ax2.set_ylabel("held-out general loss", fontsize=8)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(handles, labels, fontsize=7, loc="best")
    return save_figure(fig, path)


def discard_watch_weights(stage_dir: Path) -> None:
    """A finished run: the best check's weights are the stage's weights now; their copy goes."""
    shutil.rmtree(Path(stage_dir) / WATCH_DIR, ignore_errors=True)
