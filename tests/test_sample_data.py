"""The bundled hand-written LaMP-QA-format sample (src/tailor/data/sample/lampqa)."""

import json

import pytest

from tailor.data import SAMPLE_LAMPQA, load_examples
from tailor.data.loaders import CATEGORIES, SPLITS


@pytest.fixture(scope="module")
def sample():
    return load_examples(SAMPLE_LAMPQA)


def test_layout_is_category_by_split():
    files = sorted((f.parent.name, f.stem) for f in SAMPLE_LAMPQA.glob("*/*.json"))
    assert files == sorted((c, s) for c in CATEGORIES for s in SPLITS)


def test_loads_with_enough_examples(sample):
    assert len(sample) >= 90


def test_all_categories_present(sample):
    assert {e.category for e in sample} == set(CATEGORIES)


@pytest.mark.parametrize("split", SPLITS)
def test_every_split_has_every_category(split):
    examples = load_examples(SAMPLE_LAMPQA, split=split)
    assert examples
    assert {e.category for e in examples} == set(CATEGORIES)


def test_splits_partition_the_sample(sample):
    by_split = [load_examples(SAMPLE_LAMPQA, split=s) for s in SPLITS]
    assert sum(len(part) for part in by_split) == len(sample)
    assert {e.id for part in by_split for e in part} == {e.id for e in sample}


def test_ids_unique(sample):
    ids = [e.id for e in sample]
    assert len(ids) == len(set(ids))
    item_ids = [p.id for e in sample for p in e.profile]
    assert len(item_ids) == len(set(item_ids))


def test_profile_sizes(sample):
    too_small_or_big = [(e.id, len(e.profile)) for e in sample if not 5 <= len(e.profile) <= 40]
    assert too_small_or_big == []


def test_aspect_counts(sample):
    off = [(e.id, len(e.rubric_aspects)) for e in sample if not 3 <= len(e.rubric_aspects) <= 6]
    assert off == []


def test_narratives_present(sample):
    assert [e.id for e in sample if not (e.narrative and e.narrative.strip())] == []


def test_evidence_is_quoted_from_narrative(sample):
    missing = [
        (e.id, a.aspect)
        for e in sample
        for a in e.rubric_aspects
        if not a.evidence.strip() or a.evidence not in e.narrative
    ]
    assert missing == []


def test_profile_texts_non_empty(sample):
    assert all(p.text.strip() for e in sample for p in e.profile)


def test_raw_records_have_exactly_the_lampqa_fields():
    for file in SAMPLE_LAMPQA.glob("*/*.json"):
        for record in json.loads(file.read_text(encoding="utf-8")):
            assert set(record) == {"id", "question", "profile", "narrative", "rubric_aspects"}, (file, record.get("id"))
            assert all(set(a) == {"aspect", "reason", "evidence"} for a in record["rubric_aspects"])


def test_readme_ships_with_the_sample():
    readme = (SAMPLE_LAMPQA / "README.md").read_text(encoding="utf-8")
    assert "load_lampqa_hub" in readme
    assert "not a stand-in" in readme
