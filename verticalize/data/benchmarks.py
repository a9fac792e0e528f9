"""Column mappings ("presets") for public benchmarks: raw rows -> verticalize example records.

A preset maps one row, in its benchmark's published schema, to an alpaca record with ``task``,
``kind`` (mc | classification | numeric | generation), ``lang``, ``answer`` and ``id``. Schemas:

* ``finqa``: the official release (github.com/czyssrs/FinQA ``dataset/*.json``: pre_text, post_text,
  table, id, qa{question, program, exe_ans, program_re, answer}) and the flat HF ``ibm/finqa``
  (= ``ibm-research/finqa``) layout (question, answer, final_result, program_re at top level).
* ``fpb``: HF ``takala/financial_phrasebank`` (any ``sentences_*agree`` config): sentence,
  label ClassLabel 0=negative 1=neutral 2=positive (label strings are accepted too).
* ``fiqa_sa``: HF ``TheFinAI/fiqa-sentiment-classification`` (= ``ChanceFocus/...``): _id, sentence,
  target, aspect, score float in [-1, 1], type (headline | post); or a ``label`` string instead of score.
* ``medqa``: HF ``GBaker/MedQA-USMLE-4-options`` and the original repo's jsonl (jind11/MedQA, US 4/5
  options and the Chinese sets): question, options {letter: text}, answer_idx, answer, meta_info.
* ``pubmedqa``: HF ``qiaojin/PubMedQA`` config ``pqa_labeled``: pubid, question,
  context{contexts, labels, meshes, ...}, long_answer, final_decision (yes | no | maybe).
* ``medmcqa``: HF ``openlifescienceai/medmcqa``: id, question, opa..opd, cop, choice_type, exp,
  subject_name, topic_name. The HF loader stores ``cop`` 0-based (ClassLabel a-d; -1 = test split
  without answers); the original release (medmcqa.github.io train/dev.json) is 1-based.
* ``cmexam``: the CSVs of github.com/williamliujl/CMExam (data/train.csv, val.csv, test.csv):
  Question, Options ("A 文本\\nB 文本..."), Answer (letters), Explanation, annotation columns.
* ``casehold``: HF ``casehold/casehold`` (config ``all``): example_id, citing_prompt,
  holding_0..holding_4, label ("0".."4", a string in the HF loader; ints are accepted).
* ``legalbench``: HF ``nguha/legalbench`` (one config per task, ``data/<task>/test.tsv``): answer,
  index, text and, for some tasks, more input columns (question, contract, ...).

Decisions: ``fiqa_sa`` uses the FinGPT benchmark thresholds (score < -0.1 negative, >= 0.1 positive,
else neutral). ``medmcqa`` picks the ``cop`` base per file: a 0 means 0-based, a 4 means 1-based, both
is an error, neither (only 1-3 seen) means 0-based (HF). ``cmexam`` takes single-answer questions
only: a multi-letter ``Answer`` (~3% of CMExam) is a bad row (DataError, or skipped and counted).
``legalbench``: labels = the sorted distinct answers of the rows given (a ``limit`` can drop one);
classification when there are <= 20 distinct answers of <= 5 words, else generation. ``finqa``:
``answer`` is ``exe_ans`` (the official execution-accuracy target), x100 when the human answer is a
percent ("1.6%" with exe_ans 0.01639 -> 1.639); a non-number ("yes") makes the row generation;
pre/post text are clipped to 1000 characters each (the table is kept whole); the program is kept
verbatim as ``program_dsl``.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable
from typing import Any

from verticalize.errors import DataError, UnknownNameError

__all__ = ["PRESETS", "PRESET_SETUP", "apply_preset"]

LETTERS = "ABCDEFGHIJ"
SENTIMENT = ["negative", "neutral", "positive"]
CONTEXT_CHARS = 1000  # finqa: pre_text and post_text are clipped to this many characters each
_CJK = re.compile(r"[\u4e00-\u9fff]")


class RowError(ValueError):
    """A row does not fit its preset; :func:`apply_preset` adds source, line and preset."""


def _get(row: dict[str, Any], key: str, what: str = "text") -> Any:
    v = row.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        raise RowError(f"missing field {key!r} (expected {what})")
    return v


def _text(row: dict[str, Any], key: str) -> str:
    if not isinstance(v := _get(row, key), str):
        raise RowError(f"field {key!r} must be text, got {type(v).__name__}")
    return v.strip()


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


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.10g}"


def _mc(task: str, row: dict[str, Any], question: str, choices: list[str], letter: str, id_key: str,
        lang: str = "en") -> dict[str, Any]:
    options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    text = choices[LETTERS.index(letter)]
    out = f"答案：{letter}. {text}" if lang == "zh" else f"{letter}. {text}"
    return {"instruction": f"{question}\n{options}", "input": "", "output": out, "task": task, "kind": "mc",
            "lang": lang, "answer": letter, "choices": choices, "id": _id(row, id_key, task)}


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
    """Financial PhraseBank.

    >>> fpb({"sentence": "Profit rose to EUR 5 mn.", "label": 2, "_line": 1})["answer"]
    'positive'
    """
    gold = _label(_get(row, "label", "0, 1 or 2"), SENTIMENT, "label")
    return _cls("fpb", row, "What is the sentiment of this financial news sentence? Answer with one of: "
                "negative, neutral, positive.", _text(row, "sentence"), SENTIMENT, gold, "id")


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


def medqa(row: dict[str, Any]) -> dict[str, Any]:
    """MedQA (USMLE 4/5 options, or the Chinese sets: lang zh): options dict + answer_idx letter."""
    question = _text(row, "question")
    options = _obj(_get(row, "options", "an object {A: text, B: text, ...}"))
    if not isinstance(options, dict):
        raise RowError(f"field 'options' must be an object {{A: text, ...}}, got {type(options).__name__}")
    opts = {str(k).strip().upper(): str(v).strip() for k, v in options.items() if v is not None and str(v).strip()}
    if len(opts) < 2 or sorted(opts) != list(LETTERS[: len(opts)]):
        raise RowError(f"field 'options' must map consecutive letters A, B, ... to option texts; got {sorted(opts)}")
    choices = [opts[k] for k in sorted(opts)]
    letter = row.get("answer_idx")
    if letter in (None, "") and isinstance(row.get("answer"), str) and row["answer"].strip() in choices:
        letter = LETTERS[choices.index(row["answer"].strip())]
    if not isinstance(letter, str) or letter.strip().upper() not in list(LETTERS[: len(choices)]):
        raise RowError(f"field 'answer_idx' is {letter!r}; expected one of {', '.join(LETTERS[:len(choices)])}")
    lang = "zh" if _CJK.search(question) else "en"
    return _mc("medqa", row, question, choices, letter.strip().upper(), "id", lang)


def pubmedqa(row: dict[str, Any]) -> dict[str, Any]:
    """PubMedQA pqa_labeled: the abstract sections (LABEL: text) go into ``input``."""
    question = _text(row, "question")
    ctx = _obj(_get(row, "context", "an object {contexts: [...], labels: [...]}"))
    texts = ctx.get("contexts") if isinstance(ctx, dict) else None
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise RowError("field 'context.contexts' must be a non-empty list of texts")
    tags = ctx.get("labels") if isinstance(ctx.get("labels"), list) else []
    tags = [f"{str(x).strip()}: " for x in tags] if len(tags) == len(texts) else [""] * len(texts)
    body = "\n".join(tag + t.strip() for tag, t in zip(tags, texts))
    gold = _label(_get(row, "final_decision", "yes, no or maybe"), ["yes", "no", "maybe"], "final_decision")
    return _cls("pubmedqa", row, f"{question}\nAnswer with one of: yes, no, maybe.", body, ["yes", "no", "maybe"],
                gold, "pubid")


def medmcqa(row: dict[str, Any], base: int = 0) -> dict[str, Any]:
    """MedMCQA: ``cop`` is 0-based (HF) unless ``base=1`` (original release); letters a-d work too.

    >>> r = {"id": "x1", "question": "Drug of choice?", "opa": "A1", "opb": "B1", "opc": "C1", "opd": "D1", "cop": 1}
    >>> medmcqa(r)["output"], medmcqa(r, base=1)["output"]
    ('B. B1', 'A. A1')
    """
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


def _medmcqa_setup(rows: list[dict[str, Any]]) -> dict[str, Any]:
    seen = {int(r["cop"]) for r in rows if isinstance(r.get("cop"), (int, str)) and str(r["cop"]).strip().isdigit()}
    if 0 in seen and 4 in seen:
        raise RowError("field 'cop' holds both 0 and 4: cannot tell 0-based (HF) from 1-based (original release)")
    return {"base": 1 if 4 in seen else 0}


_CM_SEP = r"[ \t.、:：．]+"


def _cm_options(text: str) -> list[str]:
    """'A 文本\\nB 文本' -> option texts; also 'A 甲B 乙' (a CSV reader that dropped the line breaks)."""
    if "\n" in text:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        ms = [re.match(rf"([A-J]){_CM_SEP}(.*)", ln) for ln in lines]
        if all(ms) and "".join(m.group(1) for m in ms) == LETTERS[: len(ms)]:
            return [m.group(2).strip() for m in ms]
        return []
    m = re.match(rf"\s*A{_CM_SEP}", text)
    out, pos = [], m.end() if m else -1
    for letter in LETTERS[1:]:
        nxt = re.compile(rf"{letter}{_CM_SEP}").search(text, pos) if pos >= 0 else None
        if nxt is None:
            break
        out.append(text[pos:nxt.start()].strip())
        pos = nxt.end()
    return [*out, text[pos:].strip()] if out else []


def cmexam(row: dict[str, Any]) -> dict[str, Any]:
    """CMExam (Chinese): single-answer questions; a multi-letter Answer is a bad row.

    >>> cmexam({"Question": "首选药物是", "Options": "A 甲\\nB 乙", "Answer": "B", "_line": 2})["output"]
    '答案：B. 乙'
    """
    question = _text(row, "Question")
    choices = _cm_options(_text(row, "Options"))
    if len(choices) < 2 or not all(choices):
        raise RowError("field 'Options' must list the options one per line as 'A 文本', 'B 文本', ...")
    ans = str(_get(row, "Answer", "an option letter")).strip().upper()
    if len(ans) > 1 and set(ans) <= set(LETTERS):
        raise RowError(f"field 'Answer' is {ans!r}: multi-answer questions are not supported (single letter expected)")
    if ans not in list(LETTERS[: len(choices)]):
        raise RowError(f"field 'Answer' is {ans!r}; expected one of {', '.join(LETTERS[:len(choices)])}")
    return _mc("cmexam", row, question, choices, ans, "id", "zh")


def casehold(row: dict[str, Any]) -> dict[str, Any]:
    """CaseHOLD: five candidate holdings for the <HOLDING> slot; ``label`` 0-4 (int or text)."""
    prompt = _text(row, "citing_prompt")
    choices = [_text(row, f"holding_{i}") for i in range(5)]
    gold = _label(_get(row, "label", "0-4"), [str(i) for i in range(5)], "label")
    return _mc("casehold", row, f"{prompt}\n\nWhich holding belongs in <HOLDING>?", choices, LETTERS[int(gold)],
               "example_id")


_LB_META = {"answer", "index", "slice", "label", "_line", "task", "idx"}


def legalbench(row: dict[str, Any], labels: list[str] | None = None) -> dict[str, Any]:
    """LegalBench: classification over ``labels`` (from :data:`PRESET_SETUP`), else generation.

    >>> legalbench({"index": 3, "text": "Is this hearsay?", "answer": "Yes"}, labels=["No", "Yes"])["kind"]
    'classification'
    """
    gold = _text(row, "answer")
    fields = [(k, v.strip()) for k, v in row.items() if k not in _LB_META and isinstance(v, str) and v.strip()]
    if not fields:
        raise RowError("missing field 'text' (no input column)")
    named = "\n".join(f"{k.replace('_', ' ').capitalize()}: {v}" for k, v in fields)
    body = fields[0][1] if len(fields) == 1 else named
    if labels is None:
        return {"instruction": body, "input": "", "output": gold, "task": "legalbench", "kind": "generation",
                "lang": "en", "id": _id(row, "index", "legalbench")}
    if gold not in labels:
        raise RowError(f"field 'answer' is {gold!r}; expected one of {', '.join(labels)}")
    return _cls("legalbench", row, f"{body}\n\nAnswer with one of: {', '.join(labels)}.", "", labels, gold, "index")


def _legalbench_setup(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answers = sorted({r["answer"].strip() for r in rows if isinstance(r.get("answer"), str) and r["answer"].strip()})
    short = answers and len(answers) <= 20 and all(len(a.split()) <= 5 for a in answers)
    return {"labels": answers if short else None}


PRESETS: dict[str, Callable[..., dict[str, Any]]] = {
    "finqa": finqa, "fpb": fpb, "fiqa_sa": fiqa_sa, "medqa": medqa, "pubmedqa": pubmedqa,
    "medmcqa": medmcqa, "cmexam": cmexam, "casehold": casehold, "legalbench": legalbench,
}
# Whole-file passes: name -> function(rows) -> extra keyword arguments for every call of the preset.
PRESET_SETUP: dict[str, Callable[[list[dict[str, Any]]], dict[str, Any]]] = {
    "medmcqa": _medmcqa_setup, "legalbench": _legalbench_setup,
}


def apply_preset(name: str, rows: list[dict[str, Any]], source: str, *, columns: dict[str, str] | None = None,
                 on_error: str = "raise", report: Any = None) -> list[dict[str, Any]]:
    """Map raw benchmark rows to example records; bad rows raise a DataError or are skipped and counted."""
    if name not in PRESETS:
        raise UnknownNameError("benchmark preset", name, PRESETS)
    if columns:
        rows = [{columns.get(k, k): v for k, v in row.items()} for row in rows]
    try:
        extra = PRESET_SETUP[name](rows) if name in PRESET_SETUP else {}
    except RowError as e:
        raise DataError(f"{source}: {name}: {e}") from None
    out = []
    for row in rows:
        line = row.get("_line")
        try:
            rec = PRESETS[name](row, **extra)
        except RowError as e:
            msg = f"{source}:{line}: {name}: {e}"
        except (TypeError, AttributeError, KeyError) as e:  # a field of an unexpected shape
            msg = f"{source}:{line}: {name}: malformed row ({type(e).__name__}: {e})"
        else:
            rec["_line"] = line
            out.append(rec)
            continue
        if on_error == "raise" or report is None:
            raise DataError(msg)
        report.skip(msg)
    return out
