"""RPO at inference: generic answer, retrieval with question ⊕ generic answer, a
reflection whose personalized part alone is the answer, and the reasoning in the trace."""

import pytest
from fakes import ScriptedLLM
from test_eval_runner import fake_models, sample_config

from tailor.data import SAMPLE_LAMPQA, load_examples
from tailor.eval.config import MethodSpec
from tailor.eval.runner import run_eval
from tailor.methods import AnswerConfig
from tailor.methods.registry import MethodConfig, make_method
from tailor.prompts.rpo import THINK_PREFILL
from tailor.retrieval import BM25Retriever


@pytest.fixture(scope="module")
def examples():
    return load_examples(SAMPLE_LAMPQA, split="test")[:3]


def base_reply(request, params, j):
    """The black-box base: a generic answer (continues the LaMP-QA JSON prefill)."""
    return 'Use a slow cooker and check it often."}'


def reflection_reply(request, params, j):
    """Continues '<think>': reasons, then rewrites; a prompt holding 'broken' gets no tags."""
    if "broken" in request.messages[-1].content:
        return "I am not sure."
    return " The user cooks on a stove.</think><personalized>Simmer it on the stove for four hours.</personalized>"


def test_the_personalized_part_is_the_answer_and_the_reasoning_is_traced(examples):
    base, reflection = ScriptedLLM(base_reply, model="base"), ScriptedLLM(reflection_reply, model="reflection")
    method = make_method(MethodConfig("rpo", base, BM25Retriever(), AnswerConfig(k=2), helper=reflection, adapters={"reflection": "reflector"}))
    answers = method.answer_batch(examples)
    assert [a.text for a in answers] == ["Simmer it on the stove for four hours."] * len(examples)
    for answer in answers:
        assert answer.trace["think"] == "The user cooks on a stove." and answer.trace["generic_answer"] == "Use a slow cooker and check it often."
        assert len(answer.trace["retrieved"]) == 2 and answer.trace["parsed"]
    assert all(request.prefill == THINK_PREFILL and adapter == "reflector" for request, _, adapter in reflection.received)
    assert all(adapter is None and "posts I wrote earlier" not in request.messages[-1].content for request, _, adapter in base.received)
    prompt = reflection.received[0][0].messages[-1].content
    assert "Use a slow cooker and check it often." in prompt and examples[0].question in prompt


def test_retrieval_queries_with_the_question_and_the_generic_answer(examples):
    queries = []

    class Recording(BM25Retriever):
        def rank(self, query, profile):
            queries.append(query)
            return super().rank(query, profile)

    make_method(MethodConfig("rpo", ScriptedLLM(base_reply), Recording(), AnswerConfig(k=2), helper=ScriptedLLM(reflection_reply))).answer_batch(examples)
    assert queries == [f"{e.question}\n\nUse a slow cooker and check it often." for e in examples]


def test_an_unreadable_reflection_falls_back_to_the_generic_answer_and_is_counted(examples):
    broken = [examples[0].model_copy(update={"question": examples[0].question + " broken"})]
    reflection = ScriptedLLM(reflection_reply)
    (answer,) = make_method(MethodConfig("rpo", ScriptedLLM(base_reply), BM25Retriever(), AnswerConfig(k=2, max_attempts=2), helper=reflection)).answer_batch(broken)
    assert answer.text == "Use a slow cooker and check it often." and not answer.trace["parsed"] and answer.trace["attempts"] == 2
    assert len(reflection.received) == 2


def test_rpo_runs_in_tailor_eval_with_its_reflection_adapter(tmp_path):
    adapter = tmp_path / "reflector"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    generator, judge = fake_models()
    run_eval(sample_config(tmp_path, methods=[{"name": "rpo", "reflection_adapter": str(adapter)}]), generator=generator, judge=judge)
    assert {a for _, _, a in generator.received} == {None, str(adapter)}  # the base, then the reflection on the same model
    with pytest.raises(ValueError, match=r"rpo has no policy adapter \(its roles: reflection\)"):
        MethodSpec(name="rpo", policy_adapter="x")
