"""Export: a merged (optionally bitsandbytes-quantized) model dir that plain transformers loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import tiny_adapter
from verticalize.errors import RunError

# runs in a fresh interpreter: transformers only, never verticalize
LOAD = r"""
import json, sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
d = sys.argv[1]
tok = AutoTokenizer.from_pretrained(d)
model = AutoModelForCausalLM.from_pretrained(d)
ids = tok.apply_chat_template([{"role": "user", "content": "Revenue went from 100 to 120. Percent change?"}],
                              add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
with torch.no_grad():
    logits = model(ids).logits[0, -1].float()
out = model.generate(ids, max_new_tokens=4, do_sample=False)
assert "verticalize" not in sys.modules
print(json.dumps({"logits": logits[:50].tolist(), "new_tokens": out.shape[1] - ids.shape[1],
                  "eos": model.generation_config.eos_token_id, "template": bool(tok.chat_template),
                  "quant": type(getattr(model, "hf_quantizer", None)).__name__}))
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory, ) -> object:
    import json as _json

    tmp = tmp_path_factory.mktemp("export")
    data = tmp / "fin.jsonl"
    data.write_text("\n".join(_json.dumps({"instruction": f"{a} + 1?", "output": f"{a + 1}"}) for a in range(40)),
                    encoding="utf-8")
    return tiny_adapter(tmp, data, max_steps=3, lr=5e-2).train(output_dir=tmp / "run", quiet=True)


def _load_plain(d: Path) -> dict:
    r = subprocess.run([sys.executable, "-c", LOAD, str(d)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _merged_logits(run) -> list[float]:
    import torch

    model, tok = run.load()
    ids = tok.apply_chat_template([{"role": "user", "content": "Revenue went from 100 to 120. Percent change?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        return model(ids).logits[0, -1, :50].float().tolist()


def test_merged_export_loads_in_plain_transformers_and_matches(run, tmp_path: Path) -> None:
    out = run.export(tmp_path / "merged")
    for f in ("model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
              "verticalize_export.json"):
        assert (out / f).is_file(), f
    assert not (out / "adapter_config.json").exists()  # merged: no adapter left
    got = _load_plain(out)
    assert got["template"] and got["new_tokens"] >= 1 and got["eos"] is not None
    want = _merged_logits(run)  # the LoRA model in verticalize: the merge changed nothing
    assert max(abs(a - b) for a, b in zip(got["logits"], want)) < 1e-4


@pytest.mark.parametrize("bits", ["8bit", "4bit"])
def test_quantized_export_loads_in_plain_transformers(run, tmp_path: Path, bits: str) -> None:
    out = run.export(tmp_path / bits, quantize=bits)
    cfg = json.loads((out / "config.json").read_text())
    q = cfg["quantization_config"]
    assert q["load_in_8bit"] if bits == "8bit" else q["load_in_4bit"]
    got = _load_plain(out)
    assert got["quant"].startswith("Bnb") and got["new_tokens"] >= 1
    full = (tmp_path / "full")
    run.export(full)
    assert (out / "model.safetensors").stat().st_size < (full / "model.safetensors").stat().st_size


def test_export_refuses_a_non_empty_dir_and_push_failure_keeps_the_export(run, tmp_path: Path, monkeypatch) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    with pytest.raises(RunError, match="not empty"):
        run.export(busy)
    assert (busy / "keep.txt").read_text() == "x"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RunError, match=r"push to the hub as 'org/fin' failed.*export is complete"):
        run.export(tmp_path / "pushed", push_to_hub="org/fin")
    assert (tmp_path / "pushed" / "model.safetensors").is_file()


def test_cli_export_quantized(run, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from verticalize.cli.main import cli

    r = CliRunner().invoke(cli, ["export", str(run.output_dir), "-o", str(tmp_path / "q"), "--quantize", "4bit"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["export", str(run.output_dir), "-o", str(tmp_path / "q"), "--quantize", "4bit"])
    assert r.exit_code == 2 and "not empty" in r.output
