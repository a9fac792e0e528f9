"""Score one task of a suite by its kind.

- ``mc``: log-likelihood of each lettered option; ``acc`` (sum of log-probs) and ``acc_norm``
  (per character), as lm-evaluation-harness reports them.
- ``classification``: log-likelihood of each label; accuracy and macro/micro F1.
- ``numeric``: generated answer (the last number of the text, or with PoT the result of the
  program the model wrote) within a relative tolerance of the gold answer.
- ``generation``: ROUGE-L against the reference.
- ``mc_multi`` (several correct options, e.g. CMExam "ABD"): the letters of the generated answer
  (:func:`parse_letters`) must equal the gold set exactly (``set_match``).
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any

from verticalize.evals.engine import chat_prompt, generate, loglikelihoods

__all__ = ["score_task", "generation_requests", "parse_number", "parse_letters", "load_metric", "PRIMARY"]

_METRICS_DIR = Path(__file__).with_name("metrics")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?|-?\.\d+")


@functools.lru_cache(maxsize=None)
def load_metric(name: str) -> Any:
    """A local ``evaluate`` metric module, loaded by path (no hub)."""
    import evaluate

    return evaluate.load(str(_METRICS_DIR / name))


def parse_number(text: str) -> float | None:
    """The last number in a text (commas, percent signs and currency stripped).

    >>> parse_number("Percent change = 25.0%. The answer is 1,250.5.")
    1250.5
    >>> parse_number("no number") is None
    True
    """
    hits = _NUMBER.findall(text or "")
    if not hits:
        return None
    try:
        return float(hits[-1].replace(",", ""))
    except ValueError:
        return None


_ANSWER_MARK = re.compile(r"(?:正确答案|答案|answer)\s*(?:是|为|is|are)?\s*[:：\]】]?\s*", re.IGNORECASE)
_LETTER_RUN = r"([A-J](?:\s*[,，、/和及&]?\s*(?:and\s+)?[A-J])*)(?![A-Za-z])"


def parse_letters(text: str, n: int = 10) -> str | None:
    """The option letters a generated answer picks, sorted ("ABD"); None when it names none.

    Letters after an answer mark ("答案：", "Answer:") win; else a run of letters opening the text.

    >>> parse_letters("答案：D、A、B"), parse_letters("Answer: A and C."), parse_letters("BD"), parse_letters("none")
    ('ABD', 'AC', 'BD', None)
    """
    text = text or ""
    allowed = "ABCDEFGHIJ"[:n]
    m = _ANSWER_MARK.search(text)
    hit = re.match(_LETTER_RUN, text[m.end():]) if m else None
    hit = hit or re.match(r"\s*\(?" + _LETTER_RUN, text)
    if hit is None:
        return None
    letters = {c for c in hit.group(1) if c in allowed}
    return "".join(sorted(letters)) or None


def _mc_multi(items: list[dict[str, Any]], texts: list[list[str]],
              detail: list[dict[str, Any]] | None = None) -> tuple[dict[str, float], list[Any]]:
    preds = [parse_letters(t[0], len(ex["choices"])) for ex, t in zip(items, texts)]
    refs = ["".join(sorted(set(str(ex["answer"]).upper()))) for ex in items]
    if detail is not None:
        detail.extend({"parsed": p, "correct": p == r} for p, r in zip(preds, refs))
    n = len(items)
    return ({"set_match": sum(p == r for p, r in zip(preds, refs)) / n if n else 0.0,
             "parsed": sum(p is not None for p in preds) / n if n else 0.0}, preds)


def _letter(i: int) -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i]


def _answer_prefix(ex: dict[str, Any]) -> str:
    """What the reference answer says before the letter (e.g. '答案：'), so options are scored in the
    same form the model is trained to answer in."""
    ref = ex["messages"][-1]["content"] if ex["messages"][-1]["role"] == "assistant" else ""
    mark = f"{str(ex['answer']).strip()[:1].upper()}. "
    i = ref.find(mark)
    return ref[:i] if 0 < i <= 12 else ""


def _mc(model: Any, tok: Any, items: list[dict[str, Any]], cfg: Any, progress: Any = None,
        detail: list[dict[str, Any]] | None = None) -> tuple[dict[str, float], list[Any]]:
    pairs, spans = [], []
    for ex in items:
        prompt = chat_prompt(tok, ex["messages"])
        prefix = _answer_prefix(ex)
        conts = [f"{prefix}{_letter(i)}. {c}" for i, c in enumerate(ex["choices"])]
        spans.append((len(pairs), conts))
        pairs += [(prompt, c) for c in conts]
    lls = loglikelihoods(model, tok, pairs, cfg.batch_size, _per_item(progress, len(items), len(pairs)))
    preds, preds_norm, refs = [], [], []
    for ex, (start, conts) in zip(items, spans):
        scores = [lls[start + i][0] for i in range(len(conts))]
        norm = [s / max(1, len(c) - len(_answer_prefix(ex))) for s, c in zip(scores, conts)]
        preds.append(_letter(max(range(len(scores)), key=scores.__getitem__)))
        preds_norm.append(_letter(max(range(len(norm)), key=norm.__getitem__)))
        refs.append(str(ex["answer"]).strip()[:1].upper())
    acc = load_metric("accuracy").compute(predictions=preds, references=refs)["accuracy"]
    acc_norm = load_metric("accuracy").compute(predictions=preds_norm, references=refs)["accuracy"]
    if detail is not None:
        detail.extend({"parsed": p, "correct": p == r} for p, r in zip(preds, refs))
    return {"acc": acc, "acc_norm": acc_norm}, preds


def _classification(model: Any, tok: Any, items: list[dict[str, Any]], cfg: Any, progress: Any = None,
                    detail: list[dict[str, Any]] | None = None) -> tuple[dict[str, float], list[Any]]:
    pairs, spans = [], []
    for ex in items:
        prompt = chat_prompt(tok, ex["messages"])
        spans.append((len(pairs), list(ex["labels"])))
        pairs += [(prompt, str(label)) for label in ex["labels"]]
    lls = loglikelihoods(model, tok, pairs, cfg.batch_size, _per_item(progress, len(items), len(pairs)))
    preds = []
    for start, labels in spans:
        scores = [lls[start + i][0] for i in range(len(labels))]
        preds.append(str(labels[max(range(len(scores)), key=scores.__getitem__)]))
    refs = [str(ex["answer"]) for ex in items]
    scores = load_metric("accuracy").compute(predictions=preds, references=refs)
    scores.update(load_metric("f1").compute(predictions=preds, references=refs))
    if detail is not None:
        detail.extend({"parsed": p, "correct": p == r} for p, r in zip(preds, refs))
    return scores, preds


def _per_item(progress: Any, n_items: int, n_calls: int) -> Any:
    """A progress callback counting model calls (one per option) as shares of questions."""
    if progress is None or not n_calls:
        return None
    return lambda done: progress(done * n_items / n_calls)


def generation_requests(tok: Any, kind: str, items: list[dict[str, Any]]) -> list[str]:
    """The prompts a generative task needs (empty for log-likelihood tasks)."""
    if kind not in ("numeric", "generation", "mc_multi"):
        return []
    return [chat_prompt(tok, ex["messages"]) for ex in items]


def _numeric(items: list[dict[str, Any]], texts: list[list[str]], pot: Any = None,
             sandbox: Any = None, detail: list[dict[str, Any]] | None = None) -> tuple[dict[str, float], list[Any]]:
    if pot is not None and pot.enabled and sandbox is not None:
        from verticalize.pot import extract_program, majority_vote

        preds = []
        for outs in texts:
            codes = [extract_program(t) or "" for t in outs]
            results = sandbox.run_many(codes)
            ans = majority_vote(results) if len(outs) > 1 else (results[0].answer if results[0].status == "ok" else None)
            try:
                preds.append(float(ans) if ans is not None else None)
            except (TypeError, ValueError):
                preds.append(None)
    else:
        preds = [parse_number(outs[0]) for outs in texts]
    refs = [float(ex["answer"]) for ex in items]
    m = load_metric("numeric_match")
    scores = m.compute(predictions=[p if p is not None else float("nan") for p in preds], references=refs)
    scores["parsed"] = sum(p is not None for p in preds) / len(preds) if preds else 0.0
    if detail is not None:  # the metric's rule (numeric_match: rel_tol 1e-3, abs_tol 0.01) per question
        detail.extend({"parsed": p, "correct": p is not None and not math.isnan(p) and abs(p - r) <= max(1e-3 * abs(r), 0.01)}
                      for p, r in zip(preds, refs))
    return scores, [t[0] for t in texts]


def _generation(items: list[dict[str, Any]], texts: list[list[str]],
                detail: list[dict[str, Any]] | None = None) -> tuple[dict[str, float], list[Any]]:
    preds = [t[0] for t in texts]
    refs = [ex["messages"][-1]["content"] if ex["messages"][-1]["role"] == "assistant" else "" for ex in items]
    metric = load_metric("rouge_l")
    if detail is not None:  # a reference has no right or wrong: each answer's own ROUGE-L
        detail.extend({"score": round(metric._compute(predictions=[p], references=[r])["rougeL"], 4), "correct": None}
                      for p, r in zip(preds, refs))
    return metric.compute(predictions=preds, references=refs), preds


PRIMARY = {"mc": "acc", "classification": "accuracy", "numeric": "numeric_match", "generation": "rougeL",
           "mc_multi": "set_match"}


def score_task(model: Any, tok: Any, kind: str, items: list[dict[str, Any]], cfg: Any, pot: Any = None,
               sandbox: Any = None, texts: list[list[str]] | None = None, *, progress: Any = None,
               detail: list[dict[str, Any]] | None = None) -> tuple[dict[str, float], list[Any]]:
    """Score one task. Generative kinds take ``texts`` generated for ``generation_requests`` (the
    runner generates for all tasks of a suite in one batched call: decoding on CPU is bound by
    reading the weights, so one batch of 24 costs about what one batch of 4 does).

    ``progress(n)``: called as questions are done (fractions for option-scoring kinds). ``detail``: a list
    that gets one dict per question -- ``parsed`` (the answer read from the output), ``correct`` (None
    for ``generation``, which has its own ``score``)."""
    if kind == "mc":
        return _mc(model, tok, items, cfg, progress, detail)
    if kind == "classification":
        return _classification(model, tok, items, cfg, progress, detail)
    if texts is None:
        k = pot.samples if pot is not None and pot.enabled and kind == "numeric" else 1
        texts = generate(model, tok, generation_requests(tok, kind, items), _gen_spec(cfg, k), cfg.batch_size,
                         progress, num_return_sequences=k)
    if kind == "numeric":
        return _numeric(items, texts, pot, sandbox, detail)
    if kind == "mc_multi":
        return _mc_multi(items, texts, detail)
    return _generation(items, texts, detail)


def _gen_spec(cfg: Any, k: int) -> Any:
    gen = cfg.generation
    if k > 1 and gen.temperature == 0:  # self-consistency needs samples
        gen = gen.model_copy(update={"temperature": 0.7})
    return gen
