"""Atomic file writes: a reader (or a killed run) never sees half a file."""

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def json_text(value: Any) -> str:
    """``value`` as the JSON files tailor writes hold it."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def json_digest(value: Any) -> str:
    """A short content hash of a JSON-able value (key order ignored): eval fingerprints and
    model-pool keys."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:20]


def atomic_write_json(path: str | Path, value: Any) -> None:
    atomic_write_text(path, json_text(value))
