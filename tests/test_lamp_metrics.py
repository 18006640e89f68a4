import math

import pytest

from tailor.data.schema import Example, ProfileItem
from tailor.errors import DataError
from tailor.metrics.lamp import (
    REPORTED,
    AccuracyMetric,
    RatingMetric,
    classification_report,
    counted_rating,
    read_rating,
    rating_report,
    task_report,
)
from tailor.metrics.registry import METRICS, check_judge, make_metric, task_metric


def example(eid: str, reference: str | None) -> Example:
    return Example(id=eid, question=f"question {eid}", profile=[ProfileItem(id="p", text="a past item")], reference=reference)


# Six LaMP-2 examples over three of its tags; predictions vary in case and whitespace.
LABELS = ["comedy", "comedy", "action", "action", "classic", "classic"]
PREDICTED = [" comedy\n", "action", "ACTION", "action ", "comedy", "classic"]


def test_classification_report_by_hand():
    # "ACTION" is no tag (no lowercasing), so it matches none. Over all 15 tags:
    # comedy: tp 1 fp 1 fn 1 -> F1 1/2; action: tp 1 fp 1 fn 1 -> F1 1/2;
    # classic: tp 1 fp 0 fn 1 -> P 1 R 1/2 -> F1 2/3; the other 12 tags F1 0.
    report = classification_report(LABELS, PREDICTED)
    assert report["accuracy"] == pytest.approx(3 / 6)
    assert report["macro_f1"] == pytest.approx((1 / 2 + 1 / 2 + 2 / 3) / 15)


def test_a_lamp2_reference_must_be_one_of_its_tags():
    with pytest.raises(ValueError, match="one of its 15 tags"):
        classification_report(["drama"], ["drama"])


def test_accuracy_per_example_scores():
    run = AccuracyMetric().score_batch([example(f"e{i}", label) for i, label in enumerate(LABELS)], PREDICTED)
    assert [s.value for s in run.scores] == [1.0, 0.0, 0.0, 1.0, 0.0, 1.0]
    assert run.mean == pytest.approx(3 / 6)
    assert run.scores[0].details == {"pred": "comedy", "in_label_set": True}
    assert run.scores[2].details == {"pred": "ACTION", "in_label_set": False}


# LaMP-3: references and responses; only "5" reads as float(text.strip()).
RATINGS = ["5", "3", "1", "4", "2"]
REPLIES = ["5", "I'd say 3 stars.", "no idea", "Rating: 2/5", "10 out of 10"]


def test_rating_report_by_hand():
    # counted: 5, then the farther end for each unreadable one: 5 (from 3), 5 (from 1),
    # 1 (from 4), 5 (from 2) -> errors 0, 2, 4, 3, 3
    report = rating_report(RATINGS, REPLIES)
    assert report["mae"] == pytest.approx(12 / 5)
    assert report["rmse"] == pytest.approx(math.sqrt((4 + 16 + 9 + 9) / 5))
    assert report["parsed"] == pytest.approx(1 / 5)
    # the lenient reader (an extra): 5, 3, farther 5, 2, farther 5 -> errors 0, 0, 4, 2, 3
    assert report["mae_lenient"] == pytest.approx(9 / 5)


def test_rating_per_example_scores():
    run = RatingMetric().score_batch([example(f"e{i}", r) for i, r in enumerate(RATINGS)], REPLIES)
    assert [s.value for s in run.scores] == [1.0, 0.5, 0.0, 0.25, 0.25]
    assert run.scores[2].details == {"pred": 5.0, "abs_error": 4.0, "parsed": False}
    assert run.scores[0].details == {"pred": 5.0, "abs_error": 0.0, "parsed": True}


@pytest.mark.parametrize(
    ("text", "rating"),
    [("4", 4.0), (" 3\n", 3.0), ("4.", 4.0), ("4.0", 4.0), ("4.5", 4.5), ("10", 10.0), ("0", 0.0),
     ("score: 1 of 5", None), ("", None), ("nan", None), ("-inf", None)],
)
def test_read_rating_is_the_benchmarks_float_of_the_stripped_text(text, rating):
    assert read_rating(text) == rating


@pytest.mark.parametrize(("reference", "counted"), [(1, 5), (2, 5), (3, 5), (4, 1), (5, 1)])
def test_unreadable_rating_counts_as_farthest(reference, counted):
    assert counted_rating("n/a", reference) == counted


@pytest.mark.parametrize("metric", [AccuracyMetric(), RatingMetric()])
def test_missing_reference_names_the_example(metric):
    with pytest.raises(DataError, match="'e2'.*reference"):
        metric.score_batch([example("e1", "3"), example("e2", None)], ["3", "3"])


def test_rating_reference_must_be_a_rating():
    with pytest.raises(DataError, match="'bad'.*rating 1-5"):
        RatingMetric().score_batch([example("bad", "great")], ["3"])


def test_reports_reject_mismatched_or_empty_input():
    with pytest.raises(ValueError, match="2 references but 1"):
        rating_report(["1", "2"], ["1"])
    with pytest.raises(ValueError, match="no predictions"):
        classification_report([], [])


@pytest.mark.parametrize("name", ["accuracy", "rating", "rouge-1", "rouge-l"])
def test_make_metric_builds_lamp_metrics_without_judge(name):
    assert make_metric(name, None).name == name
    assert name in METRICS and not METRICS[name].judge
    assert check_judge(name, has_judge=False) == name


def test_each_lamp_task_is_scored_by_its_benchmark_metric_from_the_table():
    tasks = ("LaMP-2", "LaMP-3", "LaMP-5", "LaMP-7", "LongLaMP")
    assert {t: task_metric(t) for t in tasks} == {"LaMP-2": "accuracy", "LaMP-3": "rating", "LaMP-5": "rouge-l", "LaMP-7": "rouge-l", "LongLaMP": None}


def test_a_reported_number_named_as_a_metric_points_the_same_way():
    shared = set(REPORTED) & set(METRICS)
    assert shared == {"accuracy", "rouge-1", "rouge-l"}
    assert {name: REPORTED[name] for name in shared} == {name: METRICS[name].higher_is_better for name in shared}


def test_task_report_gives_each_task_its_benchmark_numbers():
    assert task_report("LaMP-2", LABELS, PREDICTED) == classification_report(LABELS, PREDICTED)
    assert task_report("LaMP-3", RATINGS, REPLIES) == rating_report(RATINGS, REPLIES)
    # ROUGE by hand, unstemmed as the benchmark: "deep nets for graphs" vs "graph neural nets"
    # share only "nets" ("graphs" is not "graph") -> P 1/4, R 1/3, F1 2/7; the longest common
    # subsequence is that one word -> F1 2/7.
    report = task_report("LaMP-5", ["graph neural nets", "same words"], ["deep nets for graphs", "same words"])
    assert report == {"rouge-1": pytest.approx((2 / 7 + 1) / 2), "rouge-l": pytest.approx((2 / 7 + 1) / 2)}
    assert set(task_report("LaMP-7", ["a tweet"], ["a tweet"])) == {"rouge-1", "rouge-l"}
    valid = {"LaMP-2": "comedy", "LaMP-3": "3", "LaMP-5": "a title", "LaMP-7": "a tweet", "LongLaMP": "a long text"}
    assert {k for task, ref in valid.items() for k in task_report(task, [ref], [ref])} <= set(REPORTED)
    with pytest.raises(ValueError, match="unknown LaMP task 'LaMP-9'"):
        task_report("LaMP-9", ["a"], ["a"])


def test_the_lenient_reader_keeps_what_the_benchmark_reads_even_zero():
    from tailor.metrics.lamp import lenient_rating

    assert lenient_rating("0") == 0.0 and lenient_rating(" 4.0 ") == 4.0
    assert lenient_rating("I'd say 3 stars") == 3.0 and lenient_rating("no idea") is None
