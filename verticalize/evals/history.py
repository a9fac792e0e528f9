"""Every evaluation of a run, kept: each one its own labelled report, an index, and one page showing them all.

Layout of a run's ``eval/`` dir::

    index.json       every evaluation, oldest first: label, dir, created, source, stages, suites (n, scores),
                     recipe fingerprint, generation settings
    report.md        every evaluation on one page: a table of them, the scores across them (95% intervals,
                     n), then each one's tables and sample predictions (question, prediction, gold, correct)
    train/           the evaluation made during training (before / after): report.json, report.md, report.png
    eval-1/ ...      each later evaluation (``verticalize eval RUN``, ``Run.evaluate()``), or ``--label NAME``

Nothing is overwritten: a label names one evaluation, and reusing it is an error (``force`` replaces that
one). ``index.json`` and ``report.md`` are rebuilt from the reports on every addition. A run written before
this layout has only ``eval/report.{json,md,png}``: it reads as one evaluation labelled ``train`` (dir ``.``),
and a new evaluation adds to it without moving its files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from verticalize.errors import RunError
from verticalize.evals.report import EvalReport

__all__ = ["TRAIN_LABEL", "EvalHistory", "check_label"]

#: the label of the evaluation made during training
TRAIN_LABEL = "train"
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_AUTO = re.compile(r"eval-(\d+)")
INDEX = "index.json"


def check_label(label: str, *, reserved_ok: bool = False) -> str:
    """``label`` when it can name an evaluation (a dir name: letters, digits, ``-``, ``_``), else a RunError."""
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise RunError(f"evaluation label {label!r}: use letters, digits, '-' and '_' (1 to 64 characters, starting "
                       "with a letter or digit), e.g. 'after-lr2e-4'")
    if label.lower() == TRAIN_LABEL and not reserved_ok:
        raise RunError(f"evaluation label {label!r} is kept for the evaluation made during training; choose another")
    return label


class EvalHistory:
    """The evaluations kept in a run's ``eval/`` dir (see the module docstring)."""

    def __init__(self, eval_dir: str | Path):
        self.dir = Path(eval_dir)

    # ---- reading -------------------------------------------------------------------------
    def entries(self) -> list[dict[str, Any]]:
        """The index: one dict per evaluation, oldest first (read from ``index.json``; rebuilt from the report
        dirs when it is missing or unreadable)."""
        p = self.dir / INDEX
        if p.is_file():
            try:
                data = json.loads(p.read_text(encoding="utf-8"))
                entries = data.get("evaluations") if isinstance(data, dict) else None
                if isinstance(entries, list) and all(isinstance(e, dict) and isinstance(e.get("label"), str)
                                                     and isinstance(e.get("dir"), str) for e in entries):
                    return entries
            except (OSError, ValueError):
                pass
        return self._scan()

    def _scan(self) -> list[dict[str, Any]]:
        found: list[tuple[str, str, dict[str, Any]]] = []
        if self.dir.is_dir():
            for d in sorted(self.dir.iterdir()):
                if d.is_dir() and _LABEL.fullmatch(d.name) and (d / "report.json").is_file():
                    try:
                        rep = EvalReport.load(d)
                    except (OSError, ValueError, KeyError, TypeError):
                        continue
                    found.append((str(rep.meta.get("created") or ""), d.name, _entry(d.name, d.name, rep)))
        found.sort(key=lambda t: (t[1] != TRAIN_LABEL, t[0], t[1]))
        entries = [e for _, _, e in found]
        legacy = self.dir / "report.json"
        if legacy.is_file() and not any(e["label"] == TRAIN_LABEL for e in entries):
            try:
                entries.insert(0, _entry(TRAIN_LABEL, ".", EvalReport.load(legacy), source="training"))
            except (OSError, ValueError, KeyError, TypeError):  # listed all the same: reading it names the damage
                entries.insert(0, {"label": TRAIN_LABEL, "dir": ".", "source": "training"})
        return entries

    def labels(self) -> list[str]:
        return [e["label"] for e in self.entries()]

    def __len__(self) -> int:
        return len(self.entries())

    def report(self, label: str) -> EvalReport:
        """The report of the evaluation labelled ``label``."""
        for e in self.entries():
            if e["label"] == label:
                return self._load(e)
        have = ", ".join(self.labels()) or "none"
        raise RunError(f"{self.dir}: no evaluation labelled {label!r} (evaluations: {have})")

    def reports(self) -> dict[str, EvalReport]:
        """Every evaluation's report by label, oldest first."""
        return {e["label"]: self._load(e) for e in self.entries()}

    def latest(self) -> EvalReport | None:
        entries = self.entries()
        return self._load(entries[-1]) if entries else None

    def training(self) -> EvalReport | None:
        """The evaluation made during training (``train``), None when the recipe scored none."""
        for e in self.entries():
            if e["label"] == TRAIN_LABEL:
                return self._load(e)
        return None

    def main(self) -> EvalReport | None:
        """The run's report: the one made during training, else the latest."""
        return self.training() or self.latest()

    def _load(self, entry: dict[str, Any]) -> EvalReport:
        p = self.dir / entry["dir"] / "report.json"
        try:
            rep = EvalReport.load(p)
        except FileNotFoundError:
            raise RunError(f"{p} is missing: the evaluation {entry['label']!r} listed in {self.dir / INDEX} has no "
                           "report") from None
        except (ValueError, KeyError, TypeError) as e:
            raise RunError(f"{p}: not an eval report ({type(e).__name__}: {e})") from None
        return EvalReport(rep.stages, meta={"label": entry["label"], **rep.meta})

    # ---- adding ----------------------------------------------------------------------------
    def new_label(self, label: str | None = None, *, force: bool = False, reserved_ok: bool = False) -> str:
        """The label a new evaluation gets: ``label`` checked (a name in use is an error naming the labels
        there are, unless ``force``), or the next free ``eval-<n>``."""
        taken = self.labels()
        if label is None:
            n = sum(1 for t in taken if t != TRAIN_LABEL) + 1
            while any(t.lower() == f"eval-{n}" for t in taken):
                n += 1
            return f"eval-{n}"
        check_label(label, reserved_ok=reserved_ok)
        clash = [t for t in taken if t.lower() == label.lower()]
        if clash and not force:
            raise RunError(f"{self.dir.parent}: an evaluation labelled {clash[0]!r} exists already (labels: "
                           f"{', '.join(taken)}); choose another label (verticalize eval --label NAME), or replace "
                           "it with --force (Python: force=True)")
        return label

    def add(self, report: EvalReport, label: str | None = None, *, force: bool = False,
            reserved_ok: bool = False) -> tuple[EvalReport, Path]:
        """Keep ``report`` as a new evaluation: ``<label>/report.*``, then the index and ``report.md``. Returns
        the report as saved (its meta holds the label) and its dir."""
        label = self.new_label(label, force=force, reserved_ok=reserved_ok)
        meta = {**report.meta, "label": label}
        meta.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        report = EvalReport(report.stages, meta=meta)
        self.dir.mkdir(parents=True, exist_ok=True)
        entries = self.entries()
        old = next((e for e in entries if e["label"].lower() == label.lower()), None)
        dest = self.dir / label
        tmp = self.dir / f".{label}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            report.save(tmp)
            if old is not None and old["dir"] != ".":  # force: the old one goes only once the new one is whole
                gone = self.dir / f".{old['dir']}.{os.getpid()}.old"
                if (self.dir / old["dir"]).exists():
                    os.replace(self.dir / old["dir"], gone)
                os.replace(tmp, dest)
                shutil.rmtree(gone, ignore_errors=True)
            else:
                os.replace(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old["dir"] == ".":  # a legacy report replaced: its files go with it
            for f in ("report.json", "report.png"):
                (self.dir / f).unlink(missing_ok=True)
        entries = [e for e in entries if e is not old] + [_entry(label, label, report)]
        _write_text(self.dir / INDEX, json.dumps({"format": 1, "evaluations": entries}, indent=2, ensure_ascii=False,
                                                 default=str))
        _write_text(self.dir / "report.md", self.to_markdown())
        return report, dest

    # ---- the page of every evaluation -------------------------------------------------------
    def to_markdown(self, samples: int = 4) -> str:
        """Every evaluation: a table of them, each suite's score across them (95% interval, n), then each
        evaluation's own tables and ``samples`` sample predictions per suite."""
        entries = self.entries()
        reports = [(e, self._load(e)) for e in entries]
        run = str(reports[-1][1].meta.get("run") or "") if reports else ""
        run = Path(run).name if run else self.dir.resolve().parent.name.removesuffix(".incomplete")
        lines = [f"# Evaluations of {run}", ""]
        if not reports:
            return "\n".join(lines + ["No evaluation yet.", ""])
        lines += [(f"{len(reports)} evaluation(s), oldest first; each one's files are in `eval/<label>/`, the list "
                   "in `eval/index.json`."), "",
                  "| # | label | created (UTC) | by | stages | suites (n) | generation | recipe |",
                  "|---|---|---|---|---|---|---|---|"]
        for i, (e, rep) in enumerate(reports, 1):
            suites = ", ".join(f"{s} ({v.get('n', '?')})" for s, v in (e.get("suites") or {}).items())
            lines.append(f"| {i} | **{e['label']}** | {_when(e.get('created'))} | {e.get('source') or '–'} | "
                         f"{', '.join(e.get('stages') or []) or '–'} | {suites or '–'} | "
                         f"{_gen(rep.meta.get('settings'))} | {str(e.get('recipe_sha256') or '–')[:12]} |")
        lines += ["", "## Scores across evaluations", "",
                  ("Each evaluation's last stage (after; before when only the base was scored), with its 95% "
                   "interval and number of questions."), ""]
        names = list(dict.fromkeys(s for _, rep in reports for st in rep.stages.values() for s in st))
        lines += ["| suite | " + " | ".join(e["label"] for e, _ in reports) + " |",
                  "|---|" + "---|" * len(reports)]
        for name in names:
            cells = []
            for _, rep in reports:
                stage = "after" if name in rep.stages.get("after", {}) else (
                    "before" if name in rep.stages.get("before", {}) else None)
                if stage is None:
                    cells.append("–")
                    continue
                iv = rep.intervals.get(name, {})
                score = rep.stages[stage][name]["score"]
                ci = f" [{iv[stage][0]:.2f}, {iv[stage][1]:.2f}]" if stage in iv else ""
                n = iv.get("n", rep.stages[stage][name].get("n"))
                cells.append(f"{score:.3f}{ci}" + (f" n={n}" if n is not None else "")
                             + (" (before)" if stage == "before" else ""))
            lines.append(f"| **{name}** | " + " | ".join(cells) + " |")
        for i, (e, rep) in enumerate(reports, 1):
            lines += ["", f"## {i}. {e['label']}", ""]
            about = [f"created {_when(e.get('created'))} UTC" if e.get("created") else "",
                     f"by {e['source']}" if e.get("source") else "",
                     f"recipe {str(e['recipe_sha256'])[:12]}" if e.get("recipe_sha256") else "",
                     _settings(rep.meta.get("settings")),
                     f"files `eval/{e['dir']}/`" if e["dir"] != "." else "files `eval/report.json` (an older run)"]
            lines += ["; ".join(a for a in about if a) + ".", "", rep.to_markdown(samples=samples).rstrip("\n")]
        return "\n".join(lines) + "\n"


def _entry(label: str, d: str, rep: EvalReport, source: str | None = None) -> dict[str, Any]:
    suites: dict[str, dict[str, Any]] = {}
    for stage, res in rep.stages.items():
        for name, r in res.items():
            row = suites.setdefault(name, {"n": r.get("n"), "role": r.get("role")})
            row[stage] = round(float(r.get("score", 0.0)), 4)
    m = rep.meta
    return {"label": label, "dir": d, "created": m.get("created"), "source": m.get("source") or source,
            "stages": list(rep.stages), "suites": suites, "recipe_sha256": m.get("recipe_sha256"),
            "generation": (m.get("settings") or {}).get("generation")}


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _when(created: Any) -> str:
    if not created:
        return "–"
    try:
        t = datetime.fromisoformat(str(created))
    except ValueError:
        return str(created)
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _gen(settings: Any) -> str:
    g = (settings or {}).get("generation") if isinstance(settings, dict) else None
    if not isinstance(g, dict):
        return "–"
    mode = "greedy" if not g.get("temperature") else f"T={g['temperature']}"
    return f"{mode}, {g.get('max_new_tokens')} new tokens"


def _settings(settings: Any) -> str:
    if not isinstance(settings, dict):
        return ""
    parts = [f"generation {_gen(settings)}"]
    if settings.get("max_examples") is not None:
        parts.append(f"at most {settings['max_examples']} questions per suite")
    for key in ("languages", "tasks"):
        if settings.get(key):
            parts.append(f"{key} {', '.join(map(str, settings[key]))}")
    if settings.get("pot"):
        parts.append("PoT")
    return "; ".join(parts)
