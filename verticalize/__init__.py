"""verticalize: turn a general base LLM into a vertical (finance / medical / legal) model.

    from verticalize import Adapter
    run = Adapter(base="smollm2-135m").with_domain("finance").lora().sft(max_steps=30).train()

Heavy libraries (torch, transformers, TRL, PEFT) are imported only when a model is loaded.
"""

from __future__ import annotations

import typing as _typing

from verticalize.adapter import Adapter
from verticalize.errors import (
    DataError,
    LockError,
    MissingDependencyError,
    ModelLoadError,
    RecipeError,
    RunError,
    SandboxError,
    UnknownNameError,
    VerticalizeError,
)
from verticalize.recipe import Recipe, load_recipe

if _typing.TYPE_CHECKING:
    from verticalize.evals.report import EvalReport
    from verticalize.run import Run

__version__ = "0.1.0"

__all__ = [
    "Adapter",
    "Recipe",
    "Run",
    "EvalReport",
    "load_recipe",
    "VerticalizeError",
    "RecipeError",
    "UnknownNameError",
    "DataError",
    "MissingDependencyError",
    "ModelLoadError",
    "RunError",
    "LockError",
    "SandboxError",
    "__version__",
]


def __getattr__(name: str) -> _typing.Any:  # lazy: Run and EvalReport pull in nothing heavy until used
    if name == "Run":
        from verticalize.run import Run

        return Run
    if name == "EvalReport":
        from verticalize.evals.report import EvalReport

        return EvalReport
    raise AttributeError(f"module 'verticalize' has no attribute {name!r}")
