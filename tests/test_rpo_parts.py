import pytest

from tailor.data.schema import ProfileItem
from tailor.prompts.rpo import Reflection, parse_reflection, parse_trajectory, reflection_request, retrieval_query, trajectory_request
from tailor.train.curriculum import shots


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<think> they like puns </think>\n<personalized> comedy </personalized>", Reflection("they like puns", "comedy")),
        ("<personalized>\n3\n</personalized>", Reflection(None, "3")),
        ("<think>  </think><personalized>3</personalized>", Reflection(None, "3")),
        ("Sure! Here you go.\n<think>why</think>\n<personalized>A title</personalized>\nHope this helps.", Reflection("why", "A title")),
        ("<PERSONALIZED>x</Personalized>", Reflection(None, "x")),
    ],
)
def test_parse_reflection_reads_well_formed_replies(raw, expected):
    assert parse_reflection(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("<think>why</think> comedy </personalized>", "no <personalized> opening tag"),
        ("<think>why</think> comedy", "no <personalized> block"),
        ("<think>why</think><personalized> comedy", "never closed"),
        ("<think>why</think><personalized>  \n </personalized>", "empty"),
        ("<personalized>a <personalized>b</personalized></personalized>", "nested"),
        ("<personalized>a</personalized> or <personalized>b</personalized>", "more than one"),
        ("<personalized>a</personalized></personalized>", "without an opening tag"),
    ],
)
def test_parse_reflection_rejects_malformed_replies(raw, reason):
    with pytest.raises(ValueError, match=reason):
        parse_reflection(raw)


def test_curriculum_schedule():
    epochs = range(1, 13)
    assert [shots(e, 1) for e in epochs] == [2, 3, 4, 5, 6, 6, 6, 6, 6, 6, 6, 6]
    assert [shots(e, 2) for e in epochs] == [2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 6, 6]
    assert shots(7, 3, start=1, cap=3) == 3


@pytest.mark.parametrize(("epoch", "step", "reason"), [(0, 1, "epoch counts from 1"), (1, 0, "epochs_per_step")])
def test_curriculum_rejects_bad_arguments(epoch, step, reason):
    with pytest.raises(ValueError, match=reason):
        shots(epoch, step)


ITEMS = [ProfileItem(id="a", text="PAST-ITEM-ONE"), ProfileItem(id="b", text="PAST-ITEM-TWO")]


def test_reflection_request_holds_its_inputs():
    prompt = reflection_request("THE-QUESTION", "THE-GENERIC-ANSWER", ITEMS).messages[-1].content
    for part in ("THE-QUESTION", "THE-GENERIC-ANSWER", "PAST-ITEM-ONE", "PAST-ITEM-TWO", "<think>", "<personalized>"):
        assert part in prompt


def test_trajectory_request_holds_its_inputs():
    prompt = trajectory_request("THE-QUESTION", "THE-GENERIC-ANSWER", ITEMS[0], "THE-TRUTH").messages[-1].content
    for part in ("THE-QUESTION", "THE-GENERIC-ANSWER", "PAST-ITEM-ONE", "THE-TRUTH", "<think>", "<personalized>"):
        assert part in prompt
    assert "PAST-ITEM-TWO" not in prompt


def test_retrieval_query_joins_question_and_generic_answer():
    query = retrieval_query(" THE-QUESTION ", "THE-GENERIC-ANSWER\n")
    assert query.index("THE-QUESTION") < query.index("THE-GENERIC-ANSWER")
    assert query == "THE-QUESTION\n\nTHE-GENERIC-ANSWER"


@pytest.mark.parametrize("raw, think", [
    ("<think>Uses colons.</think><personalized>x</personalized>", "Uses colons."),
    ("<think>Uses colons.<personalized>x</personalized>", "Uses colons."),
])
def test_a_trajectory_needs_only_readable_reasoning(raw, think):
    assert parse_trajectory(raw) == think


@pytest.mark.parametrize("raw, reason", [
    ("<think> </think><personalized>x</personalized>", "empty reasoning"),
    # the paper's brevity check: reasoning the token budget cut off is not a trajectory
    ("<think>Uses colons and never closes", "never ends"),
    # and its consistency check: a teacher stuck in a loop (as SmolLM2-135M is) explains nothing
    ("<think>The user's answer is:\n\nTake Pepper out.\n\nThe user's answer is:\n</think><personalized>x</personalized>", "repeats a line"),
])
def test_a_trajectory_without_usable_reasoning_is_refused(raw, reason):
    with pytest.raises(ValueError, match=reason):
        parse_trajectory(raw)
