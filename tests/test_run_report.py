"""The training-run report: VAC's Figure 5 (trained vs frozen feedback), its training
signal and Figure 8's case studies, the cost per stage, each section as the trainer declares
it; and evaluating a run's policies."""

import json
from pathlib import Path

import pytest
from test_eval_runner import fake_models, sample_config
from test_vac import run, setup

from tailor.errors import TailorError
from tailor.eval.config import MethodSpec
from tailor.eval.runner import run_eval
from tailor.runs import INITIAL, RunFolder
from tailor.train.kept import kept_method
from tailor.train.report import write_run_report
from tailor.train.rows import read_jsonl
from tailor.train.vac import VACTrainer
from tailor.train.vac_views import pick_cases
from tailor.train.views import Column, IterationSection


@pytest.fixture
def vac_run(tmp_path, train, valid):
    """A trained-feedback run and its frozen ablation (scripted models, T=2)."""
    config, policy, feedback, metric, trainer, _ = setup(tmp_path, train, validation=(0.3, 0.6, 0.4, 0.3, 0.35, 0.5), variants={"frozen": {"train_feedback": False}})
    for _, variant in config.runs():
        run(variant, train, valid, policy, feedback, metric, trainer)
    return config.run_dir


def kept_policy(run_dir, iteration=None):
    return kept_method(run_dir, iteration).adapters["policy"]


def test_report_compares_trained_and_frozen_feedback_per_iteration(vac_run, train):
    report = write_run_report(vac_run, train, cases=2)
    text = report.markdown.read_text()
    assert "| 0 (π_0) | 0.3000 | 0.3000 |" in text and "| 1 (π_1) | 0.6000 | 0.3500 |" in text and "| 2 (π_2) | 0.4000 | 0.5000 |" in text
    assert "trained: best iteration 1" in text and "frozen: best iteration 2" in text
    document = json.loads(report.json.read_text())
    assert [r["label"] for r in document["runs"]] == ["trained", "frozen"]
    assert [r["validation"] for r in document["runs"]] == [[0.3, 0.6, 0.4], [0.3, 0.35, 0.5]]
    trained, frozen = (r["signal"] for r in document["runs"])
    assert [s["iteration"] for s in trained] == [1, 2] and all(s["initial"] == 0.05 for s in trained + frozen)
    assert all(s["best_of_n"] == 1.0 for s in trained) and all(s["best_of_n"] is None for s in frozen)
    assert report.curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_costs_every_stage_of_both_runs(vac_run, train):
    text = write_run_report(vac_run, train).markdown.read_text()
    history = json.loads((vac_run / "history.json").read_text())
    calls = sum(sum(stage["calls"].values()) for stage in history["stages"].values())
    assert "| trained: iter_1/feedbacks |" in text and "| frozen: iter_2/revised |" in text
    assert f"| **{calls}** |" in text and "frozen: iter_1/feedbacks" not in text


def test_case_studies_show_initial_answer_feedback_and_revision(vac_run, train):
    iteration, cases = pick_cases(vac_run, 2)
    assert iteration == 2 and len(cases) == 2
    gains = [c["revised_score"] - c["initial_score"] for c in cases]
    assert gains == sorted(gains, reverse=True)
    text = write_run_report(vac_run, train, cases=2).cases.read_text()
    by_id = {e.id: e for e in train}
    for case in cases:
        assert by_id[case["id"]].question in text and case["feedback"] in text and case["revision"].splitlines()[0] in text
    chosen = [train[3].id]
    assert [c["id"] for c in pick_cases(vac_run, 2, chosen)[1]] == chosen
    with pytest.raises(TailorError, match="not in iteration 2"):
        pick_cases(vac_run, 2, ["nobody"])


def test_report_needs_a_run(tmp_path):
    with pytest.raises(TailorError, match="no history.json"):
        write_run_report(tmp_path)


def test_eval_answers_with_the_policy_the_run_kept(vac_run, tmp_path):
    adapter = kept_policy(vac_run)
    assert adapter == str(vac_run / "iter_1" / "policy_model" / "adapter")
    generator, judge = fake_models()
    run_eval(sample_config(tmp_path, methods=[{"name": "vac", "policy_run": str(vac_run)}], out=str(tmp_path / "eval")), generator=generator, judge=judge)
    assert generator.received and {a for _, _, a in generator.received} == {adapter}


def test_vac_needs_exactly_one_policy_source(tmp_path):
    with pytest.raises(ValueError, match="vac needs its trained policy: give a `tailor train vac` run folder"):
        MethodSpec(name="vac")
    with pytest.raises(ValueError, match="names the policy adapter a second time"):
        MethodSpec(name="rag", policy_adapter="a", policy_run="b")
    with pytest.raises(ValueError, match="set run .* too"):
        MethodSpec(name="rag", policy_iteration=1)
    with pytest.raises(TailorError, match="no finished training run"):
        kept_policy(tmp_path)


def test_any_policy_of_a_run_can_answer(vac_run, tmp_path):
    assert kept_policy(vac_run, 0) is None and kept_policy(vac_run, 2) == str(vac_run / "iter_2" / "policy_model" / "adapter")
    with pytest.raises(TailorError, match="no policy pi_5"):
        kept_policy(vac_run, 5)
    generator, judge = fake_models()
    methods = [{"name": "rag", "label": "pi_2", "policy_run": str(vac_run), "policy_iteration": 2}, {"name": "nopers"}]
    run_eval(sample_config(tmp_path, methods=methods, out=str(tmp_path / "eval")), generator=generator, judge=judge)
    assert {a for _, _, a in generator.received} == {kept_policy(vac_run, 2), None}


def test_cli_takes_a_recipe_or_a_run_to_resume(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tailor.cli import app

    both = CliRunner().invoke(app, ["train", "vac", "--config", "configs/vac-sample-cpu.yaml", "--resume", str(tmp_path)], env={"TAILOR_PROGRESS": "0"})
    assert both.exit_code == 1 and "--config" in both.output and "--resume" in both.output
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    neither = CliRunner().invoke(app, ["train", "vac", "--check"], env={"TAILOR_PROGRESS": "0"})  # the sample recipe, its servers checked only
    assert neither.exit_code == 0 and "nothing to check" in neither.output
    missing = CliRunner().invoke(app, ["train", "vac", "--resume", str(tmp_path)], env={"TAILOR_PROGRESS": "0", "COLUMNS": "250"})
    assert missing.exit_code == 1 and "no run to resume" in missing.output


# --- the report renders what the run's trainer declares ---------------------------------------

ANSWERED = IterationSection(
    "answered", "Training questions answered", "How many training questions π_{t-1} answered in each iteration.",
    (Column("Answered", "answered", str),),
    lambda folder, t: {"iteration": t, "answered": len(read_jsonl(folder.of(INITIAL)))} if folder.of(INITIAL).exists() else None,
)


def test_the_report_renders_the_sections_the_trainer_declares_and_no_others(vac_run, train, monkeypatch):
    monkeypatch.setattr(VACTrainer, "report_sections", (ANSWERED,))
    report = write_run_report(vac_run, train, cases=2)
    text = report.markdown.read_text()
    assert "## Training questions answered" in text and f"| 2 | frozen | {len(train)} |" in text
    # VAC's own sections are no longer declared: its stage files are there, and nothing is drawn from them
    assert "signal on the training split" not in text and "Case studies" not in text and report.cases is None
    document = json.loads(report.json.read_text())
    assert [r["answered"] for r in document["runs"]] == [[{"iteration": t, "answered": len(train)} for t in (1, 2)]] * 2
    assert all(r["signal"] == [] for r in document["runs"]) and document["cases"] == []


def test_a_run_of_a_kind_no_trainer_names_shows_what_every_run_has(vac_run, train):
    RunFolder(vac_run).write_kind("retired-loop")
    report = write_run_report(vac_run, train, cases=2)
    text = report.markdown.read_text()
    assert "## Validation score per iteration" in text and "| 1 (π_1) | 0.6000 | 0.3500 |" in text and "## Training cost" in text
    assert "signal on the training split" not in text and report.cases is None and "main: best iteration 1" in text
