"""Which chat template trains a model, and how its loss is masked to the assistant's tokens.

The model's own chat template is never replaced: what is trained is the text the model is served
with. Assistant-only loss needs to know where each assistant turn is in that text:

1. the template has ``{% generation %}`` markers: they say it (``source="own"``);
2. TRL ships a training variant of the template (``trl.chat_template_utils.get_training_chat_template``:
   Qwen2.5, Qwen3, Llama 3, Phi-3, Gemma ...): it is used only when it renders byte-identical
   text to the model's own template on probe chats (single- and multi-turn, with and without a
   system message, with the generation prompt) (``source="trl"``);
3. otherwise, completion-only masking by rendered prefix (``source="prefix"``): an assistant turn
   is the text between the chat rendered up to it with the generation prompt and the chat
   rendered through it -- what TRL does for prompt-completion data, for every assistant turn.

A tokenizer without any chat template (a base model) gets :data:`FALLBACK_TEMPLATE`, which is
then saved with the adapter like any model's own template.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["FALLBACK_TEMPLATE", "TrainingTemplate", "has_generation_markers", "own_template", "training_template",
           "renders_identically", "PROBES"]

log = logging.getLogger("verticalize")

#: for tokenizers that ship no chat template at all (base models such as Phi-2)
FALLBACK_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- 'Assistant: ' }}{%- generation %}{{- message['content'] + eos_token }}{%- endgeneration %}{{- '\\n' }}"
    "{%- elif message['role'] == 'system' %}{{- message['content'] + '\\n\\n' }}"
    "{%- else %}{{- 'User: ' + message['content'] + '\\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- 'Assistant: ' }}{%- endif %}"
)

_MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")

_S = {"role": "system", "content": "You are a careful assistant."}
_U1 = {"role": "user", "content": "What is 2 + 2?\nAnswer briefly."}
_A1 = {"role": "assistant", "content": "4, because 2 + 2 = 4."}
_U2 = {"role": "user", "content": "And 3 * 3?"}
_A2 = {"role": "assistant", "content": "9\n\nThat is all."}

#: chats a training template must render exactly as the model's own: (messages, add_generation_prompt)
PROBES: tuple[tuple[list[dict[str, str]], bool], ...] = (
    ([_U1, _A1], False),
    ([_S, _U1, _A1], False),
    ([_U1, _A1, _U2, _A2], False),
    ([_S, _U1, _A1, _U2, _A2], False),
    ([_U1], True),
    ([_S, _U1], True),
    ([_S, _U1, _A1, _U2], True),
)


@dataclass(frozen=True)
class TrainingTemplate:
    """How the assistant's tokens are found: ``template`` has ``{% generation %}`` markers and renders
    the same text as the model's own (``source`` own | trl), or None: by rendered prefix (``prefix``)."""

    template: str | None
    source: str

    @property
    def describe(self) -> str:
        return {"own": "the chat template's {% generation %} markers",
                "trl": "TRL's training variant of the chat template (same text, with {% generation %} markers)",
                "prefix": "rendered prefix (the chat up to each assistant turn, with the generation prompt)",
                }[self.source]


def has_generation_markers(template: Any) -> bool:
    """Whether a chat template (or the ``default`` of named variants) has ``{% generation %}`` markers."""
    if isinstance(template, dict):
        template = template.get("default")
    return isinstance(template, str) and _MARKER.search(template) is not None


def own_template(tokenizer: Any) -> str | None:
    """The template ``apply_chat_template`` uses for a plain chat (the ``default`` of named variants)."""
    t = getattr(tokenizer, "chat_template", None)
    if isinstance(t, dict):
        t = t.get("default")
    return t if isinstance(t, str) else None


def training_template(tokenizer: Any) -> TrainingTemplate:
    """The template that locates the assistant's tokens for ``tokenizer``'s own chat template."""
    own = own_template(tokenizer)
    if own is None:
        return TrainingTemplate(None, "prefix")
    if has_generation_markers(own):
        return TrainingTemplate(own, "own")
    candidate = _trl_training_template(tokenizer)
    if candidate is not None and candidate != own:
        if renders_identically(tokenizer, own, candidate):
            return TrainingTemplate(candidate, "trl")
        log.info("TRL's training variant of this chat template renders different text (e.g. Qwen3's thinking "
                 "blocks in earlier turns); masking by rendered prefix instead")
    return TrainingTemplate(None, "prefix")


def _trl_training_template(tokenizer: Any) -> str | None:
    try:
        from trl.chat_template_utils import get_training_chat_template
    except ImportError:
        return None
    try:
        out = get_training_chat_template(tokenizer)
    except Exception:  # noqa: BLE001 -- unsupported template (ValueError), or a probe it renders fails
        return None
    return out if isinstance(out, str) else None


def render(tokenizer: Any, template: str, messages: list[dict[str, Any]], add_generation_prompt: bool,
           spans: bool = False) -> tuple[str, list[tuple[int, int]]]:
    """(text, character spans of the ``{% generation %}`` blocks) of one chat, as ``apply_chat_template``
    renders it."""
    from transformers.utils.chat_template_utils import render_jinja_template

    texts, idx = render_jinja_template(conversations=[messages], chat_template=template,
                                       add_generation_prompt=add_generation_prompt,
                                       return_assistant_tokens_mask=spans, **tokenizer.special_tokens_map)
    return texts[0], [tuple(s) for s in idx[0]] if spans and idx is not None else []


def renders_identically(tokenizer: Any, own: str, candidate: str) -> bool:
    """Whether ``candidate`` renders every probe chat byte for byte as ``own`` does, with a
    ``{% generation %}`` span holding each assistant message. Probes the model's own template
    rejects (e.g. a system message for Gemma) are skipped."""
    checked = 0
    for messages, gen in PROBES:
        try:
            want, _ = render(tokenizer, own, messages, gen)
        except Exception:  # noqa: BLE001 -- the model's own template refuses this chat shape
            continue
        try:
            got, spans = render(tokenizer, candidate, messages, gen, spans=True)
        except Exception:  # noqa: BLE001
            return False
        if got != want:
            return False
        learned = "".join(got[a:b] for a, b in spans)
        if any(m["content"].strip() not in learned for m in messages if m["role"] == "assistant"):
            return False
        checked += 1
    return checked > 0
