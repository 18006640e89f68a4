"""A plain JSONL file of ``Example`` records, one per line."""

import json
from pathlib import Path

from tailor.data.loaders._records import build_example
from tailor.data.schema import Example
from tailor.errors import DataError


def load_jsonl(path: str | Path) -> list[Example]:
    path = Path(path)
    examples = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(str(path), f"line {lineno}", "<json>", err.msg) from err
        if not isinstance(record, dict):
            raise DataError(str(path), f"line {lineno}", "<record>", "expected an object")
        rid = str(record.get("id", f"line {lineno}"))
        if not isinstance(record.get("profile", []), list):
            raise DataError(str(path), rid, "profile", f"must be a list, got {type(record['profile']).__name__}")
        examples.append(build_example(record, str(path), rid))
    return examples


def write_jsonl(examples: list[Example], path: str | Path) -> None:
    Path(path).write_text("".join(e.model_dump_json(exclude_none=True) + "\n" for e in examples), encoding="utf-8")
