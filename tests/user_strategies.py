"""Strategy objects as a user writes them: no verticalize import, no base class (structural typing).

The tests hand these to the Adapter as objects and name them in recipes by import path
(``tests.user_strategies:Name``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any


class PercentSource:
    """A DataSource: alpaca rows generated from a seed (as a user's database reader would yield)."""

    def __init__(self, n: int = 40, offset: int = 0):
        self.n = n
        self.offset = offset

    @property
    def provenance(self) -> dict[str, Any]:
        return {"source": f"percent-generator(n={self.n}, offset={self.offset})", "license": "cc0"}

    def _rows(self) -> list[dict[str, Any]]:
        rows = []
        for i in range(self.offset, self.offset + self.n):
            a, b = 100 + i, 150 + 3 * i
            rows.append({"instruction": f"Sales rose from {a} to {b}. Percent change?", "input": "",
                         "output": f"The answer is {round((b - a) / a * 100, 2)}.", "lang": "en",
                         "task": "percent_change"})
        return rows

    def __iter__(self):
        return iter(self._rows())

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self._rows(), sort_keys=True).encode()).hexdigest()


class DropMentions:
    """A Step: drops examples whose text mentions ``word``; counts what it dropped."""

    def __init__(self, word: str = "forbidden"):
        self.word = word
        self.name = "drop_mentions"
        self._dropped = 0

    def __call__(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = [ex for ex in batch if self.word not in json.dumps(ex, ensure_ascii=False)]
        self._dropped += len(batch) - len(kept)
        return kept

    def counts(self) -> dict[str, int]:
        return {"dropped": self._dropped}


@dataclass
class AlternateMixer:
    """A Mixer: one replay example after every ``every`` domain examples."""

    every: int = 3

    def mix(self, domain, replay, *, seed, length):
        out, r = [], list(replay)
        for i, ex in enumerate(domain):
            out.append(ex)
            if (i + 1) % self.every == 0 and r:
                out.append(r.pop())
        return out, {"every": self.every, "replayed": len(out) - len(domain)}


class DoraMethod:
    """A Method: LoRA with weight decomposition (DoRA), built with PEFT directly."""

    kind = "dora"

    def __init__(self, r: int = 4):
        self.r = r

    def peft_config(self, ctx):
        from peft import LoraConfig

        return LoraConfig(r=self.r, lora_alpha=2 * self.r, use_dora=True, target_modules=ctx.target_modules,
                          task_type="CAUSAL_LM")

    def quantization_config(self, ctx):
        return None


@dataclass
class ManualResult:
    """Any object with model, metrics and log_history serves as a stage's result."""

    model: Any
    metrics: dict
    log_history: list


class ManualLoopStage:
    """A Stage: a hand-written causal-LM loop over the chat examples (no Trainer at all)."""

    kind = "manual"
    examples = "chat"

    def __init__(self, steps: int = 3, lr: float = 1e-3, seed: int = 7):
        self.steps = steps
        self.lr = lr
        self.seed = seed

    def train(self, ctx):
        import torch
        from peft import get_peft_model

        model = get_peft_model(ctx.model, ctx.peft_config) if ctx.peft_config is not None else ctx.model
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=self.lr)
        tok = ctx.tokenizer
        log = []
        for step in range(self.steps):
            ex = ctx.examples[step % len(ctx.examples)]
            text = tok.apply_chat_template(ex["messages"], tokenize=False)
            ids = tok(text, return_tensors="pt", truncation=True, max_length=128)
            loss = model(**ids, labels=ids["input_ids"]).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            log.append({"step": step + 1, "loss": loss.item()})
        return ManualResult(model=model, metrics={"global_step": self.steps, "train_loss": log[-1]["loss"]},
                            log_history=log)


class ConstantExecutor:
    """An Executor that runs nothing and answers ``value`` for every program."""

    def __init__(self, value: float = 42.0):
        self.value = value
        self.seen: list[str] = []

    def run(self, program):
        self.seen.append(program)

        class R:
            status, answer, stdout, error, duration_s = "ok", self.value, "", "", 0.0

        return R()

    def run_many(self, programs):
        return [self.run(p) for p in programs]

    def close(self):
        pass


class DigitCountTask:
    """A Task with its own scoring rule: does the generated answer contain a digit?"""

    name = "has_digit"

    def __init__(self, n: int = 4):
        self.n = n

    def examples(self):
        return [{"id": f"q{i}", "messages": [{"role": "user", "content": f"What is {i} plus {i}?"}], "answer": 2 * i}
                for i in range(self.n)]

    def predict(self, lm, examples):
        return lm.generate([lm.chat_prompt(ex["messages"]) for ex in examples], max_new_tokens=4)

    def score(self, examples, predictions):
        hits = [bool(re.search(r"\d", p)) for p in predictions]
        return {"score": sum(hits) / len(hits), "n_digit": float(sum(hits))}


class Recorder:
    """A Reporter that keeps what it hears."""

    def __init__(self):
        self.messages, self.rows, self.reports, self.closed = [], [], [], False

    def message(self, text):
        self.messages.append(text)

    def metrics(self, values, *, step, stage):
        self.rows.append({"step": step, **values})

    def scores(self, report):
        self.reports.append(report)

    def close(self):
        self.closed = True


try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover
    TrainerCallback = object  # type: ignore[misc,assignment]


class CountSteps(TrainerCallback):
    """A transformers callback, passed through to TRL's trainer."""

    def __init__(self):
        self.steps = 0

    def on_step_end(self, args, state, control, **kw):
        self.steps += 1


class TwoTaskSuite:
    """A Suite: a name, a role and its Task objects."""

    name = "digits"
    role = "retention"

    def __init__(self, n: int = 2):
        self.n = n

    def tasks(self):
        small, large = DigitCountTask(self.n), DigitCountTask(self.n + 1)
        large.name = "has_digit_large"
        return [small, large]


class DigitShare:
    """A Reward (TRL's reward function signature): the share of an answer's characters that are digits --
    something even the random tiny model learns to raise in a few GRPO steps."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def __call__(self, prompts, completions, **columns):
        texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
        return [self.scale * sum(ch.isdigit() for ch in t) / max(1, len(t)) for t in texts]


def answer_length(prompts, completions, **columns):
    """A Reward as a plain function: longer answers score higher (capped at 1)."""
    return [min(1.0, len(c[0]["content"] if isinstance(c, list) else c) / 100) for c in completions]
