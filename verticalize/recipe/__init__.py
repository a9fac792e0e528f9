"""The recipe: data only (like torchtune's config/). Imports only errors and packs, never models,
train or evals, and never torch: ``verticalize validate`` stays fast.

- ``schema``: the frozen pydantic models (the single source of YAML keys, kwargs and ``--set`` paths)
- ``_io``: validation with every problem at once, YAML text, ``--set`` overrides, JSON Schema
- ``_overlay``: ``extends:`` chains with provenance (file:line of every value), ``load_recipe``
- ``_errors``: the messages (key path, file:line, closest valid name)
"""

from verticalize.recipe._io import (apply_overrides, load_yaml, parse_recipe, read_recipe_text, recipe_json_schema,
                                    special_file)
from verticalize.recipe._overlay import (SET, Origin, Overlay, annotated_yaml, load_recipe, read_overlay,
                                         resolve_extends, untrusted)
from verticalize.recipe.schema import (DATA_FORMATS, REWARDS, BaseSpec, BenchmarkSuiteSpec, CleanSpec, CPTSpec, DataSpec, DPOSpec, EvalSpec,
                                       GRPOSpec, KTOSpec,
                                       FullSpec, GenerationSpec, LoraSpec, MixSpec, PotSpec, ProcessingSpec,
                                       QLoraSpec, Recipe,
                                       ReplaySpec, SFTSpec, StrategyRef, WatchSpec)

__all__ = ["Recipe", "StrategyRef", "BenchmarkSuiteSpec", "BaseSpec", "DataSpec", "CleanSpec", "ReplaySpec", "MixSpec", "ProcessingSpec", "LoraSpec", "QLoraSpec",
           "FullSpec", "SFTSpec", "CPTSpec", "DPOSpec", "GRPOSpec", "KTOSpec", "REWARDS", "WatchSpec", "PotSpec", "GenerationSpec", "EvalSpec", "DATA_FORMATS",
           "load_recipe", "parse_recipe", "apply_overrides", "recipe_json_schema", "read_recipe_text",
           "read_overlay", "annotated_yaml", "resolve_extends", "Overlay", "Origin", "SET", "untrusted", "load_yaml",
           "special_file"]
