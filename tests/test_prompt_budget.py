"""One over-long prompt never ends a run: retrieved context is trimmed to fit the model's
context (the lowest-ranked items first, counted in the trace), and an example whose prompt
does not fit even without items is skipped, counted in the eval report and in the training
stage, while the others are answered."""

import json

import pytest
from fakes import ScriptedLLM, loop_inputs
from test_eval_runner import sample_config
from test_vac import FakeTrainer

from tailor.data import SAMPLE_LAMPQA, load_examples
from tailor.data.loaders.jsonl import write_jsonl
from tailor.data.responses import read_responses
from tailor.data.schema import Example, ProfileItem
from tailor.errors import PromptTooLong
from tailor.eval.config import EvalConfig
from tailor.eval.report import write_report
from tailor.eval.runner import run_eval
from tailor.llm.types import ChatRequest, SamplingParams
from tailor.methods import AnswerConfig, RetrievalAugmented
from tailor.methods.registry import MethodConfig, make_method
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.prompts.answer import ANSWER_PREFILL
from tailor.prompts.formats import reply_format
from tailor.prompts.popi import SUMMARY_PREFILL
from tailor.prompts.rpo import THINK_PREFILL
from tailor.retrieval import BM25Retriever
from tailor.runs import RunFolder
from tailor.train.rest_em import RestEMConfig, train_rest_em
from tailor.train.sft import SFTSettings


def refused(params: SamplingParams) -> PromptTooLong:
    """What the openai backend raises for a server's 400 on a prompt longer than its context."""
    return PromptTooLong(None, params.max_tokens, 1024, "the server refused it")


# --- the real hf backend -------------------------------------------------------------------


def test_hf_counts_a_prompt_as_the_model_reads_it(hf_llm):
    plain, prefilled = ChatRequest.of("Name a bird.", system="Be brief."), ChatRequest.of("Name a bird.", prefill='{"bird": "')
    read = hf_llm.generate([plain, prefilled], SamplingParams(max_tokens=1))
    assert [hf_llm.prompt_tokens(r) for r in (plain, prefilled)] == [c.prompt_tokens for c in read]
    assert hf_llm.context_length() == 8192  # SmolLM2's max_position_embeddings


def test_rag_drops_the_lowest_ranked_items_to_fit_a_small_hf_context(hf_llm, monkeypatch):
    example = load_examples(SAMPLE_LAMPQA, split="test")[0]
    retriever = BM25Retriever()
    ranked = retriever.retrieve(example, 3)
    tokens = [hf_llm.prompt_tokens(reply_format("answer").request(example.question, ranked[:n])) for n in range(4)]
    assert tokens == sorted(tokens) and len(set(tokens)) == 4
    monkeypatch.setattr(hf_llm, "max_model_len", tokens[2] + 4)  # room for the two best items and 4 answer tokens, not the third
    answer = RetrievalAugmented(hf_llm, retriever, AnswerConfig(k=3, max_tokens=4)).answer(example)
    assert answer.trace["retrieved"] == [item.id for item in ranked[:2]] and answer.trace["trimmed"] == 1
    assert not answer.skipped and answer.trace["raw"].startswith(ANSWER_PREFILL)


def test_a_remote_model_trims_by_its_servers_count_and_skips_what_does_not_fit(hf_llm, monkeypatch):
    """The openai backend against ``tailor serve-llm`` (hf behind it): the context from
    /v1/models, the prompt's tokens from /tokenize, as from a vLLM server."""
    from conftest import ServerThread

    from tailor.llm.backends.openai_compat import OpenAIBackend
    from tailor.llm.server import create_app

    example = load_examples(SAMPLE_LAMPQA, split="test")[0]
    long = example.model_copy(update={"id": "long", "question": "Why do my bees swarm every spring? " * 80})
    retriever = BM25Retriever()
    ranked = retriever.retrieve(example, 3)
    fitting = hf_llm.prompt_tokens(reply_format("answer").request(example.question, ranked[:2])) + 4
    monkeypatch.setattr(hf_llm, "max_model_len", fitting)
    with ServerThread(create_app(hf_llm, "smol")) as server:
        remote = OpenAIBackend("smol", base_url=server.url + "/v1")
        answered, skipped = RetrievalAugmented(remote, retriever, AnswerConfig(k=3, max_tokens=4)).answer_batch([example, long])
    assert answered.trace["retrieved"] == [item.id for item in ranked[:2]] and answered.trace["trimmed"] == 1 and not answered.skipped
    assert f"exceed the model's context length {fitting}" in skipped.skipped and remote.usage.requests == 1


def bees(path):
    profile = [ProfileItem(id=f"p{i}", text=text) for i, text in enumerate(
        ["I keep two beehives on my roof in Oslo.", "Our winters are long, so the bees stay inside until April.", "I sell honey at the market."]
    )]
    write_jsonl([
        Example(id="short", question="How do I keep my bees calm?", profile=profile, reference="Use a little smoke and move slowly."),
        Example(id="long", question="Why do my bees swarm every single spring? " * 80, profile=profile, reference="They outgrow the hive."),
    ], path)


def test_a_question_that_alone_does_not_fit_is_skipped_and_counted_in_the_eval_report(tmp_path):
    bees(tmp_path / "bees.jsonl")
    config = EvalConfig.model_validate({
        "generator": {"backend": "hf", "model": "smollm2-135m-instruct", "options": {"max_model_len": 400}},
        "methods": ["rag"], "metric": "rouge-l", "answer": {"k": 2, "max_tokens": 4},
        "datasets": [{"path": str(tmp_path / "bees.jsonl"), "name": "bees"}], "out": str(tmp_path / "run"),
    })
    result = run_eval(config)
    [run] = result.runs
    assert run.skipped_for_length == 1 and list(run.values) == ["short"] and result.generator_calls == 1
    folder = tmp_path / "run/bees/test/rag"
    assert set(read_responses(folder / "responses.json")) == {"short"}
    traces = {row["id"]: row["trace"] for row in map(json.loads, (folder / "traces.jsonl").read_text().splitlines())}
    assert "exceed the model's context length 400" in traces["long"]["skipped_for_length"] and "skipped_for_length" not in traces["short"]
    assert traces["long"]["trimmed"] == 2  # every item dropped, and still too long
    report = write_report(result)
    row = json.loads(report.json.read_text())["tables"][0]["rows"][0]
    assert row["skipped_for_length"] == 1 and row["macro"]["n"] == 1
    assert "- rag: 1 skipped for length" in report.markdown.read_text()
    again = run_eval(config)  # the skipped example counts as done: a rerun asks nothing
    assert again.generator_calls == 0 and again.runs[0].resumed and again.runs[0].skipped_for_length == 1


# --- a scripted model that refuses one example ---------------------------------------------


def test_a_prompt_the_model_refuses_skips_its_example_not_the_eval(tmp_path):
    config = sample_config(tmp_path, methods=["nopers", "rag"])
    victim = load_examples(SAMPLE_LAMPQA, split="test")[0]

    def generate(request, params, j):
        if victim.question in request.messages[-1].content:
            raise refused(params)
        return 'Advice fitted to you."}'

    generator, judge = ScriptedLLM(generate, model="generator"), ScriptedLLM(lambda request, params, j: "2}", model="judge")
    result = run_eval(config, generator=generator, judge=judge)
    for run in result.runs:
        assert run.skipped_for_length == 1 and victim.id not in run.values and len(run.values) == 5
        assert all(value == 1.0 for value in run.values.values())  # the others, batched with it, were answered and scored
    assert "- nopers: 1 skipped for length" in write_report(result).markdown.read_text()


class Answered(Metric):
    """Scores any answer 0.5 and an empty one 0."""

    name = "answered"

    def score_batch(self, examples, responses):
        return MetricRun(self.name, [e.id for e in examples], [Score(0.5 if r else 0.0) for r in responses])


def test_a_prompt_the_model_refuses_skips_its_example_not_the_training_stage(tmp_path, train, valid):
    victims = (train[0].question, valid[0].question)

    def policy(request, params, j):
        if any(question in request.messages[-1].content for question in victims):
            raise refused(params)
        return f'Answer from seed {params.seed}."}}'

    config = RestEMConfig(iterations=1, samples=2, k=3, max_attempts=2, sft=SFTSettings.cpu_sample(), run_dir=tmp_path / "run")
    trainer = FakeTrainer()
    train_rest_em(*loop_inputs(config, train, valid, Answered(), policy=ScriptedLLM(policy, model="policy")), trainer=trainer)
    history = RunFolder(tmp_path / "run").history()
    assert history.stages["iter_1/samples"].skipped_for_length == 2  # one request per sample
    assert [history.validation[t].skipped_for_length for t in (0, 1)] == [1, 1]
    assert [history.validation[t].scored for t in (0, 1)] == [len(valid) - 1] * 2
    samples = [json.loads(line) for line in (tmp_path / "run/iter_1/samples.jsonl").read_text().splitlines()]
    assert {(row["parsed"], row["score"]) for row in samples if row["id"] == train[0].id} == {(False, None)}
    [job] = trainer.jobs
    assert len(job["rows"]) + len(job["eval_rows"] or []) == len(train) - 1  # one target per answered input, none for the refused one
    assert not any(train[0].question in row["messages"][-2]["content"] for row in job["rows"] + (job["eval_rows"] or []))


# --- every method fits its prompts ---------------------------------------------------------


def scripted(request, params, j):
    """A reply each method's parser reads."""
    if request.prefill == ANSWER_PREFILL:
        return 'Some advice."}'
    if request.prefill == THINK_PREFILL:
        return "reasons</think><personalized>Rewritten.</personalized>"
    if request.prefill == SUMMARY_PREFILL:
        return "likes short answers."
    return "First point\nSecond point"  # the planner


@pytest.mark.parametrize("method", ["rag", "planpers", "vac", "rpo", "popi"])
def test_every_method_keeps_its_prompts_within_the_context(method, tmp_path):
    examples = load_examples(SAMPLE_LAMPQA, split="test")[:3]
    llm = ScriptedLLM(scripted, context=220)  # in words: every prompt fits without items, none with all of them
    options = {"reflection_max_tokens": 64} if method == "rpo" else None  # room in the context for RPO's reasoning
    config = MethodConfig(method, llm, BM25Retriever(), AnswerConfig(k=10, max_tokens=32), options=options)
    answers = make_method(config).answer_batch(examples)
    assert llm.received and all(llm.prompt_tokens(request) + params.max_tokens <= 220 for request, params, _ in llm.received)
    assert not any(answer.skipped for answer in answers)
    if method == "popi":  # the summarizer reads as many of the profile's items as fit
        summary_prompts = [r.messages[-1].content for r, _, _ in llm.received if r.prefill == SUMMARY_PREFILL]
        assert all(f"[{len(e.profile)}]" not in prompt for e, prompt in zip(examples, summary_prompts))
    else:
        assert all(a.trace["trimmed"] > 0 and len(a.trace["retrieved"]) + a.trace["trimmed"] == min(10, len(e.profile)) for e, a in zip(examples, answers))


def test_vac_fits_every_prompt_and_learns_from_the_prompts_it_answered(tmp_path, train, valid):
    from test_vac import run as run_vac
    from test_vac import setup as vac_setup

    config, policy, feedback, metric, trainer, _ = vac_setup(tmp_path, train, validation=(0.3, 0.6), answer_max_tokens=16, feedback_max_tokens=16)
    policy.context, feedback.context = 120, 250  # in words: no prompt fits with all its 3 items, every one without
    run_vac(config.model_copy(update={"iterations": 1}), train, valid, policy, feedback, metric, trainer)
    for llm in (policy, feedback):
        assert all(llm.prompt_tokens(request) + params.max_tokens <= llm.context for request, params, _ in llm.received)
    trimmed = RunFolder(tmp_path / "run").history().trimmed
    assert trimmed.inputs == len(train) and trimmed.items >= len(train)
    asked = {id(llm): {r.messages[-1].content for r, _, _ in llm.received} for llm in (policy, feedback)}
    feedback_job, policy_job = trainer.jobs
    assert all(row["messages"][-2]["content"] in asked[id(feedback)] for row in feedback_job["rows"])
    assert all(row["messages"][-2]["content"] in asked[id(policy)] for row in policy_job["rows"])


def test_a_refused_request_fails_alone_in_a_servers_batch():
    from tailor.llm.batcher import RequestBatcher

    def reply(request, params, j):
        if "long" in request.messages[-1].content:
            raise refused(params)
        return "fine"

    batcher = RequestBatcher(ScriptedLLM(reply), max_batch=4, wait=0.5)
    first, long, last = batcher.enqueue([ChatRequest.of("short"), ChatRequest.of("long"), ChatRequest.of("short too")], SamplingParams())
    try:
        assert first.result.result(30).text == last.result.result(30).text == "fine"
        with pytest.raises(PromptTooLong):
            long.result.result(30)
        assert batcher.batches == [3]  # one batch, of which only the refused request failed
    finally:
        batcher.stop()
