"""Adding a method or a trainer is one new module plus one registry entry: this file is
that module for a toy method, a toy trained method whose second model plays a role no
other method has, and a toy trainer; each test adds the entry and shows every reader of
the registry (eval runner, service catalog, run browser) picking it up."""

import ast
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakes import ScriptedLLM
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict
from test_eval_runner import fake_models, sample_config
from test_service import BEES, ask, make_service, put_user

from tailor.cli.common import role_adapters
from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.eval.runner import run_eval
from tailor.llm import ChatRequest, LLMConfig, SamplingParams
from tailor.methods.base import Answer, Method
from tailor.methods.inference import InferenceSpec
from tailor.methods.registry import METHODS, MethodConfig, MethodInfo, adapter_roles, register
from tailor.metrics import Metric, MetricRun, Score
from tailor.pool import ModelPool
from tailor.runs import RunFolder
from tailor.service.catalog import ModelCatalog
from tailor.train.loop import LoopInputs, LoopTrainer
from tailor.train.stages import LoopConfig, Run
from tailor.train.trainers import TRAINERS, TrainerEntry, label_of

# --- the toy method's module ------------------------------------------------------------------


class Shout(Method):
    """Answers the question in capitals, through the generator."""

    name = "shout"

    def __init__(self, llm):
        self.llm = llm

    def answer_batch(self, examples: list[Example]) -> list[Answer]:
        return [Answer(example.question.upper(), {"shouted": True}) for example in examples]


def build_shout(config: MethodConfig) -> Method:
    return Shout(config.llm)


@pytest.fixture
def shout():
    info = register(MethodInfo("shout", build_shout, "the question, in capitals", retriever=False))
    yield info
    METHODS.pop("shout")


def test_a_registered_method_runs_in_tailor_eval_and_is_served(tmp_path, shout):
    generator, judge = fake_models()
    result = run_eval(sample_config(tmp_path, methods=["nopers", "shout"]), generator=generator, judge=judge)
    assert [r.method for r in result.runs] == ["nopers", "shout"]
    traces = (tmp_path / "run" / "sample" / "test" / "shout" / "traces.jsonl").read_text()
    assert '"shouted": true' in traces and not re.search("[a-z]", traces.split('"answer": "')[1].split('"')[0])
    catalog = ModelCatalog(tmp_path)
    assert "shout" in catalog.names() and catalog.resolve("shout").method == "shout"


# --- the toy trained method's module: its second model plays a new role, "critic" ---------------


class CritiqueOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    critique_tokens: int = 32


class Critique(Method):
    """The generator drafts an answer; the critic (with its trained adapter) rewrites it."""

    name = "critique"

    def __init__(self, llm, critic, adapter: str | None, options: CritiqueOptions):
        self.llm, self.critic, self.adapter, self.options = llm, critic, adapter, options

    def answer_batch(self, examples: list[Example]) -> list[Answer]:
        drafts = self.llm.generate([ChatRequest.of(e.question) for e in examples], SamplingParams(max_tokens=16))
        asked = [ChatRequest.of(f"Improve this answer: {d.text}") for d in drafts]
        critiques = self.critic.generate(asked, SamplingParams(max_tokens=self.options.critique_tokens), adapter=self.adapter)
        return [Answer(c.text, {"draft": d.text}) for d, c in zip(drafts, critiques)]


def build_critique(config: MethodConfig) -> Method:
    return Critique(config.llm, config.helper or config.llm, config.adapter("critic"), config.options)


@pytest.fixture
def critique():
    info = register(MethodInfo("critique", build_critique, "a trained critic rewrites the generator's draft", retriever=False, helper="critic",
                               adapter="critic", options=CritiqueOptions))
    yield info
    METHODS.pop("critique")


def critic_run(root, generator: LLMConfig) -> tuple[str, str]:
    """A run folder as a trainer of the critic would leave it: the adapter it kept and its ``inference.json``."""
    run = root / "critic-run"
    adapter = run / "iter_1" / "critic_model" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    InferenceSpec(method="critique", generator=generator, adapters={"critic": str(adapter)}, options={"critique_tokens": 24}).write(RunFolder(run))
    return str(run), str(adapter)


def critiques(llm: ScriptedLLM) -> list[tuple[int, str | None]]:
    return [(params.max_tokens, adapter) for request, params, adapter in llm.received if request.messages[-1].content.startswith("Improve")]


def test_method_with_a_new_helper_role_is_served_from_its_training_run(tmp_path, critique):
    service = make_service(tmp_path)
    run, adapter = critic_run(service.runs_root, LLMConfig())
    assert "critic" in adapter_roles() and role_adapters([f"critic={run}"]) == {"critic": run}  # `--adapter critic=RUN` on the command line
    with pytest.raises(TailorError, match="ROLE one of policy, planner, reflection, summarizer, critic"):
        role_adapters(["critc=x"])
    with TestClient(service.app, headers=service.headers()) as client:
        put_user(client, "alice", BEES)
        answered = ask(client, "alice", method=f"critique:{run}")
        assert answered.status_code == 200 and answered.json()["trace"]["draft"]
    assert critiques(service.llm) == [(24, adapter)]


def test_method_with_a_new_helper_role_is_evaluated_from_its_training_run(tmp_path, critique):
    config = sample_config(tmp_path, methods=["nopers"])
    run, adapter = critic_run(tmp_path, config.generator)
    rows = [{"name": "critique", "run": run}, {"name": "critique", "label": "critic-adapter", "adapters": {"critic": run}}]
    generator, judge = fake_models()
    result = run_eval(config.model_copy(update={"methods": [config.methods[0].model_validate(row) for row in rows]}), generator=generator, judge=judge)
    assert [r.method for r in result.runs] == ["critique", "critic-adapter"]
    assert set(critiques(generator)) == {(24, adapter)}  # both rows: the critic's adapter and options, from the run


# --- the toy trainer's module -----------------------------------------------------------------


class Length(Metric):
    name = "length"

    def score_batch(self, examples, responses):
        return MetricRun(self.name, [e.id for e in examples], [Score(min(1.0, len(r) / 100)) for r in responses])


@dataclass
class ToyResult:
    validation: list[float]
    best_iteration: int
    best_adapter: str | None


class ToyTrainer(LoopTrainer):
    """Validates the untrained policy and keeps it: the smallest loop there is. It does not
    say what kind of run it makes: its entry in TRAINERS does."""

    config_class = LoopConfig

    def train_one(self, config: LoopConfig, inputs: LoopInputs) -> ToyResult:
        run = Run.open(config, inputs, None)
        validation = [run.validate(0, inputs.valid, None)]
        best, adapter = run.finish(validation, [None])
        return ToyResult(validation, best, adapter)


@pytest.fixture
def toy():
    TRAINERS["toy"] = TrainerEntry("toy", "Toy loop", f"{__name__}:ToyTrainer", None, "validate the untrained policy")
    yield TRAINERS["toy"]
    TRAINERS.pop("toy")


def test_a_registered_trainer_runs_with_the_shared_shape_and_is_named_by_the_browser(tmp_path, toy, monkeypatch):
    config = LoopConfig(train_limit=2, valid_limit=2, iterations=1, k=2, run_dir=tmp_path / "toy", variants={"short": {"answer_max_tokens": 8}})
    pool = ModelPool(config.policy)
    pool.provide(config.policy, ScriptedLLM(lambda request, params, j: 'An answer long enough to score."}'))
    pool.provide_metric(Length(), name=config.metric)
    with monkeypatch.context() as run_only:  # the kind of each run comes from the entry, never read back from its folder
        run_only.setattr(RunFolder, "kind", lambda folder: pytest.fail(f"{folder} was asked its kind"))
        result = toy.trainer(config, pool).run()
    assert result.kind == result.variants["short"].kind == "toy" and result.validation == [pytest.approx(0.31)] and result.best_iteration == 0
    assert set(result.variants) == {"short"} and result.variants["short"].run_dir == tmp_path / "toy" / "short"
    assert RunFolder(tmp_path / "toy").kind() == RunFolder(tmp_path / "toy" / "short").kind() == "toy" and label_of("toy") == "Toy loop"
    assert result.report.markdown.exists() and "Toy" not in result.lines()[0]
    kept = {name: InferenceSpec.read(RunFolder(folder)) for name, folder in (("main", tmp_path / "toy"), ("short", tmp_path / "toy" / "short"))}
    assert {name: (spec.method, spec.adapters, spec.answer.max_tokens) for name, spec in kept.items()} == {
        "main": ("rag", {"policy": None}, 512), "short": ("rag", {"policy": None}, 8),  # each variant describes its own kept method
    }


SRC = Path(__file__).resolve().parents[1] / "src" / "tailor"
STATING = {"attempt", "write_kind", "open", "LoopResult"}  # calls whose string argument would state a run's kind


def stated_kinds(tree: ast.AST, kinds: set[str]) -> list[str]:
    """Where a trainer's kind is written as a literal: returned, passed as ``kind=`` or to a
    call that stamps or opens a run (a role or method of the same name, as PlanPers'
    ``planner``, is no statement of a kind)."""
    def returned(value) -> list:  # what a return gives: the value, or either branch of a conditional
        return returned(value.body) + returned(value.orelse) if isinstance(value, ast.IfExp) else [value]

    found = []
    for node in ast.walk(tree):
        values = []
        if isinstance(node, ast.Return) and node.value is not None:
            values = returned(node.value)
        elif isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            values = [a for a in node.args if called in STATING] + [k.value for k in node.keywords if k.arg == "kind"]
        found += [f"line {v.lineno}: {v.value!r}" for v in values if isinstance(v, ast.Constant) and v.value in kinds]
    return found


def test_a_trainers_kind_is_stated_once_in_the_trainer_table():
    """Each trainer learns its kind from its entry (``kind_of``): no trainer class says it, no
    run is opened or stamped with a literal kind, and REST-PG, which ReST-EM's trainer runs,
    is told apart by its entry's ``when``."""
    from tailor.train.rest_em import RestEMConfig
    from tailor.train.trainers import kind_of

    assert [kind for kind, entry in TRAINERS.items() if hasattr(entry.trainer, "kind") or hasattr(entry.trainer, "kind_of")] == []
    assert "kind" not in inspect.signature(Run.open).parameters
    assert (kind_of(RestEMConfig()), kind_of(RestEMConfig(warmup="reasoning", format="longform-reasoning"))) == ("rest-em", "rest-pg")
    stated = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if path == SRC / "runs.py":  # folders written before run.json are recognised by their settings, once
            tree.body = [node for node in tree.body if getattr(node, "name", "") != "_legacy_training_kind"]
        if path != SRC / "train" / "trainers.py" and (found := stated_kinds(tree, set(TRAINERS))):
            stated[str(path.relative_to(SRC))] = found
    assert stated == {}


# --- one command per trainer, documented by its config ------------------------------------------


def test_every_trainer_has_a_command_whose_help_lists_its_recipe_keys():
    from typer.testing import CliRunner

    from tailor.cli import app

    for kind, entry in TRAINERS.items():
        config_class = entry.trainer.config_class
        undocumented = [name for name, field in config_class.model_fields.items() if not field.description]
        assert undocumented == [], kind
        shown = CliRunner().invoke(app, ["train", kind, "--help"], env={"COLUMNS": "250", "TAILOR_PROGRESS": "0"})
        assert shown.exit_code == 0 and entry.summary.split(":")[0] in shown.output
        if entry.recipe:
            assert all(f"{name}:" in shown.output for name in config_class.model_fields), kind


def test_eval_and_sampling_settings_are_documented_in_their_schema():
    from tailor.eval.config import DatasetSpec, EvalConfig, MethodSpec
    from tailor.llm import LLMConfig
    from tailor.methods import AnswerConfig
    from tailor.train.grpo import GRPOSettings

    for config_class in (EvalConfig, MethodSpec, DatasetSpec, LLMConfig, AnswerConfig, GRPOSettings):
        properties = config_class.model_json_schema()["properties"]
        assert [name for name, field in properties.items() if "description" not in field] == [], config_class.__name__


# --- a metric: its module (a toy one) and its entry ---------------------------------------------

from pydantic import BaseModel, ConfigDict, Field, ValidationError  # noqa: E402

from tailor.metrics import registry as metric_table  # noqa: E402


class WordinessSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    words: int = Field(default=20, ge=1, description="the response length that scores 1")


class Wordiness(Metric):
    """The response's length in words over a budget, at most 1: lower is better."""

    name = "wordiness"

    def __init__(self, words: int):
        self.words = words

    def score_batch(self, examples, responses):
        return MetricRun(self.name, [e.id for e in examples], [Score(min(1.0, len(r.split()) / self.words)) for r in responses])


def build_wordiness(judge, settings: WordinessSettings) -> Metric:
    return Wordiness(settings.words)


@pytest.fixture
def wordiness():
    info = metric_table.register(metric_table.MetricInfo(
        "wordiness", build_wordiness, "words over a budget (shorter is better)", benchmark="this test", options=WordinessSettings, higher_is_better=False,
    ))
    yield info
    metric_table.METRICS.pop("wordiness")


def test_metric_registered_by_a_test_scores_tailor_eval_and_tailor_score_and_is_a_training_metric(tmp_path, wordiness):
    import json

    from typer.testing import CliRunner

    from tailor.cli import app
    from tailor.data import SAMPLE_LAMPQA, load_examples
    from tailor.eval.report import write_report
    from tailor.run_status import headline
    from tailor.runs import EVAL_KIND

    # tailor eval: the judge is left alone; the options reach the metric; the run browser's
    # headline picks the best row the metric's way round (the shortest answers).
    generator, judge = fake_models()  # "Generic advice." without the profile, "Advice fitted to you." with it
    config = sample_config(tmp_path, methods=["nopers", "rag"], metric="wordiness", metric_options={"words": 4})
    result = run_eval(config, generator=generator, judge=judge)
    assert {r.method: set(r.values.values()) for r in result.runs} == {"nopers": {0.5}, "rag": {1.0}}
    assert result.judge is None and result.judge_calls == 0 and result.judging is None
    write_report(result)
    assert headline(RunFolder(config.out), EVAL_KIND).startswith("nopers 0.5000 wordiness")
    with pytest.raises(ValidationError, match=re.escape("metric_options.budget: unknown key for the wordiness metric (it takes words)")):
        sample_config(tmp_path, metric="wordiness", metric_options={"budget": 4})

    # tailor score: the command line takes the name and lists the metric in its help.
    examples = load_examples(SAMPLE_LAMPQA, split="test")[:2]
    responses = tmp_path / "responses.json"
    responses.write_text(json.dumps({e.id: [{"output": "one two three four five"}] for e in examples}))
    env = {"COLUMNS": "250", "TAILOR_PROGRESS": "0"}
    scored = CliRunner().invoke(app, ["score", str(responses), "--data", str(SAMPLE_LAMPQA), "--split", "test", "--metric", "wordiness", "--json"], env=env)
    assert scored.exit_code == 0, scored.output
    printed = json.loads(scored.stdout.strip().splitlines()[-1])
    assert printed["metric"] == "wordiness" and printed["score"] == pytest.approx(5 / 20)
    assert "wordiness (this test): words over a budget" in CliRunner().invoke(app, ["score", "--help"], env=env).output

    # training: a loop's config takes it as its reward and validation metric, options checked.
    assert LoopConfig(metric="wordiness", metric_options={"words": 5}).metric == "wordiness"
    with pytest.raises(ValidationError, match="unknown metric 'nonesuch'; choose one of .*wordiness"):
        LoopConfig(metric="nonesuch")


def test_metric_names_are_read_from_the_table_when_a_config_is_validated():
    """Every entry is a valid training metric (with a judge where it needs one); a name
    that left the table (the test's metric above) is refused, naming what is known."""
    judge = {"backend": "hf", "model": "smollm2-135m-instruct"}
    for name, info in metric_table.METRICS.items():
        assert LoopConfig(metric=name, judge=judge if info.judge else None).metric == name
        if info.judge:
            with pytest.raises(ValidationError, match=f"metric {name!r} needs a judge model"):
                LoopConfig(metric=name)
    with pytest.raises(ValidationError, match="unknown metric 'wordiness'; choose one of aspect, direct, proxy"):
        LoopConfig(metric="wordiness")
