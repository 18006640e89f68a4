"""`tailor runs`: each run folder's kind, status, last update and headline number, and
`tailor runs show RUN`; the status comes from what each attempt stamped in run.json."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tailor.cli import app
from tailor.errors import TailorError
from tailor.run_status import list_runs
from tailor.run_history import History
from tailor.runs import RunFolder

ENV = {"COLUMNS": "250", "TAILOR_PROGRESS": "0"}


def training_run(folder: RunFolder, kind: str = "vac", score: float = 0.4125) -> None:
    with folder.attempt(kind):
        folder.write_history(History.read({"stages": {}, "validation": {"0": {"score": 0.1}, "2": {"score": score}}, "best_iteration": 2,
                                           "metric": {"name": "proxy-coverage", "proxy": True}}))
    folder.report_markdown.write_text("# Training report\n\nthe kept policy: pi_2\n")


def eval_run(folder: RunFolder) -> None:
    with folder.attempt("eval"):
        rows = [{"method": m, "macro": {"mean": v}} for m, v in (("nopers", 0.2), ("rag", 0.35), ("rag_random", 0.3))]
        folder.report_json.write_text(json.dumps({"tables": [{"dataset": "lampqa-sample", "split": "test", "metric": "aspect", "rows": rows}]}))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def runs(tmp_path):
    training_run(RunFolder(tmp_path / "vac-sample"))
    eval_run(RunFolder(tmp_path / "lampqa-sample"))
    failed = RunFolder(tmp_path / "broken")
    with pytest.raises(TailorError), failed.attempt("rest-em"):
        raise TailorError("iteration 1: no sampled reply reached the reward threshold")
    killed = RunFolder(tmp_path / "killed")
    with killed.attempt("rpo"):
        pass
    state = json.loads(killed.kind_file.read_text())
    state["state"] |= {"status": "running", "pid": dead_pid()}  # what a SIGKILLed run leaves
    killed.kind_file.write_text(json.dumps(state))
    return tmp_path


def test_each_run_has_its_status_and_headline(runs):
    summaries = {s.name: s for s in list_runs(runs)}
    assert {n: s.status for n, s in summaries.items()} == {"vac-sample": "finished", "lampqa-sample": "finished", "broken": "failed", "killed": "resumable"}
    assert summaries["vac-sample"].headline == "π_2 0.4125 proxy-coverage (proxy)"
    assert summaries["lampqa-sample"].headline == "rag 0.3500 aspect (lampqa-sample/test)"
    assert "reward threshold" in summaries["broken"].error and summaries["killed"].headline == "–"


def test_a_run_in_progress_is_running_and_then_finished(tmp_path):
    folder = RunFolder(tmp_path / "live")
    with folder.attempt("vac"):
        assert [s.status for s in list_runs(tmp_path)] == ["running"]  # this process holds it
    assert [s.status for s in list_runs(tmp_path)] == ["finished"]
    interrupted = RunFolder(tmp_path / "stopped")
    with pytest.raises(KeyboardInterrupt), interrupted.attempt("vac"):
        raise KeyboardInterrupt  # Ctrl-C
    assert interrupted.state()["status"] == "interrupted"
    assert {s.name: s.status for s in list_runs(tmp_path)}["stopped"] == "resumable"


def test_the_runs_command_lists_them_newest_first(runs):
    for age, name in enumerate(["broken", "killed", "lampqa-sample", "vac-sample"]):
        for path in [runs / name, *(runs / name).rglob("*")]:
            os.utime(path, (0, 2_000_000_000 - 3600 * age))
    result = CliRunner().invoke(app, ["runs", "--root", str(runs)], env=ENV)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("│")]
    assert [line.split("│")[1].strip() for line in lines] == ["broken", "killed", "lampqa-sample", "vac-sample"]
    assert "failed" in lines[0] and "broken failed: TailorError: iteration 1" in result.output
    assert any("vac-sample" in line and "finished" in line and "π_2 0.4125" in line for line in lines)


def test_show_prints_the_report_or_says_why_not(runs):
    shown = CliRunner().invoke(app, ["runs", "show", "vac-sample", "--root", str(runs)], env=ENV)
    assert shown.exit_code == 0 and "Training report" in shown.output and "the kept policy: pi_2" in shown.output
    missing = CliRunner().invoke(app, ["runs", "show", "nothing-here", "--root", str(runs)], env=ENV)
    assert missing.exit_code == 1 and "no run at 'nothing-here'" in missing.output
    unreported = CliRunner().invoke(app, ["runs", "show", str(runs / "broken")], env=ENV)
    assert unreported.exit_code == 1 and "has no report yet" in unreported.output


def test_an_attempt_at_a_folder_of_another_kind_is_refused_untouched(runs):
    folder = RunFolder(runs / "vac-sample")
    before = folder.kind_file.read_text()
    with pytest.raises(TailorError, match="holds a vac run"), folder.attempt("eval"):
        pass
    assert folder.kind_file.read_text() == before


@pytest.mark.parametrize("recipe, kinds", [("restpg-sample-cpu.yaml", ["rest-pg", "rest-em"]), ("rest-em-sample-cpu.yaml", ["rest-em"])])
def test_a_rest_pg_run_is_stamped_rest_pg_although_one_trainer_runs_both(recipe, kinds):
    """The REST-PG recipe and its ReST-EM variant (no reasoning warm-up): one trainer, each run
    stamped with the kind of the entry its settings select."""
    from pathlib import Path

    from tailor.train.rest_em import RestEMConfig
    from tailor.train.trainers import kind_of

    config = RestEMConfig.from_yaml(Path(__file__).resolve().parents[1] / "configs" / recipe)
    assert [kind_of(run) for _, run in config.runs()] == kinds


def test_a_run_whose_history_does_not_fit_is_listed_as_unreadable(runs):
    RunFolder(runs / "vac-sample").history_file.write_text(json.dumps({"validation": {"0": {"score": "high"}}, "best_iteration": 0}))
    summary = {s.name: s for s in list_runs(runs)}["vac-sample"]
    assert summary.status == "unreadable" and "validation.0.score" in summary.error and summary.headline == "–"
    result = CliRunner().invoke(app, ["runs", "--root", str(runs)], env=ENV)
    assert result.exit_code == 0 and "vac-sample unreadable:" in result.output and "history.json" in result.output, result.output
