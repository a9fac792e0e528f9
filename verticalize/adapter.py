"""Adapter: an immutable, fluent builder over a Recipe.

Every method returns a new Adapter; the old one is unchanged. Keyword arguments are validated by
the recipe schema, so a misspelt argument fails like a misspelt YAML key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verticalize.recipe import Recipe, load_recipe, parse_recipe
from verticalize.strategies import DatasetSource, DataSource, ExamplesSource, ref_of

__all__ = ["Adapter"]


class Adapter:
    """Describe a domain adaptation step by step::

        Adapter(base="smollm2-135m").with_domain("finance").replay("general", ratio=0.2).lora().train()
    """

    __slots__ = ("_recipe",)

    def __init__(self, base: str | None = None, *, recipe: Recipe | None = None, **base_kw: Any):
        if recipe is None:
            data: dict[str, Any] = {}
            if base is not None or base_kw:
                data["base"] = {"model": base or "tiny", **base_kw} if base_kw else base
            recipe = parse_recipe(data, source="Adapter(...)")
        elif base is not None or base_kw:
            recipe = self._derive(recipe, {"base": {**recipe.base.model_dump(), "model": base or recipe.base.model,
                                                     **base_kw}}, "Adapter(...)")
        object.__setattr__(self, "_recipe", recipe)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("Adapter is immutable: builder methods return a new Adapter")

    # ---- internals ---------------------------------------------------------------------
    @staticmethod
    def _derive(recipe: Recipe, update: dict[str, Any], where: str) -> Recipe:
        data = recipe.to_data()  # strategy objects stay objects
        data.update(update)
        return parse_recipe(data, source=where)

    def _with(self, where: str, **update: Any) -> Adapter:
        return Adapter(recipe=self._derive(self._recipe, update, where))

    def _section(self, key: str, where: str, kw: dict[str, Any], base: dict[str, Any] | None = None) -> Adapter:
        data = self._recipe.to_data()
        current = base if base is not None else (data[key] or {})
        return self._with(where, **{key: {**current, **kw}})

    # ---- public --------------------------------------------------------------------------
    @property
    def recipe(self) -> Recipe:
        return self._recipe

    def with_base(self, model: str, **kw: Any) -> Adapter:
        return self._with(f".with_base({model!r})", base={**self._recipe.base.model_dump(), "model": model, **kw})

    def with_domain(self, domain: str | Path) -> Adapter:
        """A bundled domain pack name (finance, medical, legal, general) or the path of a pack dir."""
        from verticalize.packs import load_domain

        load_domain(domain)  # unknown names fail here, with the allowed ones
        return self._with(f".with_domain({str(domain)!r})", domain=str(domain))

    def with_data(self, data: Any, format: str = "auto", **kw: Any) -> Adapter:
        """More domain data: a path (file, dataset dir, HF id, 'modelscope:<id>'), a ``datasets.Dataset``,
        an iterable of example dicts, or any DataSource object (see verticalize.strategies)."""
        if isinstance(data, (str, Path)):
            src: dict[str, Any] = {"path": str(data), "format": format, **kw}
            where = f".with_data({str(data)!r})"
        else:
            src = {"source": _source_ref(data, "data"), "format": format, **kw}
            where = f".with_data(<{type(data).__name__}>)"
        return self._with(where, data=[*self._recipe.to_data()["data"], src])

    def mix(self, strategy: str = "concat") -> Adapter:
        """How several domain datasets combine by weight: concat, interleave_first, interleave_all."""
        return self._with(f".mix({strategy!r})", mix={"strategy": strategy})

    def clean(self, steps: list[Any] | None = None, **kw: Any) -> Adapter:
        """dedup='exact'|'near'|'none', pii='redact'|'keep', min_length, max_length, quality, languages,
        tasks; ``steps=[...]``: your Step objects, run in order after the built-in cleaning."""
        if steps is not None:
            kw["steps"] = [ref_of(s, f"clean.steps[{i}]") for i, s in enumerate(steps)]
        return self._section("clean", ".clean(...)", kw)

    def processing(self, **kw: Any) -> Adapter:
        """How the data is built: engine='auto'|'arrow'|'python', num_proc, streaming (cpt corpora larger
        than RAM), cache, cache_dir (see ``ProcessingSpec``)."""
        return self._section("processing", ".processing(...)", kw)

    def replay(self, source: Any = "general", ratio: float = 0.2, by: str = "examples", *,
               mixer: Any = None) -> Adapter:
        """Mix general data into the domain data against forgetting: ``source`` is a pack name, a data
        path or a DataSource (or Dataset / iterable of dicts); ``mixer`` a Mixer object replacing the
        built-in ratio mix. ``replay(None)``: no replay."""
        if source is None:
            return self._with(".replay(None)", replay=None)
        src = source if isinstance(source, str) else _source_ref(source, "replay.source")
        return self._with(f".replay({source!r})" if isinstance(source, str) else ".replay(<object>)",
                          replay={"source": src, "ratio": ratio, "by": by,
                                  "mixer": None if mixer is None else ref_of(mixer, "replay.mixer")})

    def lora(self, **kw: Any) -> Adapter:
        return self._with(".lora(...)", method={"kind": "lora", **kw})

    def qlora(self, **kw: Any) -> Adapter:
        return self._with(".qlora(...)", method={"kind": "qlora", **kw})

    def full(self) -> Adapter:
        return self._with(".full()", method={"kind": "full"})

    def method(self, method: Any) -> Adapter:
        """Your Method object (see verticalize.strategies.Method): which weights train and how the
        frozen base is stored, e.g. a DoRA or IA3 config."""
        return self._with(".method(<object>)", method=ref_of(method, "method"))

    def _train(self, kind: str, kw: dict[str, Any]) -> Adapter:
        last = self._recipe.stages[-1]
        same = getattr(last, "kind", None) == kind and not hasattr(last, "target") and len(self._recipe.stages) == 1
        current = self._recipe.to_data()["train"] if same else {}  # to_data: reward objects stay objects
        current = current[0] if isinstance(current, list) else current
        return self._with(f".{kind}(...)", train={**current, **_stage_kw(kw, "train"), "kind": kind})

    def sft(self, **kw: Any) -> Adapter:
        """Supervised fine-tuning on chat data. Keys: epochs, max_steps, lr, batch_size, grad_accum,
        max_length, packing, assistant_only_loss, cpt_ratio (a mixed stage: that share of the trained
        tokens from raw domain text), ... (one stage; see :meth:`then` for several)."""
        return self._train("sft", kw)

    def cpt(self, **kw: Any) -> Adapter:
        """Continued pre-training on raw text (the pack's corpus, text data). Keys as :meth:`sft` plus
        overlap (window overlap in tokens) and train_embeddings; lr defaults to 5e-5."""
        return self._train("cpt", kw)

    def dpo(self, **kw: Any) -> Adapter:
        """Preference optimisation on preference data (prompt, chosen, rejected). Keys as :meth:`sft`
        plus beta, loss_type, label_smoothing; lr defaults to 5e-6."""
        return self._train("dpo", kw)

    def watch(self, enabled: bool = True, **kw: Any) -> Adapter:
        """Watch forgetting while the last training stage trains (its ``watch`` key): every ``eval_steps``
        score a fixed subset (``max_examples`` per suite) of the eval suites, keep the checkpoint with the
        largest domain gain whose forgetting is at most ``tolerance``, ``select='best'|'last'``, stop after
        ``early_stop_patience`` checks without a new best. ``watch(False)``: off. The same as
        ``.sft(watch={...})``."""
        stages = self._recipe.to_data()["train"]
        many = isinstance(stages, list)
        last = stages[-1] if many else stages
        if not isinstance(last, dict):
            from verticalize.errors import RecipeError

            raise RecipeError(".watch(...) sets the watch key of a built-in training stage (sft, cpt, dpo...); the last "
                              "stage is your Stage object: watch inside it, or add .then('sft', watch={...})")
        last = {**last, "watch": ({**(last.get("watch") or {}), **kw} if enabled else None)}
        return self._with(".watch(...)", train=[*stages[:-1], last] if many else last)

    def grpo(self, **kw: Any) -> Adapter:
        """Reinforcement learning with verifiable rewards (TRL's GRPO) on the data's prompts: ``rewards`` are
        built-in names (pot_answer, numeric_answer, choice_match, format) or Reward objects (any callable
        ``fn(prompts, completions, **columns)``, see verticalize.strategies.Reward), ``reward_weights`` one weight
        each; keys as :meth:`sft` plus num_generations, max_completion_length, temperature, beta, loss_type...
        After SFT: ``.sft(...).then("grpo", ...)``."""
        return self._train("grpo", kw)

    def kto(self, **kw: Any) -> Adapter:
        """Learning from thumbs-up / thumbs-down answers (TRL's KTO): ``format: kto`` data (prompt, completion,
        label) or preference pairs; keys as :meth:`sft` plus beta, desirable_weight, undesirable_weight,
        loss_type; lr defaults to 5e-6."""
        return self._train("kto", kw)

    def then(self, stage: Any, **kw: Any) -> Adapter:
        """Append a training stage that starts from the previous stage's weights: a kind (``sft``,
        ``cpt``, ``dpo``, ``grpo``, ``kto``) with its keys, or your Stage object (see verticalize.strategies.Stage)::

            Adapter(base="smollm2-135m").with_domain("legal").cpt(max_steps=50).then("sft", max_steps=100)
        """
        stages = self._recipe.to_data()["train"]
        stages = stages if isinstance(stages, list) else [stages]
        if isinstance(stage, str):
            return self._with(f".then({stage!r})", train=[*stages, {**_stage_kw(kw, f"train[{len(stages)}]"),
                                                                    "kind": stage}])
        if kw:
            from verticalize.errors import RecipeError

            raise RecipeError(f".then(<Stage object>) takes no keyword arguments (got {sorted(kw)}): "
                              "configure the object itself")
        return self._with(".then(<object>)", train=[*stages, ref_of(stage, f"train[{len(stages)}]")])

    def pot(self, enabled: bool = True, *, executor: Any = None, **kw: Any) -> Adapter:
        """Program-of-Thoughts: numeric examples are answered by Python programs run in a sandbox
        (``executor``: your Executor object instead of the built-in PythonSandbox)."""
        if executor is not None:
            kw["executor"] = ref_of(executor, "pot.executor")
        return self._section("pot", ".pot(...)", {"enabled": enabled, **kw})

    def evaluate_with(self, *suites: Any, **kw: Any) -> Adapter:
        """Suites run before and after training: names, suite YAML paths, benchmark files
        (``{"preset": "medqa", "path": "test.jsonl", "max_examples": 500}``) or Task / Suite objects (see
        verticalize.strategies); keys ``when=[...]``, ``max_examples``, ``generation={...}``."""
        ev = self._recipe.to_data()["eval"]
        if suites:
            ev["suites"] = [str(s) if isinstance(s, (str, Path)) else
                            s if isinstance(s, dict) and "preset" in s else  # a benchmark file: {preset, path, ...}
                            ref_of(s, f"eval.suites[{i}]") for i, s in enumerate(suites)]
        ev.update(kw)
        return self._with(".evaluate_with(...)", eval=ev)

    def callbacks(self, *callbacks: Any) -> Adapter:
        """transformers ``TrainerCallback`` objects, passed to the trainer of every stage (added to
        those already given)."""
        have = self._recipe.to_data()["callbacks"]
        return self._with(".callbacks(...)", callbacks=[*have, *(ref_of(c, f"callbacks[{len(have) + i}]")
                                                                 for i, c in enumerate(callbacks))])

    def report_to(self, *reporters: Any) -> Adapter:
        """Reporter objects (see verticalize.strategies.Reporter) that hear progress, training metrics
        and evaluation scores (added to those already given)."""
        have = self._recipe.to_data()["reporters"]
        return self._with(".report_to(...)", reporters=[*have, *(ref_of(r, f"reporters[{len(have) + i}]")
                                                                 for i, r in enumerate(reporters))])

    def output(self, output_dir: str | Path) -> Adapter:
        return self._with(".output(...)", output_dir=str(output_dir))

    def set(self, **dotted: Any) -> Adapter:
        """Set any recipe key by its path: ``adapter.set(**{"train.lr": 1e-4})``."""
        from verticalize.recipe import apply_overrides

        data = apply_overrides(self._recipe.to_data(), [f"{k}={_yaml_scalar(v)}" for k, v in dotted.items()])
        return Adapter(recipe=parse_recipe(data, source=".set(...)"))

    # ---- YAML ------------------------------------------------------------------------------
    def to_yaml(self, path: str | Path | None = None) -> str:
        return self._recipe.to_yaml(path)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None, *, trust_code: bool = False) -> Adapter:
        """The Adapter of a recipe file. Strategy objects from modules outside verticalize and the
        installed plugins need ``trust_code=True`` (their code runs when the recipe trains)."""
        return cls(recipe=load_recipe(path, overrides, trust_code=trust_code))

    # ---- running ---------------------------------------------------------------------------
    def train(self, output_dir: str | Path | None = None, *, quiet: bool = False) -> Any:
        """Run the recipe; returns the finished :class:`~verticalize.run.Run`."""
        from verticalize.run import execute

        return execute(self._recipe, output_dir, quiet=quiet)

    def sweep(self, replay: list[float], output_dir: str | Path = "runs/sweep", *, retention: str = "general",
              source: str = "general", tolerance: float = 0.02, quiet: bool = False) -> Any:
        """Train one run per replay ratio; returns a SweepResult (table, Pareto plot, best ratio)."""
        from verticalize.run.sweep import run_sweep

        return run_sweep(self, list(replay), output_dir, retention=retention, source=source,
                         tolerance=tolerance, quiet=quiet)

    def evaluate(self, *suites: Any) -> Any:
        """Score the base model (no training) on suites (names or Task / Suite objects; default: the
        recipe's); returns an EvalReport."""
        from verticalize.run.evaluate import evaluate_base

        return evaluate_base(self._recipe, [s if isinstance(s, str) else ref_of(s, "eval.suites") for s in suites])

    # ---- value semantics ---------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Adapter) and other._recipe == self._recipe

    def __hash__(self) -> int:
        return hash(self._recipe.fingerprint())

    def __repr__(self) -> str:
        r = self._recipe
        parts = [f"base={r.base.model!r}"]
        if r.domain:
            parts.append(f"domain={r.domain!r}")
        if r.data:
            parts.append(f"data={len(r.data)}")
        if r.replay:
            parts.append(f"replay={r.replay.source}@{r.replay.ratio}")
        parts.append(f"method={r.method.kind}")
        parts.append(f"train={'->'.join(s.kind for s in r.stages)}")
        if r.pot.enabled:
            parts.append("pot")
        if r.eval.suites:
            parts.append(f"eval={r.eval.suites}")
        return f"Adapter({', '.join(parts)})"

    def _repr_markdown_(self) -> str:
        return f"**`{self!r}`**\n\n```yaml\n{self.to_yaml()}```"


def _stage_kw(kw: dict[str, Any], where: str) -> dict[str, Any]:
    """A stage's keyword arguments with its reward objects (``rewards=[...]``, names stay names) as refs."""
    if isinstance(kw.get("rewards"), (list, tuple)):
        kw = {**kw, "rewards": [r if isinstance(r, str) else ref_of(r, f"{where}.rewards[{i}]")
                                for i, r in enumerate(kw["rewards"])]}
    return kw


def _source_ref(data: Any, what: str) -> Any:
    """A DataSource ref for an object: a DataSource as it is; a datasets.Dataset or an iterable of
    example dicts wrapped in the built-in sources."""
    if isinstance(data, DataSource):
        return ref_of(data, what)
    if type(data).__name__ == "Dataset" and hasattr(data, "column_names"):
        return ref_of(DatasetSource(data), what)
    if isinstance(data, dict) and "target" in data:
        return ref_of(data, what)
    if hasattr(data, "__iter__") and not isinstance(data, (str, bytes, dict)):
        return ref_of(ExamplesSource(data), what)
    from verticalize.errors import RecipeError

    raise RecipeError(f"{what}: expected a path, a datasets.Dataset, an iterable of example dicts or a DataSource "
                      f"(an object with __iter__, provenance and fingerprint()), got {type(data).__name__}")


def _yaml_scalar(v: Any) -> str:
    import json

    return json.dumps(v) if not isinstance(v, str) else v
