"""Dataset loaders on small fixture files in each benchmark's own shape (no network, no models)."""

import json
import shutil
from pathlib import Path

import pytest

from tailor.data import Example, load_examples
from tailor.data.loaders import load_jsonl, load_lamp, load_lampqa, load_lampqa_hub, write_jsonl
from tailor.data.responses import read_responses, write_responses
from tailor.errors import DataError

FIXTURES = Path(__file__).parent / "fixtures"
LAMPQA = FIXTURES / "lampqa"
ART = "Art_and_Entertainment"
SOCIETY = "Society_and_Culture"
BAD = FIXTURES / "bad"


def ids(examples: list[Example]) -> list[str]:
    return [e.id for e in examples]


# --------------------------------------------------------------------------- LaMP-QA


def test_lampqa_single_file_fields_and_category_from_folder():
    examples = load_lampqa(LAMPQA / ART / "test.json")

    assert ids(examples) == ["ae-q1", "ae-q2"]
    first, second = examples
    assert first.question == "Which beginner watercolor set should I buy?"
    assert second.question == "How do I start learning jazz piano as an adult?"
    assert {e.category for e in examples} == {ART}
    assert first.reference is None
    assert first.narrative.startswith("I draw birds outdoors on weekends")
    assert [(p.id, p.category) for p in first.profile] == [("ae-q1-p1", "hobbies"), ("ae-q1-p2", "home")]
    assert first.profile[0].text == "I sketch birds in the park every weekend with a pencil."
    assert [len(e.profile) for e in examples] == [2, 3]
    assert [a.aspect for a in second.rubric_aspects] == [
        "Building on classical training",
        "Short practice sessions",
        "Improvisation basics",
    ]
    assert first.rubric_aspects[0].reason == "The asker paints outdoors."
    assert first.rubric_aspects[1].evidence == "My flat is small"


def test_lampqa_file_outside_a_category_folder_has_no_category(tmp_path):
    copy = tmp_path / "whatever.json"
    shutil.copy(LAMPQA / SOCIETY / "test.json", copy)
    examples = load_lampqa(copy)
    assert ids(examples) == ["sc-q1", "sc-q2", "sc-q3"]
    assert all(e.category is None for e in examples)


def test_lampqa_record_category_overrides_folder(tmp_path):
    folder = tmp_path / ART
    folder.mkdir()
    records = json.loads((LAMPQA / ART / "test.json").read_text())
    records[0]["category"] = "Custom"
    (folder / "test.json").write_text(json.dumps(records))
    assert [e.category for e in load_lampqa(folder / "test.json")] == ["Custom", ART]


def test_lampqa_directory_all_splits():
    examples = load_lampqa(LAMPQA)
    # files are read sorted: Art/test, Art/train, Society/test
    assert ids(examples) == ["ae-q1", "ae-q2", "ae-t1", "sc-q1", "sc-q2", "sc-q3"]
    assert [e.category for e in examples] == [ART, ART, ART, SOCIETY, SOCIETY, SOCIETY]


def test_lampqa_directory_split_filter():
    test = load_lampqa(LAMPQA, split="test")
    assert ids(test) == ["ae-q1", "ae-q2", "sc-q1", "sc-q2", "sc-q3"]
    train = load_lampqa(LAMPQA, split="train")
    assert ids(train) == ["ae-t1"]
    assert train[0].category == ART
    assert [p.text for p in train[0].profile][-1] == "Budget is tight after the surgery bills."


def test_lampqa_directory_category_filter():
    examples = load_lampqa(LAMPQA, split="test", categories=(SOCIETY,))
    assert ids(examples) == ["sc-q1", "sc-q2", "sc-q3"]


def test_lampqa_directory_missing_split_raises():
    with pytest.raises(DataError) as info:
        load_lampqa(LAMPQA, split="validation")
    assert info.value.field == "<files>"
    assert str(LAMPQA) in str(info.value)


def test_lampqa_missing_question_names_record_and_field():
    path = BAD / "lampqa_missing_question.json"
    with pytest.raises(DataError) as info:
        load_lampqa(path)
    assert info.value.record == "bad-q"
    assert info.value.field == "question"
    assert str(path) in str(info.value)
    assert "'bad-q'" in str(info.value) and "'question'" in str(info.value)


def test_lampqa_profile_not_a_list_names_record_and_field():
    path = BAD / "lampqa_profile_string.json"
    with pytest.raises(DataError) as info:
        load_lampqa(path)
    assert info.value.record == "bad-p"
    assert info.value.field == "profile"
    assert "list" in info.value.problem
    assert str(path) in str(info.value)


def test_lampqa_profile_item_without_text(tmp_path):
    records = json.loads((LAMPQA / ART / "test.json").read_text())
    records[1]["profile"][2] = {"id": "x", "category": "music"}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(records))
    with pytest.raises(DataError) as info:
        load_lampqa(path)
    assert info.value.record == "ae-q2"
    assert info.value.field == "profile[2]"


def test_lampqa_empty_aspect(tmp_path):
    records = json.loads((LAMPQA / ART / "test.json").read_text())
    records[0]["rubric_aspects"][1]["aspect"] = "  "
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(records))
    with pytest.raises(DataError) as info:
        load_lampqa(path)
    assert info.value.record == "ae-q1"
    assert info.value.field == "rubric_aspects[1].aspect"


def test_lampqa_record_without_id_is_named_by_position(tmp_path):
    records = json.loads((LAMPQA / ART / "test.json").read_text())
    del records[1]["id"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(records))
    with pytest.raises(DataError) as info:
        load_lampqa(path)
    assert info.value.record == "#1"
    assert info.value.field == "id"


# --------------------------------------------------------------------------- LaMP-QA hub


def _hub_records() -> list[dict]:
    return json.loads((LAMPQA / SOCIETY / "test.json").read_text())


def test_lampqa_hub_calls_load_dataset_and_converts(monkeypatch):
    datasets = pytest.importorskip("datasets")
    calls = []

    def fake_load_dataset(*args, **kwargs):
        calls.append((args, kwargs))
        return datasets.Dataset.from_list(_hub_records())

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    examples = load_lampqa_hub(SOCIETY, "validation")

    assert len(calls) == 1
    args, kwargs = calls[0]
    assert args == ("alireza7/LaMP-QA", SOCIETY)
    assert kwargs["split"] == "validation"
    assert ids(examples) == ["sc-q1", "sc-q2", "sc-q3"]
    assert {e.category for e in examples} == {SOCIETY}
    assert examples[1].question == "Is it rude to bring my own food to a dinner party?"
    assert [p.id for p in examples[2].profile] == [f"sc-q3-p{i}" for i in range(1, 7)]
    assert examples[2].profile[5].category == "mental health"
    assert [a.aspect for a in examples[0].rubric_aspects] == ["Budget constraints", "Family relationships"]
    assert examples[0].narrative.endswith("saving for a house.")


def test_lampqa_hub_malformed_row_names_the_hub_source(monkeypatch):
    datasets = pytest.importorskip("datasets")
    rows = _hub_records()
    rows[2]["question"] = None
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: datasets.Dataset.from_list(rows))
    with pytest.raises(DataError) as info:
        load_lampqa_hub(SOCIETY, "test")
    assert info.value.record == "sc-q3"
    assert info.value.field == "question"
    assert "alireza7/LaMP-QA" in str(info.value)


def test_lampqa_hub_unknown_category(monkeypatch):
    datasets = pytest.importorskip("datasets")
    called = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: called.append(a))
    with pytest.raises(DataError) as info:
        load_lampqa_hub("Sports", "test")
    assert info.value.field == "category"
    assert "Sports" in str(info.value)
    assert called == []


# --------------------------------------------------------------------------- LaMP


def test_lamp2_pairs_sibling_outputs_automatically():
    examples = load_lamp(FIXTURES / "lamp2" / "dev_questions.json")
    assert ids(examples) == ["2101", "2102"]
    assert [e.reference for e in examples] == ["sci-fi", "classic"]
    assert examples[0].question.endswith("find a new home for humanity.")
    assert [e.category for e in examples] == [None, None]
    item = examples[0].profile[0]
    assert item.id == "21010"
    assert item.text == "Astronauts are stranded on Mars and must grow food to survive."
    assert item.model_extra["tag"] == "sci-fi"
    assert [p.model_extra["tag"] for p in examples[0].profile] == ["sci-fi", "comedy"]


def test_lamp_explicit_outputs_file(tmp_path):
    questions = tmp_path / "questions.json"  # no *_questions name, so no sibling pairing
    shutil.copy(FIXTURES / "lamp5" / "dev_questions.json", questions)
    assert [e.reference for e in load_lamp(questions)] == [None, None]
    examples = load_lamp(questions, FIXTURES / "lamp5" / "dev_outputs.json")
    assert [e.reference for e in examples] == [
        "Retrieval-Augmented Personalization of Language Models",
        "A Benchmark for Personalized Text Generation",
    ]


def test_lamp5_item_text_joins_title_and_abstract():
    examples = load_lamp(FIXTURES / "lamp5" / "dev_questions.json")
    assert ids(examples) == ["5101", "5102"]
    item = examples[0].profile[0]
    assert "Dense Retrieval for Personal Archives" in item.text
    assert "We index personal email with dense embeddings." in item.text
    assert item.text.index("Dense Retrieval") < item.text.index("We index")
    assert item.model_extra["title"] == "Dense Retrieval for Personal Archives"
    assert item.model_extra["abstract"] == "We index personal email with dense embeddings."
    assert examples[1].question.startswith("Generate a title for the following abstract of a paper:")


def test_lamp3_test_split_without_outputs_keeps_extras():
    examples = load_lamp(FIXTURES / "lamp3" / "test_questions.json")
    assert ids(examples) == ["3101", "3102"]
    assert [e.reference for e in examples] == [None, None]
    assert [p.text for p in examples[0].profile] == [
        "Works great, my smoothies have never been better.",
        "Arrived scratched and the lid does not fit.",
    ]
    assert [p.model_extra["score"] for p in examples[0].profile] == ["5", "2"]
    assert examples[1].profile[0].score == "3"  # extras are attributes too


def test_lamp_outputs_missing_a_gold(tmp_path):
    shutil.copy(FIXTURES / "lamp2" / "dev_questions.json", tmp_path / "dev_questions.json")
    (tmp_path / "dev_outputs.json").write_text(json.dumps({"task": "LaMP_2", "golds": [{"id": "2101", "output": "sci-fi"}]}))
    with pytest.raises(DataError) as info:
        load_lamp(tmp_path / "dev_questions.json")
    assert info.value.record == "2102"
    assert info.value.field == "golds"
    assert str(tmp_path / "dev_outputs.json") in str(info.value)


def test_lamp_outputs_without_golds_list(tmp_path):
    shutil.copy(FIXTURES / "lamp2" / "dev_questions.json", tmp_path / "dev_questions.json")
    (tmp_path / "dev_outputs.json").write_text(json.dumps([{"id": "2101", "output": "sci-fi"}]))
    with pytest.raises(DataError) as info:
        load_lamp(tmp_path / "dev_questions.json")
    assert info.value.field == "golds"


def test_lamp_missing_input_names_record_and_field():
    path = BAD / "lamp_missing_input_questions.json"
    with pytest.raises(DataError) as info:
        load_lamp(path)
    assert info.value.record == "bad-i"
    assert info.value.field == "input"
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------- LongLaMP


def test_longlamp_single_file_via_load_examples():
    examples = load_examples(FIXTURES / "longlamp" / "review_writing.json")
    assert ids(examples) == ["ll-r1", "ll-r2"]
    assert examples[0].reference == "Makes a rich cup every morning, but the mesh filter is a pain to clean."
    assert examples[1].reference == "Died after three uses and the seller never answered."
    assert examples[0].question.startswith("Generate the review text written by a reviewer")
    assert examples[0].user_id == "A1XYZ"
    first = examples[0].profile[0]
    assert "Best grinder I have owned" in first.text
    assert "Consistent grind, quiet motor, easy to clean." in first.text
    assert first.model_extra["overall"] == "5.0"
    # items without ids get a stable one derived from the record id and position
    assert [p.id for p in examples[0].profile] == ["ll-r1-p0", "ll-r1-p1"]
    assert "The travel mug leaked in my bag twice." in examples[0].profile[1].text


def test_longlamp_non_string_output(tmp_path):
    records = json.loads((FIXTURES / "longlamp" / "review_writing.json").read_text())
    records[1]["output"] = 4
    path = tmp_path / "reviews.json"
    path.write_text(json.dumps(records))
    with pytest.raises(DataError) as info:
        load_examples(path)
    assert info.value.record == "ll-r2"
    assert info.value.field == "output"


def test_longlamp_records_without_id(tmp_path):
    records = json.loads((FIXTURES / "longlamp" / "review_writing.json").read_text())
    for record, reviewer in zip(records, ["R-one", "R-two"]):
        record.pop("id")
        record.pop("user_id", None)
        record["reviewerId"] = reviewer
    path = tmp_path / "product_review.json"
    path.write_text(json.dumps(records))
    examples = load_examples(path)
    assert [e.id for e in examples] == ["product_review-0", "product_review-1"]
    assert [e.user_id for e in examples] == ["R-one", "R-two"]


# --------------------------------------------------------------------------- JSONL


def test_load_jsonl():
    examples = load_jsonl(FIXTURES / "examples.jsonl")
    assert ids(examples) == ["ex-1", "ex-2"]
    assert examples[0].question == "What should I cook tonight?"
    assert examples[0].reference == "A one-pan vegetable curry."
    assert examples[0].category == "Lifestyle_and_Personal_Development"
    assert [p.text for p in examples[0].profile] == ["I am vegetarian.", "I only own one pan."]
    assert examples[0].profile[1].category == "cooking"
    assert examples[1].narrative == "I enjoy thoughtful science fiction."
    assert examples[1].rubric_aspects[0].evidence == "thoughtful science fiction"


def test_jsonl_round_trip(tmp_path):
    examples = load_jsonl(FIXTURES / "examples.jsonl") + load_lampqa(LAMPQA / ART / "test.json")
    path = tmp_path / "out.jsonl"
    write_jsonl(examples, path)
    assert len(path.read_text().splitlines()) == 4
    assert load_jsonl(path) == examples


def test_jsonl_broken_line():
    path = BAD / "broken.jsonl"
    with pytest.raises(DataError) as info:
        load_jsonl(path)
    assert info.value.record == "line 2"
    assert info.value.field == "<json>"
    assert str(path) in str(info.value)


def test_jsonl_profile_not_a_list(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"id": "j1", "question": "q?", "profile": "oops"}) + "\n")
    with pytest.raises(DataError) as info:
        load_jsonl(path)
    assert (info.value.record, info.value.field) == ("j1", "profile")


def test_jsonl_empty_question_reports_pydantic_field(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("\n" + json.dumps({"id": "j2", "question": "", "profile": []}) + "\n")
    with pytest.raises(DataError) as info:
        load_jsonl(path)
    assert (info.value.record, info.value.field) == ("j2", "question")


# --------------------------------------------------------------------------- auto-detection


@pytest.mark.parametrize(
    ("relpath", "split", "expected_ids", "expected_refs"),
    [
        ("examples.jsonl", None, ["ex-1", "ex-2"], ["A one-pan vegetable curry.", None]),
        ("lampqa", None, ["ae-q1", "ae-q2", "ae-t1", "sc-q1", "sc-q2", "sc-q3"], [None] * 6),
        ("lampqa", "train", ["ae-t1"], [None]),
        ("lampqa/Society_and_Culture/test.json", None, ["sc-q1", "sc-q2", "sc-q3"], [None] * 3),
        ("lamp2/dev_questions.json", None, ["2101", "2102"], ["sci-fi", "classic"]),
        ("lamp2", "dev", ["2101", "2102"], ["sci-fi", "classic"]),
        ("lamp3", None, ["3101", "3102"], [None, None]),
        ("lamp5/dev_questions.json", None, ["5101", "5102"], [
            "Retrieval-Augmented Personalization of Language Models",
            "A Benchmark for Personalized Text Generation",
        ]),
        ("longlamp/review_writing.json", None, ["ll-r1", "ll-r2"], [
            "Makes a rich cup every morning, but the mesh filter is a pain to clean.",
            "Died after three uses and the seller never answered.",
        ]),
    ],
)
def test_load_examples_auto_detects(relpath, split, expected_ids, expected_refs):
    examples = load_examples(FIXTURES / relpath, split=split)
    assert ids(examples) == expected_ids
    assert [e.reference for e in examples] == expected_refs


def test_load_examples_auto_lampqa_keeps_hidden_fields():
    examples = load_examples(LAMPQA, split="test")
    assert all(e.narrative and e.rubric_aspects for e in examples)
    assert [e.category for e in examples] == [ART, ART, SOCIETY, SOCIETY, SOCIETY]


def test_load_examples_lamp_directory_without_matching_split():
    with pytest.raises(DataError) as info:
        load_examples(FIXTURES / "lamp3", split="dev")
    assert info.value.field == "<files>"
    assert "dev_questions.json" in str(info.value)


def test_load_examples_explicit_format_overrides_detection(tmp_path):
    path = tmp_path / "records.json"  # LongLaMP shape but read as plain LaMP
    shutil.copy(FIXTURES / "longlamp" / "review_writing.json", path)
    assert ids(load_examples(path, fmt="lamp")) == ["ll-r1", "ll-r2"]
    with pytest.raises(DataError) as info:
        load_examples(path, fmt="lampqa")
    assert (info.value.record, info.value.field) == ("ll-r1", "question")


def test_load_examples_unknown_format():
    with pytest.raises(DataError) as info:
        load_examples(FIXTURES / "examples.jsonl", fmt="csv")
    assert info.value.field == "<format>"
    assert "csv" in str(info.value)


def test_load_examples_missing_path(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(DataError) as info:
        load_examples(missing)
    assert info.value.field == "<file>"
    assert str(missing) in str(info.value)


def test_load_examples_not_json():
    path = BAD / "not_json.json"
    with pytest.raises(DataError) as info:
        load_examples(path)
    assert info.value.record is None
    assert info.value.field == "<json>"
    assert str(path) in str(info.value)


def test_load_examples_json_object_not_list(tmp_path):
    path = tmp_path / "obj.json"
    path.write_text(json.dumps({"id": "x"}))
    with pytest.raises(DataError) as info:
        load_examples(path)
    assert info.value.field == "<root>"


def test_load_examples_unrecognised_records(tmp_path):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps([{"id": "x", "prompt": "hi"}]))
    with pytest.raises(DataError) as info:
        load_examples(path)
    assert info.value.field == "<format>"


@pytest.mark.parametrize(
    ("relpath", "record", "field"),
    [
        ("lampqa_missing_question.json", "bad-q", "question"),
        ("lampqa_profile_string.json", "bad-p", "profile"),
        ("lamp_missing_input_questions.json", "bad-i", "input"),
        ("broken.jsonl", "line 2", "<json>"),
    ],
)
def test_load_examples_bad_files(relpath, record, field):
    path = BAD / relpath
    with pytest.raises(DataError) as info:
        load_examples(path)
    assert (info.value.record, info.value.field) == (record, field)
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------- responses


def test_responses_round_trip_in_benchmark_format(tmp_path):
    outputs = {"sc-q1": "Send a warm note and a gift.", "sc-q2": "Offer to bring a dish for everyone — ünïcode kept."}
    path = tmp_path / "nested" / "responses.json"
    write_responses(outputs, path)
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "sc-q1": [{"output": "Send a warm note and a gift."}],
        "sc-q2": [{"output": "Offer to bring a dish for everyone — ünïcode kept."}],
    }
    assert read_responses(path) == outputs


@pytest.mark.parametrize(
    ("content", "record", "field"),
    [
        ({"q1": [{"output": "ok"}], "q2": "plain string"}, "q2", "output"),
        ({"q1": []}, "q1", "output"),
        ({"q1": [{"text": "wrong key"}]}, "q1", "output"),
        ({"q1": [{"output": 3}]}, "q1", "output"),
        ([{"id": "q1", "output": "a list root"}], None, "<root>"),
    ],
)
def test_read_responses_malformed(tmp_path, content, record, field):
    path = tmp_path / "responses.json"
    path.write_text(json.dumps(content))
    with pytest.raises(DataError) as info:
        read_responses(path)
    assert (info.value.record, info.value.field) == (record, field)
    assert str(path) in str(info.value)


def test_read_responses_not_json():
    with pytest.raises(DataError) as info:
        read_responses(BAD / "not_json.json")
    assert info.value.field == "<json>"
