"""The LaMP-QA response file: ``{"<question id>": [{"output": "<response>"}]}``."""

from pathlib import Path

from tailor.data.loaders._records import read_json
from tailor.errors import DataError
from tailor.io import atomic_write_json


def write_responses(outputs: dict[str, str], path: str | Path) -> None:
    atomic_write_json(path, {qid: [{"output": text}] for qid, text in outputs.items()})


def read_responses(path: str | Path) -> dict[str, str]:
    data = read_json(Path(path))
    if not isinstance(data, dict):
        raise DataError(str(path), None, "<root>", 'expected an object {"<id>": [{"output": ...}]}')
    outputs = {}
    for qid, entries in data.items():
        if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict) or not isinstance(entries[0].get("output"), str):
            raise DataError(str(path), qid, "output", 'expected [{"output": "<text>"}]')
        outputs[qid] = entries[0]["output"]
    return outputs
