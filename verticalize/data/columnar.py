"""The Arrow engine's columnar path: a block of JSON Lines in ``alpaca`` (sft) or ``text`` (cpt) format,
parsed by pyarrow's JSON reader and turned into the fact columns :meth:`shards.Facts.rows` would give,
with Arrow kernels; Python touches only what needs it (the PII candidates, the repetition check of long
texts, duplicate keys).

It gives the same columns as the per-example path or nothing: any block pyarrow cannot read exactly as
Python's ``json`` would (malformed or non-UTF-8 lines, a value that is not text, two objects on a line,
a missing required field) returns None, and the per-example path reads it and names each problem by
file:line. ``tests/data/test_arrow.py`` checks both paths give identical data sets and reports.
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["usable", "fact_table", "reader"]

_FIELDS = {"alpaca": ("instruction", "input", "output", "system"), "text": ("text",)}
_REQUIRED = {"alpaca": ("instruction", "output"), "text": ("text",)}
_META = ("id", "lang", "task")
_KINDS = {"sft": "alpaca", "cpt": "text"}
# a superset of the texts redact_pii can change: each of its patterns without the lookarounds RE2 lacks
# (they only narrow a match), simplified to a part every match holds; \p{Nd}, as Python's \d matches any
# decimal digit. tests/data/test_arrow.py checks it on the PII tests' texts.
_D = r"\p{Nd}"
_MAYBE_PII = "|".join([
    r"[A-Za-z0-9._%+-]@[A-Za-z0-9.-]+\.[A-Za-z]{2}",  # e-mail
    rf"{_D}{{13}}|{_D}{{4}}[ -]{_D}{{4}}[ -]{_D}",  # bank card (and the 18-digit resident ID)
    rf"1[3-9]{_D}[ -]?{_D}{{4}}[ -]?{_D}{{4}}",  # Chinese mobile
    rf"\(0{_D}{{2,3}}\){_D}{{7}}|0{_D}{{2,3}}-{_D}{{7}}",  # Chinese landline
    rf"\+{_D}{{1,3}}[ -]?(?:\({_D}{{1,4}}\)[ -]?)?{_D}{{2,4}}[ -]{_D}{{3,4}}[ -]?{_D}{{3,4}}",  # international
    rf"\({_D}{{3}}\)(?s:.)?{_D}{{3}}[-.]{_D}{{4}}|{_D}{{3}}[-.]{_D}{{3}}[-.]{_D}{{4}}",  # North American
])


def usable(part: Any, facts: Any) -> bool:
    """Whether ``part``'s byte ranges may be read by this path: a UTF-8 ``.jsonl`` file in the stage's
    plain format, no column renames, no step that needs whole examples, no pack system prompt to add."""
    return (part.file is not None and part.file.suffix.lower() == ".jsonl" and not part.spec.columns
            and part.encoding in ("utf-8", "utf-8-sig") and _KINDS.get(facts.kind) == part.fmt
            and not facts.full and (facts.kind != "sft" or facts.pack is None or not facts.pack.system_prompt))


def reader(part: Any, facts: Any, schema: Any) -> Any:
    """``block -> fact table or None`` for ``part``'s blocks of lines (``schema``: the fact table's), or None
    when this path may not read the part (:func:`usable`)."""
    import functools

    if not usable(part, facts):
        return None
    return functools.partial(fact_table, fmt=part.fmt, facts=facts, schema=schema)


def _schema(fmt: str) -> Any:
    import pyarrow as pa

    return pa.schema([(k, pa.string()) for k in (*_FIELDS[fmt], *_META)])


def _one_row_per_line(block: bytes, rows: int) -> bool:
    """Whether pyarrow read one row from each line that starts with '{' and none from any other line: a
    line starting with '{' gives at least one row (or an error), so equal counts mean each gave one (no
    two objects on a line) and every other line was blank, as Python's reader would take them."""
    return rows == block.count(b"\n{") + block.startswith(b"{")


def fact_table(block: bytes, fmt: str, facts: Any, schema: Any) -> Any:
    """The fact table (``schema``: :func:`shards.fact_features`) of one block of whole lines, or None
    when the block must go the per-example way."""
    import pyarrow as pa
    import pyarrow.json as pj

    try:
        t = pj.read_json(pa.BufferReader(block),
                         read_options=pj.ReadOptions(use_threads=False, block_size=max(1 << 20, len(block) + 1)),
                         parse_options=pj.ParseOptions(explicit_schema=_schema(fmt), unexpected_field_behavior="ignore",
                                                       newlines_in_values=False))
    except (pa.ArrowInvalid, UnicodeDecodeError, ValueError):
        return None
    if not _one_row_per_line(block, t.num_rows) or any(t.column(k).null_count for k in _REQUIRED[fmt]):
        return None
    cols = {k: t.column(k).combine_chunks() for k in t.column_names}
    return (_sft if fmt == "alpaca" else _cpt)(cols, facts, schema, t.num_rows)


def _redacted(col: Any) -> tuple[Any, Any]:
    """``col`` with PII redacted (Python's redact_pii on the candidate rows only) and the changed mask."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from verticalize.data.pii import redact_pii

    changed = np.zeros(len(col), dtype=bool)
    cand = pc.fill_null(pc.match_substring_regex(col, _MAYBE_PII), False)
    idx = np.flatnonzero(cand.to_numpy(zero_copy_only=False))
    if not idx.size:
        return col, changed
    old = col.take(pa.array(idx)).to_pylist()
    new = [redact_pii(v) for v in old]
    diff = np.fromiter((a != b for a, b in zip(old, new)), dtype=bool, count=len(old))
    if not diff.any():
        return col, changed
    changed[idx[diff]] = True
    mask = pa.array(changed)
    return pc.replace_with_mask(col, mask, pa.array([v for v, d in zip(new, diff) if d], pa.string())), changed


def _keys(texts: Any) -> list[bytes]:
    """:func:`clean.dedup_key` of each text: NFKC by Arrow, the rest as :func:`minhash.normalise`."""
    import pyarrow.compute as pc

    import numpy as np
    import pyarrow as pa

    blake = hashlib.blake2b
    other = ~pc.string_is_ascii(texts).to_numpy(zero_copy_only=False)  # ASCII text is its own NFKC form
    if other.any():
        idx = pa.array(np.flatnonzero(other))
        texts = pc.replace_with_mask(texts, pa.array(other), pc.utf8_normalize(texts.take(idx), "NFKC"))
    return [blake(" ".join(s.split()).lower().encode(), digest_size=16).digest() for s in texts.to_pylist()]


def _common(out: dict[str, Any], cols: dict[str, Any], facts: Any, text: Any, prompt: Any, changed: Any,
            empty: list[bool] | None, schema: Any, n: int) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    from verticalize.data.clean import repetitive

    c = facts.clean
    for k in _META:
        out[k] = cols[k]
    out["_ex"] = pa.nulls(n, pa.large_string())
    lens = pc.utf8_length(text)
    out["_len"] = lens.cast(pa.int64())
    texts = text.to_pylist()
    if c.quality:
        long = lens.to_numpy(zero_copy_only=False) >= 200
        q: list[str | None] = [None] * n
        for i in range(n):
            if empty is not None and empty[i]:
                q[i] = "empty_response"
            elif long[i] and repetitive(texts[i]):
                q[i] = "repetitive"
        out["_q"] = pa.array(q, pa.string())
    else:
        out["_q"] = pa.nulls(n, pa.string())
    out["_key"] = pa.array(_keys(text) if c.dedup in ("exact", "near") else [None] * n, pa.binary())
    out["_pkey"] = pa.array(_keys(prompt) if facts.prompt_keys else [None] * n, pa.binary())
    sel = pa.array([True] * n)
    langs, tasks = c.languages, (c.tasks if facts.kind != "cpt" else None)
    if langs:
        sel = pc.and_(sel, pc.fill_null(pc.is_in(cols["lang"], pa.array(langs, pa.string())), False))
    if tasks:
        sel = pc.and_(sel, pc.fill_null(pc.is_in(cols["task"], pa.array(tasks, pa.string())), False))
    out["_sel"] = sel
    out["_red"] = pa.array(changed)
    if c.dedup == "near":
        import numpy as np

        from verticalize.data.minhash import signatures

        sigs = np.asarray(signatures(texts, c.num_perm))
        out["_sig"] = pa.FixedSizeListArray.from_arrays(pa.array(sigs.ravel(), type=pa.uint32()), sigs.shape[1])
    return pa.Table.from_pydict({f.name: out[f.name] for f in schema}, schema=schema)


def _sft(cols: dict[str, Any], facts: Any, schema: Any, n: int) -> Any:
    """alpaca -> messages, as :func:`formats.alpaca`: user = instruction, + blank line + input when the input
    is not blank; a non-empty system first."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    inst, inp, out_, system = (cols[k] for k in ("instruction", "input", "output", "system"))
    inp = pc.fill_null(inp, "")
    with_input = pa.array([bool(s.strip()) for s in inp.to_pylist()] if pc.any(pc.utf8_length(inp).cast(pa.bool_())).as_py()
                          else np.zeros(n, dtype=bool))
    user = pc.if_else(with_input, pc.binary_join_element_wise(inst, inp, "\n\n"), inst)
    has_sys = pc.fill_null(pc.greater(pc.utf8_length(system), 0), False)
    system = pc.if_else(has_sys, system, pa.scalar(None, pa.string()))
    changed = np.zeros(n, dtype=bool)
    if facts.clean.pii == "redact":
        parts = []
        for col in (system, user, out_):
            col, ch = _redacted(col)
            changed |= ch
            parts.append(col)
        system, user, out_ = parts
    sys_np = has_sys.to_numpy(zero_copy_only=False)
    k = 2 + sys_np.astype(np.int64)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(k, out=offsets[1:])
    start = offsets[:-1].astype(np.int64)
    rows = np.arange(n, dtype=np.int64)
    idx = np.empty(int(offsets[-1]), dtype=np.int64)
    code = np.empty(int(offsets[-1]), dtype=np.int8)
    idx[start[sys_np]], code[start[sys_np]] = rows[sys_np], 0
    idx[start + sys_np], code[start + sys_np] = n + rows, 1
    idx[start + sys_np + 1], code[start + sys_np + 1] = 2 * n + rows, 2
    contents = pa.concat_arrays([system, user, out_]).take(pa.array(idx))
    roles = pa.array(["system", "user", "assistant"]).take(pa.array(code))
    turns = pa.StructArray.from_arrays([roles, contents], names=["role", "content"])
    res: dict[str, Any] = {"messages": pa.ListArray.from_arrays(pa.array(offsets), turns)}
    text = pc.binary_join_element_wise(system, user, out_, "\n", null_handling="skip")
    empty = [not s.strip() for s in out_.to_pylist()]
    return _common(res, cols, facts, text, user, changed, empty, schema, n)


def _cpt(cols: dict[str, Any], facts: Any, schema: Any, n: int) -> Any:
    import numpy as np
    import pyarrow as pa

    text = cols["text"]
    changed = np.zeros(n, dtype=bool)
    if facts.clean.pii == "redact":
        text, changed = _redacted(text)
    res = {"text": text.cast(pa.large_string())}
    return _common(res, cols, facts, text, text, changed, None, schema, n)
