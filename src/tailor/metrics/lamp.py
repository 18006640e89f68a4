"""LaMP task metrics, comparing a response with the example's reference output.

Per example, every metric gives a score in [0, 1] (higher is better) so that runs
average like the other metrics; the numbers LaMP reports are dataset-level and come
from ``task_report(task, references, responses)``:

- LaMP-2 (classification): exact match of the normalized label; accuracy and macro-F1.
- LaMP-3 (rating 1-5): 1 - |pred - ref| / 4; MAE and RMSE.
- LaMP-5, LaMP-7 (generation): ROUGE-1 and ROUGE-L F1 (``tailor.metrics.rouge``).
"""

import math
import re
from statistics import mean
from typing import Literal

from tailor.data.schema import Example
from tailor.errors import DataError
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.metrics.rouge import require_reference

LampTask = Literal["LaMP-2", "LaMP-3", "LaMP-5", "LaMP-7"]
# Each task's per-example metric (tailor.metrics.registry names) and the numbers LaMP reports,
# with whether higher is better.
LAMP_TASK_METRIC = {"LaMP-2": "accuracy", "LaMP-3": "rating", "LaMP-5": "rouge-l", "LaMP-7": "rouge-l"}
REPORTED = {"accuracy": True, "macro_f1": True, "mae": False, "rmse": False, "rouge-1": True, "rouge-l": True}

# A lone digit 1-5: not part of a longer number ("10") nor of a decimal ("4.5").
_RATING = re.compile(r"(?<![\d.])([1-5])(?!\d|\.\d)")


def normalize_label(text: str) -> str:
    return text.strip().lower()


def classification_report(references: list[str], predictions: list[str]) -> dict[str, float]:
    """Accuracy and macro-F1 over the labels seen in references or predictions (a label
    nobody predicted, or predicted but never true, scores F1 = 0)."""
    from sklearn.metrics import f1_score  # slow import; needed only here

    _check_pairs(references, predictions)
    refs, preds = [normalize_label(r) for r in references], [normalize_label(p) for p in predictions]
    accuracy = sum(r == p for r, p in zip(refs, preds)) / len(refs)
    return {"accuracy": accuracy, "macro_f1": float(f1_score(refs, preds, average="macro", zero_division=0))}


def parse_rating(text: str) -> int | None:
    """The first integer 1-5 in ``text``, or None."""
    match = _RATING.search(text)
    return int(match.group(1)) if match else None


def counted_rating(response: str, reference: int) -> int:
    """The rating a response counts as. An unreadable response counts as the rating
    farthest from the reference, as in LaMP's own evaluation: 1 when the reference is
    nearer 5, else 5 (so 5 for a reference of 3)."""
    pred = parse_rating(response)
    if pred is not None:
        return pred
    return 1 if abs(1 - reference) > abs(5 - reference) else 5


def rating_report(references: list[str], predictions: list[str]) -> dict[str, float]:
    """MAE and RMSE of the counted ratings (lower is better)."""
    _check_pairs(references, predictions)
    refs = [_reference_rating(r) for r in references]
    errors = [abs(counted_rating(p, r) - r) for r, p in zip(refs, predictions)]
    return {"mae": sum(errors) / len(errors), "rmse": math.sqrt(sum(e * e for e in errors) / len(errors))}


def rouge_report(references: list[str], predictions: list[str]) -> dict[str, float]:
    """Mean ROUGE-1 and ROUGE-L F1 (stemmed), as LaMP's generation tasks report them."""
    from rouge_score import rouge_scorer

    _check_pairs(references, predictions)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    scores = [scorer.score(r, p) for r, p in zip(references, predictions)]
    return {"rouge-1": mean(s["rouge1"].fmeasure for s in scores), "rouge-l": mean(s["rougeL"].fmeasure for s in scores)}


_TASK_REPORTS = {"LaMP-2": classification_report, "LaMP-3": rating_report, "LaMP-5": rouge_report, "LaMP-7": rouge_report}


def task_report(task: str, references: list[str], predictions: list[str]) -> dict[str, float]:
    """The numbers the LaMP benchmark reports for ``task`` over a whole response set."""
    if task not in _TASK_REPORTS:
        raise ValueError(f"unknown LaMP task {task!r}; choose one of {', '.join(_TASK_REPORTS)}")
    return _TASK_REPORTS[task](references, predictions)


def _reference_rating(reference: str) -> int:
    if reference.strip() not in {"1", "2", "3", "4", "5"}:
        raise ValueError(f"a LaMP-3 reference must be a rating 1-5, got {reference!r}")
    return int(reference)


def _check_pairs(references: list[str], predictions: list[str]) -> None:
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    if not references:
        raise ValueError("no predictions to report on")


class AccuracyMetric(Metric):
    """LaMP-2: 1.0 when the normalized response is the reference label, else 0.0."""

    name = "accuracy"

    def score_batch(self, examples: list[Example], responses: list[str]) -> MetricRun:
        references = [require_reference(e, self.name) for e in examples]
        scores = [
            Score(float(normalize_label(response) == normalize_label(ref)), {"pred": normalize_label(response)})
            for ref, response in zip(references, responses, strict=True)
        ]
        return MetricRun(self.name, [e.id for e in examples], scores)


class RatingMetric(Metric):
    """LaMP-3: 1 - |pred - ref| / 4 per example, an unreadable response counting as the
    farthest rating (see ``counted_rating``)."""

    name = "rating"

    def score_batch(self, examples: list[Example], responses: list[str]) -> MetricRun:
        scores = []
        for example, response in zip(examples, responses, strict=True):
            try:
                ref = _reference_rating(require_reference(example, self.name))
            except ValueError as err:
                raise DataError("<dataset>", example.id, "reference", str(err)) from err
            pred = counted_rating(response, ref)
            scores.append(Score(1 - abs(pred - ref) / 4, {"pred": pred, "abs_error": abs(pred - ref), "parsed": parse_rating(response) is not None}))
        return MetricRun(self.name, [e.id for e in examples], scores)
