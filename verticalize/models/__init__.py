"""Base models: aliases, resolution and loading (hub, ModelScope, local, offline)."""

from verticalize.models.aliases import ALIASES, ModelInfo, find_alias
from verticalize.models.loaders import (ResolvedModel, hub_reference, load_model, load_tokenizer, lora_targets,
                                        resolve_model)

__all__ = ["ALIASES", "ModelInfo", "find_alias", "ResolvedModel", "resolve_model", "load_model",
           "load_tokenizer", "lora_targets", "hub_reference"]
