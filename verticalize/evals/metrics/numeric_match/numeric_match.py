"""Numeric match: a prediction counts when it is within a relative (or absolute) tolerance of the reference."""

import math

import datasets
import evaluate

_DESCRIPTION = "Share of predictions p with |p - r| <= max(rel_tol * |r|, abs_tol); a missing prediction is wrong."
_KWARGS = "predictions: list of float or None; references: list of float; rel_tol=1e-3; abs_tol=0.01."


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class NumericMatch(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}),
        )

    def _compute(self, predictions, references, rel_tol=1e-3, abs_tol=0.01):
        n = len(references)
        hits = 0
        for p, r in zip(predictions, references):
            if p is None or r is None or (isinstance(p, float) and math.isnan(p)):
                continue
            if abs(p - r) <= max(rel_tol * abs(r), abs_tol):
                hits += 1
        return {"numeric_match": hits / n if n else 0.0}
