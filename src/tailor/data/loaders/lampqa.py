"""LaMP-QA: per-category, per-split JSON lists (as the benchmark's download script writes
them) or the Hugging Face dataset ``alireza7/LaMP-QA``.

A record holds ``id``, ``question``, ``profile`` (past posts), ``narrative`` and
``rubric_aspects`` (``aspect``, ``reason``, ``evidence``); tailor's planted-preference
task adds each aspect's ``accept`` phrasings and ``fact``, a gold ``reference`` answer
and (data v2) the user's ``planted_facts``.
"""

from pathlib import Path

from tailor.data.loaders._records import build_example, each, note, profile_from_raw, read_json_list, record_id, require, unique
from tailor.data.schema import Aspect, Example
from tailor.errors import DataError

CATEGORIES = ("Art_and_Entertainment", "Lifestyle_and_Personal_Development", "Society_and_Culture")
SPLITS = ("train", "validation", "test")
HUB_DATASET = "alireza7/LaMP-QA"


def lampqa_record_to_example(record: dict, source: str, index: int, category: str | None) -> Example:
    rid = record_id(record, index)
    require(record, "id", str, source, rid)
    question = require(record, "question", str, source, rid)
    profile = profile_from_raw(require(record, "profile", list, source, rid), source, rid, ids=True)
    narrative = require(record, "narrative", str, source, rid)
    aspects_raw = require(record, "rubric_aspects", list, source, rid)
    if not aspects_raw:
        raise DataError(source, rid, "rubric_aspects", "is empty: the judge scores a response by its rubric aspects")
    aspects = []
    for position, raw in enumerate(aspects_raw):
        if not isinstance(raw, dict):
            raise DataError(source, rid, f"rubric_aspects[{position}]", f"must be an object, got {type(raw).__name__}")
        if not isinstance(raw.get("aspect"), str) or not raw["aspect"].strip():
            raise DataError(source, rid, f"rubric_aspects[{position}].aspect", "must be a non-empty string")
        for field in ("reason", "evidence"):  # the judge's prompt shows both
            if not isinstance(raw.get(field), str):
                problem = "is missing" if field not in raw else f"must be a string, got {type(raw[field]).__name__}"
                raise DataError(source, rid, f"rubric_aspects[{position}].{field}", problem)
        accept = raw.get("accept", [])
        if not isinstance(accept, list) or not all(isinstance(a, str) and a.strip() for a in accept):
            raise DataError(source, rid, f"rubric_aspects[{position}].accept", "must be a list of non-empty strings")
        fact = raw.get("fact")
        if fact is not None and not (isinstance(fact, str) and fact.strip()):
            raise DataError(source, rid, f"rubric_aspects[{position}].fact", "must be a non-empty string")
        aspects.append(Aspect(aspect=raw["aspect"], reason=raw["reason"], evidence=raw["evidence"], accept=accept, fact=fact))
    return build_example(
        dict(
            id=str(record["id"]),
            question=question,
            profile=profile,
            narrative=narrative,
            rubric_aspects=aspects,
            category=record.get("category") or category,
            user_id=record.get("user_id"),
            reference=record.get("reference"),
            planted_facts=record.get("planted_facts", []),
        ),
        source,
        rid,
    )


def load_lampqa(path: str | Path, split: str | None = None, categories: tuple[str, ...] | None = None) -> list[Example]:
    """Load a LaMP-QA JSON file, or a directory laid out as ``<Category>/<split>.json``."""
    path = Path(path)
    if path.is_file():
        category = path.parent.name if path.parent.name in CATEGORIES else None
        return _load_file(path, category)
    files = sorted(path.glob("*/*.json"))
    if split is not None:
        files = [f for f in files if f.stem == split]
    if categories is not None:
        files = [f for f in files if f.parent.name in categories]
    if not files:
        raise DataError(str(path), None, "<files>", f"no LaMP-QA files found (expected <Category>/<split>.json, split={split})")
    examples = []
    for file in files:
        try:
            examples.extend(_load_file(file, file.parent.name))
        except DataError as problem:  # a file that cannot be read at all
            note(problem)
    return examples


def load_lampqa_hub(category: str, split: str, cache_dir: str | None = None) -> list[Example]:
    """Download one category and split from the Hugging Face hub (needs a network)."""
    if category not in CATEGORIES:
        raise DataError(HUB_DATASET, None, "category", f"unknown category {category!r}; choose one of {', '.join(CATEGORIES)}")
    import datasets

    rows = datasets.load_dataset(HUB_DATASET, category, split=split, cache_dir=cache_dir)
    source = f"{HUB_DATASET}:{category}:{split}"
    return [lampqa_record_to_example(dict(row), source, i, category) for i, row in enumerate(rows)]


def _load_file(path: Path, category: str | None) -> list[Example]:
    return unique([each(lampqa_record_to_example, r, str(path), i, category) for i, r in enumerate(read_json_list(path))], str(path))
