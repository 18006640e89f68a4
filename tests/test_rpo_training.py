"""RPO training: the teacher's trajectories become SFT targets ending in the true output,
the RL curriculum widens k stage by stage anchored to the SFT policy, and the reward
scores the personalized part only."""

import json
import re

import pytest
from fakes import ScriptedLLM, loop_inputs
from test_vac import FakeTrainer

from tailor.data import SAMPLE_LAMP, load_examples
from tailor.errors import TailorError
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.train.grpo import GRPOSettings
from tailor.train.rpo import RPOConfig, train_rpo
from tailor.train.sft import SFTResult, SFTSettings

TASK = SAMPLE_LAMP / "LaMP-5" / "user"


@pytest.fixture(scope="module")
def lamp():
    return load_examples(TASK, split="train")[:4], load_examples(TASK, split="validation")[:2]


def base_reply(request, params, j):
    return "A Study of Walls"


def teacher_reply(request, params, j):
    """Continues '<think>'; the first input's trajectory has no reasoning."""
    if "dry-stone" in request.messages[-1].content:
        return " </think><personalized>copied</personalized>"
    return " The user likes colons.</think><personalized>copied</personalized>"


def reflection_reply(request, params, j):
    return " Use their style.</think><personalized>Towards Walls: A Study</personalized>"


class Overlap(Metric):
    """1.0 when the response shares a word with the reference, else 0.0; records what it saw."""

    name = "overlap"

    def __init__(self):
        self.seen = []

    def score_batch(self, examples, responses):
        self.seen += responses
        values = [float(bool(set(r.lower().split()) & set(e.reference.lower().split()))) for e, r in zip(examples, responses)]
        return MetricRun(self.name, [e.id for e in examples], [Score(v) for v in values])


class FakeRL:
    """Records each RL stage and scores two scripted completions per prompt with its reward."""

    def __init__(self):
        self.jobs = []

    def __call__(self, model, rows, settings, output_dir, reward, reward_name, init_adapter=None, reference_adapter=None):
        completions = ["<think>x</think><personalized>Learning Walls</personalized>", "no tags"] * len(rows)
        rewards = reward(completions, id=[row["id"] for row in rows for _ in range(2)])
        self.jobs.append({"rows": rows, "dir": output_dir, "init": init_adapter, "reference": reference_adapter, "rewards": rewards, "name": reward_name})
        (output_dir / "adapter").mkdir(parents=True, exist_ok=True)
        return SFTResult(str(output_dir / "adapter"), None, 1, 0.0, len(rows))


def setup(tmp_path, **overrides):
    settings = dict(iterations=3, epochs_per_step=1, k=3, max_attempts=1, sft=SFTSettings.cpu_sample(), run_dir=tmp_path / "run",
                    rl=GRPOSettings(num_generations=2, batch_size=2, per_device_batch_size=2))
    config = RPOConfig(**(settings | overrides))
    models = dict(policy=ScriptedLLM(reflection_reply, model="reflection"), base=ScriptedLLM(base_reply, model="base"), teacher=ScriptedLLM(teacher_reply, model="teacher"))
    return config, models, Overlap(), FakeTrainer(), FakeRL()


def test_trajectories_end_in_the_true_output_and_unreadable_ones_are_dropped(tmp_path, lamp):
    train, valid = lamp
    config, models, metric, sft, rl = setup(tmp_path)
    train_rpo(*loop_inputs(config, train, valid, metric, **models), trainer=sft, rl_trainer=rl)
    rows = sft.jobs[0]["rows"]
    assert len(rows) == len(train) - 1  # the first trajectory has no reasoning
    for example, row in zip(train[1:], rows):
        assert row["messages"][-1]["content"] == f"<think>The user likes colons.</think>\n<personalized>{example.reference}</personalized>"
        prompt = row["messages"][-2]["content"]
        assert "A Study of Walls" in prompt and example.reference not in prompt and len(re.findall(r"^\[\d+\]", prompt, re.M)) == 1
    teacher_prompts = models["teacher"].prompts()
    assert all(e.reference in p for e, p in zip(train, teacher_prompts))
    saved = [json.loads(line) for line in (tmp_path / "run" / "trajectories.jsonl").read_text().splitlines()]
    assert [r["parsed"] for r in saved] == [False, True, True, True] and saved[0]["error"] == "empty reasoning"


def test_a_teacher_that_writes_no_usable_trajectory_stops_the_run_with_the_reasons(tmp_path, lamp):
    """SmolLM2-135M as teacher loops or runs out of tokens on every input: that is an error
    naming the count, the reasons and where the trajectories are, not an SFT on nothing."""
    train, valid = lamp
    config, models, metric, sft, rl = setup(tmp_path)
    looping = iter(range(len(train)))
    models["teacher"] = ScriptedLLM(
        lambda request, params, j: " The user's answer is:\nx\nThe user's answer is:</think>" if next(looping) % 2 else " The user likes", model="teacher"
    )
    with pytest.raises(TailorError, match=r"teacher \(teacher\) wrote no usable trajectory.*4 refused \(2: the reasoning never ends .*2: the reasoning repeats a line.*trajectories\.jsonl"):
        train_rpo(*loop_inputs(config, train, valid, metric, **models), trainer=sft, rl_trainer=rl)
    assert not sft.jobs and (tmp_path / "run" / "trajectories.jsonl").exists()


def test_rl_curriculum_widens_k_and_stays_anchored_to_the_sft_policy(tmp_path, lamp):
    train, valid = lamp
    config, models, metric, sft, rl = setup(tmp_path)
    result = train_rpo(*loop_inputs(config, train, valid, metric, **models), trainer=sft, rl_trainer=rl)
    sft_adapter = str(tmp_path / "run" / "sft" / "policy_model" / "adapter")
    shots = [max(len(re.findall(r"^\[\d+\]", row["prompt"][-1]["content"], re.M)) for row in job["rows"]) for job in rl.jobs]
    assert shots == [2, 3, 4]
    assert [job["reference"] for job in rl.jobs] == [sft_adapter] * 3
    assert [job["init"] for job in rl.jobs] == [sft_adapter, str(rl.jobs[0]["dir"] / "adapter"), str(rl.jobs[1]["dir"] / "adapter")]
    # the whole curriculum is one epoch: each stage takes its own slice of the training inputs
    stage_ids = [[row["id"] for row in job["rows"]] for job in rl.jobs]
    assert sorted(i for ids in stage_ids for i in ids) == sorted(e.id for e in train) and all(stage_ids)
    # the personalized part is scored; an unreadable completion earns 0
    assert all(job["rewards"][1::2] == [0.0] * len(job["rows"]) for job in rl.jobs) and rl.jobs[0]["name"] == "overlap"
    assert "Learning Walls" in metric.seen and "no tags" not in metric.seen
    assert len(result.validation) == 4 and result.adapters[0] == sft_adapter


def test_validation_runs_base_then_reflection_with_each_policy(tmp_path, lamp):
    train, valid = lamp
    config, models, metric, sft, rl = setup(tmp_path, iterations=1)
    train_rpo(*loop_inputs(config, train, valid, metric, **models), trainer=sft, rl_trainer=rl)
    adapters = {adapter for _, _, adapter in models["policy"].received}
    assert adapters == {str(tmp_path / "run" / "sft" / "policy_model" / "adapter"), str(tmp_path / "run" / "iter_1" / "policy_model" / "adapter")}
    rows = [json.loads(line) for line in (tmp_path / "run" / "iter_1" / "validation.jsonl").read_text().splitlines()]
    assert [r["response"] for r in rows] == ["Towards Walls: A Study"] * len(valid)


def test_training_needs_true_outputs(tmp_path, lamp):
    train, valid = lamp
    config, models, metric, sft, rl = setup(tmp_path)
    with pytest.raises(TailorError, match="RPO: .*true output.* no reference"):
        train_rpo(*loop_inputs(config, [train[0].model_copy(update={"reference": None})], valid, metric, **models), trainer=sft, rl_trainer=rl)


def test_recipes_load():
    sample, paper = RPOConfig.from_yaml("configs/rpo-sample-cpu.yaml"), RPOConfig.from_yaml("configs/rpo-paper.yaml")
    assert sample.metric == "rouge-l" and sample.rl.num_generations == 2 and sample.base_llm == sample.policy
    assert (paper.iterations, paper.epochs_per_step, paper.rl.num_generations, paper.rl.top_p, paper.sft.learning_rate) == (5, 1, 16, 0.9, 5e-6)
    assert paper.base_llm.backend == "openai" and paper.teacher_llm.backend == "openai"


@pytest.mark.model
def test_one_real_rpo_round_on_the_offline_model(tmp_path, hf_llm, lamp):
    """One SFT step and one GRPO step with SmolLM2 as base and reflection model. The teacher
    is scripted: SmolLM2-135M writes no trajectory that passes the paper's checks (it loops
    until its token budget runs out), which the test above covers."""
    from tailor.metrics.registry import make_metric

    train, valid = lamp
    tiny = dict(batch_size=2, per_device_batch_size=2, max_steps=1, eval_steps=1, learning_rate=1e-3, max_length=1024, gradient_checkpointing=False)
    config = RPOConfig(
        iterations=1, k=2, max_attempts=1, answer_max_tokens=24, trajectory_max_tokens=48, reflection_max_tokens=48, run_dir=tmp_path / "run",
        sft=SFTSettings(**tiny), rl=GRPOSettings(**tiny, num_generations=2, max_completion_length=24),
    )
    result = train_rpo(*loop_inputs(config, train, valid[:1], make_metric("rouge-l", None), policy=hf_llm, teacher=ScriptedLLM(teacher_reply, model="teacher")))
    assert len(result.validation) == 2 and all(0.0 <= v <= 1.0 for v in result.validation)
    for stage in ("sft", "iter_1"):
        assert (tmp_path / "run" / stage / "policy_model" / "adapter" / "adapter_config.json").exists()


def test_trajectory_lines_that_quote_the_true_output_are_dropped():
    from tailor.train.rpo import reasoning_without

    truth = "Towards Stable Walls: A Study"
    raw = "<think>The user likes colons.\nThe user's answer is: Towards Stable Walls: A Study\nKeep it short.</think>"
    assert reasoning_without(raw, truth) == "The user likes colons.\nKeep it short."
    with pytest.raises(ValueError, match="only quotes"):
        reasoning_without("<think>Towards stable walls: a study</think>", truth)


def test_answers_that_fall_back_to_the_generic_one_are_counted_in_validation_and_test(tmp_path, lamp):
    """A reflection that never parses leaves the generic answer as the response: each such
    answer is flagged in the stage's rows and counted as unparsed, not scored silently."""
    train, valid = lamp
    config, models, metric, sft, rl = setup(tmp_path, iterations=1, data=TASK, test_split="test", test_limit=3)
    models["policy"] = ScriptedLLM(lambda request, params, j: "<personalized>\n<personalized>\n", model="reflection")
    train_rpo(*loop_inputs(config, train, valid, metric, **models), trainer=sft, rl_trainer=rl)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["stages"]["iter_0/validation"]["unparsed"] == len(valid) == history["validation"]["0"]["unparsed"]
    assert history["stages"]["test/untrained"]["unparsed"] == 3 == history["test"]["unparsed"][0]
    rows = [json.loads(line) for line in (tmp_path / "run" / "iter_0" / "validation.jsonl").read_text().splitlines()]
    assert [r["parsed"] for r in rows] == [False] * len(valid) and rows[0]["response"] == "A Study of Walls"
