"""load -> convert -> system prompt -> clean -> decontaminate -> PoT -> replay mix.

Returns plain example dicts plus a report for the run manifest (sources with fingerprints,
counts in and out of every step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from verticalize.data.clean import clean_examples, drop_overlap
from verticalize.data.loading import (
    _KIND_FORMAT,
    KIND_DATA,
    STEP_BATCH,
    _fits,
    _system_for_kind,
    as_text,
    fingerprint,
    load_pack_split,
    load_replay,
    load_source,
    read_source,
    run_step,
    select,
    with_system_prompt,
)
from verticalize.data.mix import RatioMixer, mix_sources
from verticalize.errors import DataError
from verticalize.recipe import Recipe

__all__ = ["DataBuild", "build_training_data", "load_source", "load_pack_split", "fingerprint", "with_system_prompt",
           "select", "load_replay", "as_text", "read_source", "run_step", "KIND_DATA", "STEP_BATCH"]


@dataclass
class DataBuild:
    train: Any  # list of example dicts; on the Arrow engine a datasets.Dataset (or IterableDataset when streaming)
    report: dict[str, Any] = field(default_factory=dict)


def build_training_data(recipe: Recipe, length: Any = None, kind: str | None = None, stage: Any = None
                        ) -> DataBuild:
    """The training examples of a recipe for one training kind (``sft`` chats, ``cpt`` text, ``dpo``
    preference pairs; default: the first stage's): domain pack + ``data:``, cleaned,
    decontaminated, (cpt with ``reading_comprehension``: documents with their mined tasks), mixed
    with replay data. Examples of other kinds are counted as unused, never silently lost.

    ``stage``: the stage spec whose keys apply (default: the recipe's first stage of ``kind``);
    ``length(example)`` -> tokens, needed for replay ``by: tokens``."""
    from verticalize.data.arrow import ARROW_KINDS, build_dataset, use_arrow
    from verticalize.packs import load_domain

    kind = kind or recipe.stages[0].kind
    if kind in ARROW_KINDS and use_arrow(recipe):
        spec = stage if stage is not None else next((st for st in recipe.stages if getattr(st, "kind", None) == kind),
                                                    None)
        if recipe.processing.streaming:
            from verticalize.data.stream import stream_dataset

            built = stream_dataset(recipe, kind, spec, length)
        else:
            built = build_dataset(recipe, kind, length=length, stage=spec)
        return DataBuild(train=built.train, report=built.report)
    pack_key, wanted = KIND_DATA[kind]
    pack = load_domain(recipe.domain) if recipe.domain else None
    sources: list[dict[str, Any]] = []
    groups: list[list[dict[str, Any]]] = []
    weights: list[float] = []
    if pack is not None and getattr(pack, pack_key):
        ex, infos = load_pack_split(pack, pack_key)
        groups.append([e for e in ex if _fits(kind, e)])
        weights.append(1.0)
        sources += [{**i, "used_by": kind} for i in infos]
    for src in recipe.data:
        ex, info = load_source(src)
        fit = [e for e in ex if _fits(kind, e)]
        info.update(used_by=kind, used=len(fit))
        sources.append(info)
        if fit:
            groups.append(fit)
            weights.append(src.weight)
    groups = [g for g in groups if g]
    if not groups:
        where = f"the pack {pack.name!r} has no {pack_key}: entry and " if pack is not None else ""
        raise DataError(f"{kind} trains on {wanted}; {where}no data: source holds any. "
                        f"Add data: [{{path: ..., format: {_KIND_FORMAT.get(kind, 'alpaca')}}}]")
    examples, mix_report = mix_sources(groups, weights, recipe.mix.strategy, seed=recipe.seed)
    examples = _system_for_kind(examples, pack, kind)
    steps: list[dict[str, Any]] = [mix_report]
    c = recipe.clean
    if c.languages or c.tasks:
        n = len(examples)
        examples = select(examples, c.languages, c.tasks if kind != "cpt" else None)
        steps.append({"step": "select", "in": n, "out": len(examples), "languages": c.languages, "tasks": c.tasks})
    if recipe.clean.executor is not None:  # on datatrove's executors: local processes, Slurm or Ray
        from verticalize.data.distributed import clean_distributed

        examples, clean_steps = clean_distributed(examples, recipe.clean)
    else:
        examples, clean_steps = clean_examples(examples, recipe.clean)
    steps += clean_steps
    for i, ref in enumerate(recipe.clean.steps):
        examples, report = run_step(ref, examples, f"clean.steps[{i}]")
        steps.append(report)
    if pack is not None and pack.eval:
        held, _ = load_pack_split(pack, "eval")
        examples, overlap = drop_overlap(examples, held)
        steps.append(overlap)
    if recipe.pot.enabled and kind in ("sft", "grpo"):
        from verticalize.pot.format import as_pot_example

        n_prog = sum(1 for ex in examples if ex.get("program"))
        examples = [as_pot_example(ex) for ex in examples]
        steps.append({"step": "pot_format", "in": len(examples), "out": len(examples), "programs": n_prog})
    if not examples:
        raise DataError("cleaning removed every training example; loosen clean: (min_length/max_length/dedup)")
    spec = stage if stage is not None else next((st for st in recipe.stages if getattr(st, "kind", None) == kind), None)
    if kind == "cpt" and getattr(spec, "reading_comprehension", False):
        from verticalize.data.reading import ReadingComprehension
        from verticalize.recipe.schema import StrategyRef

        ref = StrategyRef(target="verticalize.data.reading:ReadingComprehension")
        ref._obj = ReadingComprehension(languages=("en", "zh"))
        examples, report = run_step(ref, examples, "train.reading_comprehension")
        steps.append(report)
    if recipe.replay is not None and recipe.replay.ratio > 0 and kind in ("dpo", "kto", "grpo"):
        steps.append({"step": "replay", "in": len(examples), "out": len(examples),
                      "skipped": f"replay mixes general data into sft and cpt stages, not {kind}"})
    elif recipe.replay is not None and recipe.replay.ratio > 0:
        general, ginfos, origin = load_replay(recipe.replay.source, kind)
        sources += [{**i, "role": "replay"} for i in ginfos]
        if recipe.replay.mixer is not None:
            from verticalize.strategies import build

            mixer = build(recipe.replay.mixer, "replay.mixer")
        else:
            mixer = RatioMixer(recipe.replay.ratio, recipe.replay.by)
            if recipe.replay.by == "tokens" and length is None:
                raise DataError("replay by tokens counts tokens with the base's tokenizer: pass "
                                "build_training_data(..., length=fn) or use replay.by: examples")
        n = len(examples)
        examples, report = mixer.mix(examples, general, seed=recipe.seed, length=length)
        mix = {"step": "replay", "in": n, "out": len(examples), "replay_data": origin, **dict(report or {})}
        if recipe.replay.mixer is not None:
            mix["mixer"] = recipe.replay.mixer.target
        steps.append(mix)
    if kind == "grpo":  # the chats become prompts; their answers stay as columns for the rewards
        from verticalize.data.formats import as_prompt_example
        from verticalize.pot.format import is_pot_example

        examples = [as_prompt_example(ex, pot=recipe.pot.enabled and is_pot_example(ex)) for ex in examples]
        steps.append({"step": "prompts", "in": len(examples), "out": len(examples),
                      "with_answer": sum(1 for ex in examples if ex.get("answer") is not None),
                      "pot": sum(1 for ex in examples if ex["pot"])})
    return DataBuild(train=examples, report={"kind": kind, "sources": sources, "steps": steps,
                                             "train_examples": len(examples)})
