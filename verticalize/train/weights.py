"""The one place trained weights are saved and loaded back: adapters (PEFT dirs), full models,
and bitsandbytes-quantized exports."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from verticalize.errors import MissingDependencyError

__all__ = ["save_weights", "load_weights", "save_quantized", "weights_dir", "portable_adapter_config"]


def weights_dir(root: Path, method_kind: str) -> Path:
    """Where a run or stage keeps its weights: ``model/`` for full fine-tuning, else ``adapter/``."""
    return root / ("model" if method_kind == "full" else "adapter")


def save_weights(model: Any, dest: Path, main: bool, trainer: Any = None) -> None:
    """Save the trained adapter (or model). Under several processes every rank calls the Trainer's
    save (FSDP / DeepSpeed ZeRO-3 gather the shards); only rank 0 writes."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and trainer is not None:
        trainer.save_model(str(dest))
    elif main:
        model.save_pretrained(dest)
    if main:
        portable_adapter_config(dest, getattr(model, "verticalize_base", None))


def portable_adapter_config(dest: Path, base: dict[str, Any] | None) -> None:
    """Point ``dest/adapter_config.json`` (when there is one) at the base's hub id and revision, so that
    ``AutoPeftModelForCausalLM.from_pretrained(dest)`` works on another machine. PEFT records the
    path the base was loaded from: for an alias that is this machine's cache (the hub id is set
    here, after saving, because PEFT asks the hub at every save when it names a hub id)."""
    import json

    path = Path(dest) / "adapter_config.json"
    if not base or not base.get("hub_id") or not path.is_file():
        return
    cfg = json.loads(path.read_text(encoding="utf-8"))
    cfg["base_model_name_or_path"] = base["hub_id"]
    if base.get("revision"):
        cfg["revision"] = base["revision"]
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_weights(src: Path, *, base: Callable[[], Any], full: bool, trainable: bool = False, dtype: Any = None) -> Any:
    """Load saved weights: a full model dir (``full``), or a PEFT adapter dir applied to ``base()``
    (``base`` is called only for adapters)."""
    if full:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(src, **({"dtype": dtype} if dtype is not None else {}))
    from peft import PeftModel

    return PeftModel.from_pretrained(base(), str(src), is_trainable=trainable)


def save_quantized(model: Any, out: Path, bits: int) -> None:
    """Save ``model`` with bitsandbytes-quantized weights (8 or 4 bits) that plain transformers loads."""
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as e:
        raise MissingDependencyError(f"a quantized export needs bitsandbytes: pip install bitsandbytes ({e})") from None
    import torch
    from transformers import AutoModelForCausalLM

    from verticalize.train._hf import bnb_config

    q = bnb_config(bits, torch.bfloat16 if torch.cuda.is_available() else torch.float32,
                   quant_storage=torch.uint8)  # packed bytes: the smallest file
    with tempfile.TemporaryDirectory(prefix="vz-export-") as tmp:
        model.save_pretrained(tmp)
        device_map = {"": 0} if torch.cuda.is_available() else None
        qmodel = AutoModelForCausalLM.from_pretrained(tmp, quantization_config=q, device_map=device_map)
        qmodel.generation_config = model.generation_config
        qmodel.save_pretrained(out)
