"""Each number printed under a benchmark's name follows that benchmark's own evaluator,
pinned on hand-computed cases (LaMP-QA's aspect judge, LaMP-2, LaMP-3, ROUGE, LongLaMP)."""

import math

import pytest
from fakes import ScriptedLLM

from tailor.data.schema import Aspect, Example
from tailor.metrics.aspect import AspectJudge
from tailor.metrics.lamp import LAMP2_LABELS, AccuracyMetric, RatingMetric, classification_report, counted_rating, rating_report, rouge_report
from tailor.metrics.longlamp import longlamp_report
from tailor.metrics.rouge import RougeMetric


def qa(aspects: list[str]) -> Example:
    return Example(id="q", question="How?", profile=[], narrative="I live in Oslo.", rubric_aspects=[Aspect(aspect=a, reason="r", evidence="e") for a in aspects])


def graded(grades: dict[str, str]):
    """A judge that answers per aspect: a grade, or text that never parses."""

    def reply(request, params, j):
        return next(g for a, g in grades.items() if f"- {a}\n" in request.messages[-1].content)

    return ScriptedLLM(reply)


# --- LaMP-QA: an aspect the judge never grades counts 0 --------------------------------------


def test_an_ungraded_aspect_counts_as_zero_in_the_headline_and_is_shown_beside_it():
    judge = graded({"alpha": "2}", "beta": "no grade here", "gamma": "1}"})
    run = AspectJudge(judge).score_batch([qa(["alpha", "beta", "gamma"])], ["answer"])
    (score,) = run.scores
    assert score.value == pytest.approx((1 + 0 + 0.5) / 3)  # the benchmark's number
    assert score.details["graded_only"] == pytest.approx((1 + 0.5) / 2) and score.details["failed_aspects"] == 1
    assert run.mean == pytest.approx(0.5) and run.graded_only_mean == pytest.approx(0.75)
    assert run.failed_judgments == 1 and run.judgments == 3


def test_an_example_with_no_readable_grade_scores_zero_and_has_no_graded_only_score():
    run = AspectJudge(graded({"alpha": "?", "beta": "?"})).score_batch([qa(["alpha", "beta"])], ["answer"])
    assert run.scores[0].value == 0.0 and run.scores[0].details["graded_only"] is None
    assert run.graded_only_mean is None or math.isnan(run.graded_only_mean)
    assert run.failed_judgments == 2


# --- LaMP-2: exact labels of the fixed list, macro-F1 over all 15 ------------------------------


def test_lamp2_macro_f1_is_over_the_fifteen_labels_even_when_a_split_holds_five():
    five = list(LAMP2_LABELS[:5])
    report = classification_report(five, five)
    assert len(LAMP2_LABELS) == 15
    assert report["accuracy"] == 1.0 and report["macro_f1"] == pytest.approx(5 / 15)


def test_lamp2_only_strips_whitespace_and_maps_unknown_labels_to_none_of_them():
    refs = ["comedy", "sci-fi", "classic"]
    report = classification_report(refs, ["  comedy\n", "Sci-Fi", "a classic film"])
    assert report["accuracy"] == pytest.approx(1 / 3)
    # comedy F1 = 1; sci-fi and classic F1 = 0 (their predictions fell outside the list)
    assert report["macro_f1"] == pytest.approx(1 / 15)
    examples = [Example(id=str(i), question="q", profile=[], reference=r) for i, r in enumerate(refs)]
    run = AccuracyMetric().score_batch(examples, ["  comedy\n", "Sci-Fi", "a classic film"])
    assert [s.value for s in run.scores] == [1.0, 0.0, 0.0]


# --- LaMP-3: float(text.strip()); unreadable counts as the farther rating ------------------------


@pytest.mark.parametrize(("response", "gold", "counted"), [
    ("4.0", 4, 4.0), (" 5.0\n", 5, 5.0), ("4.5", 4, 4.5), ("7", 5, 7.0),
    ("nan", 4, 1.0), ("inf", 2, 5.0), ("The rating is 4", 4, 1.0), ("", 3, 5.0),
])
def test_lamp3_reads_a_rating_as_the_benchmark_does(response, gold, counted):
    assert counted_rating(response, gold) == counted


def test_lamp3_report_and_per_example_scores_use_the_benchmark_reading():
    report = rating_report(["4", "5", "4"], ["4.0", "5.0", "I'd say 4"])
    assert report["mae"] == pytest.approx(3 / 3) and report["rmse"] == pytest.approx(math.sqrt(9 / 3))
    assert report["parsed"] == pytest.approx(2 / 3) and report["mae_lenient"] == pytest.approx(0.0)
    examples = [Example(id="a", question="q", profile=[], reference="4"), Example(id="b", question="q", profile=[], reference="2")]
    run = RatingMetric().score_batch(examples, ["4.5", "x"])
    assert [s.value for s in run.scores] == [pytest.approx(1 - 0.5 / 4), pytest.approx(1 - 3 / 4)]


# --- ROUGE: no stemmer, F-measure, plain mean ------------------------------------------------------


def test_rouge_does_not_stem():
    reference, prediction = "the cats were running", "the cat was run"
    # unstemmed, only "the" matches: P = R = 1/4
    assert RougeMetric("rouge1").score(Example(id="x", question="q", profile=[], reference=reference), prediction).value == pytest.approx(0.25)
    report = rouge_report([reference, "a b"], [prediction, "a b"])
    assert report["rouge-1"] == pytest.approx((0.25 + 1.0) / 2)


def test_longlamp_reports_its_numbers_and_skips_empty_pairs():
    report = longlamp_report(["a small red boat sails", "", "x"], ["a small red boat sails", "anything", ""])
    assert report["pairs"] == 1 and report["skipped"] == 2
    assert report["rouge-1"] == report["rouge-2"] == report["rouge-l"] == report["rouge-lsum"] == pytest.approx(1.0)
    assert report["bleu"] == pytest.approx(100.0)
    assert "meteor" in report


# --- tailor score --json -------------------------------------------------------------------------


def test_tailor_score_json_prints_the_headline_the_graded_only_mean_and_the_benchmark_numbers(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from tailor.cli import app
    from tailor.data import SAMPLE_LAMPQA, load_examples

    examples = load_examples(SAMPLE_LAMPQA, split="test")[:2]
    first_aspect = examples[0].rubric_aspects[0].aspect
    judge = ScriptedLLM(lambda request, params, j: "never a grade" if f"- {first_aspect}\n" in request.messages[-1].content else "2}")
    monkeypatch.setattr("tailor.pool.make_llm", lambda config: judge)
    responses = tmp_path / "responses.json"
    responses.write_text(json.dumps({e.id: [{"output": "an answer"}] for e in examples}))
    result = CliRunner().invoke(app, ["score", str(responses), "--data", str(SAMPLE_LAMPQA), "--split", "test", "--json"], env={"TAILOR_PROGRESS": "0"})
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    n = len(examples[0].rubric_aspects)
    assert printed["score"] == pytest.approx(((n - 1) / n + 1) / 2) and printed["score_graded_only"] == pytest.approx(1.0)
    assert printed["failed_judgments"] == 1 and printed["examples"] == 2 and printed["metric"] == "aspect"


def test_tailor_score_json_adds_a_lamp_tasks_numbers(tmp_path):
    import json

    from typer.testing import CliRunner

    from tailor.cli import app
    from tailor.data import SAMPLE_LAMP, load_examples

    data = SAMPLE_LAMP / "LaMP-3" / "user"
    examples = load_examples(data, split="test")
    responses = tmp_path / "responses.json"
    responses.write_text(json.dumps({e.id: [{"output": f"{e.reference}.0"}] for e in examples}))
    result = CliRunner().invoke(app, ["score", str(responses), "--data", str(data), "--split", "test", "--task", "LaMP-3", "--json"], env={"TAILOR_PROGRESS": "0"})
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed["metric"] == "rating" and printed["mae"] == 0.0 and printed["rmse"] == 0.0 and printed["parsed"] == 1.0 and printed["score"] == 1.0


# --- the judge's retry schedule and template ------------------------------------------------------


def test_the_benchmark_retry_rule_rises_by_a_tenth_while_below_one_and_overshoots_as_floats_do():
    from tailor.prompts.retry import attempt_temperatures

    schedule = attempt_temperatures(0.0, 0.1, 101, "benchmark")
    assert len(schedule) == 101 and schedule[:3] == [0.0, 0.1, 0.2]
    assert schedule[10] < 1.0 and schedule[11] == pytest.approx(1.1) and schedule[11] > 1.0 and set(schedule[11:]) == {schedule[11]}
    assert attempt_temperatures(0.0, 0.3, 5) == [0.0, 0.3, 0.6, 0.8999999999999999, 1.0]
    assert attempt_temperatures(1.5, 0.3, 3) == [1.5, 1.5, 1.5]  # a retry never cools a recipe's hotter sampling


def test_a_judge_retries_with_the_benchmark_schedule_and_sampling(tmp_path):
    from tailor.metrics.aspect import JudgeSettings

    settings = JudgeSettings(max_attempts=101, temperature_step=0.1, retry_rule="benchmark", top_p=0.95, max_tokens=4096)
    judge = ScriptedLLM(lambda request, params, j: "never")
    run = AspectJudge(judge, settings).score_batch([qa(["alpha"])], ["answer"])
    assert len(judge.received) == 101 and run.failed_judgments == 1 and run.scores[0].value == 0.0
    assert {(p.top_p, p.max_tokens) for _, p, _ in judge.received} == {(0.95, 4096)}
    assert judge.received[-1][1].temperature == pytest.approx(1.1)
    assert "101 attempts" in settings.describe() and "benchmark rule" in settings.describe()


def test_a_judge_template_file_with_its_own_output_key_and_system_message(tmp_path):
    from tailor.errors import TailorError
    from tailor.metrics.aspect import JudgeSettings
    from tailor.prompts.judge import AspectPrompt

    template = tmp_path / "judge.txt"
    template.write_text('Q: {question}\nN: {narrative}\nA: {aspect}\nR: {response}\nJSON {{"{output_key}": 0-2}}\n')
    prompt = AspectPrompt(template=template, output_key="match_score", system="You are strict.")
    judge = ScriptedLLM(lambda request, params, j: "1}")
    run = AspectJudge(judge, JudgeSettings(prompt=prompt)).score_batch([qa(["alpha"])], ["the answer"])
    request = judge.received[0][0]
    assert request.messages[0].content == "You are strict." and request.prefill == '{"match_score": '
    assert request.messages[-1].content.startswith("Q: How?\nN: I live in Oslo.\nA: alpha\nR: the answer") and run.scores[0].value == 0.5
    assert prompt.digest in prompt.describe() and str(template) in prompt.describe()
    template.write_text("{question} {unknown}")
    with pytest.raises(TailorError, match="placeholders"):
        AspectPrompt(template=template).text


def test_the_default_template_renders_our_wording_unchanged():
    from tailor.prompts.judge import AspectPrompt

    request = AspectPrompt().request("Q?", "N.", "R.", qa(["alpha"]).rubric_aspects[0])
    assert request.prefill == '{"score": ' and request.messages[-1].content.endswith('Reply with JSON only: {"score": 0, 1 or 2}.')
    assert len(request.messages) == 1


# --- significance as the papers test it -----------------------------------------------------------


def test_the_dagger_marks_rows_significantly_better_than_the_best_baseline_of_each_column(tmp_path):
    from scipy.stats import ttest_rel

    from tailor.eval.report import build_tables
    from tailor.eval.results import EvalResult, MethodResult

    ids = [f"e{i}" for i in range(12)]
    categories = {i: "only" for i in ids}
    weak = {i: 0.2 + 0.01 * n for n, i in enumerate(ids)}
    strong = {i: v + 0.3 for i, v in weak.items()}
    values = {
        "nopers": weak, "rag": strong,
        "beats-weak-only": {i: v + 0.15 + (0.01 if n % 2 else -0.01) for n, (i, v) in enumerate(weak.items())},
        "beats-both": {i: v + 0.1 + (0.01 if n % 2 else -0.01) for n, (i, v) in enumerate(strong.items())},
    }
    runs = [MethodResult("d", "test", m, v, categories, 0, 0, 0, 1.0, 0.1, 0, False) for m, v in values.items()]
    result = EvalResult(tmp_path, "aspect", False, "nopers", "hf:g", "hf:j", runs, baselines=["nopers", "rag"])
    rows = {r.method: r for r in build_tables(result)[0].rows}
    assert rows["beats-both"].macro.against == "rag" and rows["beats-both"].macro.significant
    expected = ttest_rel([values["beats-both"][i] for i in ids], [strong[i] for i in ids]).pvalue
    assert rows["beats-both"].macro.p_value == pytest.approx(expected)
    assert rows["beats-weak-only"].macro.against == "rag" and not rows["beats-weak-only"].macro.significant
    assert rows["rag"].macro.p_value is None and rows["nopers"].macro.p_value is None  # baselines are not tested

    fixed = EvalResult(tmp_path, "aspect", False, "nopers", "hf:g", "hf:j", runs, significance="baseline")
    rows = {r.method: r for r in build_tables(fixed)[0].rows}
    assert rows["beats-weak-only"].macro.against == "nopers" and rows["beats-weak-only"].macro.significant


# --- reproducible answers and honest runtimes ------------------------------------------------------


def test_a_deterministic_hf_model_answers_one_request_at_a_time_and_is_cached_apart():
    from tailor.llm import LLMConfig, make_llm

    batched = make_llm(LLMConfig(backend="hf", model="smollm2-135m-instruct", cache=False))
    alone = make_llm(LLMConfig(backend="hf", model="smollm2-135m-instruct", cache=False, deterministic=True))
    assert batched.batch_size > 1 and alone.batch_size == 1
    assert alone.model_id != batched.model_id and alone.model_id.startswith(batched.model_id)


def test_runtime_per_query_is_the_generation_time_also_for_answers_read_from_the_cache(tmp_path):
    import time

    from test_eval_runner import generator_reply, judge_reply, sample_config

    from tailor.eval.runner import run_eval
    from tailor.llm.cache import ResponseCache

    def slow(request, params, j):
        time.sleep(0.01)
        return generator_reply(request, params, j)

    cache = ResponseCache(tmp_path / "cache.sqlite")
    generator, judge = ScriptedLLM(slow, cache=cache, model="generator"), ScriptedLLM(judge_reply, model="judge")
    config = sample_config(tmp_path, methods=["rag", {"name": "rag", "label": "rag-again"}])
    result = run_eval(config, generator=generator, judge=judge)
    first, again = result.runs
    assert again.model_calls == 0 and first.model_calls > 0  # every answer of the second row came from the cache
    assert first.seconds_per_query >= 0.01 and again.seconds_per_query == pytest.approx(first.seconds_per_query, rel=1e-6)
