"""Model resolution and the offline bases."""

from __future__ import annotations

from pathlib import Path

import pytest

from verticalize.errors import ModelLoadError, UnknownNameError
from verticalize.models import ALIASES, load_model, load_tokenizer, resolve_model
from verticalize.recipe import BaseSpec

REQUIRED = ["Qwen3-0.6B", "Qwen3-1.7B", "Qwen3-4B", "Qwen3-8B", "Qwen2.5-7B-Instruct", "ChatGLM3-6B",
            "Llama-3.1-8B-Instruct", "Phi-2", "smollm2-135m", "smollm2-360m", "smollm2-1.7b", "tiny"]


def test_registry_has_required_aliases() -> None:
    for name in REQUIRED:
        info = ALIASES[name]
        assert info.lora_targets and info.family and info.template
    assert ALIASES["ChatGLM3-6B"].trust_remote_code


def test_resolution_sources(tmp_path: Path) -> None:
    assert resolve_model(BaseSpec(model="tiny")).source == "offline"
    r = resolve_model(BaseSpec(model="qwen3-4b"))  # case-insensitive alias
    assert r.source == "hf" and r.location == "Qwen/Qwen3-4B"
    r = resolve_model(BaseSpec(model="Qwen3-4B", source="modelscope"))
    assert r.source == "modelscope" and r.location == "Qwen/Qwen3-4B"
    r = resolve_model(BaseSpec(model="modelscope:ZhipuAI/chatglm3-6b"))
    assert r.source == "modelscope" and r.location == "ZhipuAI/chatglm3-6b"
    assert resolve_model(BaseSpec(model="org/some-model")).source == "hf"
    (tmp_path / "config.json").write_text('{"model_type": "qwen3"}')
    r = resolve_model(BaseSpec(model=str(tmp_path)))
    assert r.source == "local" and r.template == "chatml"


def test_unknown_alias_names_closest() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'Qwen3-4B'"):
        resolve_model(BaseSpec(model="Qwen3-4"))


def test_local_dir_without_config() -> None:
    with pytest.raises(ModelLoadError, match="no config.json"):
        resolve_model(BaseSpec(model="/tmp", source="local"))


def test_hub_without_network_gives_clear_error() -> None:
    r = resolve_model(BaseSpec(model="verticalize-test/definitely-missing"))
    with pytest.raises(ModelLoadError, match="offline base"):
        load_tokenizer(r)


def test_modelscope_missing_package_says_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from verticalize.errors import MissingDependencyError

    if importlib.util.find_spec("modelscope") is not None:
        pytest.skip("modelscope installed")
    r = resolve_model(BaseSpec(model="modelscope:Qwen/Qwen3-0.6B"))
    with pytest.raises(MissingDependencyError, match=r"pip install 'verticalize\[modelscope\]'"):
        load_model(r)


def test_tiny_is_deterministic_and_has_marked_template() -> None:
    r = resolve_model(BaseSpec(model="tiny"))
    tok = load_tokenizer(r)
    assert "generation" in tok.chat_template
    out = tok.apply_chat_template(
        [{"role": "user", "content": "你好, what is 2+2?"}, {"role": "assistant", "content": "4"}],
        tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    mask = out["assistant_masks"]
    assigned = tok.decode([t for t, m in zip(out["input_ids"], mask) if m])
    assert assigned == "4<|im_end|>\n"  # the end-of-turn newline is learned, as in TRL's ChatML training templates
    m1, m2 = load_model(r), load_model(r)
    import torch

    for (n1, p1), (_, p2) in zip(m1.named_parameters(), m2.named_parameters()):
        assert torch.equal(p1, p2), n1
