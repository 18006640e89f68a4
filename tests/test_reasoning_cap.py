"""A reasoning cap for the REST-PG reply format: a model that loops over its reasoning and
never writes "Response:" (SmolLM2-135M does, in 20 of 24 planted-task replies) still gives
a reply with a response part, asked in two calls; the loop's samples, its validation and
the method it writes for inference all ask that way."""

import json

import pytest
from fakes import ScriptedLLM, loop_inputs
from test_rest_pg import SeedReward, tasks  # noqa: F401 (a fixture)
from test_vac import FakeTrainer

from tailor.errors import PromptTooLong, TailorError
from tailor.llm.types import ChatRequest, Sample, SamplingParams
from tailor.methods import AnswerConfig, RetrievalAugmented
from tailor.methods.inference import InferenceSpec
from tailor.prompts.formats import reply_format
from tailor.prompts.longform import REASONING_HEAD, RESPONSE_HEAD, reason_then_respond, split_reply
from tailor.retrieval import BM25Retriever
from tailor.train.rest_em import RestEMConfig, train_rest_em
from tailor.train.sft import SFTSettings

LOOP = "- the user likes short texts\n"


def looping(request, params, j):
    """Reasoning that repeats one line until the budget ends (one token per word here); after
    a written "Response:", a text naming its seed, then a new section the stop strings cut."""
    if (request.prefill or "").endswith(f"{RESPONSE_HEAD}\n"):
        text = f"Text from seed {params.seed}.\n\n{REASONING_HEAD}\n- again"
    else:
        text = LOOP * params.max_tokens
    for stop in params.stop:
        text = text.split(stop)[0]
    words = text.split(" ")
    finish = "length" if len(words) > params.max_tokens else "stop"
    return Sample(text=" ".join(words[: params.max_tokens]).strip(), tokens=min(len(words), params.max_tokens), finish_reason=finish)


def test_a_looping_model_responds_when_its_reasoning_is_capped():
    llm = ScriptedLLM(looping)
    request = ChatRequest.of("Write it.", prefill=f"{REASONING_HEAD}\n")
    params = SamplingParams(max_tokens=40, seed=3)
    one_call = request.prefill + llm.generate_each([request], params)[0].text
    with pytest.raises(ValueError, match="no 'Response:' part"):
        split_reply(one_call)

    llm.received.clear()
    (completion,) = reason_then_respond(llm, [request], params, 12)
    reasoning, response = split_reply(request.prefill + completion.text)
    assert response == "Text from seed 3." and reasoning.startswith("- the user likes short texts")
    (first, p1, _), (second, p2, _) = llm.received
    assert (p1.max_tokens, p2.max_tokens) == (12, 28) and RESPONSE_HEAD in p1.stop and {RESPONSE_HEAD, REASONING_HEAD} <= set(p2.stop)
    assert second.prefill == f"{request.prefill}{reasoning}\n\n{RESPONSE_HEAD}\n" and second.messages == first.messages
    assert completion.samples[0].tokens == 12 + 4

    too_long = ScriptedLLM(looping, context=8)  # the prompt fits the first call's budget, not the second's
    (refused,) = reason_then_respond(too_long, [ChatRequest.of("one two three", prefill=f"{REASONING_HEAD}\n")], SamplingParams(max_tokens=4), 2)
    assert isinstance(refused, PromptTooLong)


def test_the_cap_is_the_reasoning_format_s_alone_and_leaves_room_for_the_response():
    assert reply_format("longform-reasoning", 16).reasoning_max_tokens == 16
    with pytest.raises(ValueError, match="format 'longform' has none"):
        AnswerConfig(format="longform", reasoning_max_tokens=16)
    with pytest.raises(ValueError, match="no room for the response"):
        AnswerConfig(format="longform-reasoning", max_tokens=16, reasoning_max_tokens=16)
    with pytest.raises(ValueError, match="answer_reasoning_max_tokens caps"):
        RestEMConfig(answer_reasoning_max_tokens=16)
    with pytest.raises(ValueError, match="answer_reasoning_max_tokens 64 leaves no room"):
        RestEMConfig(format="longform-reasoning", warmup="reasoning", answer_reasoning_max_tokens=64, answer_max_tokens=64)


def test_the_loop_samples_validates_and_describes_its_method_with_the_cap(tmp_path, tasks):  # noqa: F811
    train, valid = tasks
    reasoner = ScriptedLLM(lambda request, params, j: "Writes plainly.", model="reasoner")
    policy = ScriptedLLM(looping, model="policy")
    settings = dict(
        iterations=1, samples=2, k=2, max_attempts=1, sft=SFTSettings.cpu_sample(), format="longform-reasoning", warmup="reasoning",
        sample_temperature=0.7, threshold=0.0, max_per_input=2, answer_max_tokens=40,
    )
    uncapped = RestEMConfig(**settings, run_dir=tmp_path / "one-call")
    with pytest.raises(TailorError, match="nothing to train on"):  # no sample reaches a response: none is kept
        train_rest_em(*loop_inputs(uncapped, train, valid, SeedReward([0.1] * 4), policy=policy, reasoner=reasoner), trainer=FakeTrainer())

    capped = RestEMConfig(**settings, answer_reasoning_max_tokens=12, run_dir=tmp_path / "capped")
    train_rest_em(*loop_inputs(capped, train, valid, SeedReward([0.1] * 4), policy=policy, reasoner=reasoner), trainer=FakeTrainer())
    run = tmp_path / "capped"
    samples = [json.loads(line) for line in (run / "iter_1" / "samples.jsonl").read_text().splitlines()]
    validation = [json.loads(line) for line in (run / "iter_1" / "validation.jsonl").read_text().splitlines()]
    assert samples and all(row["parsed"] for row in samples + validation)
    assert {row["response"] for row in validation} == {"Text from seed 0."}
    spec = InferenceSpec.model_validate_json((run / "inference.json").read_text())
    assert spec.answer.reasoning_max_tokens == 12 and spec.answer.format == "longform-reasoning"
    answers = RetrievalAugmented(ScriptedLLM(looping), BM25Retriever(), spec.answer).answer_batch(valid)  # as eval and the service build it
    assert [a.text for a in answers] == ["Text from seed 0."] * len(valid) and all(a.trace["reasoning"].startswith("- the user") for a in answers)
