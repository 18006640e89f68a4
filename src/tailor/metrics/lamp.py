"""LaMP task metrics, comparing a response with the example's reference output, read
the way LaMP's own evaluation script reads them.

Per example, every metric gives a score in [0, 1] (higher is better) so that runs
average like the other metrics; the numbers LaMP reports are dataset-level and come
from ``task_report(task, references, responses)``:

- LaMP-2 (movie tags): a prediction is its text with surrounding whitespace stripped
  (nothing else: no lowercasing); one outside the task's 15 tags matches none of them.
  Accuracy, and macro-F1 over all 15 tags (a tag absent from the split scores F1 0).
- LaMP-3 (rating 1-5): a prediction is ``float(text.strip())``; one that does not read
  as a finite number counts as the rating farther from the reference (1 or 5). MAE and
  RMSE; beside them the parse rate and the MAE of a lenient reader (the first digit 1-5
  anywhere in the text), named as such.
- LaMP-5, LaMP-7 (generation): ROUGE-1 and ROUGE-L F1 (``tailor.metrics.rouge``).
- LongLaMP (task ``LongLaMP``): sacreBLEU, ROUGE-1/2/L/Lsum and METEOR
  (``tailor.metrics.longlamp``).
"""

import math
import re
from statistics import mean
from typing import Literal

from tailor.data.schema import Example
from tailor.errors import DataError
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.metrics.rouge import require_reference, rouge_scorer_for

LampTask = Literal["LaMP-2", "LaMP-3", "LaMP-5", "LaMP-7", "LongLaMP"]
# The numbers each benchmark reports over a whole response set (``task_report``'s keys), with
# whether higher is better; the lenient LaMP-3 reader's numbers are extras. (A task's
# per-example metric, and its direction, is in tailor.metrics.registry.METRICS.)
REPORTED = {
    "accuracy": True, "macro_f1": True, "mae": False, "rmse": False, "rouge-1": True, "rouge-l": True, "parsed": True, "mae_lenient": False,
    "bleu": True, "rouge-2": True, "rouge-lsum": True, "meteor": True, "pairs": True, "skipped": False,
}
# LaMP-2's label set (the movie tags), in the benchmark's order.
LAMP2_LABELS = (
    "sci-fi", "based on a book", "comedy", "action", "twist ending", "dystopia", "dark comedy", "classic",
    "psychology", "fantasy", "romance", "thought-provoking", "social commentary", "violence", "true story",
)

# A lone digit 1-5: not part of a longer number ("10") nor of a decimal ("4.5").
_LENIENT_RATING = re.compile(r"(?<![\d.])([1-5])(?!\d|\.\d)")


def label_index(text: str) -> int:
    """A prediction's LaMP-2 label: its index in ``LAMP2_LABELS`` after stripping, or -1."""
    stripped = text.strip()
    return LAMP2_LABELS.index(stripped) if stripped in LAMP2_LABELS else -1


def classification_report(references: list[str], predictions: list[str]) -> dict[str, float]:
    """LaMP-2's accuracy and macro-F1 over its 15 labels."""
    from sklearn.metrics import f1_score  # slow import; needed only here

    _check_pairs(references, predictions)
    refs = [_reference_label(r) for r in references]
    preds = [label_index(p) for p in predictions]
    accuracy = sum(r == p for r, p in zip(refs, preds)) / len(refs)
    macro_f1 = f1_score(refs, preds, labels=list(range(len(LAMP2_LABELS))), average="macro", zero_division=0)
    return {"accuracy": accuracy, "macro_f1": float(macro_f1)}


def read_rating(text: str) -> float | None:
    """The benchmark's reading, ``float(text.strip())``, or None when that fails or is not
    finite (the benchmark would let nan or inf through; here they count as unreadable)."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def lenient_rating(text: str) -> float | None:
    """The benchmark's reading, else the first lone digit 1-5 anywhere in ``text`` (an
    extra, not the benchmark's reading)."""
    value = read_rating(text)
    if value is not None:
        return value
    match = _LENIENT_RATING.search(text)
    return float(match.group(1)) if match else None


def farther_rating(reference: float) -> float:
    """What an unreadable prediction counts as: the end of the scale farther from the
    reference (5 for a reference of 3), as LaMP's evaluation does."""
    return 1.0 if abs(1 - reference) > abs(5 - reference) else 5.0


def counted_rating(response: str, reference: float) -> float:
    """The rating a response counts as under the benchmark's reading."""
    pred = read_rating(response)
    return farther_rating(reference) if pred is None else pred


def rating_report(references: list[str], predictions: list[str]) -> dict[str, float]:
    """MAE and RMSE of the counted ratings (lower is better), the share of predictions
    the benchmark's reading accepts, and the MAE under the lenient reader."""
    _check_pairs(references, predictions)
    refs = [_reference_rating(r) for r in references]
    errors = [abs(counted_rating(p, r) - r) for r, p in zip(refs, predictions)]
    lenient = [abs((lenient_rating(p) or farther_rating(r)) - r) for r, p in zip(refs, predictions)]
    return {
        "mae": sum(errors) / len(errors),
        "rmse": math.sqrt(sum(e * e for e in errors) / len(errors)),
        "parsed": sum(read_rating(p) is not None for p in predictions) / len(predictions),
        "mae_lenient": sum(lenient) / len(lenient),
    }


def rouge_report(references: list[str], predictions: list[str]) -> dict[str, float]:
    """Mean ROUGE-1 and ROUGE-L F1, as LaMP's generation tasks report them (see
    ``tailor.metrics.rouge`` for how this follows the benchmark's ROUGE)."""
    _check_pairs(references, predictions)
    scorer = rouge_scorer_for(["rouge1", "rougeL"])
    scores = [scorer.score(r, p) for r, p in zip(references, predictions)]
    return {"rouge-1": mean(s["rouge1"].fmeasure for s in scores), "rouge-l": mean(s["rougeL"].fmeasure for s in scores)}


def _longlamp_report(references: list[str], predictions: list[str]) -> dict[str, float | int | None]:
    from tailor.metrics.longlamp import longlamp_report

    return longlamp_report(references, predictions)


_TASK_REPORTS = {"LaMP-2": classification_report, "LaMP-3": rating_report, "LaMP-5": rouge_report, "LaMP-7": rouge_report, "LongLaMP": _longlamp_report}


def task_report(task: str, references: list[str], predictions: list[str]) -> dict[str, float | int | None]:
    """The numbers the benchmark (LaMP, or LongLaMP for task ``LongLaMP``) reports for
    ``task`` over a whole response set."""
    if task not in _TASK_REPORTS:
        raise ValueError(f"unknown LaMP task {task!r}; choose one of {', '.join(_TASK_REPORTS)}")
    return _TASK_REPORTS[task](references, predictions)


def _reference_rating(reference: str) -> int:
    if reference.strip() not in {"1", "2", "3", "4", "5"}:
        raise ValueError(f"a LaMP-3 reference must be a rating 1-5, got {reference!r}")
    return int(reference)


def _reference_label(reference: str) -> int:
    index = label_index(reference)
    if index < 0:
        raise ValueError(f"a LaMP-2 reference must be one of its 15 tags, got {reference!r}")
    return index


def _check_pairs(references: list[str], predictions: list[str]) -> None:
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    if not references:
        raise ValueError("no predictions to report on")


class AccuracyMetric(Metric):
    """LaMP-2: 1.0 when the stripped response is exactly the reference tag, else 0.0."""

    name = "accuracy"

    def score_batch(self, examples: list[Example], responses: list[str]) -> MetricRun:
        references = [require_reference(e, self.name) for e in examples]
        scores = [
            Score(float(response.strip() == ref.strip()), {"pred": response.strip(), "in_label_set": label_index(response) >= 0})
            for ref, response in zip(references, responses, strict=True)
        ]
        return MetricRun(self.name, [e.id for e in examples], scores)


class RatingMetric(Metric):
    """LaMP-3: 1 - |pred - ref| / 4 per example (at least 0), an unreadable response
    counting as the farther rating (see ``counted_rating``)."""

    name = "rating"

    def score_batch(self, examples: list[Example], responses: list[str]) -> MetricRun:
        scores = []
        for example, response in zip(examples, responses, strict=True):
            try:
                ref = _reference_rating(require_reference(example, self.name))
            except ValueError as err:
                raise DataError("<dataset>", example.id, "reference", str(err)) from err
            pred = counted_rating(response, ref)
            error = abs(pred - ref)
            scores.append(Score(max(0.0, 1 - error / 4), {"pred": pred, "abs_error": error, "parsed": read_rating(response) is not None}))
        return MetricRun(self.name, [e.id for e in examples], scores)
