"""Run: a finished run dir -- its recipe, manifest, metrics, trained weights, and what you do with them
(generate, evaluate, export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verticalize.errors import RunError
from verticalize.recipe import Recipe, load_recipe

__all__ = ["Run"]


class Run:
    """A finished run dir: its recipe, manifest, metrics and trained weights."""

    def __init__(self, output_dir: str | Path):
        self.output_dir = Path(output_dir)
        mpath = self.output_dir / "manifest.json"
        if not mpath.is_file():
            inc = self.output_dir.with_name(self.output_dir.name + ".incomplete")
            hint = f" (an unfinished run is at {inc})" if inc.exists() else ""
            raise RunError(f"{self.output_dir} is not a finished verticalize run (no manifest.json){hint}")
        from verticalize.run.rundir import read_manifest

        self.manifest: dict[str, Any] = read_manifest(mpath)  # damaged: a RunError naming it; edited: a warning
        if self.manifest.get("status") != "complete":
            raise RunError(f"{self.output_dir}: run status is {self.manifest.get('status')!r}, not complete")
        self.recipe: Recipe = load_recipe(self.output_dir / "recipe.yaml", trust_code=True)  # written by the run
        self._loaded: tuple[Any, Any] | None = None

    @property
    def metrics(self) -> dict[str, Any]:
        return self.manifest.get("metrics", {})

    @property
    def adapter_path(self) -> Path | None:
        p = self.output_dir / "adapter"
        return p if p.is_dir() else None

    @property
    def model_path(self) -> Path:
        return self.adapter_path or self.output_dir / "model"

    @property
    def report(self) -> Any:
        """The run's EvalReport: the evaluation made during training (before / after), else the latest one;
        None when the run was never evaluated. Every evaluation: :attr:`evaluations`."""
        from verticalize.evals.history import EvalHistory

        return EvalHistory(self.output_dir / "eval").main()

    @property
    def evaluations(self) -> dict[str, Any]:
        """Every evaluation of the run by label, oldest first (``train``: the one made during training; then
        each ``evaluate()`` / ``verticalize eval``): ``{label: EvalReport}``."""
        from verticalize.evals.history import EvalHistory

        return EvalHistory(self.output_dir / "eval").reports()

    def __repr__(self) -> str:
        return f"Run({str(self.output_dir)!r}, base={self.recipe.base.model!r}, method={self.recipe.method.kind!r})"

    def _summary(self) -> list[str]:
        """Plain-text lines for the notebook reprs: status, what was trained, steps, loss, time."""
        m, r = self.metrics, self.recipe
        loss = m.get("train_loss")
        loss_s = f"{loss:.4f}" if isinstance(loss, (int, float)) else "–"
        secs = self.manifest.get("timings", {}).get("total", 0)
        return [f"status {self.manifest.get('status')}, weights in {self.manifest.get('artifact', '?')}/",
                f"base {r.base.model}, domain {r.domain}, method {r.method.kind}, "
                f"train {'->'.join(s.kind for s in r.stages)}" + (", PoT" if r.pot.enabled else ""),
                f"steps {m.get('global_step')}, train loss {loss_s}, {secs:.0f} s"]

    def _repr_markdown_(self) -> str:
        lines = [f"**verticalize run** `{self.output_dir}`", "", *(f"- {s}" for s in self._summary())]
        if (self.output_dir / "loss.png").is_file():
            lines.append(f"\n![loss]({self.output_dir / 'loss.png'})")
        rep = self.report
        if rep is not None:
            lines += ["", rep.to_markdown()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """What Jupyter shows: the summary, the loss curve and the before/after plot inline (base64
        PNGs, so they display in any notebook, wherever the run dir is), and the score tables."""
        from html import escape

        parts = [f"<p><b>verticalize run</b> <code>{escape(str(self.output_dir))}</code></p>",
                 "<ul>" + "".join(f"<li>{escape(s)}</li>" for s in self._summary()) + "</ul>"]
        rep = self.report
        label = rep.meta.get("label") if rep is not None else None
        png = f"eval/{label}/report.png" if label and (self.output_dir / "eval" / label).is_dir() else "eval/report.png"
        imgs = [_inline_png(self.output_dir / name, alt) for name, alt in
                (("loss.png", "loss curve"), (png, "before vs after scores"))]
        parts.append("<div>" + "".join(i for i in imgs if i) + "</div>")
        if rep is not None:
            parts.append(rep.to_html())
        return "\n".join(parts)

    # ---- using the trained model ------------------------------------------------------
    def load(self) -> tuple[Any, Any]:
        """(model, tokenizer) of the trained model; cached on this Run."""
        if self._loaded is None:
            from verticalize.models import load_model, resolve_model
            from verticalize.train.weights import load_weights

            model = load_weights(self.model_path, base=lambda: load_model(resolve_model(self.recipe.base)),
                                 full=self.adapter_path is None)
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(self.model_path)
            model.eval()
            self._loaded = (model, tok)
        return self._loaded

    def generate(self, prompts: list[str] | str, system: str | None = None, **gen: Any) -> list[str]:
        """Answer each prompt with the trained model (chat template applied; greedy by default)."""
        from verticalize.evals.engine import chat_prompt, generate
        from verticalize.recipe import GenerationSpec

        if isinstance(prompts, str):
            prompts = [prompts]
        model, tok = self.load()
        if system is None and self.recipe.domain:
            from verticalize.packs import load_domain

            system = load_domain(self.recipe.domain).system_for("en")
        texts = []
        for p in prompts:
            msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": p}]
            texts.append(chat_prompt(tok, msgs))
        spec = self.recipe.eval.generation.model_copy(update=gen) if gen else self.recipe.eval.generation
        GenerationSpec.model_validate(spec.model_dump())
        return [o[0] for o in generate(model, tok, texts, spec, self.recipe.eval.batch_size)]

    def evaluate(self, suites: list[Any] | None = None, *, before: bool | None = None, save: bool = True,
                 label: str | None = None, force: bool = False, quiet: bool = False) -> Any:
        """Score the suites on the trained model (and on the base when ``before`` or the recipe asks), with a
        progress bar per suite unless ``quiet``; library output goes to ``run.log`` in the run dir.

        Saving keeps it as a new evaluation of the run, ``eval/<label>/report.*`` (``label``: default
        ``eval-<n>``), listed in ``eval/index.json`` and shown with every other one in ``eval/report.md``.
        Nothing is overwritten: a label in use is an error naming the labels there are (``force=True``
        replaces that evaluation)."""
        from verticalize.console import run_log
        from verticalize.evals import EvalReport
        from verticalize.evals.history import EvalHistory
        from verticalize.run.evaluate import eval_meta, evaluate_base, keep_evaluation, score, suites_of

        chosen = suites_of(self.recipe, suites)
        if save:  # a bad or taken label is said before minutes of scoring, and again when saving
            EvalHistory(self.output_dir / "eval").new_label(label, force=force)
        with run_log(self.output_dir / "run.log"):
            stages: dict[str, Any] = {}
            if before if before is not None else "before" in self.recipe.eval.when:
                stages["before"] = evaluate_base(self.recipe, chosen, quiet=quiet).stages["before"]
            model, tok = self.load()
            stages["after"] = score(model, tok, self.recipe, chosen, quiet=quiet)
        meta = eval_meta(self.recipe, chosen, source="evaluate", run=self.output_dir)
        meta["recipe_sha256"] = self.manifest.get("recipe_sha256") or meta["recipe_sha256"]  # the run's, as recorded
        report = EvalReport(stages, meta=meta)
        if save:
            report = keep_evaluation(self.output_dir, report, label, force=force)
        return report

    def export(self, out_dir: str | Path, merge: bool = True, *, quantize: str | None = None,
               push_to_hub: str | None = None, private: bool = True, force: bool = False,
               scale: float | None = None) -> Path:
        """Write a model dir that plain transformers loads (LoRA merged into the base when ``merge``;
        ``quantize="8bit"|"4bit"`` through bitsandbytes; ``push_to_hub="org/name"`` uploads it;
        ``scale=0.5``: the base plus half the trained change, a point of :meth:`curve`)."""
        from verticalize.run.export import export_run

        return export_run(self, out_dir, merge=merge, quantize=quantize, push_to_hub=push_to_hub, private=private,
                          force=force, scale=scale)

    def curve(self, scales: tuple[float, ...] | list[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
              suites: list[Any] | None = None, *, max_examples: int | None = None, compare: list[Any] = (),
              save: bool = True, tolerance: float = 0.02, progress: Any = None) -> Any:
        """Gain/forgetting curve without retraining: score the trained change scaled by each of ``scales``
        (0: the base model, always scored; 1: this run) on the domain and retention suites (default: the
        recipe's, plus ``general`` when none is a retention suite), and each run dir of ``compare`` (other
        runs of the same base, merges) as extra points. Writes ``curve.json``, ``curve.md`` and ``curve.png``
        (gain against forgetting, Pareto front highlighted) into the run dir; returns a ``Curve``."""
        from verticalize.run.curve import run_curve

        others = [o if isinstance(o, Run) else Run(o) for o in compare]
        return run_curve(self, scales, suites, max_examples=max_examples, compare=others, save=save,
                         tolerance=tolerance, progress=progress)


def _inline_png(path: Path, alt: str) -> str:
    """An ``<img>`` with the PNG inlined as base64 ('' when the file is missing)."""
    import base64

    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{alt}" style="max-width:49%" src="data:image/png;base64,{data}"/>'
