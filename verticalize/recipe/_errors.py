"""Turn pydantic validation errors of a recipe into messages that name the key path, the file and
line, and the closest valid name."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from verticalize.errors import closest, first_model, line_index  # shared with packs.py

__all__ = ["line_index", "problems_of"]


def _model_for_loc(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that owns the last key of ``loc`` (for closest-name hints)."""
    model: Any = _recipe_cls()
    tags = _tags()
    for i, part in enumerate(loc[:-1]):
        if isinstance(part, int) or model is None or part in _OUTER_TAGS or part in _REF_TAGS:
            continue
        if _is_tag(loc, i) and part not in tags:
            continue
        if part in tags:  # discriminated-union tag in the loc
            model = tags[part]
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        model = first_model(ann)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


#: keys users bring from other tools -> (our key path, whose key it is)
FOREIGN_KEYS: dict[str, tuple[str, str]] = {
    "learning_rate": ("train.lr", "TRL's"),
    "per_device_train_batch_size": ("train.batch_size", "TRL's"),
    "num_train_epochs": ("train.epochs", "TRL's"),
    "gradient_accumulation_steps": ("train.grad_accum", "TRL's"),
    "max_seq_length": ("train.max_length", "older TRL's"),
    "lr_scheduler_type": ("train.scheduler", "TRL's"),
    "bf16": ("train.precision", "TRL's"),
    "lora_rank": ("method.r", "LLaMA-Factory's"),
    "lora_r": ("method.r", "axolotl's"),
    "lora_alpha": ("method.alpha", "PEFT's"),
    "lora_dropout": ("method.dropout", "PEFT's"),
    "lora_target": ("method.target_modules", "LLaMA-Factory's"),
    "lora_target_modules": ("method.target_modules", "axolotl's"),
    "finetuning_type": ("method.kind", "LLaMA-Factory's"),
    "stage": ("train.kind", "LLaMA-Factory's"),
    "cutoff_len": ("train.max_length", "LLaMA-Factory's"),
    "sequence_len": ("train.max_length", "axolotl's"),
    "micro_batch_size": ("train.batch_size", "axolotl's"),
    "num_epochs": ("train.epochs", "axolotl's"),
    "model_name_or_path": ("base.model", "LLaMA-Factory's"),
    "base_model": ("base.model", "axolotl's"),
    "dataset": ("data", "LLaMA-Factory's"),
    "datasets": ("data", "axolotl's"),
    "load_in_4bit": ("method.bits", "axolotl's"),
    "val_set_size": ("eval.max_examples", "axolotl's"),
    "streaming": ("processing.streaming", "LLaMA-Factory's"),
    "preprocessing_num_workers": ("processing.num_proc", "LLaMA-Factory's"),
    "dataset_processes": ("processing.num_proc", "axolotl's"),
    "overwrite_cache": ("processing.cache", "LLaMA-Factory's (inverted)"),
    "dataset_num_proc": ("processing.num_proc", "TRL's"),
}

_OUTER_TAGS = ("one", "stages")  # recipe.train: one spec, or a list of stages
_REF_TAGS = ("spec", "ref")  # method / a stage: a built-in spec, or a strategy ref {target, args}


def _recipe_cls() -> Any:
    from verticalize.recipe.schema import Recipe

    return Recipe


def _tags() -> dict[str, Any]:
    """Discriminated-union tags that pydantic puts in an error's loc, and the model each selects."""
    from verticalize.recipe.schema import CPTSpec, DPOSpec, FullSpec, GRPOSpec, KTOSpec, LoraSpec, QLoraSpec, SFTSpec

    return {"lora": LoraSpec, "qlora": QLoraSpec, "full": FullSpec, "sft": SFTSpec, "cpt": CPTSpec, "dpo": DPOSpec,
            "grpo": GRPOSpec, "kto": KTOSpec}


def _is_tag(loc: tuple, i: int) -> bool:
    p = loc[i]
    if p in _OUTER_TAGS and i > 0 and loc[i - 1] == "train":
        return True
    if p in ("name", "benchmark", "ref") and i > 1 and isinstance(loc[i - 1], int) and loc[i - 2] in ("suites",
                                                                                                    "rewards"):
        return True  # eval.suites[i] / train.rewards[i]: a name, a benchmark file or a strategy ref
    if p in _REF_TAGS and i > 0 and (loc[i - 1] in ("method", "train", *_OUTER_TAGS) or isinstance(loc[i - 1], int)):
        return True
    return p in _tags() and i > 0 and (loc[i - 1] in ("method", "train", *_REF_TAGS) or isinstance(loc[i - 1], int)
                                       or loc[i - 1] in _OUTER_TAGS)


def _loc_str(loc: tuple) -> str:
    parts: list[str] = []
    for i, p in enumerate(loc):
        if _is_tag(loc, i):
            continue
        parts.append(f"[{p}]" if isinstance(p, int) else str(p))
    return ".".join(parts).replace(".[", "[")


def problems_of(err: ValidationError, lines: dict[tuple, int], source: str | None) -> list[str]:
    problems = []
    for e in err.errors():
        loc = tuple(p for i, p in enumerate(e["loc"]) if not _is_tag(e["loc"], i))
        path = _loc_str(e["loc"])
        where = ""
        if source:
            line = None
            probe = loc
            while probe and line is None:
                line = lines.get(probe)
                probe = probe[:-1]
            where = f"{source}:{line}: " if line else f"{source}: "
        if e["type"] == "extra_forbidden":
            model = _model_for_loc(e["loc"])
            allowed = sorted(model.model_fields) if model else []
            key = str(e["loc"][-1])
            foreign = FOREIGN_KEYS.get(key)
            if foreign is not None:  # a key users bring from TRL, PEFT, LLaMA-Factory or axolotl
                ours, whose = foreign
                parent = ".".join(path.split(".")[:-1])
                short = ours.split(".")[-1] if ours.startswith(parent + ".") and parent else ours
                hint = f"; did you mean {short!r}? ({whose} {key})"
            else:
                near = closest(key, allowed)
                hint = f"; did you mean {near!r}?" if near else ""
            problems.append(f"{where}{path}: unknown key{hint}{'' if hint else '.'} Allowed: {', '.join(allowed)}")
        elif e["type"] == "union_tag_invalid":
            tag = e.get("ctx", {}).get("tag")
            expected = e.get("ctx", {}).get("expected_tags", "")
            near = closest(str(tag), [t.strip(" '") for t in str(expected).split(",")])
            hint = f"; did you mean {near!r}?" if near else "."
            problems.append(f"{where}{path}.kind: unknown kind {tag!r}{hint} Allowed: {expected}")
        elif e["type"] == "literal_error":
            expected = e.get("ctx", {}).get("expected", "")
            near = closest(str(e.get("input")), [t.strip(" '") for t in str(expected).replace(" or ", ",").split(",")])
            hint = f"; did you mean {near!r}?" if near else "."
            problems.append(f"{where}{path}: {e['input']!r} is not allowed{hint} Allowed: {expected}")
        else:
            problems.append(f"{where}{path}: {e['msg']} (got {e.get('input')!r})")
    return problems
