"""The model behind ``verticalize chat`` and ``verticalize serve``: a finished run dir or an export dir,
with its chat template, its system prompt and its generation settings.

Importing this module is light (no torch): loading and generating import what they need.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verticalize.errors import RunError, VerticalizeError

__all__ = ["ChatModel", "PromptError", "load_chat_model"]

ROLES = ("system", "user", "assistant")

# recipe.eval.generation's defaults (verticalize.recipe.GenerationSpec), for a plain model dir
_DEFAULT_GENERATION: dict[str, Any] = {"max_new_tokens": 64, "temperature": 0.0, "top_p": 1.0, "top_k": 0,
                                       "num_beams": 1, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0}


class PromptError(VerticalizeError, ValueError):
    """A conversation the model cannot answer as given (bad roles, too long for its context)."""


@dataclass
class ChatModel:
    """A loaded model with everything a chat needs.

    ``generation`` is the run's ``eval.generation`` (max_new_tokens, temperature, top_p, ...), the
    settings its evaluation used; ``system`` is the system prompt added when a conversation has
    none (the domain pack's, as in ``Run.generate``).
    """

    model: Any
    tokenizer: Any
    name: str
    path: Path
    source: str  # "run" | "export" | "model"
    generation: dict[str, Any] = field(default_factory=lambda: dict(_DEFAULT_GENERATION))
    system: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ---- prompts ----------------------------------------------------------------------------------
    @property
    def context_length(self) -> int | None:
        cfg = getattr(self.model, "config", None)
        n = getattr(cfg, "max_position_embeddings", None)
        return int(n) if isinstance(n, int) and n > 0 else None

    def prompt(self, messages: Sequence[dict[str, str]]) -> str:
        """The prompt text: the conversation (with the default system prompt when it has none) through
        the model's chat template, up to the assistant's turn."""
        msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
        if not msgs:
            raise PromptError("the conversation is empty: give at least one user message")
        bad = sorted({m["role"] for m in msgs} - set(ROLES))
        if bad:
            raise PromptError(f"unsupported role(s) {', '.join(map(repr, bad))}; allowed: {', '.join(ROLES)}")
        if msgs[-1]["role"] != "user":
            raise PromptError(f"the last message must be the user's (got {msgs[-1]['role']!r})")
        if self.system and not any(m["role"] == "system" for m in msgs):
            msgs.insert(0, {"role": "system", "content": self.system})
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            from jinja2 import TemplateError

            try:
                return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            except TemplateError as e:  # e.g. a template that allows no system role raises in the template
                raise PromptError(f"the model's chat template refused the conversation: {e}") from None
        return "\n\n".join(m["content"] for m in msgs) + "\n\n"

    def encode(self, messages: Sequence[dict[str, str]]) -> Any:
        """Prompt token ids (a 1 x n LongTensor); a PromptError when the prompt fills the context."""
        text = self.prompt(messages)
        with self._lock:  # a fast tokenizer is not safe to call from several threads at once
            ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        ctx = self.context_length
        if ctx is not None and ids.shape[1] >= ctx:
            raise PromptError(f"the prompt is {ids.shape[1]} tokens; the model's context is {ctx} tokens")
        return ids

    # ---- generation -------------------------------------------------------------------------------
    def settings(self, *, max_tokens: int | None = None, temperature: float | None = None,
                 top_p: float | None = None) -> dict[str, Any]:
        """``generate`` keyword arguments: the run's generation settings, with these overrides.

        Beam search cannot stream, so chat and serve decode greedily or by sampling (num_beams 1).
        """
        g = dict(self.generation)
        if max_tokens is not None:
            g["max_new_tokens"] = max_tokens
        if temperature is not None:
            g["temperature"] = temperature
        if top_p is not None:
            g["top_p"] = top_p
        tok = self.tokenizer
        eos = self.eos_ids()
        kw: dict[str, Any] = {"max_new_tokens": int(g["max_new_tokens"]), "num_beams": 1,
                              "repetition_penalty": float(g.get("repetition_penalty") or 1.0),
                              "eos_token_id": eos or None,
                              "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else (eos or [None])[0]}
        if g.get("no_repeat_ngram_size"):
            kw["no_repeat_ngram_size"] = int(g["no_repeat_ngram_size"])
        if float(g.get("temperature") or 0) > 0:
            kw.update(do_sample=True, temperature=float(g["temperature"]), top_p=float(g.get("top_p") or 1.0),
                      top_k=int(g.get("top_k") or 0) or None)
        else:
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kw

    def eos_ids(self) -> list[int]:
        """End-of-turn ids: the tokenizer's eos and the generation config's (one id or a list)."""
        out: list[int] = []
        cands: list[Any] = [self.tokenizer.eos_token_id,
                            getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)]
        for c in cands:
            for i in (c if isinstance(c, (list, tuple)) else [c]):
                if isinstance(i, int) and i not in out:
                    out.append(i)
        return out

    def start(self, messages: Sequence[dict[str, str]] | None = None, *, input_ids: Any = None,
              max_tokens: int | None = None, temperature: float | None = None, top_p: float | None = None,
              stop: Sequence[str] = (), ignore_eos: bool = False, on_done: Callable[[], None] | None = None) -> Any:
        """Start answering; returns a ``Generation`` to iterate for text deltas (see verticalize.serve._stream).

        ``max_tokens`` is capped by what is left of the model's context after the prompt; ``ignore_eos``
        generates all of them (for load tests and benchmarks).
        """
        from verticalize.serve._stream import Generation

        ids = input_ids if input_ids is not None else self.encode(messages or [])
        kw = self.settings(max_tokens=max_tokens, temperature=temperature, top_p=top_p)
        ctx = self.context_length
        if ctx is not None:
            kw["max_new_tokens"] = max(1, min(kw["max_new_tokens"], ctx - int(ids.shape[1])))
        if ignore_eos:
            kw["min_new_tokens"] = kw["max_new_tokens"]
        return Generation(self.model, self.tokenizer, ids, kw, stop=stop, eos_ids=self.eos_ids(), on_done=on_done)

    def stream(self, messages: Sequence[dict[str, str]], **kwargs: Any) -> Any:
        """Text deltas of the answer to ``messages`` (see ``start`` for the keyword arguments)."""
        return iter(self.start(messages, **kwargs))

    def chat(self, messages: Sequence[dict[str, str]], **kwargs: Any) -> str:
        """The whole answer to ``messages``."""
        return self.start(messages, **kwargs).text()


def load_chat_model(path: str | Path, *, system: str | None = None, name: str | None = None,
                    device: str | None = "auto") -> ChatModel:
    """Load a finished run dir (``manifest.json``) or an export dir (``verticalize export``; any plain
    transformers model dir works too) for chat.

    ``system``: None keeps the run's system prompt (its domain pack's), "" means none, other text
    replaces it. ``device``: "auto" puts the model on the GPU when there is one.
    """
    p = Path(path)
    if not p.exists():
        inc = p.with_name(p.name + ".incomplete")
        hint = f" (an unfinished run is at {inc})" if inc.exists() else ""
        raise RunError(f"{p} does not exist: give a run dir (verticalize train) or an export dir "
                       f"(verticalize export){hint}")
    if not p.is_dir():
        raise RunError(f"{p} is not a directory: give a run dir (verticalize train) or an export dir "
                       "(verticalize export)")
    if (p / "manifest.json").is_file() or p.name.endswith(".incomplete"):
        cm = _from_run(p)
    elif (p / "config.json").is_file():
        cm = _from_model_dir(p)
    else:
        raise RunError(f"{p} is neither a verticalize run dir (no manifest.json) nor a model dir such as "
                       "`verticalize export` writes (no config.json)")
    if system is not None:
        cm.system = system or None
    if name:
        cm.name = name
    _place(cm, device)
    return cm


def _run_settings(run: Any) -> tuple[dict[str, Any], str | None]:
    gen = run.recipe.eval.generation.model_dump()
    system = None
    if run.recipe.domain:
        from verticalize.packs import load_domain

        try:
            system = load_domain(run.recipe.domain).system_for("en")
        except VerticalizeError:  # the pack moved since training: chat without its system prompt
            system = None
    return gen, system


def _from_run(p: Path) -> ChatModel:
    from verticalize.run import Run

    run = Run(p)
    model, tok = run.load()
    gen, system = _run_settings(run)
    return ChatModel(model, tok, name=p.resolve().name, path=p, source="run", generation=gen, system=system)


def _from_model_dir(p: Path) -> ChatModel:
    from verticalize.errors import ModelLoadError

    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(p)
        model = AutoModelForCausalLM.from_pretrained(p)
    except (OSError, ValueError, ImportError) as e:
        raise ModelLoadError(f"cannot load the model in {p}: {type(e).__name__}: {e}") from None
    model.eval()
    info_path = p / "verticalize_export.json"
    info: dict[str, Any] = {}
    if info_path.is_file():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise RunError(f"{info_path}: not valid JSON ({e})") from None
    gen = {**_DEFAULT_GENERATION, **(info.get("generation") or {})}
    system = info.get("system")
    if "generation" not in info and info.get("run"):  # an older export: its run dir may still be there
        try:
            from verticalize.run import Run

            gen, system = _run_settings(Run(info["run"]))
        except VerticalizeError:
            pass
    return ChatModel(model, tok, name=p.resolve().name, path=p, source="export" if info else "model",
                     generation=gen, system=system)


def _place(cm: ChatModel, device: str | None) -> None:
    import torch

    model = cm.model
    if device is None:
        return
    if device == "auto":
        if not torch.cuda.is_available():
            return
        device = "cuda"
    quantized = any(getattr(model, a, False) for a in ("is_loaded_in_4bit", "is_loaded_in_8bit")) or getattr(
        getattr(model, "config", None), "quantization_config", None) is not None
    if quantized or getattr(model, "hf_device_map", None):
        return  # bitsandbytes / accelerate already placed it
    cm.model = model.to(device)
