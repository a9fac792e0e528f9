"""Shared fixtures. Tests run offline on the embedded ``tiny`` base (a few seconds per training run)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def chat_jsonl(tmp_path: Path) -> Path:
    """A small alpaca-format file with numeric finance questions."""
    p = tmp_path / "fin.jsonl"
    rows = []
    for i in range(48):
        a, b = 100 + i, 120 + 2 * i
        rows.append({"instruction": f"Revenue went from {a} to {b}. What is the percent change?", "input": "",
                     "output": f"The answer is {round((b - a) / a * 100, 2)}.", "task": "percent_change",
                     "kind": "numeric", "lang": "en", "answer": round((b - a) / a * 100, 2),
                     "program": f"answer = round(({b} - {a}) / {a} * 100, 2)"})
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return p


def tiny_adapter(tmp_path: Path, data: Path | None = None, **sft):
    from verticalize import Adapter

    a = Adapter(base="tiny")
    a = a.with_data(str(data)) if data is not None else a.with_domain("finance")
    kw = dict(max_steps=4, batch_size=2, grad_accum=1, max_length=128, logging_steps=1, save_steps=1000)
    kw.update(sft)
    return a.sft(**kw)
