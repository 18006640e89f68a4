"""The oracle that writes REST-PG's reasoning data (``reasoner: oracle``) and RPO's
trajectories (``teacher: oracle``) from the planted task's hidden facts: what it writes,
that its targets take the path a model's take (read, filtered and checked alike) and reach
SFT, that every run using it says so, and that no hidden field (planted facts, narrative,
rubric aspects) nor anything the oracle wrote ever reaches a generation prompt."""

import json

import pytest
from fakes import ScriptedLLM, loop_inputs
from test_vac import FakeTrainer

from tailor.data.schema import Aspect, Example, PlantedFact, ProfileItem
from tailor.errors import TailorError
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.prompts.longform import RESPONSE_HEAD, compose
from tailor.train.grpo import GRPOSettings
from tailor.train.oracle import oracle_reasoning
from tailor.train.report import write_run_report
from tailor.train.rest_em import RestEMConfig, train_rest_em
from tailor.train.rpo import RPOConfig, train_rpo
from tailor.train.sft import SFTResult, SFTSettings

CITIES, PETS = ("Lisbon", "Osaka", "Denver", "Oslo", "Perth", "Lyon"), ("Biscuit", "Miso", "Pepper", "Tofu", "Ziggy", "Mabel")
# hidden text no prompt may hold: the narrative's, the aspects', and phrasings only the planted facts list
SECRETS = ("NARRATIVE-SECRET", "ASPECT-SECRET", "REASON-SECRET", "EVIDENCE-SECRET", "ACCEPT-SECRET", "RIVAL-SECRET")


def user_example(split: str, u: int, q: int) -> Example:
    """A v2-shaped planted example: user u's city, pet and diet stated in their posts; the
    question needs the city and the pet (q=1) or the diet (q=2)."""
    city, pet = CITIES[u % len(CITIES)], PETS[u % len(PETS)]
    facts = [
        PlantedFact(kind="city", value=city, accept=[city, "ACCEPT-SECRET city"], rivals=["RIVAL-SECRET town", *(c for c in CITIES if c != city)]),
        PlantedFact(kind="pet", value=pet, accept=[pet], rivals=["RIVAL-SECRET pet"], species="rabbit"),
        PlantedFact(kind="diet", value="vegan", accept=["vegan", "ACCEPT-SECRET diet"], rivals=["vegetarian", "RIVAL-SECRET diet"]),
    ]
    posts = [f"Moved to {city} last spring.", f"{pet}, my rabbit, chewed a cable.", "Being vegan makes lunches tricky.", "Finished a jigsaw puzzle."]
    needs = ("city", "pet") if q == 1 else ("diet",)
    question = "Where should I take my pet this weekend?" if q == 1 else "What should I cook tonight?"
    reference = f"Take {pet} to a park in {city} early in the morning." if q == 1 else "Make a vegan stir-fry with noodles and greens."
    return Example(
        id=f"{split}-u{u}-q{q}", user_id=f"{split}-u{u}", question=question, reference=reference,
        profile=[ProfileItem(id=f"{split}-u{u}-p{i}", text=t) for i, t in enumerate(posts)],
        narrative=f"NARRATIVE-SECRET: I live in {city}.",
        rubric_aspects=[Aspect(aspect=f"ASPECT-SECRET {kind}", reason="REASON-SECRET", evidence="EVIDENCE-SECRET", fact=kind) for kind in needs],
        planted_facts=facts,
    )


@pytest.fixture(scope="module")
def planted():
    return [user_example("train", u, q) for u in range(4) for q in (1, 2)], [user_example("valid", u, q) for u in range(4, 6) for q in (1, 2)]


class NamesFacts(Metric):
    """The share of the needed facts' values a response names; records what it scored."""

    name = "names-facts"

    def __init__(self):
        self.seen = []

    def score_batch(self, examples, responses):
        self.seen += responses
        values = []
        for e, r in zip(examples, responses):
            needed = [f.value for f in e.planted_facts if f.kind in {a.fact for a in e.rubric_aspects}]
            values.append(sum(v in r for v in needed) / len(needed))
        return MetricRun(self.name, [e.id for e in examples], [Score(v) for v in values])


def every_prompt(*models: ScriptedLLM) -> list[str]:
    return [f"{p}\n{r.prefill or ''}" for m in models for r, p in zip([r for r, _, _ in m.received], m.prompts())]


def test_the_oracle_states_the_facts_the_question_needs_and_refuses_data_without_them(planted):
    train, _ = planted
    assert oracle_reasoning(train[0]) == (
        "- The user lives in Lisbon, so the answer should be set there.\n"
        "- The user's rabbit is called Biscuit, so the answer should name Biscuit."
    )
    assert oracle_reasoning(train[1]) == "- The user eats vegan food, so the food should be vegan."
    with pytest.raises(TailorError, match="train-u0-q1: the oracle writes from planted_facts, which this data lacks"):
        oracle_reasoning(train[0].model_copy(update={"planted_facts": []}))
    with pytest.raises(TailorError, match="asks for the user's diet, which its planted_facts do not hold"):
        oracle_reasoning(train[1].model_copy(update={"planted_facts": train[1].planted_facts[:2]}))


def policy_reply(request, params, j):
    return f"- the user has a pet\n\n{RESPONSE_HEAD}\nA plan from seed {params.seed}." if request.prefill else f"A plan from seed {params.seed}."


def test_rest_pg_warms_up_on_the_oracle_s_reasoning_and_says_so(tmp_path, planted):
    train, valid = planted
    config = RestEMConfig(
        iterations=1, samples=2, k=2, max_attempts=1, sft=SFTSettings.cpu_sample(), run_dir=tmp_path / "run", format="longform-reasoning",
        warmup="reasoning", reasoner="oracle", sample_temperature=0.7, threshold=0.0, max_per_input=2,
    )
    policy, trainer = ScriptedLLM(policy_reply, model="policy"), FakeTrainer()
    train_rest_em(*loop_inputs(config, train, valid, NamesFacts(), policy=policy), trainer=trainer)
    warm = trainer.jobs[0]["rows"] + (trainer.jobs[0]["eval_rows"] or [])
    assert sorted(row["messages"][-1]["content"] for row in warm) == sorted(compose(oracle_reasoning(e), e.reference) for e in train)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert list(history["oracle"]) == ["reasoner"] and "an oracle, not a model" in history["oracle"]["reasoner"]
    assert "**Oracle** (main): reasoner, written from the example's planted facts" in write_run_report(config.run_dir, train, valid).markdown.read_text()
    assert "oracle" in RestEMConfig.model_fields["reasoner"].description and "not REST-PG's result" in RestEMConfig.model_fields["reasoner"].description
    assert_nothing_hidden_asked(train + valid, policy)
    with pytest.raises(ValueError, match="needs warmup: reasoning"):
        RestEMConfig(reasoner="oracle", format="longform", warmup="reference")


class CountingLLM(ScriptedLLM):
    """A scripted model whose tokenizer counts words."""

    def count_tokens(self, text):
        return len(text.split())


class FakeRL:
    def __init__(self):
        self.jobs = []

    def __call__(self, model, rows, settings, output_dir, reward, reward_name, init_adapter=None, reference_adapter=None):
        self.jobs.append(rows)
        (output_dir / "adapter").mkdir(parents=True, exist_ok=True)
        return SFTResult(str(output_dir / "adapter"), None, 1, 0.0, len(rows))


def rpo_run(tmp_path, planted, **overrides):
    train, valid = planted
    config = RPOConfig(**{
        "iterations": 1, "k": 2, "max_attempts": 1, "sft": SFTSettings.cpu_sample(), "run_dir": tmp_path / "run", "teacher": "oracle",
        "rl": GRPOSettings(num_generations=2, batch_size=2, per_device_batch_size=2), **overrides,
    })
    models = dict(policy=CountingLLM(lambda r, p, j: " Name the park.</think><personalized>A park walk.</personalized>", model="reflection"),
                  base=ScriptedLLM(lambda r, p, j: "Go for a walk somewhere nice.", model="base"))
    sft = FakeTrainer()
    train_rpo(*loop_inputs(config, train, valid, NamesFacts(), **models), trainer=sft, rl_trainer=FakeRL())
    return models, sft


def test_rpo_trains_on_the_oracle_s_trajectories_read_and_checked_as_a_teacher_s(tmp_path, planted):
    train, valid = planted
    models, sft = rpo_run(tmp_path, planted)
    rows = sft.jobs[0]["rows"] + (sft.jobs[0]["eval_rows"] or [])
    assert sorted(row["messages"][-1]["content"] for row in rows) == sorted(
        f"<think>{oracle_reasoning(e)}</think>\n<personalized>{e.reference}</personalized>" for e in train
    )
    saved = [json.loads(line) for line in (tmp_path / "run" / "trajectories.jsonl").read_text().splitlines()]
    assert all(row["parsed"] for row in saved) and saved[0]["raw"].startswith("<think>- The user lives in Lisbon")
    assert "teacher" in json.loads((tmp_path / "run" / "history.json").read_text())["oracle"]
    assert_nothing_hidden_asked(train + valid, *models.values())

    # the paper's brevity check holds for the oracle too: reasoning longer than the budget is cut off, and refused
    with pytest.raises(TailorError, match=r"teacher \(oracle\) wrote no usable trajectory.*8 refused \(8: the reasoning never ends"):
        rpo_run(tmp_path / "short", planted, trajectory_max_tokens=8)


def assert_nothing_hidden_asked(examples: list[Example], *models: ScriptedLLM) -> None:
    """No prompt holds a narrative, an aspect or a planted fact's own phrasing, nor a line
    the oracle wrote: those are training targets only."""
    prompts = every_prompt(*models)
    assert any(item.text in p for e in examples for item in e.profile for p in prompts)  # the prompts checked hold the users' posts
    oracle_lines = {line for e in examples for line in oracle_reasoning(e).splitlines()}
    leaked = [s for s in (*SECRETS, *oracle_lines) if any(s in p for p in prompts)]
    assert not leaked, leaked


def test_the_learning_recipes_name_what_the_oracle_writes():
    restpg, rpo = RestEMConfig.from_yaml("configs/learn-restpg.yaml"), RPOConfig.from_yaml("configs/learn-rpo.yaml")
    assert restpg.reasoner == "oracle" and restpg.answer_reasoning_max_tokens and rpo.teacher == "oracle"
    (_, main), (name, variant) = restpg.runs()
    assert name == "rest-em" and variant.reasoner is None and variant.answer_reasoning_max_tokens is None
    for recipe, key in (("configs/learn-restpg.yaml", "reasoner"), ("configs/learn-rpo.yaml", "teacher")):
        lines = open(recipe).read().splitlines()
        assert any(line.startswith("# - ORACLE:") for line in lines), recipe  # the header says what the oracle replaces
        assert any(line.startswith(f"{key}: oracle") and "# ORACLE" in line for line in lines), recipe  # and so does the key's line
