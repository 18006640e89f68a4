import json
import time
from pathlib import Path

import pytest
from fakes import ScriptedLLM
from test_methods import assert_no_hidden_text, json_answer
from typer.testing import CliRunner

import tailor.train.sft
from tailor.cli import app
from tailor.data import SAMPLE_LAMPQA, load_examples
from tailor.errors import TailorError
from tailor.eval.config import MethodSpec
from tailor.llm import LLMConfig
from tailor.methods import AnswerConfig, PlanPers
from tailor.prompts.plan import MAX_PLAN_ITEMS, parse_plan, planner_request, planner_target
from tailor.retrieval import BM25Retriever
from tailor.runs import RunFolder
from tailor.service.catalog import ModelCatalog
from tailor.train.lora import SFTResult
from tailor.train.kept import kept_method
from tailor.train.planner import PlannerConfig, PlannerTrainer, planner_rows, train_planner
from tailor.train.sft import SFTSettings, train_sft

REPO = Path(__file__).resolve().parents[1]
ENV = {"COLUMNS": "250", "TAILOR_PROGRESS": "0"}


@pytest.fixture(scope="module")
def sample():
    return load_examples(SAMPLE_LAMPQA, split="test")


def plan_for(request, params, j):
    """A plan derived from the question, so each example's plan is recognisable."""
    question = request.messages[-1].content.split("My new question: ")[1].split("\n")[0]
    return f"Here is what matters:\n1. **Focus on {question[:30]}**\n2) Second point\n- Second point\n"


def test_no_planner_or_generator_prompt_contains_narrative_or_aspects(sample):
    planner, generator = ScriptedLLM(plan_for), ScriptedLLM(json_answer)
    PlanPers(generator, BM25Retriever(), AnswerConfig(k=10), planner_adapter="planner", planner_llm=planner).answer_batch(sample)
    prompts = planner.prompts() + generator.prompts()
    assert len(planner.prompts()) == len(generator.prompts()) == len(sample)
    assert assert_no_hidden_text(sample, prompts) > 100


def test_planner_sees_question_and_items_and_its_plan_reaches_the_generator(sample):
    planner, generator = ScriptedLLM(plan_for), ScriptedLLM(json_answer)
    examples = sample[:3]
    answers = PlanPers(generator, BM25Retriever(), AnswerConfig(k=3), planner_adapter="planner", planner_llm=planner).answer_batch(examples)
    for example, answer, plan_prompt, answer_prompt in zip(examples, answers, planner.prompts(), generator.prompts()):
        top = BM25Retriever().retrieve(example, 3)
        assert example.question in plan_prompt and all(item.text in plan_prompt for item in top)
        assert sum(item.text in plan_prompt for item in example.profile) == 3
        plan = [f"Focus on {example.question[:30]}", "Second point"]
        assert answer.trace["plan"] == plan and "Here is what matters" in answer.trace["plan_raw"]
        assert all(point in answer_prompt for point in plan) and example.question in answer_prompt
        assert answer.trace["retrieved"] == [item.id for item in top] and all(item.text in answer_prompt for item in top)
        assert answer.text == "An answer." and answer.trace["parsed"] and answer.trace["method"] == "planpers"
    assert {(p.max_tokens, adapter) for _, p, adapter in planner.received} == {(128, "planner")}
    assert {adapter for _, _, adapter in generator.received} == {None}


def test_one_llm_plans_with_the_adapter_and_answers_without_it(sample):
    llm = ScriptedLLM(lambda r, p, j: plan_for(r, p, j) if "My new question: " in r.messages[-1].content else json_answer(r, p, j))
    answers = PlanPers(llm, BM25Retriever(), AnswerConfig(k=2), planner_adapter="planner").answer_batch(sample[:2])
    assert [adapter for _, _, adapter in llm.received] == ["planner", "planner", None, None]
    assert all(a.text == "An answer." and len(a.trace["plan"]) == 2 for a in answers)


def test_empty_plan_leaves_the_planning_section_out(sample):
    planner, generator = ScriptedLLM(lambda r, p, j: "  \n\n"), ScriptedLLM(json_answer)
    answer = PlanPers(generator, BM25Retriever(), AnswerConfig(k=2), planner_llm=planner).answer(sample[0])
    assert answer.trace["plan"] == [] and "Points to cover" not in generator.prompts()[0]
    assert answer.text == "An answer."


def test_parse_plan_cleans_messy_planner_output():
    messy = (
        "Sure! The topics are:\n\n1. **Budget limits**\n2) budget limits\n- \"Time constraints\"\n"
        "* Aspect 3: Skill level\n### Topic 4 - Family support\n• Past injuries\n(6) Gear choice\n"
        "10-minute warmups\n   \n8. Eighth\n9. Ninth\n10. Tenth"
    )
    assert parse_plan(messy) == [
        "Budget limits", "Time constraints", "Skill level", "Family support",
        "Past injuries", "Gear choice", "10-minute warmups", "Eighth",
    ]
    assert len(parse_plan("\n".join(f"- point {n}" for n in range(20)))) == MAX_PLAN_ITEMS
    assert parse_plan("") == [] and parse_plan("Aspects:\n- \n**\n") == []


def test_planner_target_is_the_aspect_titles_one_per_line(sample):
    example = sample[0]
    assert planner_target(example).split("\n") == [a.aspect for a in example.rubric_aspects]
    with pytest.raises(TailorError):
        planner_target(example.model_copy(update={"rubric_aspects": []}))


def test_planner_rows_pair_the_aspect_free_request_with_the_aspect_target(sample):
    examples = sample[:4]
    rows = planner_rows(examples + [examples[0].model_copy(update={"id": "bare", "rubric_aspects": []})], BM25Retriever(), 2)
    assert len(rows) == 4
    for example, row in zip(examples, rows):
        *prompt, target = row["messages"]
        assert target == {"role": "assistant", "content": planner_target(example)}
        assert prompt == [m.model_dump() for m in planner_request(example.question, BM25Retriever().retrieve(example, 2)).messages]
        assert not any(a.aspect in m["content"] for a in example.rubric_aspects for m in prompt if len(a.aspect) > 12)


def test_sft_settings_default_to_the_paper_recipe():
    settings = SFTSettings()
    assert (settings.lora_r, settings.lora_alpha, settings.lora_dropout, settings.target_modules) == (16, 16, 0.05, "all-linear")
    assert (settings.learning_rate, settings.batch_size, settings.warmup_ratio, settings.max_grad_norm) == (5e-5, 32, 0.1, 1.0)
    assert (settings.max_steps, settings.eval_steps, settings.max_length, settings.keep_best) == (2000, 250, 8192, True)
    small = SFTSettings.cpu_sample()
    assert small.max_steps <= 20 and small.max_length <= 1024 and small.batch_size % small.per_device_batch_size == 0
    with pytest.raises(ValueError):
        SFTSettings(batch_size=32, per_device_batch_size=3)


def test_sft_rejects_empty_or_targetless_rows(tmp_path):
    with pytest.raises(TailorError, match="no training rows"):
        train_sft("smollm2-135m-instruct", [], None, SFTSettings.cpu_sample(), tmp_path)
    with pytest.raises(TailorError, match="assistant target"):
        train_sft("smollm2-135m-instruct", [{"messages": [{"role": "user", "content": "hi"}]}], None, SFTSettings.cpu_sample(), tmp_path)
    assert not (tmp_path / "adapter").exists()


# A few optimizer steps on 6 conversations: enough to move a LoRA adapter, small enough for CI.
TINY = SFTSettings.cpu_sample().model_copy(update={"batch_size": 2, "per_device_batch_size": 2, "max_steps": 4, "eval_steps": 2})


@pytest.fixture(scope="module")
def trained_planner(tmp_path_factory):
    config = PlannerConfig(train_limit=6, valid_limit=2, k=2, sft=TINY, run_dir=tmp_path_factory.mktemp("planner"))
    inputs = PlannerTrainer(config).inputs(config)
    return config, inputs, train_planner(config, inputs).sft


@pytest.mark.model
def test_train_planner_writes_a_loadable_adapter_that_changes_outputs(trained_planner, hf_llm, sample):
    from tailor.llm import SamplingParams

    config, inputs, result = trained_planner
    out = config.run_dir
    assert result.adapter == str(out / "adapter") and (out / "adapter" / "adapter_config.json").exists()
    assert result.steps == TINY.max_steps and result.rows == 6 and not result.reused
    curve = json.loads((out / "curve.json").read_text())
    assert [p["step"] for p in curve] == [1, 2, 3, 4] and all(p["loss"] > 0 for p in curve)
    eval_losses = [p["eval_loss"] for p in curve if p["eval_loss"] is not None]
    assert len(eval_losses) == 2 and result.best_eval_loss == pytest.approx(min(eval_losses))
    assert not (out / "checkpoints").exists() and not (out / "adapter.partial").exists()

    requests = [planner_request(e.question, BM25Retriever().retrieve(e, 2)) for e in sample[:2]]
    params = SamplingParams(max_tokens=24)
    plain = [c.text for c in hf_llm.generate(requests, params)]
    tuned = [c.text for c in hf_llm.generate(requests, params, adapter=result.adapter)]
    assert plain != tuned

    started = time.perf_counter()
    again = train_planner(config, inputs).sft
    assert again.reused and again.adapter == result.adapter and time.perf_counter() - started < 5


@pytest.mark.model
def test_planpers_end_to_end_with_the_trained_planner(trained_planner, hf_llm, sample):
    *_, result = trained_planner
    config = AnswerConfig(k=2, max_tokens=48, max_attempts=1)
    method = PlanPers(hf_llm, BM25Retriever(), config, planner_adapter=result.adapter, plan_tokens=32)
    answers = method.answer_batch(sample[:2])
    assert all(a.text.strip() for a in answers)
    assert all(a.trace["plan"] and len(a.trace["retrieved"]) == 2 for a in answers)


@pytest.mark.model
def test_sft_continues_an_adapter_and_refuses_rows_that_cannot_fit(trained_planner, tmp_path):
    from tailor.llm.base import adapter_fingerprint

    _, inputs, result = trained_planner
    rows = planner_rows(inputs.train[:2], BM25Retriever(), 1)
    one_step = TINY.model_copy(update={"max_steps": 1})
    continued = train_sft("smollm2-135m-instruct", rows, None, one_step, tmp_path / "next", init_adapter=result.adapter)
    assert continued.steps == 1 and continued.best_eval_loss is None
    assert adapter_fingerprint(continued.adapter) != adapter_fingerprint(result.adapter)
    with pytest.raises(TailorError, match="longer than max_length"):
        train_sft("smollm2-135m-instruct", rows, None, one_step.model_copy(update={"max_length": 16}), tmp_path / "short")


# --- the planner is a training loop like the others: a recipe, a run folder, one command ----------


@pytest.fixture
def fitting(monkeypatch):
    """LoRA fitting replaced by a tiny adapter whose best held-out loss is 0.75: what the run
    records around the fitting is under test here (the fitting itself is above)."""

    def fit(model, settings, output_dir, fingerprint, init_adapter, prepare, configure, build):
        adapter = Path(output_dir) / "adapter"
        adapter.mkdir(parents=True, exist_ok=True)
        (adapter / "adapter_config.json").write_text(json.dumps({"fingerprint": fingerprint}))
        return SFTResult(str(adapter), 0.75, settings.max_steps, 0.0, 1)

    monkeypatch.setattr(tailor.train.sft, "fit_lora", fit)


@pytest.fixture
def planner_run(tmp_path, monkeypatch, fitting):
    """``tailor train planner`` with no recipe given (the sample recipe), into a run folder."""
    monkeypatch.chdir(REPO)  # where configs/planner-sample-cpu.yaml is found
    run = tmp_path / "runs" / "planner"
    result = CliRunner().invoke(app, ["train", "planner", "--run-dir", str(run)], env=ENV)
    assert result.exit_code == 0, result.output
    return run, result.output


def test_the_planner_recipes_hold_the_settings_tailor_train_planner_had():
    sample = PlannerConfig.from_yaml(REPO / "configs" / "planner-sample-cpu.yaml")
    assert (sample.policy, sample.retriever, sample.k, sample.data, sample.run_dir) == (LLMConfig(), "bm25", 3, SAMPLE_LAMPQA, Path("runs/planner-sample"))
    assert sample.sft == SFTSettings.cpu_sample() and sample.policy.model == "smollm2-135m-instruct"
    paper = PlannerConfig.from_yaml(REPO / "configs" / "planner-paper.yaml")
    assert (paper.sft.learning_rate, paper.sft.batch_size, paper.sft.max_steps, paper.sft.eval_steps) == (5e-5, 32, 2000, 250)


def test_tailor_train_planner_writes_its_run_folder_as_every_loop_does(planner_run):
    run, output = planner_run
    folder, adapter = RunFolder(run), str(run / "adapter")
    history = folder.history()
    # validated by held-out loss alone: no metric scored it, no iteration was picked by a score
    assert history.validation == {} and history.best_iteration is None and history.kept == {"policy": adapter} and history.metric is None
    held_out = [e for e in load_examples(SAMPLE_LAMPQA, split="validation") if e.rubric_aspects]
    assert (history.stages["train_planner"].eval_rows, history.stages["train_planner"].best_eval_loss) == (len(held_out), 0.75)
    assert history.finished and folder.kept_adapter() == adapter and history.summary().held_out_loss == 0.75
    assert folder.kind() == "planner" and folder.state()["status"] == "finished"
    assert PlannerConfig.resume(run) == PlannerConfig.from_yaml(REPO / "configs" / "planner-sample-cpu.yaml").model_copy(update={"run_dir": run})
    assert f"planner adapter: {adapter}" in output and "best validation loss 0.75" in output


def test_a_setting_the_planner_does_not_read_is_refused_on_the_command_line(tmp_path, monkeypatch, fitting):
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(app, ["train", "planner", "--run-dir", str(tmp_path / "p"), "--iterations", "2"], env=ENV)
    assert result.exit_code != 0 and "iterations: not a setting of this loop" in result.output and not (tmp_path / "p").exists()


def test_planpers_takes_the_planner_run_folder_or_its_adapter(planner_run):
    run, _ = planner_run
    adapter = str(run / "adapter")
    kept = kept_method(run)  # inference.json
    assert (kept.method, kept.adapters, kept.generator, kept.helper, kept.answer.k) == ("planpers", {"planner": adapter}, LLMConfig(), None, 3)
    eval_wide = (LLMConfig(model="generator"), "bm25", {}, AnswerConfig(), 0)
    for given in (str(run), adapter):
        row = MethodSpec(name="planpers", planner_adapter=given).described(*eval_wide)  # a tailor eval row (the sample eval's key)
        assert row.adapters == {"planner": adapter} and row.generator.model == "generator"
        assert ModelCatalog(run.parent, defaults={"planner": given}).resolve("planpers").adapters == {"planner": adapter}  # tailor serve --adapter planner=…
        assert ModelCatalog(run.parent).resolve(f"planpers:{given}").adapters == {"planner": adapter}  # a request naming it
    own_generator = MethodSpec(name="planpers", run=run, generator=LLMConfig(model="generator")).described(*eval_wide)
    assert own_generator.helpers == {"planner": LLMConfig()} and own_generator.adapters == {"planner": adapter}  # the trained planner stays on its model


def test_the_planner_run_is_shown_by_its_held_out_loss(planner_run):
    """`tailor runs` and the run browser: no per-iteration score, the loss that picked the adapter."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from tailor.browser.router import make_browser_router
    from tailor.run_status import list_runs

    run, _ = planner_run
    [listed] = list_runs(run.parent)
    assert (listed.kind, listed.status, listed.headline) == ("planner", "finished", "held-out loss 0.7500")
    app = FastAPI()
    app.include_router(make_browser_router(run.parent), prefix="/runs")
    with TestClient(app) as client:
        assert "validated by held-out loss alone, best 0.75" in client.get("/runs").text
        assert client.get(f"/runs/{run.name}").status_code == 200
