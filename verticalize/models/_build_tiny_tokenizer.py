"""Rebuild ``assets/tiny_tokenizer.json``: a byte-level BPE trained on the bundled domain data.

    python -m verticalize.models._build_tiny_tokenizer

Deterministic for the same data. Bump ``_TINY_VERSION`` in offline.py after a rebuild.
"""

from __future__ import annotations

import json
from pathlib import Path

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def corpus(root: Path) -> list[str]:
    texts: list[str] = []
    for f in sorted(root.glob("domains/*/*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                texts.append(" ".join(str(rec.get(k, "")) for k in ("instruction", "input", "output")))
    return texts


def build(root: Path, out: Path, vocab_size: int = 4096) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = corpus(root)
    if not texts:
        raise SystemExit("no domains/*/*.jsonl found to train on")
    tok.train_from_iterator(texts, trainer=trainer)
    out.write_text(tok.to_str(), encoding="utf-8")
    print(f"wrote {out} ({tok.get_vocab_size()} tokens from {len(texts)} texts)")


if __name__ == "__main__":
    here = Path(__file__).resolve()
    build(here.parents[2], here.with_name("assets") / "tiny_tokenizer.json")
