"""Public benchmarks as they are published: raw rows -> verticalize example records.

A preset maps one row of a benchmark file, in one of its published **layouts**, to an alpaca record with
``task``, ``kind`` (mc | mc_multi | classification | numeric | generation), ``lang``, ``answer``, ``id``
and, for multiple choice, ``choices`` (``labels`` for classification). Each preset accepts the authors'
original release and the hub layout (:data:`LAYOUTS`; ``layouts_table()`` prints them): the layout is
detected from the file type and the columns, or named with ``layout:``. :func:`load_benchmark` maps a
file to records (what an eval suite needs); :func:`apply_preset` maps rows already read.

Every record is accounted for: it becomes an example, or it is reported with its file and line (or
key) and why -- raised as a DataError, or under ``on_error: skip`` skipped and counted in the manifest.

Layouts (original = the authors' release; hub = the Hugging Face dataset):

* ``finqa`` original: github.com/czyssrs/FinQA ``dataset/{train,dev,test}.json`` -- pre_text, post_text,
  table, id, qa{question, program, exe_ans, answer}; hub: ``ibm/finqa`` (question, answer, final_result,
  program_re at top level).
* ``fpb`` original: Financial PhraseBank v1.0 ``Sentences_{50,66,75,All}Agree.txt`` -- one
  ``sentence@label`` per line, ISO-8859-1, no header (re-encoded UTF-8 copies load too; a damaged line is
  reported); hub: ``takala/financial_phrasebank`` -- sentence, label (0=negative 1=neutral 2=positive).
* ``fiqa_sa`` original: FiQA 2018 task 1 ``task1_{headline,post}_ABSA_train.json`` -- ``{id: {sentence,
  info: [{snippets, target, sentiment_score, aspects}]}}``, snippets/aspects stringified Python lists, the
  score a string; one example per ``info`` entry (target); hub: ``TheFinAI/fiqa-sentiment-classification``
  -- _id, sentence, target, aspect, score, type (or a ``label`` string).
* ``medqa`` original: github.com/jind11/MedQA ``questions/**.jsonl`` -- question, options {A: text}, answer_idx,
  answer, meta_info (US 4/5 options, Mainland/Taiwan Chinese: lang zh); hub: ``GBaker/MedQA-USMLE-4-options``
  (same) and ``bigbio/med_qa``-style options lists ``[{key, value}]``.
* ``pubmedqa`` original: ``ori_pqal.json`` -- ``{PMID: {QUESTION, CONTEXTS, LABELS, MESHES, YEAR,
  final_decision, LONG_ANSWER}}``; the test split is ``test_ground_truth.json`` ``{PMID: label}``, given as
  ``split_file:``; hub: ``qiaojin/PubMedQA`` pqa_labeled -- pubid, question, context{contexts, labels},
  final_decision.
* ``medmcqa`` hub: ``openlifescienceai/medmcqa`` -- opa..opd, cop 0-based (-1: unlabeled test split);
  original: medmcqa.github.io ``train.json``/``dev.json`` (JSON Lines) -- cop 1-based; medqa: rewritten in
  MedQA style (options dict + answer_idx).
* ``cmexam`` original: github.com/williamliujl/CMExam ``data/*.csv`` (or an .xlsx export) -- Question,
  Options ("A 文本\\nB 文本", or the two characters backslash-n), Answer ("B", or "ABD": kind mc_multi),
  Explanation.
* ``casehold`` hub: ``casehold/casehold`` -- example_id, citing_prompt, holding_0..holding_4, label 0-4.
* ``legalbench`` original: ``data/<task>/{train,test}.tsv`` -- index, answer, task columns (quoted
  multi-line fields); hub: ``nguha/legalbench`` (same columns). Answer components (``diversity_*``:
  parties_are_diverse, aic_is_met) never enter the prompt.
* ``cmmlu`` original: github.com/haonan-li/CMMLU ``data/{dev,test}/<subject>.csv`` -- first column unnamed
  (the row index), Question, A, B, C, D, Answer; hub: ``haonan-li/cmmlu`` (same).
* ``ceval`` original: ``ceval-exam.zip`` ``{dev,val,test}/<subject>_{dev,val,test}.csv`` -- id, question,
  A, B, C, D, answer[, explanation] (test: no public answers); hub: ``ceval/ceval-exam`` (same).
* ``lawbench`` original: github.com/open-compass/LawBench ``data/{zero,one}_shot/<task>.json`` -- a JSON list
  of {instruction, question, answer}; the gold letter is inside the answer text (``正确答案：B。``,
  ``[正确答案]C<eoa>``) and the options inside the question (``...?A:...;B:...``): mc / mc_multi;
  tasks without a letter answer are generation.
* ``mmlu`` original: github.com/hendrycks/test ``data/{dev,val,test}/<subject>_<split>.csv`` -- no header:
  question, A, B, C, D, answer letter; hub: ``cais/mmlu`` -- question, subject, choices [4], answer 0-3.

Decisions: ``fiqa_sa`` uses the FinGPT benchmark thresholds (score < -0.1 negative, >= 0.1 positive, else
neutral). ``medmcqa`` without ``layout:`` picks the ``cop`` base per file: a 0 means 0-based (hub), a 4
means 1-based (original), both is an error, neither (only 1-3 seen) means 0-based. ``mc_multi``: ``answer``
is the sorted letters ("ABD"), scored by exact set match. ``legalbench``: labels = the sorted distinct
answers of the rows given (a ``limit`` can drop one); classification when there are <= 20 distinct answers
of <= 5 words, else generation. ``finqa``: ``answer`` is ``exe_ans`` (the official execution-accuracy
target), x100 when the human answer is a percent ("1.6%" with exe_ans 0.01639 -> 1.639); a non-number
("yes") makes the row generation; pre/post text are clipped to 1000 characters each (the table is kept
whole); the program is kept verbatim as ``program_dsl``. ``subset`` (the agreement level, subject or task,
from the file name) is kept on the examples of fpb, fiqa_sa, legalbench, cmmlu, ceval, lawbench and mmlu.
"""

from __future__ import annotations

import ast
import contextlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verticalize.data.formats import remap
from verticalize.data.sources import LoadReport, check_file, decode_text, read_examples
from verticalize.errors import DataError, UnknownNameError

__all__ = ["PRESETS", "PRESET_SETUP", "LAYOUTS", "Layout", "apply_preset", "load_benchmark", "detect_layout",
           "check_preset", "check_spec", "fallback_encoding", "layouts_table", "RowError"]

LETTERS = "ABCDEFGHIJ"
SENTIMENT = ["negative", "neutral", "positive"]
CONTEXT_CHARS = 1000  # finqa: pre_text and post_text are clipped to this many characters each
_CJK = re.compile(r"[\u4e00-\u9fff]")


class RowError(ValueError):
    """A row does not fit its preset; :func:`apply_preset` adds source, line (or key) and preset.
    ``where`` names a part of the row (``.info[1]``) when one row gives several examples."""

    def __init__(self, msg: str, where: str = ""):
        super().__init__(msg)
        self.where = where


def _get(row: dict[str, Any], key: str, what: str = "text") -> Any:
    v = row.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        raise RowError(f"missing field {key!r} (expected {what})")
    return v


def _text(row: dict[str, Any], key: str) -> str:
    if not isinstance(v := _get(row, key), str):
        raise RowError(f"field {key!r} must be text, got {type(v).__name__}")
    return v.strip()


def _cell(row: dict[str, Any], key: str) -> str:
    """An option cell: text, or a number a spreadsheet stored as one (CMMLU/C-Eval options like 0.5)."""
    v = _get(row, key, "the option text")
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise RowError(f"field {key!r} must be text, got {type(v).__name__}")
    return _fmt(v) if isinstance(v, float) else str(v).strip()


def _id(row: dict[str, Any], key: str, task: str) -> str:
    v = row.get(key)
    return str(v) if v not in (None, "") else f"{task}-{row.get('_line', 0)}"


def _number(v: Any) -> float | None:
    """A float from a number or text like "14.1%", "$ 1,200", "(3.5)"; None when it is not one."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return None
    t = str(v).strip().replace(",", "").replace("$", "").replace(" ", "").rstrip("%")
    try:
        x = -float(t[1:-1]) if t.startswith("(") and t.endswith(")") else float(t)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _obj(v: Any) -> Any:
    """A dict stored as JSON text (a CSV export of a nested column) -> the dict; anything else as is."""
    with contextlib.suppress(json.JSONDecodeError):
        return json.loads(v) if isinstance(v, str) and v.strip().startswith("{") else v
    return v


def _literal_list(v: Any, key: str) -> list[str]:
    """A list of texts, or one stored as text: a Python literal ("['a', 'b']", FiQA) or JSON ('["a"]').

    Parsed with ``ast.literal_eval`` (literals only: no names, calls or attribute access are evaluated),
    size-capped; anything but a flat list of strings is a RowError.

    >>> _literal_list("['Corporate/Appointment']", "aspects")
    ['Corporate/Appointment']
    """
    if v is None or v == "":
        return []
    if isinstance(v, str):
        if len(v) > 100_000:
            raise RowError(f"field {key!r} is too long to be a list ({len(v)} characters)")
        try:
            v = ast.literal_eval(v.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise RowError(f"field {key!r} is {v[:80]!r}; expected a list of texts like \"['...']\"") from None
    if isinstance(v, tuple):
        v = list(v)
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise RowError(f"field {key!r} must be a list of texts, got {type(v).__name__}")
    return [s.strip() for s in v]


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.10g}"


def _options(choices: list[str]) -> str:
    return "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))


def _mc(task: str, row: dict[str, Any], question: str, choices: list[str], letter: str, id_key: str,
        lang: str = "en") -> dict[str, Any]:
    text = choices[LETTERS.index(letter)]
    out = f"答案：{letter}. {text}" if lang == "zh" else f"{letter}. {text}"
    return {"instruction": f"{question}\n{_options(choices)}", "input": "", "output": out, "task": task, "kind": "mc",
            "lang": lang, "answer": letter, "choices": choices, "id": _id(row, id_key, task)}


def _mc_multi(task: str, row: dict[str, Any], question: str, choices: list[str], letters: str, id_key: str,
              lang: str = "en") -> dict[str, Any]:
    """Several correct options: ``answer`` is the sorted letters, scored by exact set match."""
    hint = "（多选题：可能有多个正确答案）" if lang == "zh" else "(More than one option may be correct.)"
    out = f"答案：{letters}" if lang == "zh" else f"Answer: {letters}"
    return {"instruction": f"{question}\n{_options(choices)}\n{hint}", "input": "", "output": out, "task": task,
            "kind": "mc_multi", "lang": lang, "answer": letters, "choices": choices, "id": _id(row, id_key, task)}


def _choice(task: str, row: dict[str, Any], question: str, choices: list[str], letters: str, id_key: str,
            lang: str) -> dict[str, Any]:
    if len(letters) == 1:
        return _mc(task, row, question, choices, letters, id_key, lang)
    return _mc_multi(task, row, question, choices, letters, id_key, lang)


_LETTER_SEP = re.compile(r"[\s,，、;；/|和及]+")


def _letters(v: Any, n: int, key: str) -> str:
    """An answer of one or more option letters ("B", "ABD", "A,B,D", "A、B") -> sorted letters.

    >>> _letters("d、a b", 5, "Answer")
    'ABD'
    """
    if not isinstance(v, str):
        raise RowError(f"field {key!r} is {v!r}; expected option letters")
    s = _LETTER_SEP.sub("", v.strip().upper().rstrip("。."))
    allowed = LETTERS[:n]
    if not s or any(c not in LETTERS for c in s):
        raise RowError(f"field {key!r} is {v!r}; expected option letters from {allowed[0]}-{allowed[-1]}")
    if len(set(s)) != len(s):
        raise RowError(f"field {key!r} is {v!r}: a letter is repeated")
    beyond = [c for c in s if c not in allowed]
    if beyond:
        raise RowError(f"field {key!r} is {v!r} but the options are {allowed[0]}-{allowed[-1]} "
                       f"(no option {', '.join(beyond)})")
    return "".join(sorted(s))


def _cls(task: str, row: dict[str, Any], instruction: str, inp: str, labels: list[str], gold: str,
         id_key: str) -> dict[str, Any]:
    return {"instruction": instruction, "input": inp, "output": gold, "task": task, "kind": "classification",
            "lang": "en", "answer": gold, "labels": list(labels), "id": _id(row, id_key, task)}


def _label(v: Any, labels: list[str], key: str) -> str:
    """An int index or a label string (any case) -> the label."""
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(labels):
        return labels[v]
    if isinstance(v, str) and v.strip().lower() in labels:
        return v.strip().lower()
    if isinstance(v, str) and v.strip().isdigit() and int(v) < len(labels):
        return labels[int(v)]
    names = "" if labels[0] == "0" else f" or one of {', '.join(labels)}"
    raise RowError(f"field {key!r} is {v!r}; expected 0-{len(labels) - 1}{names}")


def _lines(v: Any, key: str) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, list) and all(isinstance(s, str) for s in v):
        return " ".join(s.strip() for s in v if s.strip() and s.strip() != ".")
    raise RowError(f"field {key!r} must be a list of sentences, got {type(v).__name__}")


def _clip(s: str, n: int = CONTEXT_CHARS) -> str:
    return s if len(s) <= n else s[:n].rsplit(" ", 1)[0] + " ..."


def _scan_options(text: str, sep: str, key: str) -> tuple[str, list[str]]:
    """Options written inline, each after its letter and ``sep`` ("A:甲;B:乙", "A 甲B 乙"): (stem, texts).

    The letters must run A, B, C... with none missing: a later letter after the last one found means
    an option is missing (a RowError), never options loaded under the wrong letters.
    """
    def marker(letter: str) -> re.Pattern[str]:
        return re.compile(rf"(?<![A-Za-z0-9]){letter}{sep}")

    m = marker("A").search(text)
    if m is None:
        return text.strip(), []
    stem, pos, out = text[:m.start()].strip(), m.end(), []
    for letter in LETTERS[1:]:
        nxt = marker(letter).search(text, pos)
        if nxt is None:
            break
        out.append(text[pos:nxt.start()])
        pos = nxt.end()
    out.append(text[pos:])
    found = LETTERS[: len(out)]
    later = next((c for c in LETTERS[len(out) + 1:] if marker(c).search(text, pos)), None)
    if later is not None:
        raise RowError(f"field {key!r} lists options {', '.join(found)} and then {later}: option "
                       f"{LETTERS[len(out)]} is missing")
    return stem, [o.strip().rstrip(";；,，。").strip() for o in out]


# ------------------------------------------------------------------------------------------ finance


def finqa(row: dict[str, Any]) -> dict[str, Any]:
    """FinQA: numeric when the answer is a number (percent answers in percent), else generation."""
    qa = row.get("qa", row)  # official release nests the QA fields; ibm/finqa has them at top level
    pre = "qa." if "qa" in row else ""
    if not isinstance(qa, dict):
        raise RowError(f"field 'qa' must be an object with question/answer, got {type(qa).__name__}")
    question = qa.get("question")
    if not isinstance(question, str) or not question.strip():
        raise RowError(f"missing field '{pre}question' (expected text)")
    table = row.get("table") or []
    if not isinstance(table, list) or not all(isinstance(r, list) for r in table):
        raise RowError("field 'table' must be a list of rows (lists of cells)")
    table_text = "\n".join(" | ".join(str(c).strip() for c in r) for r in table)
    pre_text, post_text = (_clip(_lines(row.get(k), k)) for k in ("pre_text", "post_text"))
    human = qa.get("answer")
    exe = qa.get("exe_ans", qa.get("final_result"))
    if human in (None, "") and exe in (None, ""):
        raise RowError(f"missing field '{pre}answer' (and '{pre}exe_ans'/'final_result'): no gold answer")
    a, e = _number(human), _number(exe)
    context = "\n\n".join(p for p in (pre_text, table_text, post_text) if p)
    rec: dict[str, Any] = {"instruction": question.strip(), "input": context, "task": "finqa",
                           "lang": "en", "id": _id(row, "id", "finqa")}
    program = qa.get("program") or qa.get("program_re")
    if isinstance(program, str) and program.strip():
        rec["program_dsl"] = program.strip()
    if a is None and e is None:
        return {**rec, "kind": "generation", "output": str(human if human not in (None, "") else exe).strip()}
    value = e if e is not None else a
    if e is not None and a is not None and str(human).strip().endswith("%") and abs(e * 100 - a) < abs(e - a):
        value = e * 100
    value = round(value, 6)
    return {**rec, "kind": "numeric", "answer": value, "output": f"The answer is {_fmt(value)}."}


def fpb(row: dict[str, Any]) -> dict[str, Any]:
    """Financial PhraseBank: a hub row (sentence, label), or an original line (``text``: 'sentence@label').

    >>> fpb({"sentence": "Profit rose to EUR 5 mn.", "label": 2, "_line": 1})["answer"]
    'positive'
    >>> fpb({"text": "Sales fell 5 % .@negative", "_line": 7})["input"]
    'Sales fell 5 % .'
    """
    if "sentence" not in row and isinstance(row.get("text"), str):
        return _fpb_line(row)
    gold = _label(_get(row, "label", "0, 1 or 2"), SENTIMENT, "label")
    return _cls("fpb", row, "What is the sentiment of this financial news sentence? Answer with one of: "
                "negative, neutral, positive.", _text(row, "sentence"), SENTIMENT, gold, "id")


def _fpb_line(row: dict[str, Any], subset: str | None = None) -> dict[str, Any]:
    line = row.get("text")
    if not isinstance(line, str) or not line.strip():
        raise RowError("empty line (expected 'sentence@label')")
    if "@" not in line:
        raise RowError(f"no '@label' at the end of the line {line[:60]!r} (expected 'sentence@negative|neutral|"
                       "positive')")
    sentence, label = line.rsplit("@", 1)
    if label.strip().lower() not in SENTIMENT:
        raise RowError(f"label {label.strip()[:30]!r} after the last '@'; expected negative, neutral or positive")
    if not sentence.strip():
        raise RowError("empty sentence before '@'")
    if "\ufffd" in sentence:
        raise RowError("the sentence holds U+FFFD: a character was lost when this copy was re-encoded")
    rid = f"{subset}-{row.get('_line')}" if subset else None
    rec = fpb({"sentence": sentence.strip(), "label": label.strip().lower(), "_line": row.get("_line"), "id": rid})
    return {**rec, "subset": subset} if subset else rec


def fiqa_sa(row: dict[str, Any]) -> dict[str, Any]:
    """FiQA task 1 sentiment: score < -0.1 negative, score >= 0.1 positive, else neutral.

    >>> fiqa_sa({"_id": "7", "sentence": "$AAPL breaking out", "target": "AAPL", "score": "0.43"})["answer"]
    'positive'
    """
    if row.get("score") in (None, "") and isinstance(row.get("label"), str):
        gold = _label(row["label"], SENTIMENT, "label")
    else:
        score = _number(_get(row, "score", "a number in [-1, 1]"))
        if score is None or not -1 <= score <= 1:
            raise RowError(f"field 'score' is {row['score']!r}; expected a number in [-1, 1] (or a 'label')")
        gold = "negative" if score < -0.1 else "positive" if score >= 0.1 else "neutral"
    kind = row.get("type") if row.get("type") in ("headline", "post") else "text"
    target = row.get("target")
    about = f" toward {target.strip()}" if isinstance(target, str) and target.strip() else ""
    return _cls("fiqa_sa", row, f"What is the sentiment{about} in this financial {kind}? Answer with one of: "
                "negative, neutral, positive.", _text(row, "sentence"), SENTIMENT, gold, "_id")


def _fiqa_original(row: dict[str, Any], subset: str | None = None) -> list[Any]:
    """FiQA 2018 task 1 release: one example per ``info`` entry (each names a target and its score)."""
    sentence = _text(row, "sentence")
    info = row.get("info")
    if not isinstance(info, list) or not info:
        raise RowError("field 'info' must be a non-empty list of {target, sentiment_score, snippets, aspects}")
    name = (subset or "").lower()
    kind = "headline" if "headline" in name else "post" if "post" in name else None
    rid = str(row.get("_key", row.get("id", row.get("_line"))))
    out: list[Any] = []
    for j, it in enumerate(info):
        where = f".info[{j}]"
        try:
            if not isinstance(it, dict):
                raise RowError(f"expected an object {{target, sentiment_score, ...}}, got {type(it).__name__}")
            aspects = _literal_list(it.get("aspects"), "aspects")
            _literal_list(it.get("snippets"), "snippets")
            if it.get("sentiment_score") in (None, ""):
                raise RowError("missing field 'sentiment_score' (expected a number in [-1, 1])")
            rec = fiqa_sa({"_id": rid if len(info) == 1 else f"{rid}-{j}", "sentence": sentence, "type": kind,
                           "target": it.get("target"), "score": it.get("sentiment_score"), "_line": row.get("_line")})
        except RowError as e:
            out.append(RowError(str(e).replace("field 'score'", "field 'sentiment_score'"), where))
            continue
        out.append({**rec, "aspects": aspects, **({"subset": subset} if subset else {})})
    return out


# ------------------------------------------------------------------------------------------ medical


def _medqa_options(row: dict[str, Any]) -> list[str]:
    options = _obj(_get(row, "options", "an object {A: text, B: text, ...}"))
    if isinstance(options, list) and all(isinstance(o, dict) and "key" in o for o in options):
        options = {o["key"]: o.get("value") for o in options}  # bigbio/med_qa: [{key, value}]
    elif isinstance(options, list) and all(isinstance(o, str) for o in options):
        options = dict(zip(LETTERS, options))
    if not isinstance(options, dict):
        raise RowError(f"field 'options' must be an object {{A: text, ...}}, got {type(options).__name__}")
    opts = {str(k).strip().upper(): str(v).strip() for k, v in options.items() if v is not None and str(v).strip()}
    if len(opts) < 2 or sorted(opts) != list(LETTERS[: len(opts)]):
        raise RowError(f"field 'options' must map consecutive letters A, B, ... to option texts; got {sorted(opts)}")
    return [opts[k] for k in sorted(opts)]


def _medqa(row: dict[str, Any], task: str) -> dict[str, Any]:
    question = _text(row, "question")
    choices = _medqa_options(row)
    letter = row.get("answer_idx")
    if letter in (None, "") and isinstance(row.get("answer"), str) and row["answer"].strip() in choices:
        letter = LETTERS[choices.index(row["answer"].strip())]
    if not isinstance(letter, str) or letter.strip().upper() not in list(LETTERS[: len(choices)]):
        raise RowError(f"field 'answer_idx' is {letter!r}; expected one of {', '.join(LETTERS[:len(choices)])}")
    lang = "zh" if _CJK.search(question) else "en"
    return _mc(task, row, question, choices, letter.strip().upper(), "id", lang)


def medqa(row: dict[str, Any]) -> dict[str, Any]:
    """MedQA (USMLE 4/5 options, or the Chinese sets: lang zh): options dict + answer_idx letter."""
    return _medqa(row, "medqa")


def _pqa(row: dict[str, Any], question: str, texts: Any, tags: Any, ctx_key: str, decision_key: str,
         id_key: str) -> dict[str, Any]:
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise RowError(f"field {ctx_key!r} must be a non-empty list of texts")
    tags = [f"{str(x).strip()}: " for x in tags] if isinstance(tags, list) and len(tags) == len(texts) else [""] * len(texts)
    body = "\n".join(tag + t.strip() for tag, t in zip(tags, texts))
    gold = _label(_get(row, decision_key, "yes, no or maybe"), ["yes", "no", "maybe"], decision_key)
    return _cls("pubmedqa", row, f"{question}\nAnswer with one of: yes, no, maybe.", body, ["yes", "no", "maybe"],
                gold, id_key)


def pubmedqa(row: dict[str, Any]) -> dict[str, Any]:
    """PubMedQA: a hub row (pqa_labeled), or an original ``ori_pqal.json`` record (QUESTION, CONTEXTS...);
    the abstract sections (LABEL: text) go into ``input``."""
    if "QUESTION" in row or "CONTEXTS" in row:
        return _pubmedqa_original(row)
    question = _text(row, "question")
    ctx = _obj(_get(row, "context", "an object {contexts: [...], labels: [...]}"))
    if not isinstance(ctx, dict):
        raise RowError("field 'context.contexts' must be a non-empty list of texts")
    return _pqa(row, question, ctx.get("contexts"), ctx.get("labels"), "context.contexts", "final_decision", "pubid")


def _pubmedqa_original(row: dict[str, Any]) -> dict[str, Any]:
    question = _text(row, "QUESTION")
    pmid = row.get("_key", row.get("id"))
    return _pqa({**row, "pubid": pmid}, question, row.get("CONTEXTS"), row.get("LABELS"), "CONTEXTS",
                "final_decision", "pubid")


def medmcqa(row: dict[str, Any], base: int = 0) -> dict[str, Any]:
    """MedMCQA: ``cop`` is 0-based (HF) unless ``base=1`` (original release); letters a-d work too; a row
    in MedQA style (options dict + answer_idx) is read as such.

    >>> r = {"id": "x1", "question": "Drug of choice?", "opa": "A1", "opb": "B1", "opc": "C1", "opd": "D1", "cop": 1}
    >>> medmcqa(r)["output"], medmcqa(r, base=1)["output"]
    ('B. B1', 'A. A1')
    """
    if "opa" not in row and "options" in row:
        return _medqa(row, "medmcqa")
    question = _text(row, "question")
    missing = [k for k in ("opa", "opb", "opc", "opd") if row.get(k) is None]
    if missing:
        raise RowError(f"missing field {missing[0]!r} (expected the option text)")
    choices = [str(row[k]).strip() for k in ("opa", "opb", "opc", "opd")]
    cop = _get(row, "cop", f"{base}-{base + 3}")
    s = str(cop).strip().lower()
    n = int(float(s)) if re.fullmatch(r"-?\d+(\.0)?", s) and not isinstance(cop, bool) else None
    if s in ("a", "b", "c", "d"):
        n = "abcd".index(s) + base
    elif n is None or not base <= n <= base + 3:
        hint = " (-1 marks the HF test split, which has no answers)" if n == -1 else ""
        raise RowError(f"field 'cop' is {cop!r}; expected {base}-{base + 3} ({base}-based){hint}")
    return _mc("medmcqa", row, question, choices, LETTERS[n - base], "id")


def _cops(rows: list[dict[str, Any]]) -> set[int]:
    return {int(r["cop"]) for r in rows if isinstance(r.get("cop"), (int, str)) and str(r["cop"]).strip().isdigit()}


def _medmcqa_setup(rows: list[dict[str, Any]]) -> dict[str, Any]:
    seen = _cops(rows)
    if 0 in seen and 4 in seen:
        raise RowError("field 'cop' holds both 0 and 4: cannot tell 0-based (HF) from 1-based (original release)")
    return {"base": 1 if 4 in seen else 0}


_CM_SEP = r"[ \t.、:：．]+"


def _cm_options(text: str) -> list[str]:
    """'A 文本\\nB 文本' -> option texts; also with the two characters backslash-n between options (some
    exports), and 'A 甲B 乙' (a CSV reader that dropped the line breaks). A missing option is a RowError.

    >>> _cm_options("A 甲\\\\nB 乙")
    ['甲', '乙']
    """
    text = text.replace("\\r\\n", "\n").replace("\\n", "\n").replace("\r\n", "\n").replace("\r", "\n")
    if "\n" not in text:
        stem, choices = _scan_options(text, _CM_SEP, "Options")
        if stem:
            raise RowError(f"field 'Options' does not start with 'A': {text[:40]!r}")
        return choices
    letters, texts = [], []
    for ln in (ln.strip() for ln in text.split("\n")):
        if not ln:
            continue
        m = re.match(rf"([A-J]){_CM_SEP}(.*)", ln) or re.fullmatch(r"([A-J])", ln)
        if m is None:
            if not texts:
                raise RowError(f"field 'Options' does not start with 'A': {ln[:40]!r}")
            texts[-1] = f"{texts[-1]} {ln}"  # an option text that itself spans lines
            continue
        letters.append(m.group(1))
        texts.append(m.group(2).strip() if m.lastindex and m.lastindex >= 2 else "")
    expected = LETTERS[: len(letters)]
    if "".join(letters) != expected:
        gap = next(c for c, g in zip(expected, "".join(letters) + " ") if c != g)
        raise RowError(f"field 'Options' lists {', '.join(letters)}: option {gap} is missing or out of order")
    empty = [c for c, t in zip(letters, texts) if not t]
    if empty:
        raise RowError(f"field 'Options': option {empty[0]} has no text")
    return texts


def cmexam(row: dict[str, Any]) -> dict[str, Any]:
    """CMExam (Chinese): one answer letter -> mc; several ("ABD") -> mc_multi.

    >>> cmexam({"Question": "首选药物是", "Options": "A 甲\\nB 乙", "Answer": "B", "_line": 2})["output"]
    '答案：B. 乙'
    >>> cmexam({"Question": "哪些是", "Options": "A 甲\\nB 乙\\nC 丙", "Answer": "CA", "_line": 3})["answer"]
    'AC'
    """
    question = _text(row, "Question")
    choices = _cm_options(_text(row, "Options"))
    if len(choices) < 2 or not all(choices):
        raise RowError("field 'Options' must list the options one per line as 'A 文本', 'B 文本', ...")
    letters = _letters(str(_get(row, "Answer", "option letters")), len(choices), "Answer")
    return _choice("cmexam", row, question, choices, letters, "id", "zh")


# -------------------------------------------------------------------------------------------- legal


def casehold(row: dict[str, Any]) -> dict[str, Any]:
    """CaseHOLD: five candidate holdings for the <HOLDING> slot; ``label`` 0-4 (int or text)."""
    prompt = _text(row, "citing_prompt")
    choices = [_text(row, f"holding_{i}") for i in range(5)]
    gold = _label(_get(row, "label", "0-4"), [str(i) for i in range(5)], "label")
    return _mc("casehold", row, f"{prompt}\n\nWhich holding belongs in <HOLDING>?", choices, LETTERS[int(gold)],
               "example_id")


_LB_META = {"answer", "index", "slice", "label", "_line", "_key", "_item", "task", "idx", "subset"}
#: columns holding parts of the answer (diversity_*: the answer is parties_are_diverse AND aic_is_met)
_LB_ANSWER_PARTS = {"parties_are_diverse", "aic_is_met"}


def _lb_input(key: str) -> bool:
    return key not in _LB_META and key not in _LB_ANSWER_PARTS and not key.startswith("answer")


def legalbench(row: dict[str, Any], labels: list[str] | None = None, subset: str | None = None) -> dict[str, Any]:
    """LegalBench: classification over ``labels`` (from the whole file), else generation. Metadata and
    answer components (``diversity_*``: parties_are_diverse, aic_is_met) stay out of the prompt.

    >>> legalbench({"index": 3, "text": "Is this hearsay?", "answer": "Yes"}, labels=["No", "Yes"])["kind"]
    'classification'
    """
    gold = _text(row, "answer")
    fields = [(k, v.strip()) for k, v in row.items() if _lb_input(k) and isinstance(v, str) and v.strip()]
    if not fields:
        raise RowError("missing field 'text' (no input column)")
    named = "\n".join(f"{k.replace('_', ' ').capitalize()}: {v}" for k, v in fields)
    body = fields[0][1] if len(fields) == 1 else named
    extra = {"subset": subset} if subset else {}
    if labels is None:
        return {"instruction": body, "input": "", "output": gold, "task": "legalbench", "kind": "generation",
                "lang": "en", "id": _id(row, "index", "legalbench"), **extra}
    if gold not in labels:
        raise RowError(f"field 'answer' is {gold!r}; expected one of {', '.join(labels)}")
    return {**_cls("legalbench", row, f"{body}\n\nAnswer with one of: {', '.join(labels)}.", "", labels, gold,
                   "index"), **extra}


def _legalbench_setup(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answers = sorted({r["answer"].strip() for r in rows if isinstance(r.get("answer"), str) and r["answer"].strip()})
    short = answers and len(answers) <= 20 and all(len(a.split()) <= 5 for a in answers)
    return {"labels": answers if short else None}


_LAW_GOLD = re.compile(r"正确答案\s*[:：\]】]?\s*([A-J](?:\s*[,，、和]?\s*[A-J])*)(?![A-Za-z])")


def lawbench(row: dict[str, Any], subset: str | None = None) -> dict[str, Any]:
    """LawBench: a letter inside the answer text ("正确答案：B。", "[正确答案]C<eoa>") makes it mc (several
    letters: mc_multi) over the options written in the question ("...?A:甲;B:乙"); otherwise generation.

    >>> r = lawbench({"instruction": "选出正确答案", "question": "哪项正确?A:甲;B:乙;C:丙。", "answer": "正确答案：B。"})
    >>> r["kind"], r["answer"], r["choices"]
    ('mc', 'B', ['甲', '乙', '丙'])
    """
    question = _text(row, "question")
    answer = _text(row, "answer")
    instruction = row.get("instruction") if isinstance(row.get("instruction"), str) else ""
    rid = f"{subset}-{row.get('_item', row.get('_line'))}" if subset else None
    row = {**row, "id": rid}
    extra = {"subset": subset} if subset else {}
    m = _LAW_GOLD.search(answer)
    if m is None:
        return {"instruction": instruction.strip() or question, "input": question if instruction.strip() else "",
                "output": answer, "task": "lawbench", "kind": "generation", "lang": "zh",
                "id": _id(row, "id", "lawbench"), **extra}
    stem, choices = _scan_options(question, r"[:：]", "question")
    if len(choices) < 2 or not all(choices):
        raise RowError(f"field 'answer' names option {m.group(1)} but the options in 'question' could not be read "
                       "(expected '...A:text;B:text;...')")
    letters = _letters(m.group(1), len(choices), "answer")
    return {**_choice("lawbench", row, stem, choices, letters, "id", "zh"), **extra}


# ---------------------------------------------------------------------------------- exam suites (zh/en)


def _abcd(task: str, row: dict[str, Any], q_key: str, a_key: str, lang: str, rid: str,
          letters: str = "ABCD") -> dict[str, Any]:
    question = _text(row, q_key)
    choices = [_cell(row, k) for k in letters]
    ans = row.get(a_key)
    if ans is None or (isinstance(ans, str) and not ans.strip()):
        raise RowError(f"missing field {a_key!r} (expected the answer letter)")
    letter = _letters(str(ans), len(choices), a_key)
    if len(letter) > 1:
        raise RowError(f"field {a_key!r} is {ans!r}; expected one letter")
    return _mc(task, {**row, "_rid": rid}, question, choices, letter, "_rid", lang)


def cmmlu(row: dict[str, Any], subset: str | None = None) -> dict[str, Any]:
    """CMMLU: Question, A-D, Answer letter; the unnamed first column is the row index (the id).

    >>> cmmlu({"": "0", "Question": "中国的首都是", "A": "北京", "B": "上海", "C": "广州", "D": "深圳",
    ...        "Answer": "A"}, subset="chinese_civil_service_exam")["id"]
    'chinese_civil_service_exam-0'
    """
    idx = next((row[k] for k in ("", "Unnamed: 0", "index") if row.get(k) not in (None, "")), row.get("_line"))
    rec = _abcd("cmmlu", row, "Question", "Answer", "zh", f"{subset or 'cmmlu'}-{idx}")
    return {**rec, "subset": subset} if subset else rec


def ceval(row: dict[str, Any], subset: str | None = None) -> dict[str, Any]:
    """C-Eval: id, question, A-D, answer letter (the test split has none: each such row is reported)."""
    if row.get("answer") in (None, "") or (isinstance(row.get("answer"), str) and not row["answer"].strip()):
        raise RowError("missing field 'answer': C-Eval's test split has no public answers (use val or dev, or "
                       "submit predictions to cevalbenchmark.com)")
    rec = _abcd("ceval", row, "question", "answer", "zh", f"{subset or 'ceval'}-{row.get('id', row.get('_line'))}")
    return {**rec, "subset": subset} if subset else rec


def mmlu(row: dict[str, Any], subset: str | None = None) -> dict[str, Any]:
    """MMLU: an original row (question, A-D, answer letter) or a hub row (question, choices, answer 0-3).

    >>> mmlu({"question": "2+2?", "choices": ["3", "4", "5", "6"], "answer": 1, "subject": "math", "_line": 1})["answer"]
    'B'
    """
    if isinstance(row.get("subject"), str) and row["subject"].strip():  # the hub names it per row
        subset = row["subject"].strip()
    rid = f"{subset or 'mmlu'}-{row.get('_line')}"
    if "choices" in row and "A" not in row:
        raw = row.get("choices")
        choices = list(raw) if not isinstance(raw, str) else _literal_list(raw, "choices")
        if len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            raise RowError("field 'choices' must be a list of at least two option texts")
        ans = _get(row, "answer", "0-3 or a letter")
        s = str(ans).strip()
        if s.isdigit() and int(s) < len(choices):
            letter = LETTERS[int(s)]
        else:
            letter = _letters(s, len(choices), "answer")
        rec = _mc("mmlu", {**row, "_rid": rid}, _text(row, "question"), [str(c).strip() for c in choices], letter,
                  "_rid", "en")
    else:
        rec = _abcd("mmlu", row, "question", "answer", "en", rid)
    return {**rec, "subset": subset} if subset else rec


# ------------------------------------------------------------------------------------------ layouts


@dataclass(frozen=True)
class Layout:
    """One published layout of a benchmark.

    ``keys``: columns a row of this layout has (how it is detected); ``suffixes``: the file types it comes
    in (detection prefers them; empty: any); ``map(row, ctx)``: a record, or a list of records and
    RowErrors when one row holds several examples; ``setup(rows, layout)``: keyword arguments worked out
    from the whole file; ``encoding``: the original release's text encoding, tried after UTF-8 when the
    bytes do not look like UTF-8; ``header``: False for CSVs without a header row.
    """

    name: str
    files: str
    kinds: str
    keys: tuple[str, ...]
    map: Callable[[dict[str, Any], dict[str, Any]], Any]
    suffixes: tuple[str, ...] = ()
    setup: Callable[[list[dict[str, Any]], str], dict[str, Any]] | None = None
    encoding: str | None = None
    header: bool = True


def _medmcqa_base(rows: list[dict[str, Any]], layout: str) -> dict[str, Any]:
    return {"base": 1 if layout == "original" else 0}


def _lb_setup(rows: list[dict[str, Any]], layout: str) -> dict[str, Any]:
    return _legalbench_setup(rows)


_MEDQA_FILES = "question, options {A: text, ...}, answer_idx"
_ABCD = ("question", "A", "B", "C", "D")

LAYOUTS: dict[str, dict[str, Layout]] = {
    "finqa": {
        "original": Layout("original", "FinQA dataset/{train,dev,test}.json: pre_text, post_text, table, "
                           "qa{question, program, exe_ans}", "numeric | generation", ("qa",), lambda r, c: finqa(r)),
        "hub": Layout("hub", "ibm/finqa: question, answer, final_result, program_re, table", "numeric | generation",
                      ("question",), lambda r, c: finqa(r)),
    },
    "fpb": {
        "original": Layout("original", "Sentences_{50,66,75,All}Agree.txt: sentence@label per line, ISO-8859-1",
                           "classification", ("text",), lambda r, c: _fpb_line(r, c.get("subset")), (".txt",),
                           encoding="iso8859-1"),
        "hub": Layout("hub", "takala/financial_phrasebank: sentence, label 0-2", "classification",
                      ("sentence", "label"), lambda r, c: fpb(r)),
    },
    "fiqa_sa": {
        "original": Layout("original", "task1_{headline,post}_ABSA_train.json: {id: {sentence, info: [{target, "
                           "sentiment_score, snippets, aspects}]}}; one example per info entry", "classification",
                           ("sentence", "info"), lambda r, c: _fiqa_original(r, c.get("subset"))),
        "hub": Layout("hub", "TheFinAI/fiqa-sentiment-classification: sentence, target, score (or label), type",
                      "classification", ("sentence",), lambda r, c: fiqa_sa(r)),
    },
    "medqa": {
        "original": Layout("original", f"jind11/MedQA questions/**.jsonl: {_MEDQA_FILES}, meta_info", "mc",
                           ("question", "options"), lambda r, c: medqa(r)),
        "hub": Layout("hub", f"GBaker/MedQA-USMLE-4-options ({_MEDQA_FILES}); bigbio/med_qa options [{{key, value}}]",
                      "mc", ("question", "options"), lambda r, c: medqa(r)),
    },
    "pubmedqa": {
        "original": Layout("original", "ori_pqal.json: {PMID: {QUESTION, CONTEXTS, LABELS, final_decision, ...}}; "
                           "test split: split_file: test_ground_truth.json", "classification",
                           ("QUESTION", "CONTEXTS"), lambda r, c: _pubmedqa_original(r), (".json",)),
        "hub": Layout("hub", "qiaojin/PubMedQA pqa_labeled: pubid, question, context{contexts, labels}, "
                      "final_decision", "classification", ("question", "context"), lambda r, c: pubmedqa(r)),
    },
    "medmcqa": {
        "hub": Layout("hub", "openlifescienceai/medmcqa: question, opa..opd, cop 0-3", "mc",
                      ("question", "opa", "cop"), lambda r, c: medmcqa(r, c["base"]), setup=_medmcqa_base),
        "original": Layout("original", "medmcqa.github.io train.json/dev.json (JSON Lines): question, opa..opd, "
                           "cop 1-4", "mc", ("question", "opa", "cop"), lambda r, c: medmcqa(r, c["base"]),
                           setup=_medmcqa_base),
        "medqa": Layout("medqa", f"MedMCQA rewritten in MedQA style: {_MEDQA_FILES}", "mc",
                        ("question", "options", "answer_idx"), lambda r, c: _medqa(r, "medmcqa")),
    },
    "cmexam": {
        "original": Layout("original", "CMExam data/*.csv or .xlsx: Question, Options (A 文本\\nB 文本), Answer, "
                           "Explanation", "mc | mc_multi", ("Question", "Options", "Answer"), lambda r, c: cmexam(r)),
    },
    "casehold": {
        "hub": Layout("hub", "casehold/casehold: citing_prompt, holding_0..holding_4, label 0-4", "mc",
                      ("citing_prompt", "holding_0"), lambda r, c: casehold(r)),
    },
    "legalbench": {
        "original": Layout("original", "data/<task>/{train,test}.tsv: index, answer, task columns", "classification"
                           " | generation", ("answer",), lambda r, c: legalbench(r, c["labels"], c.get("subset")),
                           (".tsv",), setup=_lb_setup),
        "hub": Layout("hub", "nguha/legalbench (one config per task): the same columns", "classification | "
                      "generation", ("answer",), lambda r, c: legalbench(r, c["labels"], c.get("subset")),
                      setup=_lb_setup),
    },
    "cmmlu": {
        "original": Layout("original", "CMMLU data/{dev,test}/<subject>.csv: (unnamed index), Question, A, B, C, D, "
                           "Answer", "mc", ("Question", "A", "B", "C", "D", "Answer"),
                           lambda r, c: cmmlu(r, c.get("subset")), (".csv",)),
        "hub": Layout("hub", "haonan-li/cmmlu: the same columns", "mc", ("Question", "A", "B", "C", "D", "Answer"),
                      lambda r, c: cmmlu(r, c.get("subset"))),
    },
    "ceval": {
        "original": Layout("original", "C-Eval {dev,val,test}/<subject>_<split>.csv: id, question, A, B, C, D, "
                           "answer[, explanation]", "mc", ("id", *_ABCD), lambda r, c: ceval(r, c.get("subset")),
                           (".csv",)),
        "hub": Layout("hub", "ceval/ceval-exam: the same columns", "mc", ("id", *_ABCD),
                      lambda r, c: ceval(r, c.get("subset"))),
    },
    "lawbench": {
        "original": Layout("original", "LawBench data/{zero,one}_shot/<task>.json: [{instruction, question, "
                           "answer}]", "mc | mc_multi | generation", ("question", "answer"),
                           lambda r, c: lawbench(r, c.get("subset"))),
    },
    "mmlu": {
        "original": Layout("original", "hendrycks/test data/{dev,val,test}/<subject>_<split>.csv, no header: "
                           "question, A, B, C, D, answer", "mc", (*_ABCD, "answer"),
                           lambda r, c: mmlu(r, c.get("subset")), (".csv",), header=False),
        "hub": Layout("hub", "cais/mmlu: question, subject, choices [4], answer 0-3", "mc",
                      ("question", "choices", "answer"), lambda r, c: mmlu(r, c.get("subset"))),
    },
}

#: row-level functions, one per preset (each reads every layout of its benchmark it can tell from one row)
PRESETS: dict[str, Callable[..., Any]] = {
    "finqa": finqa, "fpb": fpb, "fiqa_sa": fiqa_sa, "medqa": medqa, "pubmedqa": pubmedqa,
    "medmcqa": medmcqa, "cmexam": cmexam, "casehold": casehold, "legalbench": legalbench,
    "cmmlu": cmmlu, "ceval": ceval, "lawbench": lawbench, "mmlu": mmlu,
}
# Whole-file passes: name -> function(rows) -> extra keyword arguments for every call of the preset.
PRESET_SETUP: dict[str, Callable[[list[dict[str, Any]]], dict[str, Any]]] = {
    "medmcqa": _medmcqa_setup, "legalbench": _legalbench_setup,
}


def _preset(name: str) -> dict[str, Layout]:
    if name not in LAYOUTS:
        raise UnknownNameError("benchmark preset", name, LAYOUTS)
    return LAYOUTS[name]


def _allowed(name: str) -> str:
    return "; ".join(f"{n} ({lay.files})" for n, lay in LAYOUTS[name].items())


def check_preset(name: str, layout: str | None = None) -> list[str]:
    """Problems with a preset / layout pair (for validate): an unknown name lists the allowed ones."""
    if name not in LAYOUTS:
        return [str(UnknownNameError("benchmark preset", name, LAYOUTS))]
    if layout is not None and layout not in LAYOUTS[name]:
        return [f"preset {name}: unknown layout {layout!r}; allowed: {', '.join(LAYOUTS[name])}"]
    return []


def _layout(name: str, layout: str) -> Layout:
    problems = check_preset(name, layout)
    if problems:
        raise DataError(f"{problems[0]} -- {_allowed(name)}" if name in LAYOUTS else problems[0])
    return LAYOUTS[name][layout]


def fallback_encoding(name: str, layout: str | None = None, path: str | Path | None = None) -> str | None:
    """The original release's encoding of this preset's layout (or of the layout the file type implies),
    tried after UTF-8; None when every layout is UTF-8."""
    if name not in LAYOUTS:
        return None
    if layout is not None:
        return LAYOUTS[name][layout].encoding if layout in LAYOUTS[name] else None
    suffix = Path(path).suffix.lower() if path is not None else None
    return next((lay.encoding for lay in LAYOUTS[name].values()
                 if lay.encoding and (suffix is None or suffix in lay.suffixes)), None)


def detect_layout(name: str, rows: list[dict[str, Any]], path: str | Path | None = None, source: str = "") -> str:
    """The layout of a file, from its type and the columns of its first rows; a DataError when none fits."""
    layouts = _preset(name)
    suffix = Path(path).suffix.lower() if path is not None else ""
    sample = [{k for k, v in r.items() if v is not None} for r in rows[:50]]

    def fits(lay: Layout, keys: set[str]) -> bool:
        return set(lay.keys) <= keys and (not lay.suffixes or not suffix or suffix in lay.suffixes)

    for keys in sample:
        hits = [n for n, lay in layouts.items() if fits(lay, keys)]
        if hits:
            if name == "medmcqa" and hits[0] in ("hub", "original"):
                seen = _cops(rows)
                if 0 in seen and 4 in seen:
                    raise DataError(f"{source}: medmcqa: field 'cop' holds both 0 and 4: cannot tell 0-based (hub) "
                                    "from 1-based (original release); set layout: hub or original")
                return "original" if 4 in seen else "hub"
            return hits[0]
    seen = sorted({k for keys in sample for k in keys if not k.startswith("_")})
    raise DataError(f"{source}: cannot tell which {name} layout this is from its columns {seen}; layouts: "
                    f"{_allowed(name)}. Set layout: to one of {', '.join(layouts)} (and columns: to rename)")


def _where(source: str, row: dict[str, Any]) -> str:
    return f"{source}[{row['_key']}]" if "_key" in row else f"{source}:{row.get('_line')}"


def _subset(path: str | Path | None) -> str | None:
    """The subject / task / agreement level a per-subset file is named after.

    >>> _subset("data/diversity_3/test.tsv"), _subset("val/law_val.csv"), _subset("abstract_algebra_test.csv")
    ('diversity_3', 'law', 'abstract_algebra')
    """
    if path is None:
        return None
    p = Path(path)
    if not p.suffix:
        return None
    splits = ("train", "dev", "val", "valid", "validation", "test")
    if p.stem.lower() in splits:
        return p.parent.name or None
    return re.sub(r"[_-](?:" + "|".join(splits) + r")$", "", p.stem, flags=re.IGNORECASE)


def apply_preset(name: str, rows: list[dict[str, Any]], source: str, *, columns: dict[str, str] | None = None,
                 on_error: str = "raise", report: Any = None, layout: str | None = None,
                 path: str | Path | None = None) -> list[dict[str, Any]]:
    """Map raw benchmark rows to example records; bad rows raise a DataError or are skipped and counted.

    ``layout``: one of the preset's :data:`LAYOUTS` (None: detected from ``path``'s type and the columns);
    ``columns``: renames ``{theirs: ours}`` first (dotted paths reach into nested fields:
    ``info.0.sentiment_score``).
    """
    layouts = _preset(name)
    if columns:
        rows = [remap(row, columns) for row in rows]
    if layout is not None:
        lay = _layout(name, layout)
    elif not rows:
        return []
    else:
        lay = layouts[detect_layout(name, rows, path, source)]
    if report is not None:
        report.layout = lay.name
    ctx: dict[str, Any] = {"subset": _subset(path)}
    try:
        if lay.setup is not None:
            ctx.update(lay.setup(rows, lay.name))
    except RowError as e:
        raise DataError(f"{source}: {name}: {e}") from None
    out: list[dict[str, Any]] = []

    def bad(msg: str) -> None:
        if on_error == "raise" or report is None:
            raise DataError(msg)
        report.skip(msg)

    for row in rows:
        line = row.get("_line")
        try:
            got = lay.map(row, ctx)
        except RowError as e:
            bad(f"{_where(source, row)}: {name}: {e}")
            continue
        except (TypeError, AttributeError, KeyError, ValueError) as e:  # a field of an unexpected shape
            bad(f"{_where(source, row)}: {name}: malformed row ({type(e).__name__}: {e})")
            continue
        for rec in got if isinstance(got, list) else [got]:
            if isinstance(rec, RowError):
                bad(f"{_where(source, row)}{rec.where}: {name}: {rec}")
                continue
            rec["_line"] = line
            out.append(rec)
    return out


# ---------------------------------------------------------------------------------- files -> records


_MMLU_COLS = ("question", "A", "B", "C", "D", "answer")


def _headerless(rows: list[dict[str, Any]], source: str, cols: tuple[str, ...], on_error: str, rep: Any
                ) -> list[dict[str, Any]]:
    """Rows read without a header -> dicts; a first row naming the columns is taken as the header."""
    if not rows:
        return rows
    first = [str(v).strip() for v in rows[0]["_fields"]]
    if any(v.lower() in ("question", "answer", "choices") for v in first):  # it has a header after all
        rep.columns = first
        out = []
        for r in rows[1:]:
            vals = r["_fields"]
            if len(vals) != len(first):
                msg = f"{source}:{r['_line']}: row has {len(vals)} fields, header has {len(first)}"
                if on_error == "raise":
                    raise DataError(msg)
                rep.skip(msg)
                continue
            out.append({**dict(zip(first, vals)), "_line": r["_line"]})
        return out
    out = []
    for r in rows:
        vals = r["_fields"]
        if len(vals) != len(cols):
            msg = (f"{source}:{r['_line']}: row has {len(vals)} field{'s' * (len(vals) != 1)}, expected {len(cols)} "
                   f"({', '.join(cols)}; the file has no header)")
            if on_error == "raise":
                raise DataError(msg)
            rep.skip(msg)
            continue
        out.append({**dict(zip(cols, vals)), "_line": r["_line"]})
    return out


def _read_split(split_file: Path) -> dict[str, str | None]:
    """A split file: JSON ``{id: label}`` (PubMedQA's test_ground_truth.json) or ``[id, ...]``, or text with
    one id per line -> {id: label or None}."""
    text, _ = decode_text(split_file)
    if split_file.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{split_file}:{e.lineno}: malformed JSON ({e.msg})") from None
        if isinstance(data, dict) and all(isinstance(v, (str, int, float, type(None))) for v in data.values()):
            return {str(k): (None if v is None else str(v)) for k, v in data.items()}
        if isinstance(data, list) and all(isinstance(v, (str, int)) for v in data):
            return {str(v): None for v in data}
        raise DataError(f"{split_file}: a split file is a JSON object {{id: label}}, a JSON list of ids, or text "
                        "with one id per line")
    return {ln.strip(): None for ln in text.split("\n") if ln.strip()}


def _row_key(row: dict[str, Any]) -> str | None:
    for k in ("_key", "id", "pubid", "_id", "index"):
        if row.get(k) not in (None, ""):
            return str(row[k])
    return None


def _split_rows(rows: list[dict[str, Any]], split_file: Path, source: str, on_error: str, rep: Any
                ) -> tuple[list[dict[str, Any]], dict[str, str | None]]:
    wanted = _read_split(split_file)
    keys = {_row_key(r) for r in rows}
    kept = [r for r in rows if _row_key(r) in wanted]
    if not kept:
        sample = ", ".join(sorted(k for k in keys if k)[:3])
        raise DataError(f"split_file {split_file}: none of its {len(wanted)} ids is in {source} (whose ids look "
                        f"like {sample or '(none)'}); is it the split of another file?")
    rep.filtered += len(rows) - len(kept)
    rep.notes.append(f"split_file {split_file}: kept the {len(kept)} records it names, left out {len(rows) - len(kept)}")
    for k in wanted:
        if k not in keys:
            msg = f"{split_file}[{k}]: id not found in {source}"
            if on_error == "raise":
                raise DataError(msg)
            rep.skip(msg)
    return kept, wanted


def load_benchmark(path: str | Path, preset: str, *, layout: str | None = None, encoding: str | None = None,
                   split_file: str | Path | None = None, split: str = "train", config: str | None = None,
                   columns: dict[str, str] | None = None, limit: int | None = None, on_error: str = "raise",
                   base_dir: str | Path | None = None) -> tuple[list[dict[str, Any]], LoadReport]:
    """A benchmark file (or dataset dir / hub id) -> example records and its LoadReport.

    Each record is an alpaca row (instruction, input, output) with ``task``, ``kind`` (mc | mc_multi |
    classification | numeric | generation), ``answer``, ``lang``, ``id`` and, for mc / mc_multi,
    ``choices`` (``labels`` for classification) -- what an eval suite scores; ``_line`` names its line.

    ``layout``: see :data:`LAYOUTS` (None: detected). ``encoding``: the file's text encoding (None:
    detect; the layout's original encoding, e.g. ISO-8859-1 for FPB, is tried when the bytes are not
    UTF-8). ``split_file``: keep only the records whose id it names (PubMedQA's test_ground_truth.json
    ``{pmid: label}``, a JSON list of ids, or one id per line); the others are counted as ``filtered``,
    an id it names that the file lacks is a bad record, and a label it gives must equal the record's
    answer. ``limit``: at most this many records. The report's ``problems`` name every bad record.
    """
    layouts = _preset(preset)
    if layout is not None:
        _layout(preset, layout)
    base = Path(base_dir) if base_dir is not None else None
    p = Path(str(path)).expanduser()
    suffix = p.suffix.lower()
    headerless = [lay for lay in layouts.values() if not lay.header and suffix in lay.suffixes]
    header = not (headerless and (layout is None or layout == headerless[0].name))
    rows, rep = read_examples(path, split=split, on_error=on_error, base_dir=base, config=config, encoding=encoding,
                              fallback_encoding=fallback_encoding(preset, layout, p), header=header)
    if not header:
        rows = _headerless(rows, rep.source, headerless[0].keys, on_error, rep)
    labels: dict[str, str | None] = {}
    if split_file is not None:
        sf = Path(str(split_file)).expanduser()
        if base is not None and not sf.is_absolute() and not sf.exists() and (base / sf).exists():
            sf = base / sf
        if not sf.is_file():
            raise DataError(f"split_file not found: {split_file}")
        rows, labels = _split_rows(rows, sf, rep.source, on_error, rep)
    src_path = rep.source if Path(rep.source).exists() else None
    recs = apply_preset(preset, rows, rep.source, columns=columns, on_error=on_error, report=rep, layout=layout,
                        path=src_path)
    if any(labels.values()):
        kept = []
        for rec in recs:
            want = labels.get(str(rec.get("id")))
            if want is not None and str(rec.get("answer", "")).strip().lower() != want.strip().lower():
                msg = (f"{rep.source}[{rec.get('id')}]: {preset}: answer {rec.get('answer')!r} differs from the label "
                       f"{want!r} in split_file {split_file}")
                if on_error == "raise":
                    raise DataError(msg)
                rep.skip(msg)
                continue
            kept.append(rec)
        recs = kept
    if limit is not None and len(recs) > limit:
        rep.filtered += len(recs) - limit
        rep.notes.append(f"limit {limit}: left out the {len(recs) - limit} records after the first {limit}")
        recs = recs[:limit]
    return recs, rep


def check_spec(src: Any, base_dir: Path | None = None) -> list[str]:
    """Every problem of one recipe ``data:`` entry (a DataSpec) that shows before loading it: the file's
    type and encoding (:func:`verticalize.data.sources.check_file`; a preset's original encoding counts),
    an unknown preset or layout, a missing ``split_file``. For ``verticalize validate``."""
    if getattr(src, "path", None) is None:
        return []
    preset, layout = getattr(src, "preset", None), getattr(src, "layout", None)
    problems = check_preset(preset, layout) if preset is not None else []
    fallback = fallback_encoding(preset, layout, src.path) if preset is not None and not problems else None
    split_file = getattr(src, "split_file", None)
    if split_file is not None:
        sf = Path(split_file).expanduser()
        if not sf.is_file() and not (base_dir is not None and (Path(base_dir) / sf).is_file()):
            problems.append(f"split_file not found: {split_file}")
    return problems + check_file(src.path, encoding=getattr(src, "encoding", None), fallback_encoding=fallback,
                                 base_dir=Path(base_dir) if base_dir is not None else None)


def layouts_table() -> str:
    """A markdown table: benchmark -> accepted layouts -> task kind (for the README)."""
    lines = ["| preset | layout | files | task kind |", "|---|---|---|---|"]
    for name, layouts in LAYOUTS.items():
        for lay in layouts.values():
            files = lay.files.replace("|", "/").replace("<", "\\<")  # <task> is no HTML tag
            lines.append(f"| `{name}` | `{lay.name}` | {files} | {lay.kinds.replace('|', '/')} |")
    return "\n".join(lines)
