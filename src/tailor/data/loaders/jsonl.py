"""A plain JSONL file of ``Example`` records, one per line."""

import json
from pathlib import Path

from tailor.data.loaders._records import build_example, each, read_text, unique
from tailor.data.schema import Example
from tailor.errors import DataError


def load_jsonl(path: str | Path) -> list[Example]:
    path = Path(path)
    lines = read_text(path).splitlines()
    return unique([each(_example, line, lineno, str(path)) for lineno, line in enumerate(lines, start=1) if line.strip()], str(path))


def _example(line: str, lineno: int, source: str) -> Example:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise DataError(source, f"line {lineno}", "<json>", err.msg) from err
    if not isinstance(record, dict):
        raise DataError(source, f"line {lineno}", "<record>", "expected an object")
    rid = str(record.get("id", f"line {lineno}"))
    if not isinstance(record.get("profile", []), list):
        raise DataError(source, rid, "profile", f"must be a list, got {type(record['profile']).__name__}")
    return build_example(record, source, rid)


def write_jsonl(examples: list[Example], path: str | Path) -> None:
    Path(path).write_text("".join(e.model_dump_json(exclude_none=True) + "\n" for e in examples), encoding="utf-8")
