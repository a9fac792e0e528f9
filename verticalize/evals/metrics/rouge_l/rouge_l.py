"""ROUGE-L F-measure on words, with each CJK character a token (so Chinese text is scored too)."""

import re

import datasets
import evaluate

_DESCRIPTION = "ROUGE-L F1 from the longest common subsequence of tokens; CJK characters are single tokens."
_KWARGS = "predictions: list of str; references: list of str. Returns {'rougeL': mean F1}."
_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)


def _tokens(text):
    return [t.lower() for t in _TOKEN.findall(text or "")]


def _lcs(a, b):
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class RougeL(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references):
        scores = []
        for p, r in zip(predictions, references):
            pt, rt = _tokens(p), _tokens(r)
            lcs = _lcs(pt, rt)
            if lcs == 0:
                scores.append(0.0)
                continue
            prec, rec = lcs / len(pt), lcs / len(rt)
            scores.append(2 * prec * rec / (prec + rec))
        return {"rougeL": sum(scores) / len(scores) if scores else 0.0}
