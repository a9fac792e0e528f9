"""Per-example format converters: pure functions, ready for ``Dataset.map``.

Chat formats (alpaca, sharegpt, messages, prompt_completion) become ``{"messages": [...]}``;
``text`` stays ``{"text": ...}`` (continued pre-training); ``preference`` becomes
``{"prompt": [...], "chosen": [...], "rejected": [...]}`` (DPO); ``kto`` becomes
``{"prompt": [...], "completion": [...], "label": bool}`` (one answer marked good or bad: KTO). Keys that describe an example
(task, kind, lang, answer, program, choices, labels, id) are carried along.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from verticalize.data.sources import gc_paused
from verticalize.errors import DataError, UnknownNameError

__all__ = ["FORMATS", "META_KEYS", "detect_format", "convert", "to_messages", "remap", "as_prompt_example"]

META_KEYS = ("id", "task", "kind", "lang", "answer", "program", "program_dsl", "choices", "labels", "subset")
_ROLE = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
         "bot": "assistant", "system": "system", "tool": "tool", "function": "tool"}


class FormatError(ValueError):
    """A row does not fit its format; the caller adds file and line."""


def _str(row: dict[str, Any], key: str, required: bool = True) -> str:
    v = row.get(key)
    if v is None:
        if required:
            raise FormatError(f"missing field {key!r}")
        return ""
    if not isinstance(v, (str, int, float)) or isinstance(v, bool):
        raise FormatError(f"field {key!r} must be text, got {type(v).__name__}")
    return str(v)


def _path(row: Any, path: str) -> tuple[bool, Any]:
    """Walk a dotted path through dicts and lists ("info.0.sentiment_score" or "info[0].sentiment_score");
    (found, value)."""
    v = row
    for part in re.sub(r"\[(-?\d+)\]", r".\1", path).strip(".").split("."):
        if isinstance(v, dict) and part in v:
            v = v[part]
        elif isinstance(v, list) and part.lstrip("-").isdigit() and -len(v) <= int(part) < len(v):
            v = v[int(part)]
        else:
            return False, None
    return True, v


def remap(row: dict[str, Any], columns: dict[str, str] | None) -> dict[str, Any]:
    """Rename columns ``{theirs: ours}``; ``theirs`` may be a path into nested objects and lists
    (``info.0.sentiment_score`` or ``info[0].sentiment_score``), whose value becomes the column ``ours``
    (the nested original stays).

    >>> remap({"sentence": "s", "info": [{"sentiment_score": "0.4"}]}, {"info.0.sentiment_score": "score"})["score"]
    '0.4'
    """
    if not columns:
        return row
    out = {columns.get(k, k): v for k, v in row.items()}
    for theirs, ours in columns.items():
        if theirs not in row and ("." in theirs or "[" in theirs):
            found, v = _path(row, theirs)
            if found:
                out[ours] = v
    return out


def _meta(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in META_KEYS if k in row}


def alpaca(row: dict[str, Any]) -> dict[str, Any]:
    """{instruction, input?, output, system?} -> messages.

    >>> alpaca({"instruction": "Add", "input": "1+1", "output": "2"})["messages"][0]
    {'role': 'user', 'content': 'Add\\n\\n1+1'}
    """
    instruction, inp = _str(row, "instruction"), _str(row, "input", False)
    user = f"{instruction}\n\n{inp}" if inp.strip() else instruction
    msgs = [{"role": "user", "content": user}, {"role": "assistant", "content": _str(row, "output")}]
    if row.get("system"):
        msgs.insert(0, {"role": "system", "content": _str(row, "system")})
    return {"messages": msgs, **_meta(row)}


def _turns(turns: Any, key: str, role_key: str, content_key: str) -> list[dict[str, str]]:
    if not isinstance(turns, list) or not turns:
        raise FormatError(f"field {key!r} must be a non-empty list of turns")
    out = []
    for i, t in enumerate(turns):
        if not isinstance(t, dict) or role_key not in t or content_key not in t:
            raise FormatError(f"{key}[{i}] must have {role_key!r} and {content_key!r}")
        role = _ROLE.get(str(t[role_key]).lower())
        if role is None:
            raise FormatError(f"{key}[{i}]: unknown role {t[role_key]!r}; allowed: {', '.join(sorted(_ROLE))}")
        if not isinstance(t[content_key], str):
            raise FormatError(f"{key}[{i}].{content_key} must be text")
        out.append({"role": role, "content": t[content_key]})
    if not any(m["role"] == "assistant" for m in out):
        raise FormatError(f"{key} has no assistant turn")
    return out


def sharegpt(row: dict[str, Any]) -> dict[str, Any]:
    """{conversations: [{from, value}], system?} -> messages."""
    msgs = _turns(row.get("conversations"), "conversations", "from", "value")
    if row.get("system") and msgs[0]["role"] != "system":
        msgs.insert(0, {"role": "system", "content": _str(row, "system")})
    return {"messages": msgs, **_meta(row)}


def messages(row: dict[str, Any]) -> dict[str, Any]:
    """{messages: [{role, content}]} -> messages (roles normalised)."""
    return {"messages": _turns(row.get("messages"), "messages", "role", "content"), **_meta(row)}


def prompt_completion(row: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": _str(row, "prompt")},
                         {"role": "assistant", "content": _str(row, "completion")}], **_meta(row)}


def text(row: dict[str, Any]) -> dict[str, Any]:
    t = _str(row, "text")
    return {"text": t, **_meta(row)}


def preference(row: dict[str, Any]) -> dict[str, Any]:
    """{prompt, chosen, rejected} (text or message lists) -> conversational preference."""
    def side(key: str, role: str) -> list[dict[str, str]]:
        v = row.get(key)
        if isinstance(v, list):
            return [{"role": _ROLE.get(str(m.get("role", "")).lower(), role), "content": str(m.get("content", ""))}
                    for m in v if isinstance(m, dict)]
        return [{"role": role, "content": _str(row, key)}]

    return {"prompt": side("prompt", "user"), "chosen": side("chosen", "assistant"),
            "rejected": side("rejected", "assistant"), **_meta(row)}


_LABELS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False, "up": True, "down": False,
           "good": True, "bad": False, "desirable": True, "undesirable": False, "thumbs_up": True, "thumbs_down": False,
           "👍": True, "👎": False}


def kto(row: dict[str, Any]) -> dict[str, Any]:
    """{prompt, completion, label} (text or message lists; label true/false, 1/0, yes/no, up/down, good/bad, 👍/👎)
    -> one answer marked desirable or undesirable (KTO).

    >>> kto({"prompt": "q", "completion": "a", "label": "thumbs_down"})["label"]
    False
    """
    raw = row.get("label")
    if isinstance(raw, bool):
        label = raw
    elif isinstance(raw, (int, float)) and raw in (0, 1):
        label = bool(raw)
    elif isinstance(raw, str) and raw.strip().lower() in _LABELS:
        label = _LABELS[raw.strip().lower()]
    else:
        raise FormatError(f"field 'label' must say whether the completion is good: true/false, 1/0, yes/no, "
                          f"up/down, good/bad, thumbs_up/thumbs_down or 👍/👎; got {raw!r}")
    for key in ("prompt", "completion"):
        if row.get(key) is None:
            raise FormatError(f"missing field {key!r}")
    pair = preference({"prompt": row["prompt"], "chosen": row["completion"], "rejected": ""})
    return {"prompt": pair["prompt"], "completion": pair["chosen"], "label": label, **_meta(row)}


FORMATS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "alpaca": alpaca, "sharegpt": sharegpt, "messages": messages,
    "prompt_completion": prompt_completion, "text": text, "preference": preference, "kto": kto,
}


def detect_format(row: dict[str, Any]) -> str:
    """Guess the format from the keys of one row.

    >>> detect_format({"prompt": "q", "chosen": "a", "rejected": "b"})
    'preference'
    """
    keys = set(row)
    if "messages" in keys:
        return "messages"
    if "conversations" in keys:
        return "sharegpt"
    if {"chosen", "rejected"} <= keys:
        return "preference"
    if {"prompt", "completion", "label"} <= keys and isinstance(row["label"], bool):
        return "kto"
    if {"instruction", "output"} <= keys:
        return "alpaca"
    if {"prompt", "completion"} <= keys:
        return "prompt_completion"
    if "text" in keys:
        return "text"
    raise FormatError(
        f"cannot tell the format from the columns {sorted(k for k in keys if k != '_line')}; "
        f"set format: one of {', '.join(FORMATS)} (and columns: to rename)"
    )


@gc_paused
def convert(rows: list[dict[str, Any]], fmt: str, source: str, *, columns: dict[str, str] | None = None,
            on_error: str = "raise", report: Any = None) -> tuple[list[dict[str, Any]], str]:
    """Convert raw rows to one format; errors name the source and line."""
    if fmt != "auto" and fmt not in FORMATS:
        raise UnknownNameError("data format", fmt, ["auto", *FORMATS])
    out: list[dict[str, Any]] = []
    for row in rows:
        line = row.get("_line")
        if columns:
            row = remap(row, columns)
        try:
            if fmt == "auto":
                fmt = detect_format(row)
            out.append(FORMATS[fmt](row))
        except FormatError as e:
            msg = f"{source}:{line}: {e} (format {fmt})"
            if on_error == "raise" or report is None:
                raise DataError(msg) from None
            report.skip(msg)
    return out, fmt


def to_messages(example: dict[str, Any]) -> list[dict[str, str]]:
    """The chat messages of a converted example (text examples become one assistant turn)."""
    if "messages" in example:
        return example["messages"]
    if "prompt" in example and "chosen" in example:
        return example["prompt"] + example["chosen"]
    if "prompt" in example and "completion" in example:
        return example["prompt"] + example["completion"]
    return [{"role": "assistant", "content": example["text"]}]


def as_prompt_example(example: dict[str, Any], pot: bool = False) -> dict[str, Any]:
    """A chat example as a prompt to answer (reinforcement learning): its messages up to the last answer
    as ``prompt``, that answer as ``reference``, its describing keys (answer, kind, choices...) kept;
    ``pot``: the prompt asks for a Program-of-Thoughts program.

    >>> ex = {"messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}], "answer": 2}
    >>> p = as_prompt_example(ex)
    >>> p["prompt"], p["reference"], p["answer"], p["pot"]
    ([{'role': 'user', 'content': '1+1?'}], '2', 2, False)
    """
    msgs = list(example["messages"])
    reference = msgs.pop()["content"] if msgs and msgs[-1]["role"] == "assistant" else None
    out = {"prompt": msgs, "reference": reference, **_meta(example), "pot": bool(pot)}
    return out
