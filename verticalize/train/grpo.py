"""Reinforcement learning with verifiable rewards through TRL's GRPOTrainer (LoRA, QLoRA or full).

For every prompt the model samples ``num_generations`` answers; the rewards score each one (the
built-ins check the gold answer: :mod:`verticalize.train.rewards`), and answers better than their
group's mean are reinforced. The prompts are the data's chat examples without their answer, with
their ``answer``, ``kind``, ``choices``... as columns the rewards read.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from verticalize.train import _hf
from verticalize.train.common import drop_ref_adapter, run_trainer

__all__ = ["train_grpo", "build_rewards", "NamedReward", "drop_ref_adapter"]


log = logging.getLogger("verticalize")

#: the columns of a prompt example handed to the rewards (besides prompt); other keys are dropped
COLUMNS = ("answer", "kind", "choices", "labels", "task", "lang", "id", "pot", "reference")


class NamedReward:
    """A reward as TRL calls it, under its recipe name (TRL logs ``rewards/<name>/mean``): checks that it
    returns one number (or None) per completion and names it when it fails."""

    def __init__(self, fn: Any, name: str):
        self.fn = fn
        self.__name__ = name
        self.kinds = getattr(fn, "kinds", None)

    def __call__(self, prompts: list[Any], completions: list[Any], **columns: Any) -> list[float | None]:
        from verticalize.errors import RunError

        try:
            out = self.fn(prompts=prompts, completions=completions, **columns)
        except Exception as e:  # the user's code: name it, keep the cause
            raise RunError(f"reward {self.__name__} failed: {type(e).__name__}: {e}") from e
        try:
            values = [None if v is None else float(v) for v in out]
        except (TypeError, ValueError):
            values = None
        if values is None or len(values) != len(completions):
            got = f"{len(values)} values" if values is not None else repr(out)[:80]
            raise RunError(f"reward {self.__name__} returned {got} for {len(completions)} completions: a Reward returns "
                           "one number (or None: not judged) per completion")
        return values

    def close(self) -> None:
        close = getattr(self.fn, "close", None)
        if callable(close):
            close()


def build_rewards(spec: Any) -> list[NamedReward]:
    """The stage's reward objects, each under its name: a built-in's recipe name, else the object's
    ``name`` or its class / function name (``rewards[i]`` when two would share a name)."""
    from verticalize.strategies import build
    from verticalize.train.rewards import builtin_reward

    out: list[NamedReward] = []
    for i, entry in enumerate(spec.rewards):
        if isinstance(entry, str):
            out.append(NamedReward(builtin_reward(entry), entry))
            continue
        obj = build(entry, f"train.rewards[{i}]")
        name = str(getattr(obj, "name", "") or entry.kind)
        out.append(NamedReward(obj, name))
    seen: set[str] = set()
    for i, r in enumerate(out):
        if r.__name__ in seen:
            r.__name__ = f"{r.__name__}[{i}]"
        seen.add(r.__name__)
    return out


def _judged(ex: dict[str, Any], rewards: list[NamedReward]) -> bool:
    """Some reward scores this example (a reward without ``kinds`` scores every one)."""
    return any(r.kinds is None or ex.get("kind") in r.kinds for r in rewards)


def _row(ex: dict[str, Any]) -> dict[str, Any]:
    """One dataset row: the prompt and the columns, with types Arrow can hold across examples."""
    row: dict[str, Any] = {"prompt": ex["prompt"]}
    for key in COLUMNS:
        v = ex.get(key)
        if key in ("choices", "labels"):
            row[key] = [str(x) for x in v] if isinstance(v, (list, tuple)) else None
        elif key == "pot":
            row[key] = bool(v)
        else:
            row[key] = None if v is None else str(v)
    return row


def _prompt_tokens(tokenizer: Any, prompt: Any) -> int:
    if isinstance(prompt, list):
        if getattr(tokenizer, "chat_template", None):
            ids = tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True)
            ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
            return len(ids)
        prompt = "\n\n".join(m["content"] for m in prompt)
    return len(tokenizer(str(prompt), add_special_tokens=False)["input_ids"])


def train_grpo(spec: Any, method: Any, model: Any, tokenizer: Any, examples: list[dict[str, Any]], out_dir: Path,
               peft: Any, dev: Any, callbacks: list[Any], resume_from: Path | None = None) -> dict[str, Any]:
    """With LoRA/QLoRA and ``beta > 0`` the reference policy is the model with its adapter switched off (a
    first stage), or a frozen copy of the adapter it continues (after an SFT stage)."""
    from datasets import Dataset

    from verticalize.errors import DataError

    rewards = build_rewards(spec)
    prompts = [ex for ex in examples if "prompt" in ex]
    judged = [ex for ex in prompts if _judged(ex, rewards)]
    if not judged:
        kinds = sorted({str(ex.get("kind")) for ex in prompts})
        wanted = sorted({k for r in rewards for k in (r.kinds or ())})
        raise DataError(f"grpo: none of the {len(prompts)} prompts is scored by the rewards "
                        f"{[r.__name__ for r in rewards]} (they judge kinds {wanted}; the data's kinds: {kinds}); "
                        "choose rewards for your data's kinds, or give examples a kind: and an answer: column")
    fits = [ex for ex in judged if _prompt_tokens(tokenizer, ex["prompt"]) <= spec.max_length]
    if not fits:
        raise DataError(f"grpo: every prompt is longer than train.max_length={spec.max_length} tokens; raise "
                        "train.max_length")
    if not any(ex.get("pot") for ex in fits) and any(r.__name__ == "pot_answer" for r in rewards):
        log.warning("grpo: reward pot_answer scores Python programs, but no prompt asks for one (pot.enabled is off):"
                    " the model is rewarded only for programs it writes unasked; consider numeric_answer")
    args = _hf.grpo_config(spec, str(out_dir / "checkpoints"), dev, method=method)
    trainer = _hf.make_grpo_trainer(model, tokenizer, rewards, Dataset.from_list([_row(ex) for ex in fits]), args,
                                    peft, callbacks)
    _hf.use_loraplus(trainer, getattr(method, "loraplus_lr_ratio", None))
    try:
        result = run_trainer(trainer, resume_from, examples=len(fits), unscored=len(prompts) - len(judged),
                             too_long=len(judged) - len(fits), rewards=[r.__name__ for r in rewards],
                             num_generations=spec.num_generations)
    finally:
        for r in rewards:
            r.close()
    logged = [float(r["reward"]) for r in result["log_history"] if "reward" in r]
    if logged:  # the mean reward of the first and the last quarter of the logged steps
        k = max(1, len(logged) // 4)
        result["metrics"].update(reward_first=round(sum(logged[:k]) / k, 4), reward_last=round(sum(logged[-k:]) / k, 4))
    drop_ref_adapter(result["model"])
    return result
