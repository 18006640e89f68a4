"""`tailor eval` / `tailor score`: the runner, its resume, the Table-2-shaped report."""

import json
import random
import re
from pathlib import Path

import pytest
from fakes import ScriptedLLM
from scipy.stats import ttest_rel
from typer.testing import CliRunner

from tailor.cli import app
from tailor.data import SAMPLE_LAMPQA, load_examples
from tailor.data.responses import read_responses
from tailor.errors import TailorError
from tailor.eval.report import build_tables, write_report
from tailor.eval.config import EvalConfig
from tailor.eval.results import EvalResult, MethodResult
from tailor.eval.runner import run_eval
from tailor.methods import AnswerConfig, RetrievalAugmented
from tailor.methods.planpers import PlanPers
from tailor.methods.registry import MethodConfig, make_method
from tailor.retrieval import BM25Retriever, RandomProfileRetriever

ENV = {"COLUMNS": "250", "TAILOR_PROGRESS": "0"}
CATEGORIES = ("Art_and_Entertainment", "Lifestyle_and_Personal_Development", "Society_and_Culture")


def generator_reply(request, params, j):
    """Personalized prompts (they show the user's posts) get a different answer."""
    personal = "posts I wrote earlier" in request.messages[-1].content
    return ("Advice fitted to you." if personal else "Generic advice.") + '"}'  # continues the prefill


def judge_reply(request, params, j):
    """Grade 2 for the fitted answer, 0 for the generic one."""
    return "2}" if "Advice fitted to you." in request.messages[-1].content else "0}"


def sample_config(tmp_path: Path, **changes) -> EvalConfig:
    raw = {
        "generator": {"backend": "hf", "model": "smollm2-135m-instruct"},
        "judge": {"backend": "hf", "model": "smollm2-135m-instruct"},
        "methods": ["nopers", "rag", "rag_random"],
        "datasets": [{"path": str(SAMPLE_LAMPQA), "name": "sample", "splits": ["test"]}],
        "answer": {"k": 2, "max_tokens": 64},
        "limit": 2,
        "out": str(tmp_path / "run"),
    }
    return EvalConfig.model_validate(raw | changes)


def fake_models():
    return ScriptedLLM(generator_reply, model="generator"), ScriptedLLM(judge_reply, model="judge")


# --- report arithmetic -------------------------------------------------------------------


def method_result(method: str, values: dict[str, float | None], categories: dict[str, str]) -> MethodResult:
    return MethodResult("d", "test", method, values, categories, sum(v is None for v in values.values()), 1, 10, 1.0, 0.5, 0, False)


def constructed_result(tmp_path: Path) -> tuple[EvalResult, dict[str, dict[str, float | None]], dict[str, str]]:
    """40 examples over three categories of different sizes; ``better`` beats the
    baseline everywhere, ``same`` equals it, ``noisy`` differs at random around zero."""
    rng = random.Random(7)
    sizes = {"Art_and_Entertainment": 20, "Lifestyle_and_Personal_Development": 12, "Society_and_Culture": 8}
    categories = {f"{c[:3]}-{i}": c for c, n in sizes.items() for i in range(n)}
    base = {qid: rng.uniform(0.1, 0.5) for qid in categories}
    values = {
        "nopers": base,
        "better": {qid: v + 0.3 + rng.uniform(-0.05, 0.05) for qid, v in base.items()},
        "same": dict(base),
        "noisy": {qid: v + rng.choice([-0.1, 0.1]) for qid, v in base.items()},
    }
    values["noisy"]["Art-0"] = None  # an example the judge could not score
    runs = [method_result(m, v, categories) for m, v in values.items()]
    result = EvalResult(tmp_path, "aspect", False, "nopers", "hf:gen", "hf:judge", runs)
    return result, values, categories


def test_report_means_macro_average_and_daggers(tmp_path):
    result, values, categories = constructed_result(tmp_path)
    [table] = build_tables(result)
    assert table.categories == sorted(CATEGORIES)
    rows = {r.method: r for r in table.rows}
    for method, scores in values.items():
        per_category = {}
        for category in CATEGORIES:
            known = [scores[i] for i, c in categories.items() if c == category and scores[i] is not None]
            per_category[category] = sum(known) / len(known)
            assert rows[method].cells[category].mean == pytest.approx(per_category[category])
        # the macro average weighs categories equally, unlike the mean over all examples
        assert rows[method].macro.mean == pytest.approx(sum(per_category.values()) / 3)
    overall = sum(values["nopers"].values()) / len(categories)
    assert abs(rows["nopers"].macro.mean - overall) > 1e-4

    expected_p = ttest_rel([values["better"][i] for i in categories], [values["nopers"][i] for i in categories]).pvalue
    assert rows["better"].macro.p_value == pytest.approx(expected_p)
    noisy_ids = [i for i in categories if values["noisy"][i] is not None]
    expected_noisy = ttest_rel([values["noisy"][i] for i in noisy_ids], [values["nopers"][i] for i in noisy_ids]).pvalue
    assert rows["noisy"].macro.p_value == pytest.approx(expected_noisy) and expected_noisy >= 0.05

    body = {cells[0]: cells for cells in table.body()}
    assert all(cell.endswith("†") for cell in body["better"][1:5])
    for method in ("nopers", "same", "noisy"):
        assert not any("†" in cell for cell in body[method]), method
    assert body["better"][1] == f"{rows['better'].cells['Art_and_Entertainment'].mean:.4f}†"
    assert rows["nopers"].macro.p_value is None and rows["same"].macro.p_value is None


def test_report_files_label_a_proxy_metric_and_count_failures(tmp_path):
    result, _, _ = constructed_result(tmp_path)
    report = write_report(result)
    markdown = report.markdown.read_text()
    assert "| Method | Art & Entertainment | Lifestyle & Personal Development | Society & Culture | Average (macro) | Runtime / query (s) |" in markdown
    assert "proxy metric" not in markdown
    assert "noisy: 1 of 10 judgments failed; 1 examples unscored" in markdown
    saved = json.loads(report.json.read_text())
    row = saved["tables"][0]["rows"][1]
    assert row["method"] == "better" and row["macro"]["significant"] and row["seconds_per_query"] == 0.5
    assert report.chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    result.proxy, result.metric = True, "proxy-coverage"
    assert "Metric: proxy-coverage (proxy metric, not the benchmark's judge)" in write_report(result).markdown.read_text()


def test_charts_are_redrawn_only_when_the_reports_numbers_change(tmp_path, monkeypatch):
    from tailor.eval import report as report_module

    result, _, _ = constructed_result(tmp_path)
    drawn = []
    render = report_module.render_chart
    monkeypatch.setattr(report_module, "render_chart", lambda *args: drawn.append(1) or render(*args))
    first = write_report(result)
    chart = first.chart.read_bytes()
    write_report(result)  # a finished rerun: the same numbers
    assert len(drawn) == 1 and first.chart.read_bytes() == chart
    result.runs[1].seconds_per_query = 0.75
    write_report(result)
    assert len(drawn) == 2 and json.loads(first.json.read_text())["tables"][0]["rows"][1]["seconds_per_query"] == 0.75
    first.chart.unlink()
    write_report(result)  # a chart gone missing is drawn again
    assert len(drawn) == 3 and first.chart.is_file()


# --- the runner ----------------------------------------------------------------------------


def test_run_eval_writes_official_responses_and_scores_per_method(tmp_path):
    generator, judge = fake_models()
    config = sample_config(tmp_path)
    result = run_eval(config, generator=generator, judge=judge)

    test_split = load_examples(SAMPLE_LAMPQA, split="test")
    chosen = [e for c in CATEGORIES for e in [x for x in test_split if x.category == c][:2]]  # limit: 2 per category
    ids = [e.id for e in chosen]
    expected = {"nopers": "Generic advice.", "rag": "Advice fitted to you.", "rag_random": "Advice fitted to you."}
    for method, text in expected.items():
        folder = tmp_path / "run" / "sample" / "test" / method
        assert json.loads((folder / "responses.json").read_text()) == {qid: [{"output": text}] for qid in ids}
        traces = [json.loads(line) for line in (folder / "traces.jsonl").read_text().splitlines()]
        assert [t["id"] for t in traces] == ids
        scores = json.loads((folder / "scores.json").read_text())
        value = 1.0 if method != "nopers" else 0.0
        assert {qid: s["value"] for qid, s in scores["scores"].items()} == {qid: value for qid in ids}
        assert scores["failed_judgments"] == 0 and scores["metric"] == "aspect"
        assert all(len(s["details"]["aspects"]) >= 5 for s in scores["scores"].values())
    # rag_random reads another user's posts, never the asker's own
    random_traces = [json.loads(line) for line in (tmp_path / "run/sample/test/rag_random/traces.jsonl").read_text().splitlines()]
    for trace, example in zip(random_traces, chosen):
        assert not set(trace["trace"]["retrieved"]) & {p.id for p in example.profile}

    assert generator.usage.requests == 3 * len(ids) and result.generator_calls == 3 * len(ids)
    assert result.judge_calls == judge.usage.requests == 3 * sum(len(e.rubric_aspects) for e in chosen)
    assert [(r.method, r.resumed) for r in result.runs] == [("nopers", False), ("rag", False), ("rag_random", False)]
    [table] = build_tables(result)
    rows = {r.method: r for r in table.rows}
    assert rows["rag"].macro.mean == 1.0 and rows["nopers"].macro.mean == 0.0


def test_rerun_resumes_with_no_model_call_and_leaves_files_untouched(tmp_path):
    config = sample_config(tmp_path)
    run_eval(config, *fake_models())
    files = sorted(f for f in (tmp_path / "run").rglob("*.json*") if f.name != "run.json")  # run.json: each attempt's stamp
    stamps = {f: f.stat().st_mtime_ns for f in files}

    generator, judge = fake_models()
    again = run_eval(config, generator=generator, judge=judge)
    assert generator.received == [] and judge.received == []
    assert again.generator_calls == again.judge_calls == 0 and all(r.resumed for r in again.runs)
    assert {f: f.stat().st_mtime_ns for f in files} == stamps

    # a different judge re-scores the saved responses without answering again
    generator, judge = fake_models()
    rescored = run_eval(config.model_copy(update={"metric_options": {"max_attempts": 2}}), generator=generator, judge=judge)
    assert generator.received == [] and len(judge.received) > 0
    assert not any(r.resumed for r in rescored.runs)
    assert all(stamps[f] == f.stat().st_mtime_ns for f in files if f.name == "responses.json")


def test_changed_answer_settings_answer_again(tmp_path):
    config = sample_config(tmp_path, methods=["rag"])
    run_eval(config, *fake_models())
    generator, judge = fake_models()
    run_eval(config.model_copy(update={"answer": AnswerConfig(k=1, max_tokens=64)}), generator=generator, judge=judge)
    assert len(generator.received) == 6 and len(judge.received) > 0


@pytest.mark.parametrize("field, name", [("planner_adapter", "planpers"), ("policy_adapter", "vac")])
def test_missing_adapter_fails_before_any_model_call(tmp_path, field, name):
    generator, judge = fake_models()
    config = sample_config(tmp_path, methods=["nopers", {"name": name, field: str(tmp_path / "no-adapter")}])
    with pytest.raises(TailorError, match="adapter .*no-adapter does not exist"):
        run_eval(config, generator=generator, judge=judge)
    assert generator.received == []


def test_vac_answers_with_the_policy_adapter_alone(tmp_path):
    policy = tmp_path / "policy"
    policy.mkdir()
    (policy / "adapter_config.json").write_text("{}")
    generator, judge = fake_models()
    run_eval(sample_config(tmp_path, methods=[{"name": "vac", "policy_adapter": str(policy)}]), generator=generator, judge=judge)
    assert generator.received and {adapter for _, _, adapter in generator.received} == {str(policy)}
    assert not any("feedback" in prompt.lower() for prompt in generator.prompts())


def test_make_method_builds_the_four_baselines(tmp_path):
    llm = ScriptedLLM(generator_reply)
    pool = load_examples(SAMPLE_LAMPQA, split="test")
    assert make_method(MethodConfig("nopers", llm)).retriever is None
    assert isinstance(make_method(MethodConfig("rag", llm, BM25Retriever())).retriever, BM25Retriever)
    random_method = make_method(MethodConfig("rag_random", llm, BM25Retriever(), pool=pool, seed=3))
    assert isinstance(random_method, RetrievalAugmented) and isinstance(random_method.retriever, RandomProfileRetriever)
    assert random_method.retriever.seed == 3
    planner = ScriptedLLM(lambda r, p, j: "budget\ntiming")
    planpers = make_method(MethodConfig("planpers", llm, BM25Retriever(), AnswerConfig(k=2), adapters={"planner": "plan-lora"}, helper=planner))
    assert isinstance(planpers, PlanPers)
    answer = planpers.answer(pool[0])
    assert answer.trace["plan"] == ["budget", "timing"] and planner.received[0][2] == "plan-lora"
    with pytest.raises(TailorError, match="pool"):
        make_method(MethodConfig("rag_random", llm, BM25Retriever()))
    with pytest.raises(TailorError, match="unknown method"):
        make_method(MethodConfig("oracle", llm))
    with pytest.raises(TailorError, match="needs a retriever"):
        make_method(MethodConfig("rag", llm))


# --- configuration and the command line ---------------------------------------------------


def test_yaml_config_defaults_and_errors(tmp_path):
    path = tmp_path / "eval.yaml"
    path.write_text(
        "generator: {backend: hf, model: smollm2-135m-instruct}\n"
        "methods: [nopers, {name: rag, k: 4, label: rag-k4}]\n"
        f"datasets: [{{path: {SAMPLE_LAMPQA}, splits: [validation, test]}}]\n"
    )
    config = EvalConfig.from_yaml(path)
    assert config.metric == "proxy" and config.judge is None  # no judge: the proxy metric
    assert [m.key for m in config.methods] == ["nopers", "rag-k4"] and config.methods[1].k == 4
    assert config.answer.temperature == 0.1 and config.baseline == "nopers"
    overridden = config.with_overrides(methods=["rag-k4"], splits=["validation"], limit=3, out=tmp_path / "o")
    assert [m.key for m in overridden.methods] == ["rag-k4"] and overridden.datasets[0].splits == ["validation"]
    assert overridden.limit == 3 and overridden.out == tmp_path / "o"
    with pytest.raises(TailorError, match="unknown method"):
        config.with_overrides(methods=["planpers"])

    path.write_text(path.read_text() + "metric: aspect\n")
    with pytest.raises(TailorError, match=re.escape(str(path)) + ".*needs a judge"):
        EvalConfig.from_yaml(path)
    for name, metric in (("lampqa-paper.yaml", "aspect"), ("lampqa-sample-cpu.yaml", "proxy")):
        shipped = EvalConfig.from_yaml(Path(__file__).parents[1] / "configs" / name)
        assert [m.key for m in shipped.methods if m.key != "offline-rl"][:5] == ["nopers", "rag", "rag_random", "planpers", "vac"]
        assert shipped.metric == metric and shipped.judge is not None


def test_cli_eval_applies_overrides_and_prints_the_table(tmp_path, monkeypatch):
    generator, judge = fake_models()
    monkeypatch.setattr("tailor.pool.make_llm", lambda cfg: judge if cfg.model == "judge-model" else generator)
    path = tmp_path / "eval.yaml"
    path.write_text(
        "generator: {backend: hf, model: gen-model}\n"
        "judge: {backend: hf, model: judge-model}\n"
        "methods: [nopers, rag, rag_random]\n"
        f"datasets: [{{path: {SAMPLE_LAMPQA}, name: sample, splits: [test]}}]\n"
        f"out: {tmp_path / 'configured'}\n"
    )
    out = tmp_path / "chosen"
    result = CliRunner().invoke(app, ["eval", "--config", str(path), "--methods", "nopers,rag", "--split", "validation", "--limit", "1", "--out", str(out)], env=ENV)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "sample" / "validation").iterdir()) == ["nopers", "rag"]
    assert not (tmp_path / "configured").exists()
    assert len(read_responses(out / "sample/validation/rag/responses.json")) == 3  # one per category
    # one example per category is too few to test; the three together differ by a constant: p = 0
    assert "│ rag " in result.output and "1.0000 " in result.output and "1.0000†" in result.output
    assert (out / "report.md").exists() and (out / "report.png").read_bytes()[:4] == b"\x89PNG"
    assert "model calls: generator 6" in result.output


def test_cli_score_scores_any_responses_file(tmp_path, monkeypatch):
    judge = ScriptedLLM(judge_reply, model="judge")
    monkeypatch.setattr("tailor.pool.make_llm", lambda cfg: judge)
    examples = load_examples(SAMPLE_LAMPQA, split="test")[:3]
    responses = tmp_path / "other-system" / "responses.json"
    responses.parent.mkdir()
    responses.write_text(json.dumps({e.id: [{"output": "Advice fitted to you." if n else "Generic advice."}] for n, e in enumerate(examples)}))
    result = CliRunner().invoke(app, ["score", str(responses), "--data", str(SAMPLE_LAMPQA), "--split", "test"], env=ENV)
    assert result.exit_code == 0, result.output
    assert f"aspect: mean {2 / 3:.4f} over 3 of 3 responses" in result.output
    assert "unreadable judgments: 0" in result.output
    saved = json.loads((responses.parent / "scores.json").read_text())
    assert [saved["scores"][e.id]["value"] for e in examples] == [0.0, 1.0, 1.0] and saved["judgments"] == len(judge.received)

    responses.write_text(json.dumps({"not-an-id": [{"output": "x"}]}))
    failed = CliRunner().invoke(app, ["score", str(responses), "--data", str(SAMPLE_LAMPQA), "--split", "test", "--out", str(tmp_path / "o")], env=ENV)
    assert failed.exit_code == 1 and "not-an-id" in failed.output


@pytest.mark.parametrize("field, value", [("label", "SFT w/ reasoning"), ("label", ".."), ("label", "a\\b")])
def test_labels_that_name_folders_refuse_path_characters(field, value):
    from tailor.eval.config import MethodSpec

    with pytest.raises(ValueError, match="names a results folder"):
        MethodSpec(name="rag", **{field: value})
