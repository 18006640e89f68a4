"""POPI: preference summaries stored once per user and reused by any generator; the best
summary by reward trains the summarizer; metric-ranked answers make the DPO pairs."""

import json
from statistics import mean

import pytest
from fakes import ScriptedLLM, loop_inputs
from test_vac import FakeTrainer

from tailor.data import SAMPLE_LAMP, load_examples
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.methods import AnswerConfig
from tailor.methods.popi import PreferenceInference, PreferencePersonalization, SummaryStore
from tailor.prompts.popi import SUMMARY_PREFILL, parse_summary
from tailor.train.loop import LoopResult
from tailor.train.popi import POPIConfig, ranked_pair, train_popi
from tailor.train.sft import SFTSettings

TASK = SAMPLE_LAMP / "LaMP-5" / "user"


@pytest.fixture(scope="module")
def lamp():
    return load_examples(TASK, split="train")[:3], load_examples(TASK, split="validation")[:2]


def summarizer_reply(request, params, j):
    """Continues 'This user ': the summary names the seed it was sampled with."""
    return f"likes colons in titles (seed {params.seed})."


def generator_reply(request, params, j):
    """Echoes the seed of the summary it was given, and its own sampling seed."""
    prompt = request.messages[-1].content
    given = prompt.split("(seed ")[1].split(")")[0] if "(seed " in prompt else "none"
    return f"Title from summary {given} sample {params.seed}"


class SummarySeedMetric(Metric):
    """Rewards answers built on the summary sampled with seed 3, and sample seed 6 the most."""

    name = "seedy"

    def score_batch(self, examples, responses):
        values = [(0.5 if "summary 3 " in r else 0.2 if "summary none" in r else 0.3) + (0.3 if r.endswith("sample 6") else 0.0) for r in responses]
        return MetricRun(self.name, [e.id for e in examples], [Score(v) for v in values])


def test_summaries_are_inferred_once_per_user_and_reused_by_any_generator(tmp_path, lamp):
    train, _ = lamp
    store = SummaryStore(tmp_path / "summaries.sqlite")
    summarizer = ScriptedLLM(summarizer_reply, model="summarizer")
    twice = train + [train[0]]  # the same user asked again
    first = PreferencePersonalization(ScriptedLLM(generator_reply, model="gen-a"), PreferenceInference(summarizer, store), AnswerConfig(format="longform"))
    answers = first.answer_batch(twice)
    assert len(summarizer.received) == len(train) and store.count() == len(train)
    other = ScriptedLLM(generator_reply, model="gen-b")
    again = PreferencePersonalization(other, PreferenceInference(ScriptedLLM(summarizer_reply, model="summarizer"), store), AnswerConfig(format="longform"))
    assert [a.trace["summary"] for a in again.answer_batch(twice)] == [a.trace["summary"] for a in answers]
    assert store.count() == len(train)  # no new summary for the second backend
    prompt = other.received[0][0].messages[-1].content
    assert "What I prefer, in short: This user likes colons in titles (seed 0)." in prompt and train[0].profile[0].text not in prompt
    trained = PreferenceInference(ScriptedLLM(summarizer_reply, model="summarizer"), store, adapter="phi-1")
    assert trained.key(train[0]) != PreferenceInference(summarizer, store).key(train[0])  # another summarizer, other summaries


def test_summary_parsing_keeps_it_short():
    assert parse_summary(SUMMARY_PREFILL + "likes " * 100, 10) == "This user " + "likes " * 7 + "likes"
    with pytest.raises(ValueError, match="empty"):
        parse_summary(SUMMARY_PREFILL, 10)


def test_ranked_pairs_take_the_best_against_the_worst_and_skip_ties():
    rows = [{"j": 0, "score": 0.2}, {"j": 1, "score": 0.9}, {"j": 2, "score": None}, {"j": 3, "score": 0.1}]
    best, worst = ranked_pair(rows)
    assert (best["j"], worst["j"]) == (1, 3)
    assert ranked_pair([{"j": 0, "score": 0.5}, {"j": 1, "score": 0.5}]) is None and ranked_pair(rows[:1]) is None


def test_training_picks_summaries_by_reward_and_ranks_answers_for_dpo(tmp_path, lamp):
    train, valid = lamp
    config = POPIConfig(iterations=1, n_summaries=3, answers_per_input=3, max_attempts=3, sft=SFTSettings.cpu_sample(), run_dir=tmp_path / "run", format="longform")
    sft, dpo = FakeTrainer(), FakeTrainer()
    generator, summarizer = ScriptedLLM(generator_reply, model="gen"), ScriptedLLM(summarizer_reply, model="sum")
    result = train_popi(*loop_inputs(config, train, valid, SummarySeedMetric(), policy=generator, summarizer=summarizer), trainer=sft, dpo_trainer=dpo)
    out = tmp_path / "run" / "iter_1"
    chosen = [json.loads(line) for line in (out / "chosen_summaries.jsonl").read_text().splitlines()]
    assert [row["j"] for row in chosen] == [1] * len(train) and all(row["score"] == pytest.approx(0.3) for row in chosen)  # seed 3 = sample 1
    (summary_job,) = sft.jobs
    assert [r["messages"][-1]["content"] for r in summary_job["rows"]] == ["This user likes colons in titles (seed 3)."] * len(train)
    (generator_job,) = dpo.jobs
    for row in generator_job["rows"]:
        assert row["chosen"][0]["content"].endswith("sample 6") and not row["rejected"][0]["content"].endswith("sample 6")
        assert "(seed 3)" in row["prompt"][-1]["content"]
    assert result.summarizers[1] == str(out / "summarizer_model" / "adapter") and result.generators[1] == str(out / "generator_model" / "adapter")
    validated = {adapter for _, _, adapter in summarizer.received if adapter}
    assert validated == {str(out / "summarizer_model" / "adapter")}  # validation used phi_1
    assert (result.best_adapter, result.best_summarizer) == (result.generators[result.best_iteration], result.summarizers[result.best_iteration])


def test_a_popi_run_reports_its_validation_per_iteration(tmp_path, lamp):
    train, valid = lamp
    config = POPIConfig(iterations=1, n_summaries=2, answers_per_input=2, sft=SFTSettings.cpu_sample(), run_dir=tmp_path / "run", format="longform")
    inputs = loop_inputs(config, train, valid, SummarySeedMetric(), policy=ScriptedLLM(generator_reply, model="gen"), summarizer=ScriptedLLM(summarizer_reply, model="sum"))
    result = train_popi(*inputs, trainer=FakeTrainer(), dpo_trainer=FakeTrainer())
    metric = SummarySeedMetric()
    looped = LoopResult("popi", config.run_dir, result.validation, result.best_iteration, result.best_adapter, metric.name, metric.proxy)
    printed = "\n".join(looped.lines())
    assert f"iteration {result.best_iteration}: validation seedy" in printed and "<- best" in printed
    assert (result.best_adapter or "(none") in printed


def examples_of(traces: list[dict]) -> list:
    from tailor.data import SAMPLE_LAMPQA

    by_id = {e.id: e for e in load_examples(SAMPLE_LAMPQA, split="test")}
    return [by_id[t["id"]] for t in traces]


def test_popi_runs_in_tailor_eval_and_reports_the_context_it_replaces(tmp_path):
    from test_eval_runner import fake_models, sample_config

    from tailor.eval.report import write_report
    from tailor.eval.runner import run_eval

    generator, judge = fake_models()
    result = run_eval(sample_config(tmp_path, methods=["nopers", "rag", "popi"]), generator=generator, judge=judge)
    folder = tmp_path / "run" / "sample" / "test"
    traces = {m: [json.loads(line) | json.loads(line)["trace"] for line in (folder / m / "traces.jsonl").read_text().splitlines()] for m in ("rag", "popi")}
    assert traces["popi"] and all(t["summary"].startswith(SUMMARY_PREFILL) and t["context_words"] == len(t["summary"].split()) for t in traces["popi"])
    summary_prompts = [p for p in generator.prompts() if "say what this user prefers" in p]
    assert len(summary_prompts) == len(traces["popi"])  # one summary per user (each sample example is its own user)

    report = write_report(result)
    (table,) = report.contexts
    assert table.unit == "words" and table.reference == "rag"  # the scripted model has no tokenizer
    rows = {row.method: row for row in table.rows}
    rag_words = sum(t["context_words"] for t in traces["rag"]) / len(traces["rag"])
    popi_words = sum(t["context_words"] for t in traces["popi"]) / len(traces["popi"])
    profile_words = sum(t["profile_words"] for t in traces["popi"]) / len(traces["popi"])
    assert profile_words == pytest.approx(mean(sum(len(i.text.split()) for i in e.profile) for e in examples_of(traces["popi"])))
    assert rows["rag"].context == pytest.approx(rag_words) and rows["popi"].context == pytest.approx(popi_words)
    assert rows["popi"].vs_reference == pytest.approx(rag_words / popi_words) and rows["popi"].vs_profile == pytest.approx(profile_words / popi_words)
    assert rows["nopers"].context == 0 and rows["nopers"].vs_reference is None and rows["nopers"].profile == pytest.approx(profile_words)
    assert rows["popi"].quality == next(r.macro.mean for r in report.tables[0].rows if r.method == "popi")
    assert f"{rows['popi'].vs_reference:.1f}×" in report.markdown.read_text()
    assert report.context_chart.read_bytes().startswith(b"\x89PNG")


@pytest.mark.model
def test_one_real_popi_round_on_the_offline_model(tmp_path, hf_llm, lamp):
    """Two summaries per user, two answers per input, one SFT and one DPO step with SmolLM2."""
    from tailor.metrics.registry import make_metric

    train, valid = lamp
    tiny = SFTSettings.cpu_sample().model_copy(update={"batch_size": 2, "per_device_batch_size": 2, "max_steps": 1, "eval_steps": 1})
    config = POPIConfig(iterations=1, n_summaries=2, answers_per_input=2, summary_words=20, summary_max_tokens=32, answer_max_tokens=24,
                        max_attempts=1, sft=tiny, run_dir=tmp_path / "run", format="longform")
    result = train_popi(*loop_inputs(config, train[:2], valid[:1], make_metric("rouge-l", None), policy=hf_llm))
    assert len(result.validation) == 2 and all(0.0 <= v <= 1.0 for v in result.validation)
    assert (tmp_path / "run" / "iter_1" / "summarizer_model" / "adapter" / "adapter_config.json").exists()


@pytest.mark.model
def test_stored_summaries_serve_a_real_backend_without_recomputation(tmp_path, hf_llm, lamp):
    """Summaries written while a scripted generator answered are read back, not recomputed,
    when the real hf backend answers."""
    train, _ = lamp
    store = SummaryStore(tmp_path / "summaries.sqlite")
    config = AnswerConfig(format="longform", max_tokens=16, max_attempts=1)
    first = PreferencePersonalization(ScriptedLLM(generator_reply, model="gen"), PreferenceInference(ScriptedLLM(summarizer_reply, model="sum"), store), config)
    summaries = [a.trace["summary"] for a in first.answer_batch(train[:2])]
    summarizer = ScriptedLLM(summarizer_reply, model="sum")
    real = PreferencePersonalization(hf_llm, PreferenceInference(summarizer, store), config)
    answers = real.answer_batch(train[:2])
    assert summarizer.received == [] and [a.trace["summary"] for a in answers] == summaries
    assert all(a.trace["context_tokens"] == hf_llm.count_tokens(s) > 0 for a, s in zip(answers, summaries))
