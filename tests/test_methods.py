import json

import pytest
from fakes import ScriptedLLM

from tailor.data import SAMPLE_LAMPQA, SAMPLE_PLANTED, load_examples
from tailor.data.responses import read_responses
from tailor.llm.cache import ResponseCache
from tailor.methods import AnswerConfig, RetrievalAugmented
from tailor.pipeline import answer_examples, build_method
from tailor.retrieval import BM25Retriever, RandomProfileRetriever


@pytest.fixture(scope="module")
def sample():
    return load_examples(SAMPLE_LAMPQA, split="test")


def json_answer(request, params, j):
    """Continues the prompt's prefill '{"personalized_answer": "'."""
    return 'An answer."}'


def hidden_snippets(example, visible):
    """Pieces of hidden text long enough that they cannot appear in a prompt by chance.
    A phrase the user also wrote in a past post (``visible``) is public, not hidden: a
    prompt may name the user's city, as a post does, but never hold a planted fact's
    record or the list of its rivals (data v2)."""
    snippets = [example.narrative]
    for aspect in example.rubric_aspects:
        snippets += [aspect.aspect, aspect.reason, aspect.evidence]
    for fact in example.planted_facts:
        snippets += [fact.model_dump_json(), json.dumps(fact.model_dump(), ensure_ascii=False), json.dumps(fact.rivals, ensure_ascii=False), ", ".join(fact.rivals)]
    return [s for s in snippets if s and len(s) > 12 and not any(s in text for text in visible)]


def assert_no_hidden_text(examples, prompts) -> int:
    """No prompt holds a hidden snippet of any example; returns how many snippets were checked."""
    visible = [e.question for e in examples] + [p.text for e in examples for p in e.profile]
    checked = 0
    for example in examples:
        for snippet in hidden_snippets(example, visible):
            checked += 1
            assert not any(snippet in prompt for prompt in prompts), (example.id, snippet[:40])
    return checked


@pytest.mark.parametrize("kind", ["nopers", "rag", "rag_random"])
def test_no_generation_prompt_contains_narrative_or_aspects(sample, kind):
    llm = ScriptedLLM(json_answer)
    retriever = {"nopers": None, "rag": BM25Retriever(), "rag_random": RandomProfileRetriever(BM25Retriever(), sample)}[kind]
    RetrievalAugmented(llm, retriever, AnswerConfig(k=10)).answer_batch(sample)
    prompts = llm.prompts()
    assert len(prompts) == len(sample)
    assert assert_no_hidden_text(sample, prompts) > 100


def test_no_generation_prompt_holds_the_planted_facts_or_their_rivals():
    planted = load_examples(SAMPLE_PLANTED, split="test")
    llm = ScriptedLLM(json_answer)
    RetrievalAugmented(llm, BM25Retriever(), AnswerConfig(k=6)).answer_batch(planted)
    assert assert_no_hidden_text(planted, llm.prompts()) > 48 * 4 * 4
    leaked = [prompt + "\n" + ", ".join(example.planted_facts[0].rivals) for prompt, example in zip(llm.prompts(), planted)]
    with pytest.raises(AssertionError):
        assert_no_hidden_text(planted, leaked)


def test_rag_prompt_has_the_question_and_the_top_k_items(sample):
    llm = ScriptedLLM(json_answer)
    example = sample[0]
    answer = RetrievalAugmented(llm, BM25Retriever(), AnswerConfig(k=3)).answer(example)
    prompt = llm.prompts()[0]
    assert example.question in prompt
    top = BM25Retriever().retrieve(example, 3)
    assert answer.trace["retrieved"] == [p.id for p in top]
    assert all(item.text in prompt for item in top)
    assert sum(item.text in prompt for item in example.profile) == 3
    assert answer.text == "An answer." and answer.trace["parsed"] and answer.trace["attempts"] == 1


def test_unparseable_answers_are_kept_raw_and_flagged(sample):
    llm = ScriptedLLM(lambda r, p, j: '"} and then prose')  # closes the answer string at once: empty
    answers = RetrievalAugmented(llm, None, AnswerConfig(max_attempts=2)).answer_batch(sample[:2])
    assert [a.text for a in answers] == ['{"personalized_answer": ""} and then prose'] * 2
    assert all(not a.trace["parsed"] and a.trace["attempts"] == 2 for a in answers)
    assert len(llm.received) == 4


def test_answer_examples_writes_benchmark_responses_and_traces(sample, tmp_path):
    llm = ScriptedLLM(json_answer)
    answer_examples(RetrievalAugmented(llm, BM25Retriever(), AnswerConfig(k=2)), sample[:3], tmp_path)
    raw = json.loads((tmp_path / "responses.json").read_text())
    assert raw == {e.id: [{"output": "An answer."}] for e in sample[:3]}
    assert read_responses(tmp_path / "responses.json") == {e.id: "An answer." for e in sample[:3]}
    traces = [json.loads(line) for line in (tmp_path / "traces.jsonl").read_text().splitlines()]
    assert [t["id"] for t in traces] == [e.id for e in sample[:3]] and all(len(t["trace"]["retrieved"]) == 2 for t in traces)


@pytest.mark.model
def test_real_model_rag_then_rerun_costs_no_model_call(sample, tmp_path):
    """RAG answers from SmolLM2 through the hf backend; the second run is all cache hits."""
    from tailor.llm import LLMConfig
    from tailor.methods.inference import InferenceSpec

    spec = InferenceSpec(method="rag", generator=LLMConfig(backend="hf", cache_path=str(tmp_path / "cache.sqlite")), answer=AnswerConfig(k=2, max_tokens=48, max_attempts=1))
    first = build_method(spec)
    run = answer_examples(first.method, sample[:2], tmp_path / "out")
    assert first.llm.usage.requests == 2 and all(a.text for a in run.answers.values())
    for example in sample[:2]:  # the context the prompt carried, in the model's own tokens
        trace = run.answers[example.id].trace
        items = {item.id: item.text for item in example.profile}
        tokens = sum(len(first.llm.tokenizer(items[i], add_special_tokens=False).input_ids) for i in trace["retrieved"])
        assert trace["context_tokens"] == tokens > trace["context_words"] > 0
    second = build_method(spec)
    rerun = answer_examples(second.method, sample[:2], tmp_path / "out")
    assert second.llm.usage.requests == 0 and second.llm.usage.cache_hits == 2
    assert {k: a.text for k, a in rerun.answers.items()} == {k: a.text for k, a in run.answers.items()}
    assert ResponseCache(tmp_path / "cache.sqlite").stats().entries == 2


def test_answers_reach_the_caller_chunk_by_chunk_and_all_are_saved(sample, tmp_path):
    llm = ScriptedLLM(json_answer)
    seen = []

    def on_answers(answers):
        seen.append((list(answers), len(llm.received)))  # what was ready, and what had been generated by then

    run = answer_examples(RetrievalAugmented(llm, BM25Retriever(), AnswerConfig(k=2)), sample[:3], tmp_path, chunk=1, on_answers=on_answers)
    assert seen == [([sample[0].id], 1), ([sample[1].id], 2), ([sample[2].id], 3)]  # the first is shown before the second is asked for
    assert list(read_responses(tmp_path / "responses.json")) == [e.id for e in sample[:3]] == list(run.answers)
