"""`tailor data validate` / `tailor data stats` and the statistics behind them."""

import json
import math
from pathlib import Path
from statistics import mean, pstdev

import pytest
from typer.testing import CliRunner

from tailor.cli import app
from tailor.data import Aspect, Example, ProfileItem
from tailor.data.stats import Spread, dataset_stats, spread

FIXTURES = Path(__file__).parent / "fixtures"
LAMPQA = FIXTURES / "lampqa"
BAD = FIXTURES / "bad"
CATEGORIES = ("Art_and_Entertainment", "Society_and_Culture")

# Wide enough that rich neither wraps error lines nor truncates the table's cells.
ENV = {"COLUMNS": "250", "TAILOR_PROGRESS": "0"}


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env=ENV)


def table_rows(output: str) -> dict[str, list[str]]:
    """Body rows of a rich table, keyed by their first cell."""
    rows = {}
    for line in output.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            rows[cells[0]] = cells
    return rows


def fixture_profile_sizes(split: str | None = None) -> dict[str, list[int]]:
    sizes: dict[str, list[int]] = {}
    for file in sorted(LAMPQA.glob("*/*.json")):
        if split is None or file.stem == split:
            sizes.setdefault(file.parent.name, []).extend(len(r["profile"]) for r in json.loads(file.read_text()))
    return sizes


def fmt(values: list[int]) -> str:
    return f"{mean(values):.1f} ± {pstdev(values):.1f}"


# --------------------------------------------------------------------------- validate


def test_validate_good_directory_prints_counts():
    result = invoke("data", "validate", str(LAMPQA))
    assert result.exit_code == 0, result.output
    sizes = fixture_profile_sizes()
    n_examples = sum(len(v) for v in sizes.values())
    n_items = sum(sum(v) for v in sizes.values())
    assert (n_examples, n_items) == (6, 21)
    assert f"{n_examples} examples" in result.output
    assert f"{n_items} profile items" in result.output


@pytest.mark.parametrize(
    ("relpath", "extra", "count"),
    [
        ("lampqa/Art_and_Entertainment/test.json", [], 2),
        ("lampqa", ["--split", "train"], 1),
        ("lamp2/dev_questions.json", [], 2),
        ("longlamp/review_writing.json", [], 2),
        ("examples.jsonl", ["--format", "jsonl"], 2),
    ],
)
def test_validate_good_files(relpath, extra, count):
    result = invoke("data", "validate", str(FIXTURES / relpath), *extra)
    assert result.exit_code == 0, result.output
    assert f"ok: {count} examples" in result.output


@pytest.mark.parametrize(
    ("relpath", "record", "field"),
    [
        ("lampqa_missing_question.json", "bad-q", "question"),
        ("lampqa_profile_string.json", "bad-p", "profile"),
        ("lamp_missing_input_questions.json", "bad-i", "input"),
        ("broken.jsonl", "line 2", "<json>"),
    ],
)
def test_validate_bad_file_names_record_and_field(relpath, record, field):
    path = BAD / relpath
    result = invoke("data", "validate", str(path))
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)  # a clean exit, no traceback
    assert f"record '{record}'" in result.output
    assert f"field '{field}'" in result.output
    assert str(path) in result.output
    assert "ok:" not in result.output


def test_validate_missing_path(tmp_path):
    result = invoke("data", "validate", str(tmp_path / "nope.json"))
    assert result.exit_code != 0
    assert "does not exist" in result.output


def test_validate_unknown_format():
    result = invoke("data", "validate", str(FIXTURES / "examples.jsonl"), "--format", "xml")
    assert result.exit_code != 0
    assert "xml" in result.output


def test_validate_error_with_brackets_is_printed_verbatim(tmp_path):
    records = json.loads((BAD / "lampqa_missing_question.json").read_text())
    records[1]["id"] = "[/bad]"
    path = tmp_path / "brackets.json"
    path.write_text(json.dumps(records))
    result = invoke("data", "validate", str(path))
    assert result.exit_code == 1
    assert "record '[/bad]'" in result.output


# --------------------------------------------------------------------------- stats


def test_stats_table_has_each_category_and_profile_size():
    result = invoke("data", "stats", str(LAMPQA))
    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    sizes = fixture_profile_sizes()
    assert set(rows) == {*CATEGORIES, "all"}
    header = next(line for line in result.output.splitlines() if "profile size" in line)
    column = [c.strip() for c in header.strip("┃").split("┃")].index("profile size")
    for category in CATEGORIES:
        assert rows[category][1] == str(len(sizes[category]))
        assert rows[category][column] == fmt(sizes[category])
    everything = [n for v in sizes.values() for n in v]
    assert rows["all"][1] == "6"
    assert rows["all"][column] == fmt(everything)
    # the same numbers worked out on paper: Art [2, 3, 4], Society [2, 4, 6]
    assert rows["Art_and_Entertainment"][column] == "3.0 ± 0.8"
    assert rows["Society_and_Culture"][column] == "4.0 ± 1.6"
    assert rows["all"][column] == "3.5 ± 1.4"


def test_stats_with_split():
    result = invoke("data", "stats", str(LAMPQA), "--split", "test")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    assert "(test)" in result.output
    assert rows["Art_and_Entertainment"][1] == "2"
    assert rows["Art_and_Entertainment"][3] == fmt(fixture_profile_sizes("test")["Art_and_Entertainment"]) == "2.5 ± 0.5"


def test_stats_bad_file_fails_cleanly():
    result = invoke("data", "stats", str(BAD / "lampqa_profile_string.json"))
    assert result.exit_code != 0
    assert "bad-p" in result.output and "profile" in result.output
    assert "┏" not in result.output


# --------------------------------------------------------------------------- dataset_stats


def _example(eid: str, n_profile: int, n_aspects: int = 0, category: str | None = None,
             question: str = "one two three", narrative: str | None = None) -> Example:
    return Example(
        id=eid,
        question=question,
        profile=[ProfileItem(id=f"{eid}-{i}", text=f"post {i}") for i in range(n_profile)],
        rubric_aspects=[Aspect(aspect=f"a{i}") for i in range(n_aspects)],
        category=category,
        narrative=narrative,
    )


def test_dataset_stats_single_group_by_hand():
    rows = dataset_stats([
        _example("a", 2, 3, question="how do I cook rice", narrative="I live alone"),
        _example("b", 4, 5, question="why", narrative="I have a rice cooker at home now"),
    ])
    assert len(rows) == 1
    row = rows[0]
    assert row.group == "all"
    assert row.questions == 2
    assert row.profile_size == Spread(3.0, 1.0)
    assert str(row.profile_size) == "3.0 ± 1.0"
    assert row.aspects_per_question == Spread(4.0, 1.0)
    assert row.question_length == Spread(3.0, 2.0)  # 5 and 1 words
    assert row.narrative_length == Spread(5.5, 2.5)  # 3 and 8 words


def test_dataset_stats_per_category_then_all():
    rows = dataset_stats([
        _example("a", 1, category="X"),
        _example("b", 3, category="X"),
        _example("c", 10, category="Y"),
    ])
    assert [r.group for r in rows] == ["X", "Y", "all"]
    assert [r.questions for r in rows] == [2, 1, 3]
    assert rows[0].profile_size == Spread(2.0, 1.0)
    assert rows[1].profile_size == Spread(10.0, 0.0)
    assert rows[2].profile_size.mean == pytest.approx(14 / 3)
    assert rows[2].profile_size.std == pytest.approx(math.sqrt(((1 - 14 / 3) ** 2 + (3 - 14 / 3) ** 2 + (10 - 14 / 3) ** 2) / 3))


def test_dataset_stats_skips_missing_narratives():
    rows = dataset_stats([_example("a", 1, narrative="four words right here"), _example("b", 1)])
    assert rows[0].narrative_length == Spread(4.0, 0.0)


def test_spread_of_nothing_is_nan():
    empty = spread([])
    assert math.isnan(empty.mean) and math.isnan(empty.std)
    assert str(spread([1, 2, 3])) == "2.0 ± 0.8"


def good_record(rid: str) -> dict:
    return {"id": rid, "question": "How do I start?", "profile": [{"id": f"{rid}-p1", "text": "I posted this."}],
            "narrative": "They care about budget.", "rubric_aspects": [{"aspect": "Budget", "reason": "said so", "evidence": "post 1"}]}


def test_validate_reports_every_bad_record_with_a_count(tmp_path):
    records = [good_record("ok-1")]
    broken = {
        "no-aspects": lambda r: r.update(rubric_aspects=[]),
        "no-reason": lambda r: r["rubric_aspects"][0].pop("reason"),
        "no-evidence": lambda r: r["rubric_aspects"][0].pop("evidence"),
        "item-without-id": lambda r: r["profile"][0].pop("id"),
        "item-int-id": lambda r: r["profile"][0].update(id=7),
        "dup": lambda r: None,
    }
    for rid, breaking in broken.items():
        record = good_record(rid)
        breaking(record)
        records.append(record)
    records.append(good_record("dup"))
    numeric = good_record("x")
    numeric["id"] = 12
    records.append(numeric)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(records))
    result = invoke("data", "validate", str(path))
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith(str(path))]
    expected = {
        "'no-aspects': field 'rubric_aspects'", "'no-reason': field 'rubric_aspects[0].reason'", "'no-evidence': field 'rubric_aspects[0].evidence'",
        "'item-without-id': field 'profile[0].id'", "'item-int-id': field 'profile[0].id'", "'dup': field 'id'", "'12': field 'id'",
    }
    assert len(lines) == len(expected), result.output
    assert all(any(f"record {where}" in line for line in lines) for where in expected), result.output
    assert "7 problem(s)" in result.output


def test_an_empty_dataset_or_split_is_an_error(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    result = invoke("data", "validate", str(empty))
    assert result.exit_code == 1 and "holds no examples" in result.output
    folder = tmp_path / "qa" / "Art_and_Entertainment"
    folder.mkdir(parents=True)
    (folder / "train.json").write_text(json.dumps([good_record("a")]))
    (folder / "test.json").write_text("[]")
    assert invoke("data", "validate", str(tmp_path / "qa"), "--split", "train").exit_code == 0
    result = invoke("data", "validate", str(tmp_path / "qa"), "--split", "test")
    assert result.exit_code == 1 and "holds no examples in split 'test'" in result.output


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", json.dumps([good_record("a")]).encode("utf-16")], ids=["binary", "utf-16"])
def test_a_binary_or_utf16_file_is_named_in_a_clear_error(tmp_path, content):
    path = tmp_path / "data.json"
    path.write_bytes(content)
    result = invoke("data", "validate", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert str(path) in result.output and "not UTF-8 text" in result.output
