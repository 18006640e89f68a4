import json

import pytest
from fakes import ScriptedLLM, loop_inputs
from test_methods import assert_no_hidden_text
from test_vac import FakeTrainer

from tailor.errors import TailorError
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.llm.cache import ResponseCache
from tailor.prompts.answer import ANSWER_PREFILL
from tailor.train.rest_em import RestEMConfig, train_rest_em
from tailor.train.sft import SFTSettings

M, MAX_ATTEMPTS = 4, 3
SEEDS = [j * MAX_ATTEMPTS for j in range(M)]  # the sample seeds train_rest_em uses (seed 0)


def policy_reply(request, params, j):
    """Continues '{"personalized_answer": "': names the seed and temperature it was sampled with."""
    return f'Answer from seed {params.seed} at t={params.temperature}."}}'


class FakeMetric(Metric):
    """Sampled answers score 1.0 from this example's favourite seed, else by seed; each
    validation pass gets the next score of ``validation``."""

    name = "fake"

    def __init__(self, favourite: dict[str, int], validation: list[float]):
        self.favourite, self.validation, self.calls = favourite, list(validation), []

    def score_batch(self, examples, responses):
        self.calls.append(len(examples))
        if all("at t=1.0" in r for r in responses):
            values = [1.0 if f"seed {self.favourite[e.id]} " in r else 0.1 + 0.01 * int(r.split("seed ")[1].split()[0]) for e, r in zip(examples, responses)]
        else:
            values = [self.validation.pop(0)] * len(examples)
        return MetricRun(self.name, [e.id for e in examples], [Score(v) for v in values])


def setup(tmp_path, train, validation=(0.3, 0.6, 0.4), cache=None, **overrides):
    config = RestEMConfig(iterations=2, samples=M, k=3, max_attempts=MAX_ATTEMPTS, sft=SFTSettings.cpu_sample(), run_dir=tmp_path / "run", **overrides)
    favourite = {e.id: SEEDS[(i + 1) % M] for i, e in enumerate(train)}
    return config, ScriptedLLM(policy_reply, cache=cache, model="policy"), FakeMetric(favourite, validation), FakeTrainer(), favourite


def run(config, train, valid, policy, metric, trainer):
    return train_rest_em(*loop_inputs(config, train, valid, metric, policy=policy), trainer=trainer)


def test_the_best_scored_sample_becomes_the_target(tmp_path, train, valid):
    config, policy, metric, trainer, favourite = setup(tmp_path, train)
    result = run(config, train, valid, policy, metric, trainer)
    out = tmp_path / "run" / "iter_1"
    sampled = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(sampled) == M * len(train) and metric.calls[1] == M * len(train)  # one score_batch over all samples
    assert all(row["score"] is not None for row in sampled)
    chosen = {row["id"]: row for row in map(json.loads, (out / "kept.jsonl").read_text().splitlines())}
    assert {e.id: chosen[e.id]["seed"] for e in train} == favourite and {row["score"] for row in chosen.values()} == {1.0}
    first, second = trainer.jobs
    assert first["dir"] == out / "policy_model" and first["init"] is None
    assert second["init"] == str(out / "policy_model" / "adapter")  # pi_2 continues pi_1
    for example, row in zip(train, first["rows"]):
        assert row["messages"][-1]["content"].startswith(ANSWER_PREFILL)
        assert json.loads(row["messages"][-1]["content"]) == {"personalized_answer": f"Answer from seed {favourite[example.id]} at t=1.0."}
        assert example.question in row["messages"][-2]["content"]
    assert [json.loads(line) for line in (out / "policy_sft.jsonl").read_text().splitlines()] == first["rows"]
    assert result.validation == [0.3, 0.6, 0.4] and result.best_iteration == 1 and result.best_adapter == str(out / "policy_model" / "adapter")
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["best_iteration"] == 1 and history["stages"]["iter_1/samples"]["calls"] == {"policy": M * len(train)}


def test_samples_use_distinct_seeds_at_temperature_one_from_the_previous_policy(tmp_path, train, valid):
    config, policy, metric, trainer, _ = setup(tmp_path, train)
    run(config, train, valid, policy, metric, trainer)
    sampled = [(p, adapter) for _, p, adapter in policy.received if p.temperature == 1.0]
    assert len(sampled) == 2 * M * len(train) and {p.seed for p, _ in sampled} == set(SEEDS)
    assert {adapter for _, adapter in sampled} == {None, str(tmp_path / "run" / "iter_1" / "policy_model" / "adapter")}


def test_no_input_holds_the_narrative_or_rubric(tmp_path, train, valid):
    config, policy, metric, trainer, _ = setup(tmp_path, train)
    run(config, train, valid, policy, metric, trainer)
    inputs = ["\n".join(m["content"] for m in row["messages"][:-1]) for job in trainer.jobs for row in job["rows"]]
    prompts = inputs + policy.prompts()
    assert assert_no_hidden_text(train + valid, prompts) > 20


def test_rerun_calls_no_model_and_trains_nothing(tmp_path, train, valid):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    config, policy, metric, trainer, _ = setup(tmp_path, train, cache=cache)
    first = run(config, train, valid, policy, metric, trainer)
    history = (tmp_path / "run" / "history.json").read_text()
    config, policy, metric, _, _ = setup(tmp_path, train, cache=cache)
    again = run(config, train, valid, policy, metric, trainer)
    assert policy.received == [] and policy.usage.requests == 0 and metric.calls == []
    assert len(trainer.jobs) == 4 and all(job["reused"] for job in trainer.jobs[2:])
    assert again == first and json.loads((tmp_path / "run" / "history.json").read_text()) == json.loads(history)
    with pytest.raises(TailorError, match="other settings"):
        run(config.model_copy(update={"samples": 2}), train, valid, policy, metric, trainer)


def test_sample_config_loads():
    config = RestEMConfig.from_yaml("configs/rest-em-sample-cpu.yaml")
    assert config.samples == 4 and config.iterations == 2 and config.sample_temperature == 1.0 and config.metric == "proxy"


def test_a_permuted_reward_control_keeps_replies_by_other_samples_rewards_and_says_so(tmp_path, train, valid):
    from tailor.train.controls import controlled_rewards
    from tailor.train.report import write_run_report
    from tailor.train.rest_em import RestEMTrainer

    config, policy, metric, trainer, favourite = setup(tmp_path, train)
    run(config.model_copy(update={"run_dir": tmp_path / "real"}), train, valid, policy, metric, trainer)
    config, policy, metric, trainer, _ = setup(tmp_path, train, reward_control="permuted")
    run(config, train, valid, policy, metric, trainer)
    real, control = (tmp_path / "real" / "iter_1", tmp_path / "run" / "iter_1")
    assert (control / "samples.jsonl").read_text() == (real / "samples.jsonl").read_text()  # the same replies, scored by the metric
    sampled = [json.loads(line) for line in (control / "samples.jsonl").read_text().splitlines()]
    metric_of = {(row["id"], row["j"]): row["score"] for row in sampled}
    kept = [json.loads(line) for line in (control / "kept.jsonl").read_text().splitlines()]
    real_kept = [json.loads(line) for line in (real / "kept.jsonl").read_text().splitlines()]
    assert {row["id"]: row["seed"] for row in real_kept} == favourite  # the metric's rewards keep each input's best reply
    assert len(kept) == len(train) and {row["seed"] == favourite[row["id"]] for row in kept} == {True, False}  # no longer each input's best
    assert all(row["metric_score"] == metric_of[(row["id"], row["j"])] for row in kept)
    # the rewards are the metric's scores reshuffled, the same for one seed, and an unscored row stays unscored
    rows = sampled + [{"id": "x", "j": 0, "score": None}]
    shuffled = controlled_rewards(rows, "permuted", "0/1")
    assert sorted(r["score"] for r in shuffled[:-1]) == sorted(metric_of.values()) and shuffled[-1]["score"] is None
    assert [r["score"] for r in shuffled] != [r["score"] for r in rows] and shuffled == controlled_rewards(rows, "permuted", "0/1")
    assert controlled_rewards(rows, "none", "0/1") == rows
    report = write_run_report(tmp_path / "run", trainer=RestEMTrainer).markdown.read_text()
    assert "rewards permuted across training examples (a control)" in report
    assert RestEMTrainer(config).title(config) == "ReST-EM, rewards permuted across training examples (a control)"
    with pytest.raises(ValueError, match="reward_control"):
        RestEMConfig(reward_control="shuffled")
