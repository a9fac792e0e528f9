"""The ONE place that translates verticalize specs into TRL / PEFT / transformers arguments.

An upstream rename (``max_seq_length`` -> ``max_length``, ``torch_dtype`` -> ``dtype`` ...) is
fixed here and nowhere else. Device-aware defaults live here too: on CPU no bf16 and no gradient
checkpointing (TRL 1.x defaults to both, which makes a CPU step ~20x slower).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verticalize.recipe import FullSpec, LoraSpec, QLoraSpec, SFTSpec

__all__ = ["Device", "detect_device", "model_dtype", "quantization_config", "peft_config", "sft_config",
           "make_sft_trainer", "loss_kernel", "eva_init", "render_chats", "dpo_config", "make_dpo_trainer", "grpo_config", "make_grpo_trainer",
           "kto_config", "make_kto_trainer", "bnb_config",
           "use_loraplus", "tracking_callbacks", "load_checkpoint"]

log = logging.getLogger("verticalize")


@dataclass(frozen=True)
class Device:
    kind: str  # cuda | mps | cpu
    bf16: bool
    count: int = 1

    @property
    def is_gpu(self) -> bool:
        return self.kind in ("cuda", "mps")


def detect_device() -> Device:
    import torch

    if torch.cuda.is_available():
        return Device("cuda", bool(torch.cuda.is_bf16_supported()), torch.cuda.device_count())
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return Device("mps", False)
    return Device("cpu", False)


def precision(spec: SFTSpec | None, dev: Device) -> str:
    """The training precision: the stage's own (a Stage object may have none), else by device."""
    chosen = getattr(spec, "precision", "auto")
    if chosen != "auto":
        return chosen
    return "bf16" if dev.kind == "cuda" and dev.bf16 else "fp32"


def model_dtype(dtype: str, train: SFTSpec, dev: Device) -> Any:
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    return torch.bfloat16 if precision(train, dev) == "bf16" else torch.float32


def quantization_config(method: Any, dev: Device, compute_dtype: Any) -> Any:
    """BitsAndBytesConfig for QLoRA (4- or 8-bit), else None."""
    if not isinstance(method, QLoraSpec):
        return None
    from verticalize.errors import MissingDependencyError

    try:
        import bitsandbytes  # noqa: F401
    except ImportError as e:
        raise MissingDependencyError(f"QLoRA needs bitsandbytes: pip install bitsandbytes ({e})") from None
    return bnb_config(method.bits, compute_dtype, quant_type=method.quant_type, double_quant=method.double_quant)


def bnb_config(bits: int, compute_dtype: Any, *, quant_type: str = "nf4", double_quant: bool = True,
               quant_storage: Any = None) -> Any:
    """BitsAndBytesConfig for 8-bit or 4-bit weights (QLoRA training and quantized export).
    ``quant_storage``: the dtype packing the 4-bit weights; None: the compute dtype (what FSDP needs)."""
    from transformers import BitsAndBytesConfig

    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant_type,
        bnb_4bit_use_double_quant=double_quant,
        bnb_4bit_compute_dtype=compute_dtype,
        bnb_4bit_quant_storage=compute_dtype if quant_storage is None else quant_storage,
    )


def peft_config(method: Any, targets: list[str] | str, extra_modules: list[str] | None = None,
                tie_embeddings: bool = False) -> Any:
    """LoraConfig for LoRA/QLoRA (None for full fine-tuning). ``extra_modules`` are trained in full
    (``modules_to_save``); with tied input/output embeddings PEFT keeps them tied."""
    if isinstance(method, FullSpec):
        return None
    from peft import LoraConfig

    assert isinstance(method, (LoraSpec, QLoraSpec))
    target = method.target_modules if method.target_modules != "auto" else targets
    save = list(dict.fromkeys([*(method.modules_to_save or []), *(extra_modules or [])])) or None
    kwargs: dict[str, Any] = {}
    if save and tie_embeddings:
        import dataclasses

        if "ensure_weight_tying" in {f.name for f in dataclasses.fields(LoraConfig)}:
            kwargs["ensure_weight_tying"] = True
        else:
            log.warning("this peft cannot keep tied embeddings tied in modules_to_save: %s train as separate copies",
                        save)
    if method.init == "loftq":
        from peft import LoftQConfig

        kwargs["loftq_config"] = LoftQConfig(loftq_bits=4)
    if method.layers is not None:
        kwargs["layers_to_transform"] = list(method.layers)
    if method.init == "eva":  # the data-driven init: A from the SVD of each layer's inputs (eva_init)
        from peft import EvaConfig

        kwargs["eva_config"] = EvaConfig(rho=2.0, use_label_mask=False)
    return LoraConfig(
        r=method.r,
        lora_alpha=method.alpha,
        lora_dropout=method.dropout,
        target_modules=target,
        modules_to_save=save,
        bias="none",
        task_type="CAUSAL_LM",
        use_dora=method.use_dora,
        use_rslora=method.use_rslora,
        init_lora_weights=True if method.init == "default" else method.init,
        **kwargs,
    )


def _training_kwargs(spec: Any, output_dir: str, dev: Device, method: Any) -> dict[str, Any]:
    """TrainingArguments keys shared by every training kind (sft, cpt, dpo, grpo, kto)."""
    prec = precision(spec, dev)
    gc = spec.gradient_checkpointing
    if gc == "auto":
        gc = dev.is_gpu and not isinstance(method, LoraSpec)
    kwargs: dict[str, Any] = {
        "output_dir": output_dir,
        "num_train_epochs": spec.epochs,
        "max_steps": spec.max_steps if spec.max_steps is not None else -1,
        "learning_rate": spec.lr,
        "per_device_train_batch_size": spec.batch_size,
        "gradient_accumulation_steps": spec.grad_accum,
        "lr_scheduler_type": spec.scheduler,
        "warmup_steps": spec.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio
        "weight_decay": spec.weight_decay,
        "max_grad_norm": spec.max_grad_norm,
        "optim": getattr(spec, "optim", "adamw_torch_fused"),
        "use_liger_kernel": bool(getattr(spec, "use_liger_kernel", False)),
        "seed": spec.seed,
        "data_seed": spec.seed,
        "bf16": prec == "bf16",
        "fp16": prec == "fp16",
        "use_cpu": dev.kind == "cpu",
        "logging_steps": spec.logging_steps,
        "save_strategy": "steps",
        "save_steps": spec.save_steps,
        "save_total_limit": 2,  # the newest complete checkpoint survives a crash during the next save
        # tensorboard gets its own callback (tracking_callbacks) writing to <run or stage dir>/runs
        "report_to": [t for t in getattr(spec, "report_to", []) if t != "tensorboard"] or "none",
        "disable_tqdm": True,  # verticalize draws its own progress bar
        "dataloader_num_workers": 0,
        "ddp_find_unused_parameters": False,
    }
    from trl import SFTConfig

    kwargs.update(_checkpointing(SFTConfig, bool(gc)))
    return kwargs


def sft_config(spec: Any, output_dir: str, dev: Device, *, method: Any, has_assistant_masks: bool,
               eos_token: str | None = None, packing: bool | None = None, **overrides: Any) -> Any:
    """SFTConfig for an SFT stage, or a CPT stage (already tokenized windows: ``packing`` given)."""
    from trl import SFTConfig

    kwargs = _training_kwargs(spec, output_dir, dev, method)
    kwargs.update(
        max_length=spec.max_length,
        packing=_packing(spec, dev) if packing is None else packing,
        assistant_only_loss=getattr(spec, "assistant_only_loss", False) and has_assistant_masks,
        completion_only_loss=None,
        dataset_num_proc=None,
        eos_token=eos_token,
    )
    kwargs.update(overrides)
    return SFTConfig(**kwargs)


def dpo_config(spec: Any, output_dir: str, dev: Device, *, method: Any, **overrides: Any) -> Any:
    """DPOConfig for a DPO stage. With LoRA/QLoRA the reference model is the same weights with the
    adapter switched off (no second copy in memory)."""
    from trl import DPOConfig

    kwargs = _training_kwargs(spec, output_dir, dev, method)
    kwargs.update(max_length=spec.max_length, beta=spec.beta, loss_type=[spec.loss_type],
                  label_smoothing=spec.label_smoothing, dataset_num_proc=None)
    kwargs.update(overrides)
    return DPOConfig(**kwargs)


def make_dpo_trainer(model: Any, tokenizer: Any, train_dataset: Any, args: Any, peft: Any = None,
                     callbacks: list[Any] | None = None) -> Any:
    from trl import DPOTrainer

    return _reference_free(DPOTrainer, model, tokenizer, train_dataset, args, peft, callbacks)


def _reference_free(cls: Any, model: Any, tokenizer: Any, train_dataset: Any, args: Any, peft: Any,
                    callbacks: list[Any] | None) -> Any:
    """A TRL preference trainer (DPO, KTO) with no separate reference model: the adapter switched off,
    or the frozen ``ref`` adapter the stage set up."""
    from transformers.trainer_callback import PrinterCallback

    trainer = cls(model=model, ref_model=None, args=args, train_dataset=train_dataset, processing_class=tokenizer,
                  peft_config=peft, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)
    return trainer


def grpo_config(spec: Any, output_dir: str, dev: Device, *, method: Any, **overrides: Any) -> Any:
    """GRPOConfig for a GRPO stage: ``batch_size`` counts completions (``num_generations`` per prompt), and one
    generation round fills ``grad_accum`` micro-batches (TRL's ``steps_per_generation``)."""
    from trl import GRPOConfig

    kwargs = _training_kwargs(spec, output_dir, dev, method)
    kwargs.update(num_generations=spec.num_generations, max_completion_length=spec.max_completion_length,
                  temperature=spec.temperature, top_p=spec.top_p, beta=spec.beta, epsilon=spec.epsilon,
                  num_iterations=spec.num_iterations, loss_type=spec.loss_type, scale_rewards=spec.scale_rewards,
                  reward_weights=list(spec.reward_weights) if spec.reward_weights is not None else None,
                  mask_truncated_completions=spec.mask_truncated_completions, log_completions=False,
                  remove_unused_columns=False)
    kwargs.update(overrides)
    return GRPOConfig(**kwargs)


def make_grpo_trainer(model: Any, tokenizer: Any, rewards: list[Any], train_dataset: Any, args: Any, peft: Any = None,
                      callbacks: list[Any] | None = None) -> Any:
    from transformers.trainer_callback import PrinterCallback
    from trl import GRPOTrainer

    trainer = GRPOTrainer(model=model, reward_funcs=list(rewards), args=args, train_dataset=train_dataset,
                          processing_class=tokenizer, peft_config=peft, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)
    return trainer


def kto_config(spec: Any, output_dir: str, dev: Device, *, method: Any, **overrides: Any) -> Any:
    """KTOConfig for a KTO stage (unpaired desirable / undesirable answers). The data order is kept
    (``sequential``): the KL estimate pairs each example with its neighbour in the batch."""
    from trl import KTOConfig

    kwargs = _training_kwargs(spec, output_dir, dev, method)
    kwargs.update(max_length=spec.max_length, beta=spec.beta, loss_type=spec.loss_type,
                  desirable_weight=spec.desirable_weight, undesirable_weight=spec.undesirable_weight,
                  dataset_num_proc=None)
    kwargs.update(overrides)
    return KTOConfig(**kwargs)


def make_kto_trainer(model: Any, tokenizer: Any, train_dataset: Any, args: Any, peft: Any = None,
                     callbacks: list[Any] | None = None) -> Any:
    from trl import KTOTrainer

    return _reference_free(KTOTrainer, model, tokenizer, train_dataset, args, peft, callbacks)


def tracking_callbacks(spec: Any, stage_dir: Path) -> list[Any]:
    """TensorBoard logging to ``<stage_dir>/runs`` (transformers 5 would put it under the checkpoints,
    which a finished run prunes)."""
    if "tensorboard" not in getattr(spec, "report_to", []):
        return []
    from transformers.integrations import TensorBoardCallback

    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        from verticalize.errors import MissingDependencyError

        raise MissingDependencyError(f"train.report_to: tensorboard needs the tensorboard package: pip install "
                                     f"tensorboard ({e})") from None
    return [TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(Path(stage_dir) / "runs")))]


def load_checkpoint(trainer: Any, ckpt: Path) -> None:
    """Load a checkpoint's weights and trainer state into ``trainer`` without training (transformers'
    own loader, as ``train(resume_from_checkpoint=...)`` uses it)."""
    from transformers import TrainerState

    trainer._load_from_checkpoint(str(ckpt))
    trainer.state = TrainerState.load_from_json(str(Path(ckpt) / "trainer_state.json"))


def use_loraplus(trainer: Any, ratio: float | None) -> Any:
    """LoRA+ (Hayou et al. 2024): the trainer's optimizer gives the LoRA B matrices ``ratio`` times the
    learning rate of A (PEFT's ``create_loraplus_optimizer``). No-op for ``ratio`` None."""
    if not ratio:
        return trainer
    import types

    def create_optimizer(self: Any, *a: Any, **kw: Any) -> Any:
        if self.optimizer is None:
            import torch
            from peft.optimizers import create_loraplus_optimizer

            self.optimizer = create_loraplus_optimizer(model=self.model, optimizer_cls=torch.optim.AdamW,
                                                       lr=self.args.learning_rate, loraplus_lr_ratio=ratio,
                                                       weight_decay=self.args.weight_decay)
        return self.optimizer

    trainer.create_optimizer = types.MethodType(create_optimizer, trainer)
    return trainer


def _packing(spec: Any, dev: Device) -> bool:
    """Padding-free packing ran ~2x slower per token than padded batches on CPU (SDPA, SmolLM2-135M:
    27 vs 60 tokens/s); auto: GPU only."""
    return dev.is_gpu if spec.packing == "auto" else bool(spec.packing)


def _checkpointing(config_cls: Any, on: bool) -> dict[str, Any]:
    """transformers 5 renamed gradient_checkpointing to activation_checkpointing."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(config_cls)}
    key = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    out: dict[str, Any] = {key: on}
    if on:
        out[f"{key}_kwargs"] = {"use_reentrant": False}
    return out


def render_chats(tokenizer: Any, conversations: list[Any], generation_spans: bool, *, template: str | None = None,
                 add_generation_prompt: bool = False) -> tuple[list[str], list[Any]] | None:
    """Render chats with ``template`` (default: the tokenizer's own), as ``apply_chat_template`` does
    before it tokenizes: (texts, per-text character spans of the ``{% generation %}`` blocks). None
    when this transformers has no ``render_jinja_template`` (callers fall back to ``apply_chat_template``)."""
    try:
        from transformers.utils.chat_template_utils import render_jinja_template
    except ImportError:
        return None
    if template is None:
        from verticalize.models.templates import own_template

        template = own_template(tokenizer)
    if not isinstance(template, str):
        return None
    texts, spans = render_jinja_template(conversations=conversations, chat_template=template,
                                         return_assistant_tokens_mask=generation_spans,
                                         add_generation_prompt=add_generation_prompt,
                                         **tokenizer.special_tokens_map)
    return list(texts), list(spans) if generation_spans and spans else [[] for _ in texts]


def make_sft_trainer(model: Any, tokenizer: Any, train_dataset: Any, args: Any, peft: Any = None,
                     callbacks: list[Any] | None = None, loss_kernel: str = "chunked") -> Any:
    """TRL's SFTTrainer with our loss (``loss_kernel``: see :func:`loss_kernel`)."""
    from transformers.trainer_callback import PrinterCallback

    if peft is not None and getattr(peft, "init_lora_weights", None) == "eva":
        model, peft = eva_init(model, peft, train_dataset, args.per_device_train_batch_size,
                               getattr(args, "max_length", None), getattr(tokenizer, "pad_token_id", None) or 0)
    trainer = _lean_sft_trainer_cls()(
        loss_kernel=loss_kernel,
        model=model,
        args=args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=peft,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # our ProgressLog draws the bar and keeps the log
    return trainer


def loss_kernel(spec: Any, dev: Device) -> str:
    """``train.loss_kernel`` resolved: auto is TRL's chunked kernel on GPUs (the full logits of a large
    vocabulary do not fit), the logits on CPUs, where the chunked kernel's backward is slow: forward and
    backward of SmolLM2-135M LoRA at batch 4 x 200 tokens (40% learned) on 2 cores, median of 3:
    chunked 4.81 s, full logits 3.75 s, logits of the learned tokens only 3.23 s."""
    k = getattr(spec, "loss_kernel", "auto")
    return k if k != "auto" else ("chunked" if dev.kind == "cuda" else "logits")


EVA_BATCHES = 64  # most batches EVA's SVD sees (it stops earlier once its components converge)


def eva_init(model: Any, peft: Any, dataset: Any, batch_size: int, max_length: int | None, pad_id: int
             ) -> tuple[Any, None]:
    """PEFT's EVA init (``init: eva``): wrap ``model`` with the LoRA config, then set each layer's LoRA A
    from the SVD of its inputs on the training batches (and redistribute ranks, rho 2); returns the
    PeftModel and no config left for the trainer to apply."""
    import torch
    from peft import get_peft_model, initialize_lora_eva_weights

    wrapped = get_peft_model(model, peft, low_cpu_mem_usage=True)
    device = next(model.parameters()).device

    def batches() -> Any:
        for lo in range(0, min(len(dataset), EVA_BATCHES * batch_size), batch_size):
            ids = [list(x)[:max_length] if max_length else list(x) for x in dataset[lo: lo + batch_size]["input_ids"]]
            width = max(len(x) for x in ids)
            yield {"input_ids": torch.tensor([x + [pad_id] * (width - len(x)) for x in ids], device=device),
                   "attention_mask": torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids], device=device)}

    initialize_lora_eva_weights(wrapped, list(batches()), show_progress_bar=False)
    return wrapped, None


def _lean_sft_trainer_cls() -> Any:
    """TRL's SFTTrainer with a lean loss.

    TRL 1.16 computes the loss through a fused, chunked LM head (``add_fused_lm_head``) that also
    works out per-token entropy and top-1 accuracy at every step (metrics only). The lean loss asks
    the same kernel for the log-probabilities alone and reduces them exactly as TRL does (same
    ``num_items_in_batch`` normalisation across gradient accumulation and ranks), so losses and
    gradients are bit-identical to a plain SFTTrainer's (tests/train/test_parity.py,
    benchmarks/overhead.py). Where TRL's loss does more (a custom loss function, label smoothing,
    DFT, an MoE auxiliary loss, sequence parallelism) or this TRL has no fused head, TRL's own loss.
    """
    global _LEAN
    if _LEAN is None:
        import torch
        from trl import SFTTrainer

        try:
            from trl.trainer.utils import add_fused_lm_head
        except ImportError:  # an older or newer TRL: its own loss
            add_fused_lm_head = None

        class LeanSFTTrainer(SFTTrainer):
            def __init__(self, *args: Any, loss_kernel: str = "chunked", **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._lean = add_fused_lm_head is not None and self._plain_nll()
                self._logits = self._lean and loss_kernel == "logits"
                if self._lean and not self._logits:
                    model = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
                    add_fused_lm_head(model, outputs=("log_probs",))  # TRL's kernel, without the metrics

            def _plain_nll(self) -> bool:
                sp = getattr(self.accelerator, "parallelism_config", None)
                return (self.compute_loss_func is None and self.label_smoother is None
                        and getattr(self.args, "loss_type", "nll") == "nll"
                        and not getattr(self, "aux_loss_enabled", False)
                        and not (sp is not None and getattr(sp, "sp_enabled", False)))

            def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
                if not self._lean:
                    return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
                inputs["use_cache"] = False
                if self._logits and not return_outputs and _learned_only(model):
                    # the cross-entropy of the logits, computed only where a token is learned: the LM head's
                    # matmul skips the prompt (the same loss to float rounding, less time and memory)
                    loss = _learned_positions_loss(model, inputs, num_items_in_batch)
                    if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                        loss = loss * (self.accelerator.num_processes // self.get_tp_size())
                    return loss
                if self._logits:  # the model's own loss on the full logits (transformers' Trainer, LLaMA-Factory)
                    if num_items_in_batch is not None:
                        inputs["num_items_in_batch"] = num_items_in_batch
                    outputs = model(**inputs)
                    loss = outputs.loss
                    if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                        loss = loss * (self.accelerator.num_processes // self.get_tp_size())
                    return (loss, outputs) if return_outputs else loss
                # the reduction of SFTTrainer.compute_loss (TRL 1.16), step for step
                outputs = model(**inputs, fused_lm_head=True)
                num_tokens = outputs.label_mask.sum() if num_items_in_batch is None else num_items_in_batch
                loss = (-outputs.log_probs).sum() / torch.as_tensor(num_tokens).clamp(min=1)
                if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                    loss = loss * (self.accelerator.num_processes // self.get_tp_size())
                if return_outputs:  # the logits, for evaluation only: one more forward, as TRL does
                    with torch.no_grad():
                        outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
                    return loss, outputs
                return loss

        _LEAN = LeanSFTTrainer
    return _LEAN


_LEAN: Any = None

#: decoder-only families whose logits are exactly lm_head(last hidden state): no soft-capping or scaling
_PLAIN_HEAD = {"llama", "mistral", "qwen2", "qwen3", "phi3", "smollm3"}


def _learned_only(model: Any) -> bool:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    cfg = getattr(base, "config", None)
    return (getattr(cfg, "model_type", None) in _PLAIN_HEAD and hasattr(base, "model") and hasattr(base, "lm_head")
            and getattr(cfg, "final_logit_softcapping", None) is None)


def _learned_positions_loss(model: Any, inputs: dict[str, Any], num_items_in_batch: Any) -> Any:
    """transformers' causal-LM loss (labels shifted by one, logits in fp32, summed and divided by
    ``num_items_in_batch``, else averaged), with the LM head applied to the learned positions only."""
    import torch.nn.functional as F

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    labels = inputs["labels"]
    body = {k: v for k, v in inputs.items() if k not in ("labels", "num_items_in_batch")}
    hidden = base.model(**body).last_hidden_state[:, :-1]
    target = labels[:, 1:]
    keep = target != -100
    logits = base.lm_head(hidden[keep]).float()
    loss = F.cross_entropy(logits, target[keep], reduction="sum")
    n = num_items_in_batch if num_items_in_batch is not None else keep.sum()
    return loss / _count(n, loss)


def _count(n: Any, like: Any) -> Any:
    import torch

    return torch.as_tensor(n, device=like.device).clamp(min=1)
