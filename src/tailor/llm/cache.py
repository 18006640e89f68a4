"""The response cache shared by all backends: SQLite in WAL mode, so several processes
(or threads) can read and write it at once.

The key is a hash of (model id, adapter fingerprint, messages, sampling params incl.
seed): rerunning anything reuses every completion it already paid for.
"""

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tailor.llm.types import ChatRequest, Completion, SamplingParams

_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    completion TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def cache_key(model: str, adapter: str | None, request: ChatRequest, params: SamplingParams) -> str:
    payload = json.dumps(
        {"model": model, "adapter": adapter, "request": request.model_dump(), "params": params.model_dump()},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class CacheStats:
    path: str
    entries: int
    models: dict[str, int]
    hits: int
    misses: int
    size_bytes: int


class ResponseCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def get_many(self, keys: list[str]) -> dict[str, Completion]:
        db = self._connect()
        found: dict[str, Completion] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in db.execute(f"SELECT key, completion FROM completions WHERE key IN ({marks})", chunk):
                found[key] = Completion.model_validate_json(blob).model_copy(update={"cached": True})
        self._count(hits=len(found), misses=len(set(keys)) - len(found))
        return found

    def put_many(self, model: str, items: dict[str, Completion]) -> None:
        if not items:
            return
        rows = [(k, model, c.model_dump_json(exclude={"cached"}), time.time()) for k, c in items.items()]
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?)", rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _count(self, hits: int, misses: int) -> None:
        db = self._connect()
        db.executemany(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            [("hits", hits), ("misses", misses)],
        )

    def stats(self) -> CacheStats:
        db = self._connect()
        models = dict(db.execute("SELECT model, COUNT(*) FROM completions GROUP BY model").fetchall())
        counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))
        return CacheStats(str(self.path), sum(models.values()), models, counters.get("hits", 0), counters.get("misses", 0), size)

    def clear(self, model: str | None = None) -> int:
        db = self._connect()
        if model is None:
            removed = db.execute("DELETE FROM completions").rowcount
            db.execute("DELETE FROM counters")
        else:
            removed = db.execute("DELETE FROM completions WHERE model = ?", (model,)).rowcount
        db.execute("VACUUM")
        return removed
