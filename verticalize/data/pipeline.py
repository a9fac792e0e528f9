"""load -> convert -> system prompt -> clean -> decontaminate -> PoT -> replay mix.

Returns plain example dicts plus a report for the run manifest (sources with fingerprints,
counts in and out of every step).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verticalize.data.clean import clean_examples, drop_overlap
from verticalize.data.formats import convert
from verticalize.data.mix import RatioMixer, mix_sources
from verticalize.data.sources import FileSource
from verticalize.errors import DataError
from verticalize.recipe import DataSpec, Recipe

__all__ = ["DataBuild", "build_training_data", "load_source", "load_pack_split", "fingerprint", "with_system_prompt",
           "select", "load_replay", "as_text"]


@dataclass
class DataBuild:
    train: list[dict[str, Any]]
    report: dict[str, Any] = field(default_factory=dict)


def fingerprint(path: str | Path) -> str | None:
    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_source(ref: Any, limit: int | None = None) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """The rows of a DataSource object (see verticalize.strategies), its provenance and fingerprint."""
    from itertools import islice

    from verticalize.strategies import build

    obj = build(ref, "data source")
    try:
        rows = list(islice(iter(obj), limit))
    except Exception as e:  # the user's code: name it, keep the cause
        raise DataError(f"DataSource {ref.target} failed while iterating: {type(e).__name__}: {e}") from e
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, dict)), None)
    if bad is not None:
        raise DataError(f"DataSource {ref.target}: item {bad} is a {type(rows[bad]).__name__}; a DataSource yields "
                        "one dict per example")
    return rows, dict(getattr(obj, "provenance", {}) or {}), str(obj.fingerprint())


def load_source(src: DataSpec, base_dir: Path | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    provenance: dict[str, Any] = {}
    fp = None
    if src.source is not None:
        from verticalize.data.sources import LoadReport

        rows, provenance, fp = read_source(src.source, src.limit)
        rep = LoadReport(source=str(provenance.get("source") or src.source.target), read=len(rows))
        if src.preset:
            from verticalize.data.benchmarks import apply_preset

            rows = apply_preset(src.preset, rows, rep.source, columns=src.columns, on_error=src.on_error,
                                report=rep, layout=src.layout)
    elif src.preset:
        from verticalize.data.benchmarks import load_benchmark

        rows, rep = load_benchmark(src.path, src.preset, layout=src.layout, encoding=src.encoding,
                                   split_file=src.split_file, split=src.split, config=src.config,
                                   columns=src.columns, limit=src.limit, on_error=src.on_error, base_dir=base_dir)
    else:
        files = FileSource(src.path, split=src.split, config=src.config, limit=src.limit, on_error=src.on_error,
                           base_dir=str(base_dir) if base_dir else None, encoding=src.encoding)
        rows, rep = list(files), files.report
    fmt_in = "alpaca" if src.preset else src.format
    examples, fmt = convert(rows, fmt_in, rep.source, columns=None if src.preset else src.columns,
                            on_error=src.on_error, report=rep)
    if not examples:
        raise DataError(f"{rep.source}: no usable examples ({rep.skipped} skipped: {'; '.join(rep.problems[:3])})")
    info: dict[str, Any] = {"source": rep.source, "format": fmt, "read": rep.read, "skipped": rep.skipped,
                            "converted": len(examples), "sha256": fp or fingerprint(rep.source)}
    for key in ("encoding", "layout"):
        if getattr(rep, key):
            info[key] = getattr(rep, key)
    if rep.filtered or rep.notes:
        info["filtered"] = rep.filtered
        info["notes"] = list(rep.notes)
    if provenance:
        info["provenance"] = provenance
    if rep.problems:
        info["skipped_examples"] = list(rep.problems)  # every one of them, in file order
    return examples, info


def load_pack_split(pack: Any, split: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A pack's ``train``, ``eval``, ``corpus`` or ``preference`` sources, loaded and converted."""
    out: list[dict[str, Any]] = []
    infos = []
    for entry in getattr(pack, split):
        src = DataSpec(**entry)
        examples, info = load_source(src, base_dir=pack.dir)
        out.extend(examples)
        infos.append(info)
    return out, infos


def with_system_prompt(examples: list[dict[str, Any]], pack: Any) -> list[dict[str, Any]]:
    """Chat examples with the pack's system prompt (per language) first, unless they have one."""
    if pack is None or not pack.system_prompt:
        return examples
    out = []
    for ex in examples:
        msgs = ex.get("messages")
        if msgs and msgs[0]["role"] != "system":
            system = pack.system_for(ex.get("lang"))
            ex = {**ex, "messages": [{"role": "system", "content": system}, *msgs]}
        out.append(ex)
    return out


def select(examples: list[dict[str, Any]], languages: list[str] | None, tasks: list[str] | None
           ) -> list[dict[str, Any]]:
    """Keep the examples in the given languages and tasks (None keeps all)."""
    if languages:
        examples = [ex for ex in examples if ex.get("lang") in languages]
    if tasks:
        examples = [ex for ex in examples if ex.get("task") in tasks]
    return examples


def as_text(ex: dict[str, Any]) -> dict[str, Any]:
    """A raw-text example from any example: chats become their system/user/assistant contents joined
    by line breaks (id, lang and task kept)."""
    from verticalize.data.clean import example_text

    if "text" in ex and "messages" not in ex:
        return ex
    if "chosen" in ex:
        prompt = ex["prompt"] if isinstance(ex["prompt"], list) else [{"role": "user", "content": ex["prompt"]}]
        chosen = ex["chosen"] if isinstance(ex["chosen"], list) else [{"role": "assistant", "content": ex["chosen"]}]
        text = "\n".join(m["content"] for m in [*prompt, *chosen])
    else:
        text = example_text(ex)
    return {"text": text, **{k: ex[k] for k in ("id", "lang", "task") if k in ex}}


def load_replay(ref: Any, kind: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """The replay examples for one training kind, their sources' reports, and what they are.

    ``sft``: chat examples (a pack's ``train:`` with its system prompt). ``cpt``: raw text -- a
    pack's ``corpus:`` when it has one, else its chat examples rendered as text (:func:`as_text`);
    a file or DataSource: its text rows as they are, its chats rendered."""
    from verticalize.packs import load_domain, resolve_ref

    if not isinstance(ref, str):
        general, ginfo = load_source(DataSpec(source=ref))
        ginfos = [ginfo]
    elif resolve_ref("domain", ref, missing_ok=True) is not None:  # a pack (bundled, plugin, dir)
        gpack = load_domain(ref)
        if kind == "cpt" and gpack.corpus:
            general, ginfos = load_pack_split(gpack, "corpus")
            return [e for e in general if _fits("cpt", e)], ginfos, "corpus"
        general, ginfos = load_pack_split(gpack, "train")
        if kind == "sft":
            general = with_system_prompt(general, gpack)
    else:
        general, ginfo = load_source(DataSpec(path=ref))
        ginfos = [ginfo]
    if kind == "sft":
        return general, ginfos, "chat"
    chats = sum(1 for e in general if not _fits("cpt", e))
    text = [as_text(e) for e in general]
    what = "text" if not chats else "chat rendered as text" if chats == len(general) else "text and chat rendered as text"
    return text, ginfos, what


#: which converted examples each training kind learns from, and the pack key that supplies them
KIND_DATA: dict[str, tuple[str, str]] = {
    "sft": ("train", "chat examples (alpaca, sharegpt, messages, prompt_completion)"),
    "cpt": ("corpus", "raw text (format: text)"),
    "dpo": ("preference", "preference pairs (format: preference: prompt, chosen, rejected)"),
}


def _fits(kind: str, ex: dict[str, Any]) -> bool:
    if kind == "dpo":
        return "chosen" in ex
    if kind == "cpt":
        return "text" in ex and "messages" not in ex
    return "messages" in ex


def _system_for_kind(examples: list[dict[str, Any]], pack: Any, kind: str) -> list[dict[str, Any]]:
    if kind == "sft":
        return with_system_prompt(examples, pack)
    if kind == "dpo" and pack is not None and pack.system_prompt:
        out = []
        for ex in examples:
            if ex["prompt"] and ex["prompt"][0]["role"] != "system":
                ex = {**ex, "prompt": [{"role": "system", "content": pack.system_for(ex.get("lang"))}, *ex["prompt"]]}
            out.append(ex)
        return out
    return examples


STEP_BATCH = 1000


def run_step(ref: Any, examples: list[dict[str, Any]], what: str, batch_size: int = STEP_BATCH
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run a Step object (see verticalize.strategies.Step) over the examples in batches; its report
    counts examples in and out and adds the step's own ``counts()``."""
    from verticalize.strategies import build

    step = build(ref, what)
    out: list[dict[str, Any]] = []
    for start in range(0, len(examples), batch_size):
        kept = step(examples[start: start + batch_size])
        bad = next((x for x in kept if not isinstance(x, dict)), None) if isinstance(kept, list) else kept
        if bad is not None:
            raise DataError(f"{what} ({ref.target}) returned {type(bad).__name__}; a Step returns a list of "
                            "example dicts")
        out.extend(kept)
    counts = step.counts() if callable(getattr(step, "counts", None)) else {}
    return out, {"step": str(getattr(step, "name", ref.kind)), "in": len(examples), "out": len(out),
                 "target": ref.target, **{k: v for k, v in dict(counts or {}).items() if k not in ("in", "out")}}


def build_training_data(recipe: Recipe, length: Any = None, kind: str | None = None, stage: Any = None
                        ) -> DataBuild:
    """The training examples of a recipe for one training kind (``sft`` chats, ``cpt`` text, ``dpo``
    preference pairs; default: the first stage's): domain pack + ``data:``, cleaned,
    decontaminated, (cpt with ``reading_comprehension``: documents with their mined tasks), mixed
    with replay data. Examples of other kinds are counted as unused, never silently lost.

    ``stage``: the stage spec whose keys apply (default: the recipe's first stage of ``kind``);
    ``length(example)`` -> tokens, needed for replay ``by: tokens``."""
    from verticalize.packs import load_domain

    kind = kind or recipe.stages[0].kind
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
                        f"Add data: [{{path: ..., format: {'text' if kind == 'cpt' else 'preference' if kind == 'dpo' else 'alpaca'}}}]")
    examples, mix_report = mix_sources(groups, weights, recipe.mix.strategy, seed=recipe.seed)
    examples = _system_for_kind(examples, pack, kind)
    steps: list[dict[str, Any]] = [mix_report]
    c = recipe.clean
    if c.languages or c.tasks:
        n = len(examples)
        examples = select(examples, c.languages, c.tasks if kind != "cpt" else None)
        steps.append({"step": "select", "in": n, "out": len(examples), "languages": c.languages, "tasks": c.tasks})
    examples, clean_steps = clean_examples(examples, recipe.clean)
    steps += clean_steps
    for i, ref in enumerate(recipe.clean.steps):
        examples, report = run_step(ref, examples, f"clean.steps[{i}]")
        steps.append(report)
    if pack is not None and pack.eval:
        held, _ = load_pack_split(pack, "eval")
        examples, overlap = drop_overlap(examples, held)
        steps.append(overlap)
    if recipe.pot.enabled and kind == "sft":
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
    if recipe.replay is not None and recipe.replay.ratio > 0 and kind == "dpo":
        steps.append({"step": "replay", "in": len(examples), "out": len(examples),
                      "skipped": "replay mixes general data into sft and cpt stages, not dpo"})
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
    return DataBuild(train=examples, report={"kind": kind, "sources": sources, "steps": steps,
                                             "train_examples": len(examples)})
