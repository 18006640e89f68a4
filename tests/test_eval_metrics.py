import re

import pytest
from fakes import ScriptedLLM

from tailor.data.schema import Aspect, Example, ProfileItem
from tailor.metrics.aspect import AspectJudge
from tailor.metrics.direct import DirectJudge
from tailor.metrics.registry import make_metric
from tailor.metrics.pairwise import PairwiseJudge, combine
from tailor.errors import DataError


def example(eid: str, *aspects: str) -> Example:
    return Example(
        id=eid,
        question=f"question {eid}",
        profile=[ProfileItem(id="p", text="a past post")],
        narrative=f"narrative of {eid}",
        rubric_aspects=[Aspect(aspect=a, reason=f"reason {a}", evidence=f"evidence {a}") for a in aspects],
    )


# The scripted judge reads the aspect title from the prompt and continues the reply
# '{"score": ' (the prompt's prefill) with a fixed grade.
GRADES = {"alpha": "2", "beta": "1", "gamma": "0", "delta": "2", "broken": "not json"}


def aspect_judge_reply(request, params, j):
    title = re.search(r"The need to check:\n- (\w+)", request.messages[-1].content).group(1)
    grade = GRADES[title]
    return grade if grade == "not json" else f"{grade}}}"


def test_aspect_metric_arithmetic_with_different_aspect_counts():
    judge = ScriptedLLM(aspect_judge_reply)
    examples = [example("e1", "alpha", "beta"), example("e2", "gamma"), example("e3", "alpha", "beta", "gamma", "delta")]
    run = AspectJudge(judge).score_batch(examples, ["r1", "r2", "r3"])
    assert [s.value for s in run.scores] == [0.75, 0.0, pytest.approx(0.625)]
    assert run.mean == pytest.approx((0.75 + 0.0 + 0.625) / 3)
    assert run.judgments == 7 and run.failed_judgments == 0
    assert [a["score"] for a in run.scores[2].details["aspects"]] == [2, 1, 0, 2]
    assert [a["aspect"] for a in run.scores[0].details["aspects"]] == ["alpha", "beta"]


def test_all_aspect_prompts_go_out_as_one_batch():
    judge = ScriptedLLM(aspect_judge_reply)
    judge.batch_size = 100
    batches = []
    original = judge._generate
    judge._generate = lambda requests, params, adapter: batches.append(len(requests)) or original(requests, params, adapter)
    AspectJudge(judge).score_batch([example("e1", "alpha", "beta"), example("e2", "gamma")], ["r1", "r2"])
    assert batches == [3]


def test_unparseable_grades_are_retried_then_counted_as_zero_as_the_benchmark_does():
    judge = ScriptedLLM(aspect_judge_reply)
    examples = [example("e1", "alpha", "broken"), example("e2", "broken")]
    run = AspectJudge(judge).score_batch(examples, ["r1", "r2"])
    assert run.scores[0].value == 0.5  # the ungraded aspect counts 0, as in the benchmark's evaluator
    assert run.scores[0].details["failed_aspects"] == 1 and run.scores[0].details["graded_only"] == 1.0
    assert run.scores[1].value == 0.0 and run.scores[1].details["graded_only"] is None
    assert run.failed_judgments == 2  # counted and shown beside the headline
    assert run.mean == 0.25 and run.graded_only_mean == 1.0
    broken_calls = [p for r, p, _ in judge.received if "- broken" in r.messages[-1].content]
    assert [p.temperature for p in broken_calls] == [0.0, 0.0, 0.3, 0.3, 0.6, 0.6]


def test_scores_do_not_depend_on_order():
    examples = [example("e1", "alpha", "beta"), example("e2", "gamma", "delta")]
    forward = AspectJudge(ScriptedLLM(aspect_judge_reply)).score_batch(examples, ["r1", "r2"]).by_id()
    backward = AspectJudge(ScriptedLLM(aspect_judge_reply)).score_batch(examples[::-1], ["r2", "r1"]).by_id()
    assert {k: v.value for k, v in forward.items()} == {k: v.value for k, v in backward.items()}


def test_judge_prompt_carries_question_narrative_aspect_and_response():
    judge = ScriptedLLM(aspect_judge_reply)
    AspectJudge(judge).score_batch([example("e1", "alpha")], ["THE RESPONSE"])
    prompt = judge.prompts()[0]
    for part in ("question e1", "narrative of e1", "alpha", "reason alpha", "evidence alpha", "THE RESPONSE"):
        assert part in prompt


def test_direct_scoring_reads_the_five_point_scale():
    replies = {"question a": "0.75}", "question b": "0.3}", "question c": '"1"}'}
    judge = ScriptedLLM(lambda r, p, j: next(v for k, v in replies.items() if k in r.messages[-1].content))
    run = DirectJudge(judge).score_batch([example("a", "x"), example("b", "x"), example("c", "x")], ["r"] * 3)
    assert [s.value for s in run.scores] == [0.75, None, 1.0]
    assert run.failed_judgments == 1


@pytest.mark.parametrize(
    "first, second, verdict",
    [(1, 2, "a"), (2, 1, "b"), (1, 1, "tie"), (2, 2, "tie"), (None, 1, "failed")],
)
def test_pairwise_combination(first, second, verdict):
    assert combine(first, second) == verdict


def test_pairwise_judges_both_orders_and_reports_flip_rate():
    # A judge with a position bias on e2/e3 (always "1"), consistent on e1 (prefers GOOD) and e4 (prefers GOOD).
    def reply(request, params, j):
        text = request.messages[-1].content
        if "question e2" in text or "question e3" in text:
            return "1}"
        first = text.split("Answer 1:\n")[1].split("\n")[0]
        return "1}" if first == "GOOD" else "2}"

    judge = ScriptedLLM(reply)
    examples = [example(f"e{i}", "x") for i in range(1, 5)]
    run = PairwiseJudge(judge).compare(examples, ["GOOD", "GOOD", "BAD", "BAD"], ["BAD", "BAD", "GOOD", "GOOD"])
    assert run.verdicts == ["a", "tie", "tie", "b"]
    assert run.flip_rate == 0.5 and run.rate("a") == 0.25 and run.rate("b") == 0.25
    assert len(judge.received) == 8
    orders = [judge.prompts()[0], judge.prompts()[1]]
    assert orders[0].index("GOOD") < orders[0].index("BAD") and orders[1].index("BAD") < orders[1].index("GOOD")


def test_judges_need_the_hidden_fields():
    bare = Example(id="nope", question="q", profile=[], narrative=None)
    with pytest.raises(DataError, match="narrative"):
        AspectJudge(ScriptedLLM(aspect_judge_reply)).score_batch([bare], ["r"])


def test_make_metric():
    assert make_metric("aspect", ScriptedLLM(aspect_judge_reply)).name == "aspect"
    with pytest.raises(ValueError, match="judge"):
        make_metric("direct", None)
    with pytest.raises(ValueError, match="unknown"):
        make_metric("bleu", None)


def test_proxy_coverage_is_deterministic_and_rewards_covering_the_aspects():
    proxy = make_metric("proxy", None)
    assert proxy.proxy
    item = Example(
        id="p1", question="How do I start running?", profile=[], narrative="n",
        rubric_aspects=[Aspect(aspect="Knee pain after surgery", reason="they had knee surgery last year"),
                        Aspect(aspect="Running early in the morning", reason="they only have time before work")],
    )
    covering = "Because of your knee surgery, start with walk-run intervals to avoid knee pain. Run early in the morning before work."
    unrelated = "Tomatoes need full sun. Water them twice a week."
    run = proxy.score_batch([item, item], [covering, unrelated])
    good, bad = [s.value for s in run.scores]
    assert 0.0 <= bad < good <= 1.0 and good - bad > 0.3
    assert [s.value for s in proxy.score_batch([item, item], [covering, unrelated]).scores] == [good, bad]
    assert proxy.score(item, "").value == 0.0
