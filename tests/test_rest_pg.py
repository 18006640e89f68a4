"""REST-PG on LongLaMP: reasoning data, the reward threshold and per-input cap, reward
weights, M-steps from the base model, and reasoning kept out of what is scored."""

import json
import re

import pytest
from fakes import ScriptedLLM, loop_inputs
from test_vac import FakeTrainer

from tailor.data import SAMPLE_LONGLAMP, load_examples
from tailor.errors import TailorError
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.methods import AnswerConfig, RetrievalAugmented
from tailor.prompts.longform import RESPONSE_HEAD, compose, parse_reasoning, split_reply
from tailor.prompts.quotes import COPY_RUN
from tailor.retrieval import BM25Retriever
from tailor.train.rest_em import RestEMConfig, train_rest_em
from tailor.train.sft import SFTSettings
from tailor.train.rows import top_scored

M, MAX_ATTEMPTS = 4, 3


@pytest.fixture(scope="module")
def tasks():
    """Two inputs of each LongLaMP task for training, one of each for validation."""
    train = load_examples(SAMPLE_LONGLAMP, split="train")
    valid = load_examples(SAMPLE_LONGLAMP, split="validation")
    pick = lambda examples, n: [e for task in sorted({e.category for e in examples}) for e in [x for x in examples if x.category == task][:n]]  # noqa: E731
    return pick(train, 2), pick(valid, 1)


def reasoner_reply(request, params, j):
    """Continues '- ': one bullet of description, then one that copies the expected text."""
    expected = request.messages[-1].content.split("The text they wrote for it:\n")[1].split("\n\nIn short bullet points")[0]
    return "Writes plainly and likes concrete detail.\n- " + expected.replace("\n", " ")


def policy_reply(request, params, j):
    """With reasoning (prefill 'Reasoning:\\n'): a bullet, then the response naming the seed."""
    body = f"Text from seed {params.seed} at t={params.temperature}."
    return f"- prefers short sentences\n\n{RESPONSE_HEAD}\n{body}" if request.prefill else body


class SeedReward(Metric):
    """Reward = seed/10 for sampled texts (seeds 0, 3, 6, 9 give 0, .3, .6, .9); each
    validation pass gets the next value of ``validation``. Records what it scored."""

    name = "seed-reward"

    def __init__(self, validation):
        self.validation, self.scored = list(validation), []

    def score_batch(self, examples, responses):
        self.scored += responses
        if all("at t=0.7" in r for r in responses):
            values = [int(r.split("seed ")[1].split()[0]) / 10 for r in responses]
        else:
            values = [self.validation.pop(0)] * len(examples)
        return MetricRun(self.name, [e.id for e in examples], [Score(v) for v in values])


def setup(tmp_path, validation=(0.2, 0.5, 0.4), **overrides):
    settings = dict(
        iterations=2, samples=M, k=2, max_attempts=MAX_ATTEMPTS, sft=SFTSettings.cpu_sample(), run_dir=tmp_path / "run",
        format="longform-reasoning", warmup="reasoning", sample_temperature=0.7, threshold=0.3, max_per_input=2,
        reward_weighted=True, from_base=True,
    )
    config = RestEMConfig(**(settings | overrides))
    return config, ScriptedLLM(policy_reply, model="policy"), ScriptedLLM(reasoner_reply, model="reasoner"), SeedReward(validation), FakeTrainer()


def run(config, tasks, policy, reasoner, metric, trainer):
    train, valid = tasks
    return train_rest_em(*loop_inputs(config, train, valid, metric, policy=policy, reasoner=reasoner), trainer=trainer)


def test_top_scored_keeps_rewards_at_the_threshold_up_to_the_cap(tasks):
    train, _ = tasks
    a, b = train[0].id, train[1].id
    rows = [{"id": a, "j": j, "score": s} for j, s in enumerate([0.2, 0.9, 0.5, 0.5, None, 0.7])] + [{"id": b, "j": 0, "score": 0.1}]
    assert [r["j"] for r in top_scored(rows, train, limit=3, threshold=0.5)] == [1, 5, 2]
    assert [r["j"] for r in top_scored(rows, train, limit=10, threshold=0.5)] == [1, 5, 2, 3]
    assert [(r["id"], r["j"]) for r in top_scored(rows, train)] == [(a, 1), (b, 0)]  # no threshold: the best per input


def test_reasoning_targets_never_quote_the_expected_text(tmp_path, tasks):
    config, policy, reasoner, metric, trainer = setup(tmp_path)
    run(config, tasks, policy, reasoner, metric, trainer)
    train, _ = tasks
    warm = trainer.jobs[0]
    assert warm["dir"] == tmp_path / "run" / "warmup" / "policy_model" and warm["init"] is None and len(warm["rows"]) == len(train)
    for example, row in zip(train, warm["rows"]):
        reasoning, response = split_reply(row["messages"][-1]["content"])
        assert response == example.reference.strip() and reasoning == "- Writes plainly and likes concrete detail."
        words = re.findall(r"\w+", example.reference.lower())
        runs = {" ".join(words[i : i + COPY_RUN]) for i in range(len(words) - COPY_RUN + 1)}
        assert not any(r in " ".join(re.findall(r"\w+", reasoning.lower())) for r in runs)
        assert example.reference not in "\n".join(m["content"] for m in row["messages"][:-1])  # nor the prompt
    assert {p.temperature for _, p, _ in reasoner.received} == {0.0} and len(reasoner.received) == len(train)
    with pytest.raises(ValueError, match="no reasoning left"):
        parse_reasoning(f"- {train[0].reference}", train[0].reference)


def test_e_step_keeps_rewards_over_tau_at_most_the_cap_each_weighted_by_reward(tmp_path, tasks):
    config, policy, reasoner, metric, trainer = setup(tmp_path)
    run(config, tasks, policy, reasoner, metric, trainer)
    train, _ = tasks
    out = tmp_path / "run" / "iter_1"
    sampled = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(sampled) == M * len(train) and {r["score"] for r in sampled} == {0.0, 0.3, 0.6, 0.9}
    kept = [json.loads(line) for line in (out / "kept.jsonl").read_text().splitlines()]
    assert [r["score"] for r in kept] == [0.9, 0.6] * len(train)  # >= 0.3, the two best of each input
    job = trainer.jobs[1]
    rows = job["rows"] + (job["eval_rows"] or [])  # 10 % of the kept rows are held out to pick the checkpoint
    assert job["eval_rows"] and len(job["eval_rows"]) == int(0.1 * len(rows))
    assert sorted(row["weight"] for row in rows) == sorted([0.9, 0.6] * len(train))
    assert rows[0]["messages"][-1]["content"].startswith("Reasoning:\n") and "seed 9 " in rows[0]["messages"][-1]["content"]
    # the reward saw only the text after "Response:", never the reasoning
    assert all("prefers short sentences" not in r for r in metric.scored)


def test_m_steps_start_from_the_base_model_or_continue(tmp_path, tasks):
    config, policy, reasoner, metric, trainer = setup(tmp_path)
    result = run(config, tasks, policy, reasoner, metric, trainer)
    warm = str(tmp_path / "run" / "warmup" / "policy_model" / "adapter")
    assert [job["init"] for job in trainer.jobs] == [None, None, None]
    samplers = {adapter for _, p, adapter in policy.received if p.temperature == 0.7}
    assert samplers == {warm, str(tmp_path / "run" / "iter_1" / "policy_model" / "adapter")}  # E-steps sample from the latest policy
    assert result.validation == [0.2, 0.5, 0.4] and result.best_iteration == 1 and result.policy_adapters[0] == warm

    config, policy, reasoner, metric, trainer = setup(tmp_path / "continue", from_base=False)
    run(config, tasks, policy, reasoner, metric, trainer)
    assert [job["init"] for job in trainer.jobs] == [None, str(tmp_path / "continue" / "run" / "warmup" / "policy_model" / "adapter"),
                                                    str(tmp_path / "continue" / "run" / "iter_1" / "policy_model" / "adapter")]


def test_without_reasoning_it_is_rest_em_after_sft_on_the_references(tmp_path, tasks):
    config, policy, reasoner, metric, trainer = setup(tmp_path, format="longform", warmup="reference", reward_weighted=False)
    run(config, tasks, policy, reasoner, metric, trainer)
    train, _ = tasks
    assert reasoner.received == [] and all(r.prefill is None for r, _, _ in policy.received)
    assert [row["messages"][-1]["content"] for row in trainer.jobs[0]["rows"]] == [e.reference for e in train]
    assert "weight" not in trainer.jobs[1]["rows"][0]


def test_nothing_over_tau_is_a_clear_error(tmp_path, tasks):
    config, policy, reasoner, metric, trainer = setup(tmp_path, threshold=0.95)
    with pytest.raises(TailorError, match="reached the reward threshold 0.95"):
        run(config, tasks, policy, reasoner, metric, trainer)


@pytest.mark.parametrize("changes, message", [
    ({"warmup": "reasoning", "format": "longform"}, "go together"),
    ({"warmup": "reference", "format": "answer"}, "references"),
])
def test_inconsistent_settings_are_refused(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        RestEMConfig(**changes)


def test_inference_scores_the_response_and_keeps_the_reasoning_in_the_trace(tasks):
    _, valid = tasks
    llm = ScriptedLLM(policy_reply)
    answers = RetrievalAugmented(llm, BM25Retriever(), AnswerConfig(k=2, format="longform-reasoning")).answer_batch(valid)
    assert [a.text for a in answers] == ["Text from seed 0 at t=0.1."] * len(valid)
    assert all(a.trace["reasoning"] == "- prefers short sentences" and a.trace["parsed"] for a in answers)
    assert compose("- a", "b") == f"Reasoning:\n- a\n\n{RESPONSE_HEAD}\nb"


def test_sample_recipe_loads_with_its_rest_em_variant():
    config = RestEMConfig.from_yaml("configs/restpg-sample-cpu.yaml")
    (_, main), (name, variant) = config.runs()
    assert main.warmup == "reasoning" and main.metric == "rouge-l" and main.reward_weighted and main.from_base
    assert name == "rest-em" and variant.format == "longform" and variant.warmup == "reference"
    paper = RestEMConfig.from_yaml("configs/restpg-paper.yaml")
    assert (paper.samples, paper.sample_temperature, paper.threshold, paper.max_per_input, paper.k, paper.iterations) == (32, 0.7, 1.0, 10, 5, 3)


@pytest.mark.model
def test_one_real_rest_pg_style_round_on_the_offline_model(tmp_path, hf_llm, tasks):
    """A warm-up and one E/M round with REST-PG's settings (threshold, reward weighting, M-step
    from the base model) on SmolLM2, ROUGE-L as reward, two SFT steps. The warm-up is on the
    users' texts: SmolLM2 rarely reaches the "Response:" of a reasoning reply within a CPU
    test's token budget, and a reply that does not parse is never trained on."""
    from tailor.metrics.registry import make_metric
    from tailor.train.sft import train_sft

    train, valid = tasks
    tiny = SFTSettings.cpu_sample().model_copy(update={"batch_size": 2, "per_device_batch_size": 2, "max_steps": 2, "eval_steps": 2})
    config = RestEMConfig(
        iterations=1, samples=2, k=1, max_attempts=1, sft=tiny, run_dir=tmp_path / "run", format="longform", warmup="reference",
        sample_temperature=0.7, threshold=0.0, max_per_input=10, reward_weighted=True, from_base=True, answer_max_tokens=48,
    )
    result = train_rest_em(*loop_inputs(config, train[::4], valid[:1], make_metric("rouge-l", None), policy=hf_llm), trainer=train_sft)
    assert len(result.validation) == 2 and all(0.0 <= v <= 1.0 for v in result.validation)
    assert (tmp_path / "run" / "warmup" / "policy_model" / "adapter" / "adapter_config.json").exists()
    rows = [json.loads(line) for line in (tmp_path / "run" / "iter_1" / "policy_sft.jsonl").read_text().splitlines()]
    assert rows and all(0.0 <= row["weight"] <= 1.0 for row in rows)


def test_report_shows_the_e_step_and_the_exploration_budget(tmp_path, tasks):
    from tailor.train.report import write_run_report

    train, valid = tasks
    budgets = {"m2": {"samples": 2, "iterations": 1}, "m4": {"samples": 4, "iterations": 1}}
    config, policy, reasoner, metric, trainer = setup(tmp_path, validation=(0.2, 0.5, 0.2, 0.3, 0.2, 0.6), iterations=1, variants=budgets)
    for _, variant in config.runs():
        run(variant, tasks, policy, reasoner, metric, trainer)
    report = write_run_report(config.run_dir, train, valid)
    text = report.markdown.read_text()
    # m=4 samples per input, of which the two best (>= tau) are kept
    assert f"| 1 | main | the metric's | {M * len(train)} | {2 * len(train)} | {len(train)} | 0.4500 | 0.7500 | 0.7500 |" in text
    assert "| 2 | 0.3000 | 0.3000 | 0.3000 | 0.3000 | 0.3000 |" in text and "| 4 | 0.6000 |" in text  # pi_1 per task against m
    assert report.budget.read_bytes()[:4] == b"\x89PNG"
    budget = json.loads(report.json.read_text())["budget"]
    assert sorted(budget) == ["2", "4"] and sorted(budget["4"]) == sorted({e.category for e in valid})
