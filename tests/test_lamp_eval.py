"""`tailor eval` on LaMP tasks: each dataset scored with its task's metric, the benchmark's
own numbers in RPO's Table 2 shape, a base-model swap in Table 6's shape, and adapters
named by the training run that kept them."""

import json

import pytest
from fakes import ScriptedLLM

from tailor.data import SAMPLE_LAMP, load_examples
from tailor.data.responses import read_responses
from tailor.errors import TailorError
from tailor.metrics.lamp import task_report
from tailor.eval.report import write_report
from tailor.eval.config import EvalConfig, MethodSpec
from tailor.eval.runner import run_eval

TASKS = ("LaMP-2", "LaMP-3", "LaMP-7")


def base_reply(request, params, j):
    """A fixed reply per task shape, so every score can be worked out from the files."""
    prompt = request.messages[-1].content
    if "tags:" in prompt:
        return "based on a book"
    if "How many stars" in prompt:
        return "4"
    return "Finished the half marathon today"


def other_reply(request, params, j):
    prompt = request.messages[-1].content
    return "classic" if "tags:" in prompt else "2 stars" if "How many stars" in prompt else "a different tweet"


def lamp_config(tmp_path, methods) -> EvalConfig:
    return EvalConfig.model_validate({
        "generator": {"backend": "hf", "model": "base"},
        "methods": methods,
        "datasets": [{"path": str(SAMPLE_LAMP / t / "user"), "name": f"{t}-user", "task": t, "splits": ["test"]} for t in TASKS],
        "answer": {"k": 2, "max_tokens": 32, "format": "longform"},
        "out": str(tmp_path / "run"),
    })


@pytest.fixture
def swapped(tmp_path, monkeypatch):
    """nopers on the run's generator and on a second one; a rerun of the same config."""
    base, other = ScriptedLLM(base_reply, model="base"), ScriptedLLM(other_reply, model="other")
    monkeypatch.setattr("tailor.pool.make_llm", lambda config: other if config.model == "other" else base)
    config = lamp_config(tmp_path, ["nopers", {"name": "nopers", "label": "nopers-other", "generator": {"backend": "hf", "model": "other"}}])
    return config, run_eval(config)


def test_each_task_dataset_is_scored_with_its_own_metric(swapped):
    config, result = swapped
    assert {(r.dataset, r.metric) for r in result.runs} == {("LaMP-2-user", "accuracy"), ("LaMP-3-user", "rating"), ("LaMP-7-user", "rouge-l")}
    assert result.metric == "accuracy, rating, rouge-l" and not result.proxy
    scores = json.loads((config.out / "LaMP-3-user" / "test" / "nopers" / "scores.json").read_text())
    references = {e.id: int(e.reference) for e in load_examples(SAMPLE_LAMP / "LaMP-3" / "user", split="test")}
    assert {qid: s["value"] for qid, s in scores["scores"].items()} == {qid: 1 - abs(4 - ref) / 4 for qid, ref in references.items()}


def test_benchmark_table_holds_the_task_numbers_of_every_response_set(swapped):
    config, result = swapped
    report = write_report(result)
    (table,) = report.benchmark
    for task in TASKS:
        examples = load_examples(SAMPLE_LAMP / task / "user", split="test")
        for method in ("nopers", "nopers-other"):
            responses = read_responses(config.out / f"{task}-user" / "test" / method / "responses.json")
            expected = task_report(task, [e.reference for e in examples], [responses[e.id] for e in examples])
            assert {m: v for (d, m), v in table.values[method].items() if d == f"{task}-user"} == expected
    assert table.values["nopers"][("LaMP-3-user", "mae")] != table.values["nopers-other"][("LaMP-3-user", "mae")]
    assert table.header()[:4] == ["Method", "Generator", "LaMP-2-user Acc. ↑", "LaMP-2-user F1 ↑"]
    assert "LaMP-3-user MAE ↓" in table.header() and "LaMP-7-user R-L ↑" in table.header()

    # Table 6's shape: a column per generator, a row per task metric
    assert table.swaps_generator and table.by_generator_header() == ["Dataset", "Metric", "nopers (hf:base)", "nopers-other (hf:other)"]
    mae_row = next(row for row in table.by_generator_body() if row[:2] == ["LaMP-3-user", "MAE ↓"])
    assert mae_row[2:] == [f"{table.values[m][('LaMP-3-user', 'mae')]:.3f}" for m in ("nopers", "nopers-other")]
    markdown = report.markdown.read_text()
    assert "## LaMP benchmark / test" in markdown and "### By generator / test" in markdown and "## LaMP-2-user / test (accuracy)" in markdown
    assert "Judge parse failures" not in markdown  # reference metrics judge nothing, so no failure list
    assert json.loads(report.json.read_text())["benchmark"][0]["columns"][0] == {"dataset": "LaMP-2-user", "metric": "accuracy", "higher_is_better": True}


def test_a_rows_own_generator_is_part_of_its_fingerprint(swapped, monkeypatch):
    config, _ = swapped
    again = run_eval(config)
    assert all(r.resumed for r in again.runs) and again.generator_calls == 0
    moved = config.model_copy(update={"methods": [config.methods[0], MethodSpec(name="nopers", label="nopers-other", generator={"backend": "hf", "model": "third"})]})
    rerun = run_eval(moved)
    assert {r.method for r in rerun.runs if not r.resumed} == {"nopers-other"}


def test_dataset_metric_needs_a_judge_when_it_is_a_judged_one(tmp_path):
    raw = lamp_config(tmp_path, ["nopers"]).model_dump(mode="json")
    raw["datasets"][0]["metric"] = "similarity"
    with pytest.raises(ValueError, match="'similarity' needs a judge"):
        EvalConfig.model_validate(raw)


def popi_run_made_before_inference_json(tmp_path, history: dict):
    """A finished POPI run folder as runs wrote them before ``inference.json``."""
    from tailor.train.popi import POPIConfig

    run = tmp_path / "popi-run"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"kind": "popi"}))
    (run / "config.json").write_text(json.dumps(POPIConfig(summary_words=30, format="longform").model_dump(mode="json", exclude={"run_dir"})))
    (run / "history.json").write_text(json.dumps(history))
    return run


def test_adapters_can_be_named_by_the_run_that_kept_them(tmp_path):
    kept = {"best_iteration": 1, "best_adapter": "g/adapter", "best_summarizer": "s/adapter", "validation": {"1": {"adapter": "g/adapter"}}}
    run = popi_run_made_before_inference_json(tmp_path, kept)
    config = lamp_config(tmp_path, [{"name": "popi", "summarizer_adapter": str(run), "policy_run": str(run)}, {"name": "rpo", "reflection_adapter": "plain/adapter"}])
    popi, rpo = (config.described(spec) for spec in config.methods)
    assert popi.adapters == {"summarizer": "s/adapter", "policy": "g/adapter"} and rpo.adapters == {"reflection": "plain/adapter"}
    assert popi.options["summary_words"] == 30 and popi.answer == config.answer.model_copy(update={"seed": config.seed})  # the run's options, the eval's answers
    with pytest.raises(TailorError, match="kept no reflection adapter"):
        config.described(MethodSpec(name="rpo", reflection_adapter=str(run)))
    untrained = popi_run_made_before_inference_json(tmp_path / "other", {"best_iteration": 0, "best_adapter": None})
    with pytest.raises(TailorError, match="kept no summarizer adapter"):
        config.described(MethodSpec(name="popi", summarizer_adapter=str(untrained)))