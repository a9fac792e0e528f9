"""The built-in Methods (LoRA, QLoRA, full) as strategy objects over their recipe specs, and the
one rule that turns a recipe's ``method`` into a Method (see verticalize.strategies.Method)."""

from __future__ import annotations

from typing import Any

from verticalize.strategies import MethodContext, build
from verticalize.train import _hf

__all__ = ["SpecMethod", "method_for"]


class SpecMethod:
    """A built-in method (``LoraSpec``, ``QLoraSpec``, ``FullSpec``) as a Method."""

    def __init__(self, spec: Any):
        self.spec = spec
        self.kind = spec.kind

    def peft_config(self, ctx: MethodContext) -> Any:
        if getattr(self.spec, "init", None) == "loftq" and getattr(ctx.device, "kind", ctx.device) != "cuda":
            from verticalize.errors import RecipeError

            raise RecipeError("method.init: loftq needs a CUDA GPU (PEFT's LoftQ quantizes with CUDA kernels); on "
                              f"{getattr(ctx.device, 'kind', ctx.device)} use init: pissa, olora, gaussian or default")
        return _hf.peft_config(self.spec, ctx.target_modules, extra_modules=ctx.extra_modules,
                               tie_embeddings=ctx.tie_embeddings)

    def quantization_config(self, ctx: MethodContext) -> Any:
        return _hf.quantization_config(self.spec, ctx.device, ctx.compute_dtype)


def method_for(spec_or_ref: Any) -> Any:
    """The Method object for a recipe's ``method``: a built-in spec wrapped, or the user's object."""
    if hasattr(spec_or_ref, "target"):
        return build(spec_or_ref, "method")
    return SpecMethod(spec_or_ref)
