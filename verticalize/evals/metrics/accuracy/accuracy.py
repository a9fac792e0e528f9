"""Accuracy: the share of predictions equal to their reference."""

import datasets
import evaluate

_DESCRIPTION = "Accuracy = correct / total, over predictions and references of any hashable type."
_KWARGS = "predictions: list of labels; references: list of labels. Returns {'accuracy': float}."


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references):
        n = len(references)
        correct = sum(1 for p, r in zip(predictions, references) if p == r)
        return {"accuracy": correct / n if n else 0.0}
