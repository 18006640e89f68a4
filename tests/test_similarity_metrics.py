import math

import pytest
from fakes import ScriptedLLM
from rouge_score import rouge_scorer

from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.metrics.registry import make_metric
from tailor.metrics.rouge import RougeMetric
from tailor.metrics.similarity import SimilarityJudge
from tailor.llm.types import Sample, TokenLogprob
from tailor.prompts.similarity import RUBRIC


def example(id: str = "u1", reference: str | None = "The cats sat on the warm mat all day.") -> Example:
    return Example(id=id, question="Write a short note about the cat.", profile=[], reference=reference)


def top_k(probabilities: dict[str, float]) -> Sample:
    """A one-token sample whose top-k holds these probabilities; the greedy token is the first."""
    top = {token: math.log(p) for token, p in probabilities.items()}
    token = next(iter(probabilities))
    return Sample(text=token.strip(), tokens=1, logprobs=[TokenLogprob(token=token, logprob=top[token], top=top)])


def judge_llm(first: dict[str, float], after_one: dict[str, float] | Sample | None = None) -> ScriptedLLM:
    """Scripted judge: ``first`` after the ``Score: `` prefill, ``after_one`` after ``Score: 1``."""

    def reply(request, params, _):
        if request.prefill.endswith("1"):
            return after_one if isinstance(after_one, Sample) else top_k(after_one)
        return top_k(first)

    return ScriptedLLM(reply)


def test_rouge_identical_and_disjoint() -> None:
    for name in ("rouge-l", "rouge-1"):
        metric = make_metric(name, None)
        run = metric.score_batch([example(), example("u2")], ["The cats sat on the warm mat all day.", "quantum flux capacitor"])
        assert run.metric == name and [s.value for s in run.scores] == [1.0, 0.0]


def test_rouge_partial_matches_rouge_score() -> None:
    response = "A cat sitting on a mat."
    expected = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False).score(example().reference, response)["rougeL"].fmeasure  # as the benchmarks
    assert 0 < expected < 1
    assert RougeMetric("rougeL").score(example(), response).value == pytest.approx(expected)
    # by hand, unstemmed: "a cat sitting on a mat" vs "the cats sat on the warm mat all day": on, mat ("cat" is not "cats")
    assert RougeMetric("rouge1").score(example(), response).value == pytest.approx(2 * (2 / 6) * (2 / 9) / (2 / 6 + 2 / 9))


@pytest.mark.parametrize("metric", [RougeMetric(), SimilarityJudge(judge_llm({"7": 0.9}))])
def test_missing_reference_names_the_example_and_field(metric) -> None:
    with pytest.raises(TailorError, match="'u9'.*reference"):
        metric.score_batch([example(), example("u9", reference=None)], ["a", "b"])


def test_judge_picks_the_most_probable_value_in_one_batch_per_step() -> None:
    llm = judge_llm({" 5": 0.2, "7": 0.3, "5": 0.25, "x": 0.1, "3": 0.05})
    run = SimilarityJudge(llm).score_batch([example("a"), example("b")], ["r1", "r2"])
    assert [s.value for s in run.scores] == [0.5, 0.5]  # " 5" and "5" both count for 5
    assert run.scores[0].details["probabilities"] == pytest.approx({1: 0, 3: 0.05, 5: 0.45, 7: 0.3, 10: 0})
    assert run.judgments == 2 and run.failed_judgments == 0
    assert len(llm.received) == 2  # "1" is not in the top-k: no second request
    params = llm.received[0][1]
    assert (params.temperature, params.max_tokens, params.logprobs) == (0, 1, 20)
    request = llm.received[0][0]
    assert request.prefill == "Score: " and "The cats sat on the warm mat" in request.messages[-1].content
    assert all(str(value) in request.messages[-1].content for value in RUBRIC)


def test_ten_wins_only_after_splitting_one() -> None:
    # greedy token "7" (0.4) but "1" (0.5) is mostly the start of "10": 10 gets 0.45, 1 keeps 0.05
    calls = []
    llm = judge_llm({"7": 0.4, "1": 0.5, "3": 0.1}, {"0": 0.9, "\n": 0.05})
    original = llm.generate
    llm.generate = lambda requests, *a, **k: calls.append(len(requests)) or original(requests, *a, **k)
    run = SimilarityJudge(llm).score_batch([example("a"), example("b"), example("c")], ["r1", "r2", "r3"])
    assert [s.value for s in run.scores] == [1.0, 1.0, 1.0]
    assert run.scores[0].details["probabilities"] == pytest.approx({1: 0.05, 3: 0.1, 5: 0, 7: 0.4, 10: 0.45})
    assert calls == [3, 3] and run.judgments == 6
    assert llm.received[-1][0].prefill == "Score: 1"


def test_one_stays_one_when_zero_is_unlikely() -> None:
    run = SimilarityJudge(judge_llm({"1": 0.5, "7": 0.4}, {"\n": 0.8, "0": 0.1})).score_batch([example()], ["r"])
    assert run.scores[0].value == 0.1
    assert run.scores[0].details["probabilities"][1] == pytest.approx(0.45)


def test_single_token_ten() -> None:
    run = SimilarityJudge(judge_llm({" 10": 0.6, "7": 0.3})).score_batch([example()], ["r"])
    assert run.scores[0].value == 1.0 and run.scores[0].details["probabilities"][10] == pytest.approx(0.6)


def test_unreadable_split_decides_only_when_it_does_not_matter() -> None:
    ended = Sample(text="", tokens=1, logprobs=[])  # the reply ended right after "1": no distribution
    decided = SimilarityJudge(judge_llm({"7": 0.6, "1": 0.3}, ended)).score_batch([example()], ["r"])
    assert decided.scores[0].value == 0.7 and decided.scores[0].details["zero_after_one"] is None
    undecided = SimilarityJudge(judge_llm({"7": 0.4, "1": 0.5}, ended)).score_batch([example()], ["r"])
    assert undecided.scores[0].value is None and undecided.failed_judgments == 1


def test_no_rubric_value_in_top_k_is_a_failed_judgment() -> None:
    run = SimilarityJudge(judge_llm({"\n": 0.7, "The": 0.2})).score_batch([example("a")], ["r"])
    assert run.scores[0].value is None and run.failed_judgments == 1 and run.failed_examples == 1
    assert math.isnan(run.mean)


def test_backend_without_logprobs_is_a_clear_error() -> None:
    with pytest.raises(TailorError, match="scripted backend returned no logprobs.*similarity metric needs them"):
        SimilarityJudge(ScriptedLLM(lambda *_: "7")).score_batch([example()], ["r"])


@pytest.mark.model
def test_real_model_scores_on_the_rubric(hf_llm) -> None:
    examples = [example("a"), example("b", reference="We propose a graph neural network for molecules.")]
    run = make_metric("similarity", hf_llm).score_batch(examples, ["A cat sat on a warm mat.", "I like pizza."])
    for score in run.scores:
        assert score.value in {0.1, 0.3, 0.5, 0.7, 1.0}
        probabilities = score.details["probabilities"]
        assert set(probabilities) == set(RUBRIC) and 0 < sum(probabilities.values()) <= 1 + 1e-6


def test_a_judge_prompt_too_long_for_the_context_is_an_unreadable_judgment_not_an_error() -> None:
    from tailor.errors import PromptTooLong

    def reply(request, params, _):
        if "too long" in request.messages[-1].content:
            raise PromptTooLong(None, params.max_tokens, 4096, "the server refused it")
        return top_k({"7": 0.9})

    run = SimilarityJudge(ScriptedLLM(reply)).score_batch([example("a"), example("b")], ["a fine answer", "an answer far too long"])
    assert [s.value for s in run.scores] == [0.7, None] and run.failed_judgments == 1
    assert "does not fit its context" in run.scores[1].details["reason"]
