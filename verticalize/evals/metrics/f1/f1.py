"""Macro and micro F1 over string labels."""

import datasets
import evaluate

_DESCRIPTION = "Macro F1 (mean of per-label F1) and micro F1 (from pooled counts) for single-label classification."
_KWARGS = "predictions: list of labels; references: list of labels. Returns {'f1_macro': float, 'f1_micro': float}."


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class F1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references):
        labels = sorted(set(references) | set(predictions))
        tp = {label: 0 for label in labels}
        fp = dict(tp)
        fn = dict(tp)
        for p, r in zip(predictions, references):
            if p == r:
                tp[r] += 1
            else:
                fp[p] += 1
                fn[r] += 1
        f1s = []
        for label in sorted(set(references)):
            denom = 2 * tp[label] + fp[label] + fn[label]
            f1s.append(2 * tp[label] / denom if denom else 0.0)
        t, f_p, f_n = sum(tp.values()), sum(fp.values()), sum(fn.values())
        micro = 2 * t / (2 * t + f_p + f_n) if t + f_p + f_n else 0.0
        return {"f1_macro": sum(f1s) / len(f1s) if f1s else 0.0, "f1_micro": micro}
