"""The steps that see examples as Python dicts on the Arrow engine.

:class:`DictSteps` runs, in the Python path's order and batching, the user's ``clean.steps``, the
removal of examples whose prompt is in the pack's eval data, the PoT format and the documents -> tasks
miner over batches of examples, so a built (:mod:`verticalize.data.arrow`) or streamed
(:mod:`verticalize.data.stream`) data set goes through exactly what the Python path does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from verticalize.data.clean import dedup_key, prompt_text
from verticalize.errors import DataError

__all__ = ["DictSteps", "rebatch", "Batch"]

Batch = list[dict[str, Any]]
_BATCH = 1000


def rebatch(batches: Iterator[Batch], size: int = _BATCH) -> Iterator[Batch]:
    """The same examples in batches of exactly ``size`` (the last one shorter)."""
    buf: Batch = []
    for b in batches:
        buf.extend(b)
        while len(buf) >= size:
            yield buf[:size]
            buf = buf[size:]
    if buf:
        yield buf


class DictSteps:
    """User steps -> contamination -> PoT format -> reading comprehension, over batches of dicts."""

    def __init__(self, recipe: Any, kind: str, stage: Any, held: Batch | None):
        from verticalize.strategies import build

        self._stages: list[tuple[str, Any, dict[str, Any]]] = []
        for i, ref in enumerate(recipe.clean.steps):
            what = f"clean.steps[{i}]"
            self._stages.append(("step", (build(ref, what), ref, what), {"in": 0, "out": 0}))
        if held is not None:
            keys = {dedup_key(prompt_text(e)) for e in held}
            self._stages.append(("contamination", keys, {"in": 0, "out": 0}))
        if recipe.pot.enabled and kind == "sft":
            self._stages.append(("pot", None, {"in": 0, "out": 0, "programs": 0}))
        if kind == "cpt" and getattr(stage, "reading_comprehension", False):
            from verticalize.data.reading import ReadingComprehension
            from verticalize.recipe.schema import StrategyRef

            ref = StrategyRef(target="verticalize.data.reading:ReadingComprehension")
            ref._obj = ReadingComprehension(languages=("en", "zh"))
            self._stages.append(("step", (ref._obj, ref, "train.reading_comprehension"), {"in": 0, "out": 0}))

    def run(self, batches: Iterator[Batch]) -> Iterator[Batch]:
        for name, obj, count in self._stages:
            batches = self._stage(name, obj, count, batches)
        return batches

    def _stage(self, name: str, obj: Any, count: dict[str, Any], batches: Iterator[Batch]) -> Iterator[Batch]:
        if name == "step":
            batches = rebatch(batches)  # a Step sees the batches run_step would give it
        for batch in batches:
            count["in"] += len(batch)
            if name == "step":
                step, ref, what = obj
                out = step(batch)
                bad = next((x for x in out if not isinstance(x, dict)), None) if isinstance(out, list) else out
                if bad is not None:
                    raise DataError(f"{what} ({ref.target}) returned {type(bad).__name__}; a Step returns a list "
                                    "of example dicts")
            elif name == "contamination":
                out = [ex for ex in batch if dedup_key(prompt_text(ex)) not in obj]
            else:
                from verticalize.pot.format import as_pot_example

                count["programs"] += sum(1 for ex in batch if ex.get("program"))
                out = [as_pot_example(ex) for ex in batch]
            count["out"] += len(out)
            yield out

    def reports(self, n_in: int) -> list[dict[str, Any]]:
        """The report rows of the stages, as build_training_data writes them."""
        out = []
        for name, obj, count in self._stages:
            if name == "step":
                step, ref, _ = obj
                counts = step.counts() if callable(getattr(step, "counts", None)) else {}
                out.append({"step": str(getattr(step, "name", ref.kind)), "in": count["in"], "out": count["out"],
                            "target": ref.target,
                            **{k: v for k, v in dict(counts or {}).items() if k not in ("in", "out")}})
            elif name == "contamination":
                out.append({"step": "contamination", "in": count["in"], "out": count["out"], "eval_prompts": len(obj)})
            else:
                out.append({"step": "pot_format", "in": count["in"], "out": count["out"],
                            "programs": count["programs"]})
        return out
