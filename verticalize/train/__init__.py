"""Training: stages (sft, cpt, dpo, grpo, kto) on TRL, device-aware defaults, weights saved and reloaded.

``_hf`` is the one module that translates our specs into TRL / PEFT / transformers kwargs; it
stays private to train/. What run/ needs of it is re-exported here.
"""

from verticalize.train._hf import Device, detect_device, model_dtype, quantization_config

__all__ = ["Device", "detect_device", "model_dtype", "quantization_config"]
