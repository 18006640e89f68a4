import json
import re

import pytest
from fakes import ScriptedLLM, loop_inputs
from test_methods import assert_no_hidden_text, json_answer

from tailor.errors import TailorError
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.llm.cache import ResponseCache
from tailor.methods.registry import MethodConfig, make_method
from tailor.prompts.feedback import FEEDBACK_PREFILL, feedback_request, parse_feedback, revision_request
from tailor.retrieval import BM25Retriever
from tailor.runs import FEEDBACKS, TRAIN_SCORES, StageFolder
from tailor.train.sft import SFTResult, SFTSettings
from tailor.train.rows import write_jsonl
from tailor.train.vac import VACConfig, train_vac
from tailor.train.vac_views import read_signal

N, MAX_ATTEMPTS = 4, 3
SEEDS = [j * MAX_ATTEMPTS for j in range(N)]  # the feedback seeds train_vac uses (seed 0)


def feedback_reply(request, params, j):
    """Continues '{"feedback": "': names the seed and temperature it was sampled with."""
    return f'note from seed {params.seed} at t={params.temperature}"}}'


def policy_reply(request, params, j):
    """Answers plainly; a revision quotes the feedback it was given."""
    prompt = request.messages[-1].content
    if "A reviewer's notes on the draft:\n" in prompt:
        note = prompt.split("A reviewer's notes on the draft:\n")[1].split("\n")[0]
        return f'Revised following: {note}."}}'
    return json_answer(request, params, j)


INITIAL_SCORE = 0.05


class FakeMetric(Metric):
    """Revisions score 1.0 when made from this example's favourite seed, else by seed, and
    initial answers beside them 0.05 (the training signal); each validation pass (no
    revision in the batch) gets the next score of ``validation``."""

    name = "fake"

    def __init__(self, favourite: dict[str, int], validation: list[float]):
        self.favourite, self.validation, self.calls = favourite, list(validation), []

    def revision_score(self, example, response: str) -> float:
        if not response.startswith("Revised"):
            return INITIAL_SCORE
        seed = re.search(r"seed (\d+)", response)
        return 1.0 if f"seed {self.favourite[example.id]} " in response else 0.1 + 0.01 * (int(seed.group(1)) if seed else 0)

    def score_batch(self, examples, responses):
        self.calls.append(len(examples))
        if any(r.startswith("Revised") for r in responses):
            values = [self.revision_score(e, r) for e, r in zip(examples, responses)]
        else:
            values = [self.validation.pop(0)] * len(examples)
        return MetricRun(self.name, [e.id for e in examples], [Score(v) for v in values])


class FakeTrainer:
    """Records every SFT job and writes a tiny adapter; a repeated job is reused, like train_sft's done.json."""

    def __init__(self):
        self.jobs = []

    def __call__(self, model, rows, eval_rows, settings, output_dir, init_adapter=None):
        adapter = output_dir / "adapter"
        reused = (adapter / "adapter_config.json").exists()
        self.jobs.append({"model": model, "rows": rows, "eval_rows": eval_rows, "dir": output_dir, "init": init_adapter, "reused": reused})
        if not reused:
            adapter.mkdir(parents=True)
            (adapter / "adapter_config.json").write_text(json.dumps({"job": str(output_dir)}))
        return SFTResult(str(adapter), 0.5 if eval_rows else None, 1, 0.0, len(rows), reused)


def setup(tmp_path, train, validation=(0.3, 0.6, 0.4), cache=None, **overrides):
    config = VACConfig(
        iterations=2, n_feedback=N, k=3, max_attempts=MAX_ATTEMPTS, sft=SFTSettings.cpu_sample(), run_dir=tmp_path / "run", **overrides
    )
    favourite = {e.id: SEEDS[i % N] for i, e in enumerate(train)}
    policy = ScriptedLLM(policy_reply, cache=cache, model="policy")
    feedback = ScriptedLLM(feedback_reply, cache=cache, model="feedback")
    return config, policy, feedback, FakeMetric(favourite, validation), FakeTrainer(), favourite


def run(config, train, valid, policy, feedback, metric, trainer):
    return train_vac(*loop_inputs(config, train, valid, metric, policy=policy, feedback=feedback), trainer=trainer)


def test_feedback_prompts_and_parsing(train):
    example = train[0]
    items = BM25Retriever().retrieve(example, 2)
    asked = feedback_request(example.question, items, "Draft.", example.narrative)
    text = asked.messages[-1].content
    assert asked.prefill == FEEDBACK_PREFILL and example.narrative in text and "Draft." in text
    assert example.question in text and all(item.text in text for item in items)
    assert parse_feedback(FEEDBACK_PREFILL + 'Add costs."}') == "Add costs."
    with pytest.raises(ValueError):
        parse_feedback(FEEDBACK_PREFILL + ' "}')
    revise = revision_request(example.question, items, "Draft.", "Add costs.").messages[-1].content
    assert "Add costs." in revise and "Draft." in revise and example.narrative not in revise


def test_feedback_may_read_the_rubric_aspects_and_the_policy_never_does(tmp_path, train, valid):
    """``feedback_sees_aspects``: the feedback model's prompt (and its SFT rows) lists the
    question's rubric aspects beside the narrative; no policy prompt holds either."""
    config, policy, feedback, metric, trainer, _ = setup(tmp_path, train, feedback_sees_aspects=True)
    run(config.model_copy(update={"iterations": 1}), train, valid, policy, feedback, metric, trainer)
    by_question = {e.question: e for e in train}
    for request, _, _ in feedback.received:
        example = next(e for q, e in by_question.items() if q in request.messages[-1].content)
        assert all(f"- {a.aspect}" in request.messages[-1].content for a in example.rubric_aspects)
    feedback_job = trainer.jobs[0]
    assert feedback_job["dir"].name == "feedback_model" and feedback_job["rows"]
    for row in feedback_job["rows"]:
        prompt = row["messages"][-2]["content"]
        example = next(e for q, e in by_question.items() if q in prompt)
        assert all(f"- {a.aspect}" in prompt for a in example.rubric_aspects)
    for request, _, _ in policy.received:  # the scripted feedback never echoes its prompt
        assert not any(a.aspect in request.messages[-1].content or e.narrative in request.messages[-1].content
                       for e in train for a in e.rubric_aspects)
    plain = feedback_request(train[0].question, [], "Draft.", train[0].narrative).messages[-1].content
    assert train[0].rubric_aspects[0].aspect not in plain  # the paper's input: the narrative alone


def test_best_of_n_picks_the_feedback_whose_revision_scored_highest(tmp_path, train, valid):
    config, policy, feedback, metric, trainer, favourite = setup(tmp_path, train)
    run(config, train, valid, policy, feedback, metric, trainer)
    out = tmp_path / "run" / "iter_1"
    sampled = [json.loads(line) for line in (out / "feedbacks.jsonl").read_text().splitlines()]
    assert len(sampled) == N * len(train) and metric.calls[1] == N * len(train)  # one score_batch over all revisions
    chosen = {row["id"]: row for row in map(json.loads, (out / "chosen_feedback.jsonl").read_text().splitlines())}
    for example in train:
        assert chosen[example.id]["seed"] == favourite[example.id] and chosen[example.id]["score"] == 1.0
    feedback_job, policy_job = trainer.jobs[:2]
    assert feedback_job["dir"] == out / "feedback_model" and feedback_job["init"] is None
    for example, row in zip(train, feedback_job["rows"]):
        target = json.loads(row["messages"][-1]["content"])
        assert target == {"feedback": f"note from seed {favourite[example.id]} at t=1.0"}
        assert row["messages"][-1]["content"].startswith(FEEDBACK_PREFILL)
        assert example.narrative in row["messages"][-2]["content"]


def test_feedback_samples_use_distinct_seeds_at_temperature_one(tmp_path, train, valid):
    config, policy, feedback, metric, trainer, _ = setup(tmp_path, train, validation=(0.3, 0.6))
    run(config.model_copy(update={"iterations": 1}), train, valid, policy, feedback, metric, trainer)
    sampled = [(r, p) for r, p, _ in feedback.received if p.temperature == 1.0]
    assert len(sampled) == N * len(train) and {p.seed for _, p in sampled} == set(SEEDS)
    greedy = [(p, adapter) for _, p, adapter in feedback.received if p.temperature == 0.0]
    assert len(greedy) == len(train) and {adapter for _, adapter in greedy} == {str(tmp_path / "run" / "iter_1" / "feedback_model" / "adapter")}


def test_policy_learns_the_revisions_from_narrative_free_inputs(tmp_path, train, valid):
    config, policy, feedback, metric, trainer, _ = setup(tmp_path, train)
    run(config, train, valid, policy, feedback, metric, trainer)
    policy_jobs = [job for job in trainer.jobs if job["dir"].name == "policy_model"]
    assert [job["init"] for job in policy_jobs] == [None, str(tmp_path / "run" / "iter_1" / "policy_model" / "adapter")]
    revised = [json.loads(line) for line in (tmp_path / "run" / "iter_1" / "revised.jsonl").read_text().splitlines()]
    for row, rev in zip(policy_jobs[0]["rows"], revised):
        assert json.loads(row["messages"][-1]["content"]) == {"personalized_answer": rev["revision"]}
        assert rev["revision"] == f"Revised following: {rev['feedback']}."
    inputs = ["\n".join(m["content"] for m in row["messages"][:-1]) for job in policy_jobs for row in job["rows"]]
    prompts = inputs + policy.prompts()
    assert assert_no_hidden_text(train + valid, prompts) > 20
    assert any(e.narrative in p for e in train for p in feedback.prompts())


def test_dpo_policy_prefers_the_revision_over_the_initial_answer(tmp_path, train, valid):
    config, policy, feedback, metric, sft, _ = setup(tmp_path, train, policy_objective="dpo")
    dpo = FakeTrainer()
    train_vac(*loop_inputs(config, train, valid, metric, policy=policy, feedback=feedback), trainer=sft, dpo_trainer=dpo)
    assert [job["dir"].name for job in sft.jobs] == ["feedback_model"] * 2
    assert [job["dir"].name for job in dpo.jobs] == ["policy_model"] * 2
    assert dpo.jobs[1]["init"] == str(tmp_path / "run" / "iter_1" / "policy_model" / "adapter")
    out = tmp_path / "run" / "iter_1"
    initial = [json.loads(line) for line in (out / "initial.jsonl").read_text().splitlines()]
    revised = [json.loads(line) for line in (out / "revised.jsonl").read_text().splitlines()]
    rows = dpo.jobs[0]["rows"]
    assert rows == [json.loads(line) for line in (out / "policy_dpo.jsonl").read_text().splitlines()] and len(rows) == len(train)
    for example, row, first, rev in zip(train, rows, initial, revised):
        assert [m["role"] for m in row["chosen"] + row["rejected"]] == ["assistant", "assistant"]
        assert json.loads(row["chosen"][0]["content"]) == {"personalized_answer": rev["revision"]}
        assert json.loads(row["rejected"][0]["content"]) == {"personalized_answer": first["answer"]}
        assert rev["revision"] != first["answer"] and example.question in row["prompt"][-1]["content"]
        assert all(example.narrative not in m["content"] for m in row["prompt"])


def test_frozen_feedback_model_is_never_trained(tmp_path, train, valid):
    config, policy, feedback, metric, trainer, _ = setup(tmp_path, train, train_feedback=False)
    result = run(config, train, valid, policy, feedback, metric, trainer)
    assert [job["dir"].name for job in trainer.jobs] == ["policy_model", "policy_model"]
    assert result.feedback_adapters == [None, None]
    assert {adapter for _, _, adapter in feedback.received} == {None}
    assert {p.temperature for _, p, _ in feedback.received} == {0.0}
    assert not (tmp_path / "run" / "iter_1" / "feedbacks.jsonl").exists()


def test_history_keeps_validation_scores_and_the_best_iteration(tmp_path, train, valid):
    config, policy, feedback, metric, trainer, _ = setup(tmp_path, train)
    result = run(config, train, valid, policy, feedback, metric, trainer)
    assert result.validation == [0.3, 0.6, 0.4] and result.best_iteration == 1
    assert result.best_adapter == str(tmp_path / "run" / "iter_1" / "policy_model" / "adapter")
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [history["validation"][t]["score"] for t in "012"] == [0.3, 0.6, 0.4]
    assert history["best_iteration"] == 1 and history["best_adapter"] == result.best_adapter
    stages = history["stages"]
    assert stages["iter_1/initial"]["calls"] == {"policy": len(train), "feedback": 0}
    assert stages["iter_1/feedbacks"]["calls"] == {"policy": N * len(train), "feedback": N * len(train)}
    assert all(stage["seconds"] >= 0 for stage in stages.values()) and "iter_2/train_policy" in stages


def test_rerun_with_the_same_config_calls_no_model_and_trains_nothing(tmp_path, train, valid):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    config, policy, feedback, metric, trainer, _ = setup(tmp_path, train, cache=cache)
    first = run(config, train, valid, policy, feedback, metric, trainer)
    assert policy.usage.requests and feedback.usage.requests
    history = (tmp_path / "run" / "history.json").read_text()
    config, policy, feedback, metric, _, _ = setup(tmp_path, train, cache=cache)
    again = run(config, train, valid, policy, feedback, metric, trainer)
    assert policy.received == feedback.received == [] and metric.calls == []
    assert policy.usage.requests == feedback.usage.requests == 0
    assert len(trainer.jobs) == 8 and all(job["reused"] for job in trainer.jobs[4:])
    assert again == first and json.loads((tmp_path / "run" / "history.json").read_text()) == json.loads(history)
    shorter = run(config.model_copy(update={"iterations": 1}), train, valid, policy, feedback, metric, trainer)
    assert shorter.validation == first.validation[:2] and policy.received == [] and trainer.jobs[-1]["reused"]
    with pytest.raises(TailorError, match="other settings"):
        run(config.model_copy(update={"n_feedback": 2}), train, valid, policy, feedback, metric, trainer)


def test_vac_method_answers_with_the_policy_adapter_alone(train):
    llm = ScriptedLLM(json_answer)
    method = make_method(MethodConfig("vac", llm, BM25Retriever(), adapters={"policy": "policy"}))
    answers = method.answer_batch(train[:2])
    assert method.name == "vac" and [a.text for a in answers] == ["An answer."] * 2
    assert {adapter for _, _, adapter in llm.received} == {"policy"}


@pytest.mark.model
def test_one_real_vac_round_on_the_offline_model(tmp_path, hf_llm, train, valid):
    """T=1, N=2 on three questions with SmolLM2, the proxy metric and two SFT steps per model."""
    from tailor.metrics.registry import make_metric
    from tailor.train.sft import train_sft

    tiny = SFTSettings.cpu_sample().model_copy(update={"batch_size": 2, "per_device_batch_size": 2, "max_steps": 2, "eval_steps": 2})
    config = VACConfig(
        iterations=1, n_feedback=2, k=2, feedback_max_tokens=32, answer_max_tokens=48, max_attempts=1, sft=tiny, run_dir=tmp_path / "run"
    )
    result = train_vac(*loop_inputs(config, train[:3], valid[:2], make_metric("proxy", None), policy=hf_llm), trainer=train_sft)
    out = tmp_path / "run" / "iter_1"
    assert len(result.validation) == 2 and all(0.0 <= v <= 1.0 for v in result.validation)
    assert (out / "feedback_model" / "adapter" / "adapter_config.json").exists()
    assert (out / "policy_model" / "adapter" / "adapter_config.json").exists()
    assert len((out / "feedbacks.jsonl").read_text().splitlines()) == 6
    assert result.best_iteration in (0, 1)


_CHILD = """
import sys, time
sys.path.insert(0, {tests!r})
from pathlib import Path
import test_vac as t
from tailor.data import SAMPLE_LAMPQA, load_examples
from tailor.llm.cache import ResponseCache

train = load_examples(SAMPLE_LAMPQA, split="train")[:5]
valid = load_examples(SAMPLE_LAMPQA, split="validation")[:3]
config, policy, feedback, metric, trainer, _ = t.setup(Path({tmp!r}), train, cache=ResponseCache({cache!r}))
for llm in (policy, feedback):  # slow enough that the kill lands mid-stage
    reply = llm.reply
    llm.reply = lambda r, p, j, reply=reply: (time.sleep(0.05), reply(r, p, j))[1]
t.run(config, train, valid, policy, feedback, metric, trainer)
"""


def test_sigkill_mid_iteration_then_resume_repeats_no_backend_call(tmp_path, train, valid):
    import signal
    import sqlite3
    import subprocess
    import sys
    import time
    from pathlib import Path

    from tailor.llm.base import adapter_fingerprint
    from tailor.llm.cache import cache_key

    killed_dir, cache_path = tmp_path / "killed", tmp_path / "cache.sqlite"
    killed_dir.mkdir()
    code = _CHILD.format(tests=str(Path(__file__).parent), tmp=str(killed_dir), cache=str(cache_path))
    child = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 120
    entries = 0
    while time.time() < deadline and child.poll() is None:
        try:  # the child may not have created the file or its table yet
            with sqlite3.connect(f"file:{cache_path}?mode=ro", uri=True, timeout=30) as db:
                entries = db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
        except sqlite3.OperationalError:
            pass
        if entries >= 15:  # past pi_0's validation and the initial answers, inside feedback sampling
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    assert child.returncode == -signal.SIGKILL and entries >= 15
    assert not (killed_dir / "run" / "iter_1" / "feedbacks.jsonl").exists()  # really killed mid-iteration
    with sqlite3.connect(cache_path) as db:
        done_before_kill = {row[0] for row in db.execute("SELECT key FROM completions")}

    config, policy, feedback, metric, trainer, _ = setup(killed_dir, train, cache=ResponseCache(cache_path))
    run(config, train, valid, policy, feedback, metric, trainer)
    for llm in (policy, feedback):
        for request, params, adapter in llm.received:
            assert cache_key(llm.model_id, adapter_fingerprint(adapter), request, params) not in done_before_kill

    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    config, policy, feedback, metric, trainer, _ = setup(fresh_dir, train, cache=ResponseCache(tmp_path / "fresh.sqlite"))
    run(config, train, valid, policy, feedback, metric, trainer)
    for t in (1, 2):
        for name in ("initial.jsonl", "feedbacks.jsonl", "chosen_feedback.jsonl", "revised.jsonl", "policy_sft.jsonl"):
            resumed = (killed_dir / "run" / f"iter_{t}" / name).read_text()
            assert resumed == (fresh_dir / "run" / f"iter_{t}" / name).read_text(), (t, name)


def test_training_signal_scores_the_initial_answers_against_the_policy_targets(tmp_path, train, valid):
    config, policy, feedback, metric, trainer, _ = setup(tmp_path, train)
    run(config, train, valid, policy, feedback, metric, trainer)
    out = tmp_path / "run" / "iter_2"
    revised = {r["id"]: r["revision"] for r in map(json.loads, (out / "revised.jsonl").read_text().splitlines())}
    signal = [json.loads(line) for line in (out / "train_scores.jsonl").read_text().splitlines()]
    assert [row["id"] for row in signal] == [e.id for e in train]
    for example, row in zip(train, signal):
        assert row["initial"] == INITIAL_SCORE and row["revised"] == metric.revision_score(example, revised[example.id])
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["stages"]["iter_2/train_scores"]["calls"] == {"policy": 0, "feedback": 0}
    assert history["metric"] == {"name": "fake", "proxy": False}


def test_the_signal_counts_the_questions_none_of_whose_sampled_revisions_scored(tmp_path):
    """Where every one of a question's N revisions scores 0 (or none parsed), the paper's
    argmax has nothing to choose and trains φ on whichever feedback came first."""
    folder = StageFolder(tmp_path)
    sampled = [("q1", 0.0), ("q1", 0.0), ("q2", 0.0), ("q2", 0.5), ("q3", None), ("q3", 0.0), ("q4", 1.0), ("q4", None)]
    write_jsonl(folder.of(FEEDBACKS), [{"id": i, "j": j % 2, "score": s} for j, (i, s) in enumerate(sampled)])
    write_jsonl(folder.of(TRAIN_SCORES), [{"id": i, "initial": 0.0, "revised": 0.0} for i in ("q1", "q2", "q3", "q4")])
    assert read_signal(folder, 1)["no_signal"] == 0.5
    (tmp_path / FEEDBACKS.name).unlink()  # frozen feedback samples nothing
    assert read_signal(folder, 1)["no_signal"] is None


def test_resume_reads_the_settings_the_run_started_with(tmp_path, train, valid):
    config, policy, feedback, metric, trainer, _ = setup(tmp_path, train, validation=(0.3, 0.6))
    run(config.model_copy(update={"iterations": 1, "n_feedback": 2}), train, valid, policy, feedback, metric, trainer)
    resumed = VACConfig.resume(tmp_path / "run")
    assert resumed.n_feedback == 2 and resumed.iterations == 1 and resumed.run_dir == tmp_path / "run"
    extended = resumed.model_copy(update={"iterations": 2, "variants": {"frozen": {"train_feedback": False}}})  # settings no stage depends on
    metric.validation = [0.5]
    assert len(run(extended, train, valid, policy, feedback, metric, trainer).validation) == 3
    with pytest.raises(TailorError, match="no run to resume"):
        VACConfig.resume(tmp_path / "elsewhere")


def test_variants_run_in_their_own_folders(tmp_path, train):
    config, *_ = setup(tmp_path, train, variants={"frozen": {"train_feedback": False}})
    (main, same), (name, frozen) = config.runs()
    assert main == "main" and same is config and name == "frozen"
    assert frozen.run_dir == tmp_path / "run" / "frozen" and not frozen.train_feedback and frozen.variants == {}
    assert frozen.staged() == config.staged() | {"train_feedback": False}
    for bad, message in (({"main": {}}, "plain folder name"), ({"x": {"n_feedbak": 2}}, "variant 'x'")):
        with pytest.raises(TailorError, match=message):
            config.model_copy(update={"variants": bad}).runs()


def test_output_that_does_not_parse_never_becomes_a_target_and_is_counted(tmp_path, train, valid):
    """The feedback model's favourite sample for train[0] never parses (its raw text would
    score best), nor does the policy's revision of train[1] in stage (f)."""
    config, policy, feedback, metric, trainer, favourite = setup(tmp_path, train)
    config = config.model_copy(update={"iterations": 1})
    first, second = train[0], train[1]

    def broken_feedback(request, params, j):
        if first.question in request.messages[-1].content and params.seed - params.seed % MAX_ATTEMPTS == favourite[first.id]:
            return f'"}} note from seed {favourite[first.id]} in the wrong place'
        return feedback_reply(request, params, j)

    def broken_revision(request, params, j):
        prompt = request.messages[-1].content
        if second.question in prompt and "at t=0.0" in prompt:
            return '"} Revised following: note from seed 0 in the wrong place'
        return policy_reply(request, params, j)

    policy, feedback = ScriptedLLM(broken_revision, model="policy"), ScriptedLLM(broken_feedback, model="feedback")
    run(config, train, valid, policy, feedback, metric, trainer)
    out = tmp_path / "run" / "iter_1"
    chosen = {row["id"]: row for row in map(json.loads, (out / "chosen_feedback.jsonl").read_text().splitlines())}
    assert chosen[first.id]["seed"] != favourite[first.id] and chosen[first.id]["score"] < 1.0
    feedback_job, policy_job = trainer.jobs[:2]
    assert not any("wrong place" in row["messages"][-1]["content"] for row in feedback_job["rows"])
    # stage (f): phi's greedy feedback for train[0] (seed 0) does not parse either, and train[1]'s revision does not
    assert len(policy_job["rows"]) == len(train) - 2 and not any("wrong place" in row["messages"][-1]["content"] for row in policy_job["rows"])
    stages = json.loads((tmp_path / "run" / "history.json").read_text())["stages"]
    assert stages["iter_1/feedbacks"]["unparsed"] == 1 and stages["iter_1/revised"]["unparsed"] == 2 and stages["iter_1/initial"]["unparsed"] == 0
    from tailor.train.report import write_run_report

    report = write_run_report(tmp_path / "run").markdown.read_text()
    assert "Unparsed (left out)" in report and "| trained: iter_1/revised |" in report


def test_each_training_stage_holds_out_rows_and_keeps_its_best_checkpoint_by_their_loss(tmp_path, train, valid):
    config, policy, feedback, metric, trainer, _ = setup(tmp_path, train, holdout=0.4)
    config = config.model_copy(update={"iterations": 1})
    run(config, train, valid, policy, feedback, metric, trainer)
    for job in trainer.jobs:
        assert len(job["eval_rows"]) == 2 and len(job["rows"]) == len(train) - 2  # 40% of 5 rows
        assert not any(row in job["rows"] for row in job["eval_rows"])
    stages = json.loads((tmp_path / "run" / "history.json").read_text())["stages"]
    assert stages["iter_1/train_policy"]["best_eval_loss"] == 0.5 and stages["iter_1/train_policy"]["eval_rows"] == 2
    from tailor.train.report import write_run_report

    assert "Held-out rows" in write_run_report(tmp_path / "run").markdown.read_text()
