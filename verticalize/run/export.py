"""Export a finished run as a model dir that plain ``transformers`` loads, optionally quantized
(bitsandbytes 8-bit / 4-bit) and pushed to the Hugging Face hub.

The dir holds safetensors weights, config.json, generation_config.json, the tokenizer with its
chat template (the base model's own), ``verticalize_export.json`` (where it came from) and
``README.md``, the model card (verticalize/train/card.py). Loading it needs no
verticalize import: ``AutoModelForCausalLM.from_pretrained(dir)`` (plus ``bitsandbytes`` installed
for a quantized export).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Literal

from verticalize.errors import RunError
from verticalize.train.scaling import check_scale, scaled_for_export
from verticalize.train.weights import save_quantized

__all__ = ["export_run"]

Quantize = Literal["8bit", "4bit"]


def export_run(run: Any, out_dir: str | Path, *, merge: bool = True, quantize: Quantize | None = None,
               push_to_hub: str | None = None, private: bool = True, force: bool = False,
               scale: float | None = None) -> Path:
    """``scale``: export ``W_base + scale * (W_trained - W_base)`` (a point of ``verticalize curve``; 1 or
    None: the trained model as it is)."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not force:
        raise RunError(f"export dir {out} is not empty (pass force=True / --force to overwrite)")
    if quantize not in (None, "8bit", "4bit"):
        raise RunError(f"quantize must be '8bit' or '4bit', got {quantize!r}")
    if quantize and run.adapter_path is not None and not merge:
        raise RunError("a quantized export needs the LoRA merged into the base (drop --no-merge)")
    if scale is not None:
        scale = check_scale(scale)
        if run.adapter_path is not None and not merge:
            raise RunError(f"a scaled export (--scale {scale:g}) merges the scaled LoRA into the base: drop --no-merge")
    model, tok = run.load()
    if scale is not None and scale != 1.0:
        from verticalize.models import load_model, resolve_model

        model = scaled_for_export(model, scale, base=lambda: load_model(resolve_model(run.recipe.base)))
        run._loaded = None  # the cached model now holds the scaled weights (or was merged): load it afresh
    elif merge and run.adapter_path is not None:
        model = model.merge_and_unload()
    _generation_config(model, tok)
    if force and out.exists():
        shutil.rmtree(out)
    if quantize is None:
        model.save_pretrained(out)
    else:
        save_quantized(model, out, 8 if quantize == "8bit" else 4)
    tok.save_pretrained(out)
    info = {"run": str(run.output_dir), "base": run.recipe.base.model, "method": run.recipe.method.kind,
            "merged": bool(merge and run.adapter_path is not None), "quantize": quantize, "scale": scale,
            "recipe_sha256": run.recipe.fingerprint(), "metrics": run.metrics,
            # what `verticalize chat|serve EXPORT` needs: the run's generation settings and system prompt
            "generation": run.recipe.eval.generation.model_dump(), "system": _system_prompt(run.recipe)}
    (out / "verticalize_export.json").write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    from verticalize.train.card import write_model_card

    report, at_scale = _report_at(run, scale)
    write_model_card(out, run.recipe, run.manifest, report,  # README.md: base, data, recipe, scores
                     export={"merged": info["merged"], "quantize": quantize, "scale": scale,
                             "scored_at_scale": at_scale})
    if push_to_hub:
        _push(out, push_to_hub, private)
    return out


def _report_at(run: Any, scale: float | None) -> tuple[Any, bool]:
    """The scores for the model card: for a scaled export, that scale's point of the run's curve.json when
    ``verticalize curve`` scored it (True), else the run's own report (False)."""
    if scale is None or scale == 1.0 or not (run.output_dir / "curve.json").is_file():
        return run.report, False
    from verticalize.errors import VerticalizeError
    from verticalize.run.curve import Curve

    try:
        curve = Curve.load(run.output_dir / "curve.json")
        point = curve.point(scale)
        return (curve.report(point), True) if point is not None else (run.report, False)
    except VerticalizeError:
        return run.report, False


def _system_prompt(recipe: Any) -> str | None:
    """The domain pack's system prompt (what ``Run.generate`` adds), None without a domain."""
    if not recipe.domain:
        return None
    from verticalize.errors import VerticalizeError
    from verticalize.packs import load_domain

    try:
        return load_domain(recipe.domain).system_for("en")
    except VerticalizeError:
        return None


def _generation_config(model: Any, tok: Any) -> None:
    """Stop at the chat template's end-of-turn token and pad with a real token, so generation
    with the exported dir behaves as it did in verticalize."""
    gc = getattr(model, "generation_config", None)
    if gc is None:
        return
    if tok.eos_token_id is not None:
        gc.eos_token_id = tok.eos_token_id
    if gc.pad_token_id is None:
        gc.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


def _push(out: Path, repo_id: str, private: bool) -> None:
    """Upload the export dir to the hub (needs a token: ``hf auth login`` or HF_TOKEN)."""
    try:
        from huggingface_hub import HfApi

        api = HfApi()
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(out), repo_id=repo_id, commit_message="verticalize export")
    except Exception as e:  # offline, no token, no permission: say so, keep the local export
        raise RunError(f"push to the hub as {repo_id!r} failed ({type(e).__name__}: {e}); the export is complete "
                       f"at {out}: push it later with `huggingface-cli upload {repo_id} {out}`") from None
