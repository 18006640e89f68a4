"""LaMP (tasks 1-7) and LongLaMP: ``<split>_questions.json`` (records with ``id``,
``input``, ``profile``) beside ``<split>_outputs.json`` (``{"task": ..., "golds": [{"id",
"output"}]}``), or one JSON list whose records carry ``output`` themselves (the shape of
the LongLaMP hub dataset, whose rows have no ``id``: the position stands in, and the
user key — ``reviewerId``, ``name`` or ``author`` by task — becomes ``user_id``)."""

from pathlib import Path

from tailor.data.loaders._records import build_example, each, profile_from_raw, read_json, read_json_list, record_id, require, unique
from tailor.data.schema import Example
from tailor.errors import DataError


def load_lamp(questions: str | Path, outputs: str | Path | None = None) -> list[Example]:
    """Load a LaMP/LongLaMP questions file, pairing it with its outputs file when given
    (or when ``<split>_outputs.json`` lies beside it). Test splits have no outputs."""
    questions = Path(questions)
    if outputs is None:
        sibling = questions.with_name(questions.name.replace("_questions", "_outputs"))
        outputs = sibling if sibling != questions and sibling.exists() else None
    golds = _read_golds(Path(outputs)) if outputs is not None else {}
    source = str(questions)
    examples = unique([each(_example, record, index, questions.stem, golds, source) for index, record in enumerate(read_json_list(questions))], source)
    if golds:
        missing = {e.id for e in examples} - golds.keys()
        if missing:
            raise DataError(str(outputs), sorted(missing)[0], "golds", f"{len(missing)} question(s) have no gold output")
    return examples


def _example(record: dict, index: int, stem: str, golds: dict[str, str], source: str) -> Example:
    rid = record_id(record, index)
    example_id = str(record["id"]) if "id" in record else f"{stem}-{index}"
    text = require(record, "input", str, source, rid)
    profile = profile_from_raw(require(record, "profile", list, source, rid), source, rid)
    reference = record.get("output", golds.get(example_id))
    if reference is not None and not isinstance(reference, str):
        raise DataError(source, rid, "output", f"must be a string, got {type(reference).__name__}")
    return build_example(dict(id=example_id, question=text, profile=profile, reference=reference, user_id=_user_key(record)), source, rid)


def _user_key(record: dict) -> str | None:
    for field in ("user_id", "reviewerId", "name", "author"):
        if isinstance(record.get(field), (str, int)):
            return str(record[field])
    return None


def _read_golds(path: Path) -> dict[str, str]:
    data = read_json(path)
    golds = data.get("golds") if isinstance(data, dict) else None
    if not isinstance(golds, list):
        raise DataError(str(path), None, "golds", "expected an object with a 'golds' list")
    out = {}
    for index, gold in enumerate(golds):
        if not isinstance(gold, dict):
            raise DataError(str(path), index, "golds", "each gold must be an object")
        rid = record_id(gold, index)
        require(gold, "id", (str, int), str(path), rid)
        out[str(gold["id"])] = require(gold, "output", str, str(path), rid)
    return out
