import pytest
from fakes import ScriptedLLM

from tailor.llm.types import ChatRequest, SamplingParams
from tailor.prompts.json_extract import JSONExtractionError, extract_field, extract_json
from tailor.prompts.retry import generate_parsed


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure! Here it is:\n```json\n{"a": 1, "b": [1, 2]}\n```\nHope that helps.', {"a": 1, "b": [1, 2]}),
        ('```\n{"a": "x"}\n```', {"a": "x"}),
        ('blah {"a": "has } and { inside"} trailing words', {"a": "has } and { inside"}),
        ("{'a': 'single quotes', 'b': 2,}", {"a": "single quotes", "b": 2}),
        ('{"a": 1, // a comment\n "b": 2}', {"a": 1, "b": 2}),
        ('{"answer": "cut off by the token lim', {"answer": "cut off by the token lim"}),
        ('{"a": {"b": [1, 2', {"a": {"b": [1, 2]}}),
        ('noise [1, 2, 3] more noise', [1, 2, 3]),
        ('{"first": 1}\n{"second": 2}', {"first": 1}),
    ],
)
def test_extracts_json_from_messy_output(text, expected):
    assert extract_json(text) == expected


@pytest.mark.parametrize("text", ["", "no json here at all", "{not: even, json5: [}", "```json\n```"])
def test_raises_when_there_is_no_json(text):
    with pytest.raises(JSONExtractionError):
        extract_json(text)


def test_expect_skips_values_of_the_wrong_type():
    assert extract_json('[1] then {"k": 2}', expect=dict) == {"k": 2}
    with pytest.raises(JSONExtractionError):
        extract_json("[1, 2]", expect=dict)


def test_extract_field_reads_a_string_out_of_broken_json():
    assert extract_field('{"personalized_answer": "Start with \\"open\\" strings."]', "personalized_answer") == 'Start with "open" strings.'
    assert extract_field('{"personalized_answer": "x", "other": 1}', "personalized_answer") == "x"
    with pytest.raises(JSONExtractionError):
        extract_field('{"other": 1}', "personalized_answer")


def _parse_number(text: str) -> int:
    return int(extract_field(text, "n"))


def test_retry_raises_temperature_and_counts_what_still_fails():
    def reply(request, params, j):
        prompt = request.messages[-1].content
        if prompt == "good":
            return '{"n": 1}'
        if prompt == "late" and params.temperature >= 0.6:
            return '{"n": 2}'
        return "I cannot answer in JSON."

    llm = ScriptedLLM(reply)
    batch = generate_parsed(llm, [ChatRequest.of(p) for p in ("good", "late", "never")], SamplingParams(temperature=0.0, seed=5), _parse_number, max_attempts=3)
    assert [p.value for p in batch.items] == [1, 2, None]
    assert [p.attempts for p in batch.items] == [1, 3, 3]
    assert batch.failures == 1 and batch.retried == 2
    assert batch.items[2].raw == "I cannot answer in JSON."
    temperatures = [round(params.temperature, 2) for request, params, _ in llm.received if request.messages[-1].content == "never"]
    seeds = [params.seed for request, params, _ in llm.received if request.messages[-1].content == "never"]
    assert temperatures == [0.0, 0.3, 0.6]
    assert seeds == [5, 6, 7]


def test_retry_budget_is_bounded_and_capped_at_temperature_one():
    llm = ScriptedLLM(lambda r, p, j: "nope")
    batch = generate_parsed(llm, [ChatRequest.of("x")], SamplingParams(temperature=0.9), _parse_number, max_attempts=4)
    assert len(llm.received) == 4 and batch.failures == 1
    assert max(p.temperature for _, p, _ in llm.received) == 1.0
