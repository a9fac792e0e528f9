"""Base-model resolution (alias, HF hub, ModelScope, local dir, offline) and loading."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verticalize.errors import MissingDependencyError, ModelLoadError, UnknownNameError
from verticalize.models.aliases import ALIASES, LLAMA_LIKE_TARGETS, ModelInfo, find_alias
from verticalize.recipe import BaseSpec

__all__ = ["ResolvedModel", "resolve_model", "load_tokenizer", "load_model", "lora_targets", "hub_reference"]

log = logging.getLogger("verticalize")


@dataclass(frozen=True)
class ResolvedModel:
    """Where a base model comes from; resolving never downloads or loads weights."""

    name: str  # what the user wrote
    source: str  # offline | local | hf | modelscope
    location: str  # alias, local dir, hub id or modelscope id
    info: ModelInfo | None
    revision: str | None
    trust_remote_code: bool

    @property
    def template(self) -> str | None:
        return self.info.template if self.info else None


def resolve_model(spec: BaseSpec) -> ResolvedModel:
    """Resolve ``base`` of a recipe to a source, without network or model loading."""
    name = spec.model
    info = find_alias(name)
    source = spec.source
    location = name
    if source == "auto":
        if info is not None and info.offline:
            source = "offline"
        elif Path(name).expanduser().is_dir():
            source = "local"
        elif name.startswith("modelscope:"):
            source = "modelscope"
        elif info is not None or "/" in name:
            source = "hf"
        else:
            raise UnknownNameError(
                "model", name, ALIASES,
                hint="Or give a Hugging Face id (org/name), 'modelscope:<org/name>' or a local model dir",
            )
    if source == "offline":
        if info is None or not info.offline:
            offline = [a for a, m in ALIASES.items() if m.offline]
            raise UnknownNameError("offline model", name, offline)
        location = info.alias
    elif source == "local":
        p = Path(name).expanduser()
        if not (p / "config.json").is_file():
            raise ModelLoadError(f"base.model: {p} is not a model dir (no config.json in it)")
        location = str(p.resolve())
    elif source == "modelscope":
        location = name.removeprefix("modelscope:")
        if info is not None and location == name and info.modelscope_id:
            location = info.modelscope_id
    elif source == "hf":
        location = info.hub_id if info is not None and info.hub_id else name
        if info is not None and info.offline and info.hub_id is None:
            raise ModelLoadError(f"base.model: {name!r} exists only offline; use source: offline or auto")
    trust = spec.trust_remote_code if spec.trust_remote_code is not None else bool(info and info.trust_remote_code)
    if info is None and source in ("local", "hf", "modelscope"):
        info = _guess_info(location, source)
    return ResolvedModel(name, source, location, info, spec.revision, trust)


def _guess_info(location: str, source: str) -> ModelInfo | None:
    """For a local dir, infer the chat template family from its config (best effort)."""
    if source != "local":
        return None
    import json

    try:
        cfg = json.loads((Path(location) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    mtype = cfg.get("model_type", "")
    template = "chatml" if mtype.startswith("qwen") else "plain"
    return ModelInfo(Path(location).name, None, mtype, template)


def _local_path(r: ResolvedModel) -> str:
    """A path or hub id that ``from_pretrained`` takes (downloads from ModelScope first)."""
    if r.source == "offline":
        from verticalize.models.offline import offline_model_dir

        return str(offline_model_dir(r.location))
    if r.source == "modelscope":
        if importlib.util.find_spec("modelscope") is None:
            raise MissingDependencyError(
                f"base {r.name!r} comes from ModelScope, which needs the modelscope package: "
                "pip install 'verticalize[modelscope]'"
            )
        from modelscope import snapshot_download

        try:
            return snapshot_download(r.location, revision=r.revision or "master")
        except Exception as e:  # network, auth or a missing id
            raise ModelLoadError(f"could not download {r.location!r} from ModelScope: {e}") from e
    return r.location


def _hub_error(r: ResolvedModel, e: Exception) -> ModelLoadError:
    offline = ", ".join(a for a, m in ALIASES.items() if m.offline)
    return ModelLoadError(
        f"could not load base {r.name!r} ({r.source}: {r.location}): {type(e).__name__}: {str(e).splitlines()[0][:300]}. "
        f"Without network use a local model dir or an offline base ({offline})"
    )


def load_tokenizer(r: ResolvedModel, path: str | None = None) -> Any:
    """The tokenizer with the model's own chat template, untouched (see models/templates.py for how
    training finds the assistant's tokens in it); a tokenizer without any chat template (a base
    model) gets :data:`~verticalize.models.templates.FALLBACK_TEMPLATE`."""
    from transformers import AutoTokenizer

    from verticalize.models.templates import FALLBACK_TEMPLATE

    path = path or _local_path(r)
    try:
        tok = AutoTokenizer.from_pretrained(path, revision=r.revision, trust_remote_code=r.trust_remote_code)
    except (OSError, ValueError) as e:
        raise _hub_error(r, e) from e
    if not getattr(tok, "chat_template", None):
        log.info("base %r has no chat template: training with verticalize's plain 'User: / Assistant:' template",
                 r.name)
        tok.chat_template = FALLBACK_TEMPLATE
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def hub_reference(r: ResolvedModel) -> tuple[str | None, str | None]:
    """(Hugging Face hub id, revision) another machine loads this base from: the hub id of an alias
    (offline and ModelScope ones included) or of a hub base; (None, None) for a local dir or an
    offline base that exists only here."""
    if r.source == "hf":
        return r.location, r.revision
    if r.info is not None and r.info.hub_id:  # a ModelScope or offline revision is no hub revision
        return r.info.hub_id, None
    return None, None


def lora_targets(r: ResolvedModel) -> list[str] | str:
    if r.info is not None and r.info.lora_targets:
        return list(r.info.lora_targets)
    return "all-linear" if r.info is None else list(LLAMA_LIKE_TARGETS)


def load_model(r: ResolvedModel, *, dtype: Any = None, quantization_config: Any = None,
               device_map: Any = None, path: str | None = None, attn_implementation: str | None = None) -> Any:
    """``attn_implementation``: transformers' (eager, sdpa, flash_attention_2, ...); None or auto: its default."""
    from transformers import AutoModelForCausalLM

    path = path or _local_path(r)
    kwargs: dict[str, Any] = {"revision": r.revision, "trust_remote_code": r.trust_remote_code}
    if attn_implementation not in (None, "auto"):
        kwargs["attn_implementation"] = attn_implementation
    if dtype is not None:
        kwargs["dtype"] = dtype
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as e:
        raise _hub_error(r, e) from e
    hub_id, revision = hub_reference(r)
    if hub_id is not None:  # what saved adapters record as their base (train/weights.py), not a cache path
        model.verticalize_base = {"hub_id": hub_id, "revision": revision}
    return model
