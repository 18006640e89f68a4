"""The bundled hand-written LongLaMP-format sample (src/tailor/data/sample/longlamp)."""

import json
import re
from pathlib import Path

import pytest

import tailor.data
from tailor.data import load_examples

SAMPLE_LONGLAMP = Path(tailor.data.__file__).parent / "sample" / "longlamp"
TASKS = ("email_completion", "abstract_generation", "review_writing", "topic_writing")
SPLITS = ("train", "validation", "test")
COUNTS = {"train": 6, "validation": 3, "test": 3}
ITEM_FIELDS = {
    "email_completion": {"id", "subject", "text"},
    "abstract_generation": {"id", "title", "abstract"},
    "review_writing": {"id", "overall", "summary", "reviewText", "description"},
    "topic_writing": {"id", "summary", "content"},
}
CASES = [(task, split) for task in TASKS for split in SPLITS]


def _load(task, split):
    return load_examples(SAMPLE_LONGLAMP / task, split=split)


def _raw_profiles(task, split):
    records = json.loads((SAMPLE_LONGLAMP / task / f"{split}_questions.json").read_text(encoding="utf-8"))
    return {r["id"]: r["profile"] for r in records}


def test_layout():
    found = sorted(p.relative_to(SAMPLE_LONGLAMP).as_posix() for p in SAMPLE_LONGLAMP.glob("*/*.json"))
    expected = sorted(f"{t}/{s}_{kind}.json" for t in TASKS for s in SPLITS for kind in ("questions", "outputs"))
    assert found == expected
    assert (SAMPLE_LONGLAMP / "README.md").is_file()


@pytest.mark.parametrize("task,split", CASES)
def test_counts_and_ids(task, split):
    examples = _load(task, split)
    assert len(examples) == COUNTS[split]
    assert [e.id for e in examples] == [f"{task}-{split}-{n}" for n in range(1, COUNTS[split] + 1)]
    users = [e.user_id for e in examples]
    assert all(users) and len(set(users)) == len(users)


@pytest.mark.parametrize("task,split", CASES)
def test_outputs_file_names_the_task(task, split):
    data = json.loads((SAMPLE_LONGLAMP / task / f"{split}_outputs.json").read_text(encoding="utf-8"))
    assert data["task"] == f"LongLaMP_{task}"


@pytest.mark.parametrize("task,split", CASES)
def test_reference_and_profile_present(task, split):
    for e in _load(task, split):
        assert e.reference and e.reference.strip(), e.id
        assert 4 <= len(e.profile) <= 10, (e.id, len(e.profile))
        assert all(p.text.strip() for p in e.profile), e.id
        assert e.question.strip(), e.id


@pytest.mark.parametrize("task,split", CASES)
def test_reference_length(task, split):
    off = [(e.id, n) for e in _load(task, split) if not 60 <= (n := len(e.reference.split())) <= 200]
    assert off == []


@pytest.mark.parametrize("task,split", CASES)
def test_profile_item_fields(task, split):
    for example_id, profile in _raw_profiles(task, split).items():
        for item in profile:
            assert set(item) == ITEM_FIELDS[task], (example_id, item.get("id"))
            assert all(isinstance(v, str) and v.strip() for v in item.values()), (example_id, item["id"])


def test_profile_item_ids_unique():
    ids = [item["id"] for t in TASKS for s in SPLITS for prof in _raw_profiles(t, s).values() for item in prof]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("task", TASKS)
def test_user_based_split(task):
    """Users of validation and test never appear in train (LongLaMP's user-based setting)."""
    users = {s: {e.user_id for e in _load(task, s)} for s in SPLITS}
    assert users["train"].isdisjoint(users["validation"])
    assert users["train"].isdisjoint(users["test"])
    assert users["validation"].isdisjoint(users["test"])


def _norm(text):
    return " ".join(text.split()).lower()


@pytest.mark.parametrize("task,split", CASES)
def test_reference_not_copied_from_profile(task, split):
    """Neither the whole reference nor any of its longer sentences appears verbatim in
    the user's own profile, so the answer cannot be retrieved, only imitated."""
    for e in _load(task, split):
        history = [_norm(p.text) for p in e.profile]
        assert not any(_norm(e.reference) in h for h in history), e.id
        sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n+", e.reference) if len(s.split()) >= 8]
        copied = [s for s in sentences if any(_norm(s) in h for h in history)]
        assert copied == [], (e.id, copied)
