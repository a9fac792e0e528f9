"""The building blocks of the data pipeline: read and convert one source, a pack's split, the replay
data; which examples each training kind takes; run a Step. Both engines -- Python lists
(:mod:`verticalize.data.pipeline`) and Arrow (:mod:`verticalize.data.arrow`) -- are made of these.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from verticalize.data.formats import convert
from verticalize.data.sources import FileSource
from verticalize.errors import DataError
from verticalize.recipe import DataSpec

__all__ = ["load_source", "load_pack_split", "fingerprint", "with_system_prompt", "select", "load_replay", "as_text",
           "read_source", "run_step", "KIND_DATA", "STEP_BATCH"]


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
    "grpo": ("train", "chat examples, used as prompts (the rewards check their answer: column)"),
    "kto": ("preference", "thumbs-up/down answers (format: kto: prompt, completion, label) or preference pairs"),
}

#: the data format a kind's missing-data message suggests
_KIND_FORMAT = {"cpt": "text", "dpo": "preference", "kto": "kto"}


def _fits(kind: str, ex: dict[str, Any]) -> bool:
    if kind == "dpo":
        return "chosen" in ex
    if kind == "kto":
        return "chosen" in ex or ("completion" in ex and "label" in ex)
    if kind == "cpt":
        return "text" in ex and "messages" not in ex
    return "messages" in ex


def _system_for_kind(examples: list[dict[str, Any]], pack: Any, kind: str) -> list[dict[str, Any]]:
    if kind in ("sft", "grpo"):
        return with_system_prompt(examples, pack)
    if kind in ("dpo", "kto") and pack is not None and pack.system_prompt:
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
