"""Adapter: an immutable, fluent builder over a Recipe.

Every method returns a new Adapter; the old one is unchanged. Keyword arguments are validated by
the recipe schema, so a misspelt argument fails like a misspelt YAML key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verticalize.recipe import Recipe, load_recipe, parse_recipe

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
        data = recipe.to_dict()
        data.update(update)
        return parse_recipe(data, source=where)

    def _with(self, where: str, **update: Any) -> Adapter:
        return Adapter(recipe=self._derive(self._recipe, update, where))

    def _section(self, key: str, where: str, kw: dict[str, Any], base: dict[str, Any] | None = None) -> Adapter:
        current = base if base is not None else (getattr(self._recipe, key).model_dump()
                                                 if getattr(self._recipe, key) is not None else {})
        return self._with(where, **{key: {**current, **kw}})

    # ---- public --------------------------------------------------------------------------
    @property
    def recipe(self) -> Recipe:
        return self._recipe

    def with_base(self, model: str, **kw: Any) -> Adapter:
        return self._with(f".with_base({model!r})", base={**self._recipe.base.model_dump(), "model": model, **kw})

    def with_domain(self, domain: str | Path) -> Adapter:
        """A bundled domain pack name (finance, medical, legal, general) or the path of a pack dir."""
        from verticalize.registry import load_domain

        load_domain(domain)  # unknown names fail here, with the allowed ones
        return self._with(f".with_domain({str(domain)!r})", domain=str(domain))

    def with_data(self, path: str | Path, format: str = "auto", **kw: Any) -> Adapter:
        """More domain data: a file, a dataset dir, an HF id or 'modelscope:<id>'."""
        src = {"path": str(path), "format": format, **kw}
        return self._with(f".with_data({str(path)!r})", data=[*self._recipe.to_dict()["data"], src])

    def mix(self, strategy: str = "concat") -> Adapter:
        """How several domain datasets combine by weight: concat, interleave_first, interleave_all."""
        return self._with(f".mix({strategy!r})", mix={"strategy": strategy})

    def clean(self, **kw: Any) -> Adapter:
        """dedup='exact'|'near'|'none', pii='redact'|'keep', min_length, max_length."""
        return self._section("clean", ".clean(...)", kw)

    def replay(self, source: str = "general", ratio: float = 0.2, by: str = "examples") -> Adapter:
        return self._with(f".replay({source!r})", replay={"source": source, "ratio": ratio, "by": by})

    def lora(self, **kw: Any) -> Adapter:
        return self._with(".lora(...)", method={"kind": "lora", **kw})

    def qlora(self, **kw: Any) -> Adapter:
        return self._with(".qlora(...)", method={"kind": "qlora", **kw})

    def full(self) -> Adapter:
        return self._with(".full()", method={"kind": "full"})

    def _train(self, kind: str, kw: dict[str, Any]) -> Adapter:
        last = self._recipe.stages[-1]
        current = last.model_dump() if last.kind == kind and len(self._recipe.stages) == 1 else {}
        return self._with(f".{kind}(...)", train={**current, **kw, "kind": kind})

    def sft(self, **kw: Any) -> Adapter:
        """Supervised fine-tuning on chat data. Keys: epochs, max_steps, lr, batch_size, grad_accum,
        max_length, packing, assistant_only_loss, ... (one stage; see :meth:`then` for several)."""
        return self._train("sft", kw)

    def cpt(self, **kw: Any) -> Adapter:
        """Continued pre-training on raw text (the pack's corpus, text data). Keys as :meth:`sft` plus
        overlap (window overlap in tokens) and train_embeddings; lr defaults to 5e-5."""
        return self._train("cpt", kw)

    def dpo(self, **kw: Any) -> Adapter:
        """Preference optimisation on preference data (prompt, chosen, rejected). Keys as :meth:`sft`
        plus beta, loss_type, label_smoothing; lr defaults to 5e-6."""
        return self._train("dpo", kw)

    def then(self, kind: str, **kw: Any) -> Adapter:
        """Append a training stage that starts from the previous stage's weights::

            Adapter(base="smollm2-135m").with_domain("legal").cpt(max_steps=50).then("sft", max_steps=100)
        """
        stages = self._recipe.to_dict()["train"]
        stages = stages if isinstance(stages, list) else [stages]
        return self._with(f".then({kind!r})", train=[*stages, {**kw, "kind": kind}])

    def pot(self, enabled: bool = True, **kw: Any) -> Adapter:
        """Program-of-Thoughts: numeric examples are answered by Python programs run in a sandbox."""
        return self._section("pot", ".pot(...)", {"enabled": enabled, **kw})

    def evaluate_with(self, *suites: str, **kw: Any) -> Adapter:
        """Suites run before and after training (``when=[...]``, ``max_examples``, ``generation={...}``)."""
        ev = self._recipe.eval.model_dump()
        if suites:
            ev["suites"] = list(suites)
        ev.update(kw)
        return self._with(".evaluate_with(...)", eval=ev)

    def output(self, output_dir: str | Path) -> Adapter:
        return self._with(".output(...)", output_dir=str(output_dir))

    def set(self, **dotted: Any) -> Adapter:
        """Set any recipe key by its path: ``adapter.set(**{"train.lr": 1e-4})``."""
        from verticalize.recipe import apply_overrides

        data = apply_overrides(self._recipe.to_dict(), [f"{k}={_yaml_scalar(v)}" for k, v in dotted.items()])
        return Adapter(recipe=parse_recipe(data, source=".set(...)"))

    # ---- YAML ------------------------------------------------------------------------------
    def to_yaml(self, path: str | Path | None = None) -> str:
        return self._recipe.to_yaml(path)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> Adapter:
        return cls(recipe=load_recipe(path, overrides))

    # ---- running ---------------------------------------------------------------------------
    def train(self, output_dir: str | Path | None = None, *, quiet: bool = False) -> Any:
        """Run the recipe; returns the finished :class:`~verticalize.run.Run`."""
        from verticalize.run import execute

        return execute(self._recipe, output_dir, quiet=quiet)

    def sweep(self, replay: list[float], output_dir: str | Path = "runs/sweep", *, retention: str = "general",
              source: str = "general", tolerance: float = 0.02, quiet: bool = False) -> Any:
        """Train one run per replay ratio; returns a SweepResult (table, Pareto plot, best ratio)."""
        from verticalize.sweep import run_sweep

        return run_sweep(self, list(replay), output_dir, retention=retention, source=source,
                         tolerance=tolerance, quiet=quiet)

    def evaluate(self, *suites: str) -> Any:
        """Score the base model (no training) on the suites; returns an EvalReport."""
        from verticalize.evals import EvalReport, run_suites
        from verticalize.errors import RecipeError
        from verticalize.models import load_model, load_tokenizer, resolve_model

        names = list(suites or self._recipe.eval.suites or ([self._recipe.domain] if self._recipe.domain else []))
        if not names:
            raise RecipeError("no suites to evaluate: pass names or use .evaluate_with(...)")
        resolved = resolve_model(self._recipe.base)
        pot = self._recipe.pot if self._recipe.pot.enabled else None
        stage = run_suites(load_model(resolved), load_tokenizer(resolved), names, self._recipe.eval, pot,
                           seed=self._recipe.seed)
        return EvalReport({"before": stage})

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


def _yaml_scalar(v: Any) -> str:
    import json

    return json.dumps(v) if not isinstance(v, str) else v
