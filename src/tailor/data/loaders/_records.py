"""Shared pieces of the loaders: reading JSON files and turning raw dicts into Examples
with errors that name the file, the record and the field."""

import collections
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tailor.data.schema import Example, ProfileItem
from tailor.errors import DataError

# Fields that carry the readable content of a profile item in the LaMP / LongLaMP
# families, in the order they are joined when an item has no single ``text`` field.
_TEXT_FIELDS = ("title", "subject", "summary", "text", "abstract", "content", "reviewText", "description")


_noted: ContextVar[list[DataError] | None] = ContextVar("noted", default=None)


@contextmanager
def collecting() -> Iterator[list[DataError]]:
    """Within the block, a malformed record is noted in the yielded list and left out
    instead of stopping the load: every problem of a dataset in one pass."""
    problems: list[DataError] = []
    token = _noted.set(problems)
    try:
        yield problems
    finally:
        _noted.reset(token)


def noted_any() -> bool:
    """Whether problems were noted in the current ``collecting`` block."""
    return bool(_noted.get())


def note(problem: DataError) -> None:
    """Raise ``problem``, or note it while ``collecting``."""
    problems = _noted.get()
    if problems is None:
        raise problem
    problems.append(problem)


def each(convert: Callable[..., Example], *args) -> Example | None:
    """``convert(*args)``; None (its problem noted) for a malformed record while ``collecting``."""
    try:
        return convert(*args)
    except DataError as problem:
        note(problem)
        return None


def unique(examples: list[Example | None], source: str) -> list[Example]:
    """The converted records of one file, each id once: a repeated id is a problem."""
    counts = collections.Counter(e.id for e in examples if e is not None)
    for example_id, count in counts.items():
        if count > 1:
            note(DataError(source, example_id, "id", f"appears {count} times in this file"))
    seen: set[str] = set()
    return [e for e in examples if e is not None and not (e.id in seen or seen.add(e.id))]


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(str(path), None, "<file>", f"is not UTF-8 text (a binary or UTF-16 file?): byte {err.start} cannot be decoded") from err
    except OSError as err:
        raise DataError(str(path), None, "<file>", f"cannot be read: {err.strerror}") from err


def read_json(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise DataError(str(path), None, "<json>", f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from err


def read_json_list(path: Path) -> list[dict]:
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(str(path), None, "<root>", f"expected a JSON list of records, got {type(data).__name__}")
    for index, record in enumerate(data):
        if not isinstance(record, dict):
            raise DataError(str(path), index, "<record>", f"expected an object, got {type(record).__name__}")
    return data


def record_id(record: dict, index: int) -> str:
    """The id used in error messages: the record's own id when it has one, else its position."""
    rid = record.get("id")
    return str(rid) if isinstance(rid, (str, int)) else f"#{index}"


def require(record: dict, field: str, kind: type | tuple[type, ...], source: str, rid: str) -> Any:
    if field not in record or record[field] is None:
        raise DataError(source, rid, field, "is missing")
    value = record[field]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataError(source, rid, field, f"must be a {names}, got {type(value).__name__}")
    return value


def profile_from_raw(items: Any, source: str, rid: str, field: str = "profile", ids: bool = False) -> list[ProfileItem]:
    """Profile items of any LaMP-family shape; the original fields are kept as extras.
    ``ids``: each item must carry a string id (LaMP-QA's posts do)."""
    if not isinstance(items, list):
        raise DataError(source, rid, field, f"must be a list, got {type(items).__name__}")
    profile = []
    for position, raw in enumerate(items):
        where = f"{field}[{position}]"
        if not isinstance(raw, dict):
            raise DataError(source, rid, where, f"must be an object, got {type(raw).__name__}")
        if ids and not (isinstance(raw.get("id"), str) and raw["id"].strip()):
            problem = "is missing" if raw.get("id") is None else f"must be a non-empty string, got {type(raw['id']).__name__}"
            raise DataError(source, rid, f"{where}.id", problem)
        text = _item_text(raw)
        if not text:
            raise DataError(source, rid, where, f"has no text (looked for fields: {', '.join(_TEXT_FIELDS)})")
        extras = {k: v for k, v in raw.items() if k not in ("id", "text", "category")}
        item_id = raw.get("id", f"{rid}-p{position}")
        category = raw.get("category")
        profile.append(ProfileItem(id=str(item_id), text=text, category=None if category is None else str(category), **extras))
    return profile


def _item_text(raw: dict) -> str:
    if isinstance(raw.get("text"), str) and raw["text"].strip() and not any(
        isinstance(raw.get(f), str) for f in ("title", "subject", "summary")
    ):
        return raw["text"].strip()
    parts = [raw[f].strip() for f in _TEXT_FIELDS if isinstance(raw.get(f), str) and raw[f].strip()]
    return "\n".join(parts)


def build_example(fields: dict, source: str, rid: str) -> Example:
    """Validate the converted fields; pydantic's complaint is re-raised naming the record."""
    try:
        return Example(**fields)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "<record>"
        raise DataError(source, rid, field, first["msg"]) from err
