"""Pull a JSON value out of free-form model output: fenced blocks first, then any
balanced ``{...}``/``[...]`` span; strict JSON first, JSON5 (trailing commas, single
quotes, comments) as a fallback."""

import json
import re
from typing import Any

import json5

_FENCE = re.compile(r"```[ \t]*(?:json5?|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)


class JSONExtractionError(ValueError):
    """No JSON value could be read from the text."""


def _balanced_spans(text: str) -> list[str]:
    """Every top-level span that opens with { or [ and closes at its matching bracket,
    skipping brackets inside strings."""
    spans, depth, start, in_string, escaped, quote = [], 0, None, False, False, ""
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                in_string = False
            continue
        if ch in "\"'" and depth > 0:
            in_string, quote = True, ch
        elif ch in "{[":
            if depth == 0:
                start = i
            depth += 1
        elif ch in "}]" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    if depth > 0 and start is not None:
        spans.append(text[start:])  # unterminated: let the repair step try
    return spans


def _parse(candidate: str) -> Any:
    candidate = candidate.strip()
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        pass
    try:
        return json5.loads(candidate)
    except ValueError:
        pass
    closed = _close_brackets(candidate)
    if closed != candidate:
        try:
            return json5.loads(closed)
        except ValueError:
            pass
    raise JSONExtractionError("not JSON")


def _close_brackets(text: str) -> str:
    """Finish output cut off by a token limit: close an open string and open brackets."""
    stack, in_string, escaped = [], False, False
    for ch in text:
        if in_string:
            escaped = not escaped and ch == "\\"
            if ch == '"' and not escaped:
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    return text + ('"' if in_string else "") + "".join(reversed(stack))


def extract_json(text: str, expect: type | None = None) -> Any:
    """The first JSON value in ``text`` (of type ``expect`` when given)."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + _balanced_spans(text) + [text]
    for candidate in candidates:
        try:
            value = _parse(candidate)
        except JSONExtractionError:
            continue
        if expect is None or isinstance(value, expect):
            return value
    raise JSONExtractionError(f"no JSON{' ' + expect.__name__ if expect else ''} found in: {text[:120]!r}")


def extract_field(text: str, field: str) -> Any:
    """``extract_json(text)[field]`` for an object output. When no object parses, a
    string value written as ``"field": "..."`` is still read out of the broken JSON."""
    try:
        value = extract_json(text, dict)
    except JSONExtractionError:
        match = re.search(rf'"{re.escape(field)}"\s*:\s*"((?:[^"\\]|\\.)*)"', text)
        if match is None:
            raise
        try:
            return json.loads(f'"{match.group(1)}"', strict=False)
        except json.JSONDecodeError as err:
            raise JSONExtractionError(f"the {field!r} value is not a valid JSON string") from err
    if field not in value:
        raise JSONExtractionError(f"JSON object has no {field!r} field")
    return value[field]


def extract_text(text: str, field: str) -> str:
    """A non-empty string field of an object output, stripped; ValueError otherwise."""
    value = extract_field(text, field)
    if not isinstance(value, str) or not value.strip():
        raise JSONExtractionError(f"{field} is empty or not a string")
    return value.strip()
