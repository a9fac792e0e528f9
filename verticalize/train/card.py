"""The model card (``README.md``) of a trained adapter or model, and a portable ``adapter_config.json``.

A run calls :func:`write_model_card` at its end on ``adapter/`` (or ``model/``); ``export`` calls it
on the export dir. The card carries what a reader on another machine needs: the base (its hub id
and revision, or how to rebuild an embedded offline base), the training data (sources with sha256
and licence), the recipe, the scores before and after training, and the forgetting on retention
suites. In ``adapter_config.json``, ``base_model_name_or_path`` names the base's hub id (not this
machine's cache path) and ``revision`` its revision when known, so that
``AutoPeftModelForCausalLM.from_pretrained(adapter_dir)`` works wherever the hub is reachable.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

__all__ = ["write_model_card", "base_reference"]

log = logging.getLogger("verticalize")


def base_reference(recipe: Any, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the card says about the base: name, source, hub id, revision, and for an embedded
    offline base what it is and how to rebuild it."""
    from verticalize.models.aliases import find_alias
    from verticalize.models.loaders import hub_reference, resolve_model

    spec = recipe.base
    out: dict[str, Any] = {"name": spec.model, "source": (manifest or {}).get("base", {}).get("source", spec.source)}
    try:
        r = resolve_model(spec)
    except Exception:  # noqa: BLE001 -- a local dir gone since training: say what the recipe says
        r = None
    if r is not None:
        out["source"] = r.source
        hub_id, revision = hub_reference(r)
        if hub_id:
            out["hub_id"] = hub_id
        if revision:
            out["revision"] = revision
        if r.source == "offline":
            from verticalize.models.offline import rebuild_note

            out["rebuild"] = rebuild_note(r.location)
    info = find_alias(spec.model)
    if info is not None and info.description:
        out["description"] = info.description
    return out


def write_model_card(dest: str | Path, recipe: Any, manifest: dict[str, Any], report: Any = None, *,
                     export: dict[str, Any] | None = None) -> Path:
    """Write ``dest/README.md`` (replacing PEFT's empty card) and make ``adapter_config.json`` portable.

    ``manifest``: the run's manifest (data sources, metrics, versions); ``report``: the run's
    :class:`~verticalize.evals.EvalReport` (or its ``to_dict()``), None without evaluation;
    ``export``: for an export dir, ``{"merged": bool, "quantize": str | None}``.
    """
    from verticalize.train.weights import portable_adapter_config

    dest = Path(dest)
    base = base_reference(recipe, manifest)
    adapter = (dest / "adapter_config.json").is_file()
    portable_adapter_config(dest, base)
    try:
        text = _front_matter(recipe, base, adapter, export) + _body(recipe, manifest, report, base, adapter, export)
    except Exception as e:  # noqa: BLE001 -- a card must never fail a finished run: a short one, and say why
        log.warning("model card: %s: %s; writing a short card", type(e).__name__, e)
        text = (f"# Trained with verticalize\n\nBase: `{base.get('hub_id') or base['name']}`. Recipe sha256 "
                f"`{recipe.fingerprint()}`; see manifest.json and recipe.yaml in the run dir.\n")
    path = dest / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


# ---- the card ------------------------------------------------------------------------------

def _front_matter(recipe: Any, base: dict[str, Any], adapter: bool, export: dict[str, Any] | None) -> str:
    import yaml

    method = getattr(recipe.method, "kind", "custom")
    meta: dict[str, Any] = {}
    if base.get("hub_id"):
        meta["base_model"] = base["hub_id"]
        meta["base_model_relation"] = ("adapter" if adapter else
                                       "quantized" if export and export.get("quantize") else "finetune")
    meta["library_name"] = "peft" if adapter else "transformers"
    meta["pipeline_tag"] = "text-generation"
    meta["tags"] = [t for t in ("verticalize", recipe.domain and Path(str(recipe.domain)).name, method,
                                *(getattr(s, "kind", None) for s in recipe.stages)) if t]
    meta["tags"] = list(dict.fromkeys(meta["tags"]))
    v = {"base": {k: base[k] for k in ("name", "source", "hub_id", "revision") if k in base},
         "recipe_sha256": recipe.fingerprint()}
    if "rebuild" in base:
        v["base"]["rebuild"] = base["rebuild"]["how"]
    meta["verticalize"] = v
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000) + "---\n\n"


def _body(recipe: Any, manifest: dict[str, Any], report: Any, base: dict[str, Any], adapter: bool,
          export: dict[str, Any] | None) -> str:
    from verticalize import __version__

    domain = Path(str(recipe.domain)).name if recipe.domain else "custom-data"
    what = "LoRA adapter" if adapter else "model"
    if export is not None and not adapter:
        what = ("merged model" if export.get("merged") else "model") + (
            f", {export['quantize']} quantized (bitsandbytes)" if export.get("quantize") else "")
    scale = (export or {}).get("scale")
    if scale is not None and scale != 1:  # verticalize export --scale: a point of the gain/forgetting curve
        what += f" at scale {scale:g}"
    lines = [f"# {domain} {what} of {base.get('hub_id') or base['name']}", "",
             f"Trained with [verticalize](https://pypi.org/project/verticalize/) {__version__}: "
             f"{' -> '.join(str(getattr(s, 'kind', 'custom')) for s in recipe.stages)} with "
             f"{getattr(recipe.method, 'kind', 'a custom method')}.", ""]
    lines += _base_section(base, adapter)
    lines += _usage(base, adapter)
    lines += _data_section(recipe, manifest)
    lines += _recipe_section(recipe, manifest)
    if scale is not None and scale != 1:
        lines += ["## Scale", "", f"The weights are the base model's plus {scale:g} x the trained change "
                  f"(`W_base + {scale:g} * (W_trained - W_base)`), exported with `verticalize export --scale "
                  f"{scale:g}`. " + ("The scores below are this scale's (before: the base model), from the run's "
                  "`verticalize curve`." if export.get("scored_at_scale") else "The scores below are the unscaled "
                  "run's; `verticalize curve RUN` scores each scale (curve.json / curve.md in the run dir)."), ""]
    lines += _scores_section(report, manifest)
    lines += ["## Chat template", "",
              "The base model's own chat template, unchanged (`chat_template.jinja` / `tokenizer_config.json` "
              "in this dir): what was trained is what the model is served with.", ""]
    return "\n".join(lines)


def _base_section(base: dict[str, Any], adapter: bool) -> list[str]:
    lines = ["## Base model", ""]
    if base.get("hub_id"):
        rev = f" at revision `{base['revision']}`" if base.get("revision") else ""
        lines.append(f"- [`{base['hub_id']}`](https://huggingface.co/{base['hub_id']}){rev}"
                     + (f" (verticalize alias `{base['name']}`)" if base["name"] != base["hub_id"] else ""))
    else:
        lines.append(f"- `{base['name']}` ({base['source']})")
    if base.get("description"):
        lines.append(f"- {base['description']}")
    rb = base.get("rebuild")
    if rb:
        lines.append(f"- Embedded offline base: {rb['what']}.")
        lines.append(f"- Rebuild it on another machine: `{rb['how']}`")
        if base.get("hub_id"):
            lines.append(f"- The adapter records `{base['hub_id']}` as its base, so PEFT can load it from the hub; the "
                         "weights trained here are the ones above.")
    elif base["source"] == "local":
        lines.append("- A local model dir: `base_model_name_or_path` in adapter_config.json is that dir's path; "
                     "change it to the model's hub id to load the adapter elsewhere.")
    return lines + [""]


def _usage(base: dict[str, Any], adapter: bool) -> list[str]:
    if not adapter:
        return ["## Use", "", "```python", "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
                "model = AutoModelForCausalLM.from_pretrained(\"<this dir>\")",
                "tokenizer = AutoTokenizer.from_pretrained(\"<this dir>\")", "```", ""]
    return ["## Use", "", "```python", "from peft import AutoPeftModelForCausalLM",
            "from transformers import AutoTokenizer", "",
            "model = AutoPeftModelForCausalLM.from_pretrained(\"<this dir>\")  # fetches the base model",
            "tokenizer = AutoTokenizer.from_pretrained(\"<this dir>\")", "```", ""]


def _sources(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    data = manifest.get("data") or {}
    if "stages" in data:
        return [s for st in data["stages"] for s in st.get("sources", [])]
    return list(data.get("sources", []))


def _licence(src: dict[str, Any], packs: list[Any]) -> str:
    """The source's licence: recorded with it (hub datasets), else the provenance entry of the pack
    file it is."""
    prov = src.get("provenance") or {}
    for key in ("license", "licence"):
        if src.get(key):
            return str(src[key])
        if isinstance(prov, dict) and prov.get(key):
            return str(prov[key])
    path = Path(str(src.get("source", "")))
    for pack in packs:
        for p in getattr(pack, "provenance", []) or []:
            get = p.get if isinstance(p, dict) else lambda k, p=p: getattr(p, k, None)
            if get("file") and get("license") and _same_file(path, Path(pack.dir) / str(get("file"))):
                return str(get("license"))
    return "unknown (not recorded)"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _packs(recipe: Any) -> list[Any]:
    """The domain pack and a replay pack of the recipe (for their provenance), those that load."""
    from verticalize.packs import load_domain

    names = [recipe.domain]
    if recipe.replay is not None and isinstance(recipe.replay.source, str):
        names.append(recipe.replay.source)
    out = []
    for n in names:
        if not n:
            continue
        try:
            out.append(load_domain(n))
        except Exception:  # noqa: BLE001 -- a data path rather than a pack, or a pack gone since training
            continue
    return out


def _data_section(recipe: Any, manifest: dict[str, Any]) -> list[str]:
    packs = _packs(recipe)
    srcs = _sources(manifest)
    lines = ["## Training data", ""]
    if not srcs:
        return lines + ["Not recorded.", ""]
    lines += ["| source | role | format | examples | sha256 | licence |", "|---|---|---|---|---|---|"]
    for s in srcs:
        role = "replay" if s.get("role") == "replay" else f"domain ({s.get('used_by', 'train')})"
        lines.append(f"| `{_shown(s.get('source', '?'))}` | {role} | {s.get('format', '')} | "
                     f"{s.get('used', s.get('converted', ''))} | `{s.get('sha256', '')}` | {_licence(s, packs)} |")
    data = manifest.get("data") or {}
    n = data.get("train_examples")
    if n is not None:
        lines += ["", f"{n} training examples after cleaning and mixing"
                  + (f" (data sha256 `{manifest['data_sha256']}`)" if manifest.get("data_sha256") else "") + "."]
    return lines + [""]


def _shown(source: Any) -> str:
    """A source as the card shows it: a hub id as is, a file as its last two path parts (pack/file)."""
    s = str(source)
    p = Path(s)
    return s if not p.is_absolute() else "/".join(p.parts[-2:])


def _recipe_section(recipe: Any, manifest: dict[str, Any]) -> list[str]:
    m = recipe.method
    lines = ["## Recipe", ""]
    kind = getattr(m, "kind", None)
    if kind in ("lora", "qlora"):
        extra = f", {m.bits}-bit {m.quant_type} base" if kind == "qlora" else ""
        lines.append(f"- method: {kind}, r={m.r}, alpha={m.alpha}, dropout={m.dropout}, targets={m.target_modules}"
                     + (", DoRA" if getattr(m, "use_dora", False) else "")
                     + (", rsLoRA" if getattr(m, "use_rslora", False) else "") + extra)
    else:
        lines.append(f"- method: {kind or getattr(m, 'target', 'custom')}")
    for i, st in enumerate(recipe.stages, 1):
        if not hasattr(st, "lr"):
            lines.append(f"- stage {i}: {getattr(st, 'target', st)}")
            continue
        length = (f"{st.max_steps} step{'s' if st.max_steps != 1 else ''}" if st.max_steps
                  else f"{st.epochs:g} epoch{'s' if st.epochs != 1 else ''}")
        lines.append(f"- stage {i}: {st.kind}, {length}, lr {st.lr:g} {st.scheduler} (warm-up {st.warmup_ratio:g}), "
                     f"batch {st.batch_size} x {st.grad_accum} accumulation, max_length {st.max_length}, seed {st.seed}"
                     + (", loss on assistant tokens only" if getattr(st, "assistant_only_loss", False) else ""))
    if recipe.replay is not None and recipe.replay.ratio > 0:
        lines.append(f"- replay: {recipe.replay.ratio:g} of the mix from {recipe.replay.source!r} against forgetting")
    met = manifest.get("metrics") or {}
    if met:
        bits = [f"{k} {met[k]:.4g}" if isinstance(met[k], float) else f"{k} {met[k]}"
                for k in ("global_step", "train_loss", "train_seconds", "loss_mask") if k in met]
        lines.append("- result: " + ", ".join(bits))
    versions = manifest.get("versions") or {}
    if versions:
        lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    lines.append(f"- recipe sha256 `{recipe.fingerprint()}` (the full recipe is `recipe.yaml` in the run dir)")
    return lines + [""]


def _scores(report: Any) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    if report is None:
        return {}, {}
    if isinstance(report, dict):
        return dict(report.get("scores") or {}), dict(report.get("forgetting") or {})
    return dict(report.scores), dict(report.forgetting)


def _scores_section(report: Any, manifest: dict[str, Any]) -> list[str]:
    scores, forgetting = _scores(report)
    lines = ["## Evaluation", ""]
    if not scores:
        return lines + ["Not evaluated (the recipe had no `eval.suites`).", ""]
    lines += ["| suite | before | after | delta |", "|---|---|---|---|"]
    for name, row in sorted(scores.items()):
        cells = [f"{row[k]:.4f}" if k in row else "–" for k in ("before", "after")]
        cells.append(f"{row['delta']:+.4f}" if "delta" in row else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "### Forgetting", ""]
    if forgetting:
        lines += [f"- {s}: {v:+.4f} (drop of the retention suite; positive = forgot)"
                  for s, v in sorted(forgetting.items())]
    else:
        lines.append("Not measured: no retention suite (e.g. `general`) was scored before and after training.")
    return lines + [""]
