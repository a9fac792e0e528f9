"""Strategy objects a team writes for verticalize -- one per plug-in point.

Nothing here imports verticalize or inherits from it: each class has the methods its Protocol
(verticalize.strategies) names, and that is all. examples/custom_strategies.py uses them, as
objects and by import path (``acme_strategies:GlossarySource``) in a recipe.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import math
import operator
import re
from pathlib import Path
from typing import Any

GLOSSARY = {
    "current yield": "annual coupon divided by the bond's market price",
    "profit margin": "net income divided by revenue",
    "simple interest": "principal times rate times time",
    "percent change": "(new - old) / old, times 100",
    "current ratio": "current assets divided by current liabilities",
    "price-to-earnings ratio": "share price divided by earnings per share",
}


class GlossarySource:
    """DataSource: definition questions from a team glossary (a dict here; a database in real life)."""

    def __init__(self, terms: dict[str, str] | None = None, repeat: int = 4):
        self.terms = dict(terms or GLOSSARY)
        self.repeat = repeat

    @property
    def provenance(self) -> dict[str, Any]:
        return {"source": f"acme glossary ({len(self.terms)} terms)", "license": "internal"}

    def __iter__(self):
        for i in range(self.repeat):
            for term, definition in sorted(self.terms.items()):
                example = " (as quoted for $ACME)" if "ratio" in term else ""  # tickers for RedactTickers to find
                yield {"instruction": (f"Define {term}{example}." if i % 2 == 0 else f"What does '{term}' mean{example}?"),
                       "input": "", "output": f"The {term} is the {definition}.", "lang": "en", "task": "glossary"}

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps([self.terms, self.repeat], sort_keys=True).encode()).hexdigest()


class RedactTickers:
    """Step: replace stock tickers such as $AAPL with [TICKER]; counts the examples it changed."""

    name = "redact_tickers"
    PATTERN = re.compile(r"\$[A-Z]{1,5}\b")

    def __init__(self, placeholder: str = "[TICKER]"):
        self.placeholder = placeholder
        self._changed = 0

    def __call__(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for ex in batch:
            msgs = [{**m, "content": self.PATTERN.sub(self.placeholder, m["content"])} for m in ex.get("messages", [])]
            if msgs != ex.get("messages", []):
                self._changed += 1
                ex = {**ex, "messages": msgs}
            out.append(ex)
        return out

    def counts(self) -> dict[str, int]:
        return {"changed": self._changed}


class EveryNth:
    """Mixer: one replay example after every ``n`` domain examples (a fixed, inspectable order)."""

    def __init__(self, n: int = 4):
        self.n = n

    def mix(self, domain, replay, *, seed, length):
        out, pool = [], list(replay)
        for i, ex in enumerate(domain):
            out.append(ex)
            if (i + 1) % self.n == 0 and pool:
                out.append(pool.pop(0))
        return out, {"n": self.n, "replayed": len(out) - len(domain)}


class DoRA:
    """Method: LoRA with weight decomposition (DoRA), configured with PEFT directly."""

    kind = "dora"

    def __init__(self, r: int = 8, alpha: int = 16):
        self.r = r
        self.alpha = alpha

    def peft_config(self, ctx):
        from peft import LoraConfig

        return LoraConfig(r=self.r, lora_alpha=self.alpha, use_dora=True, target_modules=ctx.target_modules,
                          task_type="CAUSAL_LM")

    def quantization_config(self, ctx):
        return None


class AnswerOnlyLoop:
    """Stage: a hand-written loop that learns only the answer tokens (no Trainer at all)."""

    kind = "answer_loop"
    examples = "chat"

    def __init__(self, steps: int = 10, lr: float = 2e-4, seed: int = 0):
        self.steps = steps
        self.lr = lr
        self.seed = seed

    def train(self, ctx):
        import torch
        from peft import get_peft_model

        model = get_peft_model(ctx.model, ctx.peft_config) if ctx.peft_config is not None else ctx.model
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=self.lr)
        tok, log = ctx.tokenizer, []
        for step in range(self.steps):
            msgs = ctx.examples[step % len(ctx.examples)]["messages"]
            prompt = tok.apply_chat_template(msgs[:-1], tokenize=False, add_generation_prompt=True)
            full = tok.apply_chat_template(msgs, tokenize=False)
            ids = tok(full, return_tensors="pt", add_special_tokens=False, truncation=True, max_length=256)
            labels = ids["input_ids"].clone()
            labels[:, : len(tok(prompt, add_special_tokens=False)["input_ids"])] = -100
            loss = model(**ids, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            log.append({"step": step + 1, "loss": loss.item()})
        return Result(model, {"global_step": self.steps, "train_loss": log[-1]["loss"]}, log)


class Result:
    """What a stage hands back: any object with model, metrics and log_history."""

    def __init__(self, model, metrics, log_history):
        self.model, self.metrics, self.log_history = model, metrics, log_history


class ArithmeticExecutor:
    """Executor: evaluates arithmetic-only programs (assignments, + - * / ** %, round/abs/min/max)
    by walking their syntax tree -- no process, no builtins; anything else is 'denied'."""

    OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow, ast.Mod: operator.mod, ast.FloorDiv: operator.floordiv}
    FUNCS = {"round": round, "abs": abs, "min": min, "max": max, "sqrt": math.sqrt}

    def __init__(self, max_power: int = 100):
        self.max_power = max_power

    def run(self, program):
        env: dict[str, float] = {}
        try:
            for node in ast.parse(program or "").body:
                if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
                    raise PermissionError(f"only assignments allowed, got {type(node).__name__}")
                env[node.targets[0].id] = self._eval(node.value, env)
            return Outcome("ok", env.get("answer"))
        except PermissionError as e:
            return Outcome("denied", None, error=str(e))
        except Exception as e:  # a program error is a result, never an exception
            return Outcome("error", None, error=f"{type(e).__name__}: {e}")

    def _eval(self, node, env):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.Name) and node.id in env:
            return env[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in self.OPS:
            left, right = self._eval(node.left, env), self._eval(node.right, env)
            if isinstance(node.op, ast.Pow) and abs(right) > self.max_power:
                raise PermissionError("exponent too large")
            return self.OPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self._eval(node.operand, env)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.FUNCS:
            return self.FUNCS[node.func.id](*(self._eval(a, env) for a in node.args))
        raise PermissionError(f"not arithmetic: {ast.dump(node)[:60]}")

    def run_many(self, programs):
        return [self.run(p) for p in programs]

    def close(self):
        pass


class Outcome:
    def __init__(self, status, answer, stdout="", error="", duration_s=0.0):
        self.status, self.answer, self.stdout, self.error, self.duration_s = status, answer, stdout, error, duration_s


class GlossaryRecall:
    """Task with its own scoring rule: does the answer use the glossary definition's key words?"""

    name = "glossary_recall"

    def __init__(self, terms: dict[str, str] | None = None, max_new_tokens: int = 32):
        self.terms = dict(terms or GLOSSARY)
        self.max_new_tokens = max_new_tokens

    def examples(self):
        return [{"id": term, "messages": [{"role": "user", "content": f"Define {term}."}], "answer": definition}
                for term, definition in sorted(self.terms.items())]

    def predict(self, lm, examples):
        return lm.generate([lm.chat_prompt(ex["messages"]) for ex in examples], max_new_tokens=self.max_new_tokens)

    def score(self, examples, predictions):
        recalls = []
        for ex, pred in zip(examples, predictions):
            words = {w for w in re.findall(r"[a-z]+", ex["answer"].lower()) if len(w) > 3}
            recalls.append(len(words & set(re.findall(r"[a-z]+", pred.lower()))) / max(1, len(words)))
        return {"score": sum(recalls) / len(recalls), "perfect": float(sum(r == 1.0 for r in recalls))}


class CsvReporter:
    """Reporter: training metrics to a CSV file, messages and scores to the console."""

    def __init__(self, path: str = "metrics.csv"):
        self.path = path
        self._rows: list[dict[str, Any]] = []

    def message(self, text):
        print(f"[acme] {text}")

    def metrics(self, values, *, step, stage):
        self._rows.append({"stage": stage, "step": step, **values})

    def scores(self, report):
        for suite, row in report["scores"].items():
            print(f"[acme] {suite}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()))

    def close(self):
        if self._rows:
            keys = list(dict.fromkeys(k for r in self._rows for k in r))
            with Path(self.path).open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=keys)
                w.writeheader()
                w.writerows(self._rows)


try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover
    TrainerCallback = object  # type: ignore[misc,assignment]


class StopOnNan(TrainerCallback):
    """A transformers TrainerCallback (passed through to TRL): stop when the loss turns NaN."""

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and isinstance(logs.get("loss"), float) and math.isnan(logs["loss"]):
            control.should_training_stop = True
