"""``history.json`` through ``History`` alone: a history written before reads unchanged in
meaning and is written back as it was; the kept adapters are held by role; one summary of
a run is what ``tailor runs``, the run browser and the report show."""

import json

import pytest

from tailor.errors import TailorError
from tailor.run_history import History
from tailor.runs import RunFolder

# A POPI history as runs wrote it before: its summarizer under ``best_summarizer``, stages and
# validation without the counts added since, and a key this model does not know.
WRITTEN_BEFORE = {
    "stages": {"iter_1/summaries": {"seconds": 1.5, "calls": {"policy": 6}, "tokens": {"policy": 900}}},
    "validation": {"0": {"score": 0.25, "adapter": None, "scored": 2, "examples": 2}, "1": {"score": 0.5, "adapter": "g/1", "scored": 2, "examples": 2}},
    "metric": {"name": "rouge-l", "proxy": False},
    "best_iteration": 1,
    "best_adapter": "g/1",
    "test": {"split": "test", "examples": 2, "end_iteration": 1, "start": 0.2, "end": 0.4, "p_value": None},
    "best_summarizer": "s/1",
    "note": {"written by": "an older tailor"},
}


def test_a_history_written_before_reads_unchanged_in_meaning_and_is_written_back_as_it_was(tmp_path):
    folder = RunFolder(tmp_path)
    text = json.dumps(WRITTEN_BEFORE, indent=2) + "\n"
    folder.history_file.write_text(text)
    history = folder.history()
    assert history.kept == {"policy": "g/1", "summarizer": "s/1"}
    assert folder.kept_adapter("summarizer") == "s/1" and folder.kept_adapter() == "g/1" and folder.kept_adapter("policy", 0) is None
    assert history.stages["iter_1/summaries"].unparsed == 0 and history.validation[1].score == 0.5 and history.test.unparsed is None
    folder.write_history(history)
    assert folder.history_file.read_text() == text  # no key gained or lost, none moved


def test_kept_adapters_are_held_by_role(tmp_path):
    folder = RunFolder(tmp_path)
    history = History(best_iteration=0)
    history.kept.update(policy=None, planner="p/adapter")
    folder.write_history(history)
    assert json.loads(folder.history_file.read_text()) == {"stages": {}, "validation": {}, "best_iteration": 0, "best_adapter": None, "best_planner": "p/adapter"}
    assert folder.kept_adapter("planner") == "p/adapter" and folder.kept_adapter() is None
    with pytest.raises(TailorError, match="kept no summarizer adapter"):
        folder.kept_adapter("summarizer")
    with pytest.raises(TailorError, match="no policy pi_3; it validated pi_$"):
        folder.kept_adapter("policy", 3)


def test_an_unfinished_run_keeps_nothing_yet(tmp_path):
    folder = RunFolder(tmp_path)
    folder.write_history(History.read({"stages": {}, "validation": {"0": {"score": 0.1}}}))
    with pytest.raises(TailorError, match="no finished training run"):
        folder.kept_adapter()
    summary = folder.history().summary()
    assert (summary.validation, summary.validated, summary.best_iteration, summary.best_score, summary.metric.name) == ([0.1], 1, None, None, "score")


def test_one_summary_is_what_every_reader_shows(tmp_path):
    """``tailor runs``' headline, the run browser's list and the report's validation table
    read the same summary: a gap in validation (pi_1 never validated) is a gap everywhere."""
    from tailor.browser.router import describe_run
    from tailor.run_status import headline
    from tailor.train.report import LoopSummary

    folder = RunFolder(tmp_path / "run")
    with folder.attempt("rest-em"):
        folder.write_history(History.read({**WRITTEN_BEFORE, "validation": {"0": {"score": 0.25}, "2": {"score": 0.75}}, "best_iteration": 2}))
    assert headline(folder, "rest-em") == "π_2 0.7500 rouge-l"
    assert describe_run(folder.path).summary == "2 validated policies, best π_2: 0.7500"
    report = LoopSummary.read("main", folder.path)
    assert report.validation == [0.25, None, 0.75] and report.best_adapter == "g/1" and report.metric.name == "rouge-l"
