"""Dial a trained model's change from its base: scale 0 is the base model, 1 the trained model, 0.5 the
base plus half the change (``W_base + 0.5 * (W_trained - W_base)``), without retraining.

Two ways, chosen per model:

* ``lora`` -- a plain LoRA adapter (no DoRA, no modules_to_save, an init that leaves the base untouched):
  each LoRA layer's ``scaling`` is multiplied by the factor. The forward pass is ``W x + s * B A x``, so
  the layer computes ``W x + scale * s * B A x``: scale 0 is the base model bit for bit, 1 the adapter bit
  for bit, and a merge at that scale is ``W + scale * delta``. Nothing is copied.
* ``weights`` -- everything else (full fine-tuning, DoRA, modules_to_save, PiSSA/OLoRA/LoftQ inits that
  change the base): the trained model's weights (an adapter merged into a copy first) and the base's are
  interpolated, ``torch.lerp(base, trained, scale)``, into a fresh base model. Costs three copies of the
  weights in memory; a 4-bit (QLoRA) base cannot be interpolated.

Merging several trained adapters into one (PEFT's ``add_weighted_adapter``: TIES, DARE, ...) is in
:mod:`verticalize.train.merging`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from verticalize.errors import RunError

__all__ = ["ScaledModel", "check_scale", "scaled_for_export", "scaling_mode"]

#: LoRA inits that leave the base weights as they are (PiSSA, OLoRA, CorDA, LoftQ rewrite them)
_PLAIN_INITS = (True, False, "gaussian")


def check_scale(scale: Any, what: str = "scale") -> float:
    """A finite number; a RunError naming it otherwise."""
    try:
        value = float(scale)
    except (TypeError, ValueError):
        raise RunError(f"{what} must be a number (0: the base model, 1: the trained model, 0.5: half the "
                       f"change), got {scale!r}") from None
    if not math.isfinite(value):
        raise RunError(f"{what} must be a finite number (0: the base model, 1: the trained model), got {scale!r}")
    return value


def _lora_layers(model: Any) -> list[Any]:
    from peft.tuners.lora import LoraLayer

    return [m for m in model.modules() if isinstance(m, LoraLayer)]


def scaling_mode(model: Any) -> tuple[str, str]:
    """(``"lora"`` | ``"weights"``, why): how :class:`ScaledModel` scales this model."""
    config = getattr(model, "peft_config", None)
    if not config:
        return "weights", "a full model: its weights are interpolated with the base's"
    name = getattr(model, "active_adapter", "default")
    cfg = config.get(name) if isinstance(config, dict) else None
    if cfg is None or str(getattr(cfg, "peft_type", "")).split(".")[-1] != "LORA":
        return "weights", f"a {getattr(cfg, 'peft_type', 'non-LoRA')} adapter: merged, then interpolated"
    reasons = [why for bad, why in (
        (getattr(cfg, "use_dora", False), "DoRA"),
        (getattr(cfg, "modules_to_save", None), "modules_to_save"),
        (getattr(cfg, "trainable_token_indices", None), "trainable tokens"),
        (getattr(cfg, "bias", "none") != "none" or getattr(cfg, "lora_bias", False), "trained biases"),
        (getattr(cfg, "target_parameters", None), "target_parameters"),
        (getattr(cfg, "init_lora_weights", True) not in _PLAIN_INITS, f"init {getattr(cfg, 'init_lora_weights', '')}"),
    ) if bad]
    if not reasons and any(getattr(m, "lora_variant", None) for m in _lora_layers(model)):
        reasons.append("a LoRA variant")
    if reasons:
        return "weights", f"a LoRA adapter with {', '.join(reasons)}: merged, then interpolated"
    return "lora", "a plain LoRA adapter: its scaling is multiplied"


class ScaledModel:
    """The trained ``model`` with its change from the base dialled by :meth:`set`.

    ``base``: builds the untrained base model (called only for the ``weights`` way). ``set(scale)`` returns
    the model to run at that scale: the trained model itself (``lora``), or a separate base-shaped model
    (``weights``). :meth:`restore` puts the trained model back as it was (scale 1).
    """

    def __init__(self, model: Any, base: Callable[[], Any]):
        self.trained = model
        self.how, self.why = scaling_mode(model)
        self._base = base
        self._layers: list[tuple[Any, str, float]] = []
        self._work: Any = None
        self._start: dict[str, Any] = {}
        self._end: dict[str, Any] = {}
        if self.how == "lora":
            name = getattr(model, "active_adapter", "default")
            for layer in _lora_layers(model):
                if name in layer.scaling:
                    self._layers.append((layer, name, layer.scaling[name]))
            if not self._layers:
                raise RunError(f"the adapter {name!r} has no LoRA layers to scale")

    def set(self, scale: float) -> Any:
        scale = check_scale(scale)
        if self.how == "lora":
            for layer, name, orig in self._layers:
                layer.scaling[name] = orig * scale
            return self.trained
        import torch

        if self._work is None:
            self._prepare()
        with torch.no_grad():
            for key, p in self._work.state_dict().items():
                if key in self._end and p.is_floating_point():
                    p.copy_(torch.lerp(self._start[key], self._end[key], scale))
        return self._work

    def restore(self) -> None:
        """The trained model as loaded (scale 1); the interpolation copies are freed."""
        if self.how == "lora":
            for layer, name, orig in self._layers:
                layer.scaling[name] = orig
        self._work, self._start, self._end = None, {}, {}

    def _prepare(self) -> None:
        """Load the base into a working model and keep the base's and the trained model's weights."""
        import copy

        base = self._base()
        if _quantized(base) or _quantized(self.trained):
            raise RunError(f"cannot scale {self.why.split(':')[0]} on a 4-bit / 8-bit (QLoRA) base: its weights "
                           "cannot be interpolated. Scaling works for plain LoRA adapters (also on QLoRA bases) and "
                           "for LoRA / full fine-tuning on an unquantized base")
        trained = self.trained
        if getattr(trained, "peft_config", None):  # merge a copy; the trained model stays as it is
            trained = copy.deepcopy(trained).merge_and_unload()
        end = trained.state_dict()
        start = {k: v.detach().clone() for k, v in base.state_dict().items()}
        bad = [f"{k}: base {tuple(v.shape)}, trained {tuple(end[k].shape) if k in end else 'missing'}"
               for k, v in start.items() if v.is_floating_point() and (k not in end or end[k].shape != v.shape)]
        if bad:
            raise RunError("the trained model's weights do not match the base's, so they cannot be interpolated "
                           f"(resized vocabulary or another architecture?): {'; '.join(bad[:3])}"
                           + (f" and {len(bad) - 3} more" if len(bad) > 3 else ""))
        self._end = {k: end[k].detach().to(start[k].dtype) for k in start if start[k].is_floating_point()}
        self._start, self._work = start, base
        self._work.eval()


def _quantized(model: Any) -> bool:
    return bool(getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False)
                or getattr(getattr(model, "config", None), "quantization_config", None)
                or getattr(getattr(getattr(model, "base_model", None), "model", None), "hf_quantizer", None))


def scaled_for_export(model: Any, scale: float, base: Callable[[], Any]) -> Any:
    """A plain transformers model whose weights are ``W_base + scale * (W_trained - W_base)``.

    For a plain LoRA adapter the scaled adapter is merged into ``model``'s own base weights: ``model`` is
    used up (load it again to use it). Otherwise a new base-shaped model is returned."""
    sm = ScaledModel(model, base)
    out = sm.set(scale)
    if sm.how == "lora":
        return out.merge_and_unload()
    return out
