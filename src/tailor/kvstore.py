"""A SQLite table of key → text beside the response cache (WAL, one connection per
thread), for what tailor computes once and reuses: retrieval rankings, preference summaries."""

import sqlite3
import threading
from pathlib import Path


class KeyValueStore:
    def __init__(self, path: str | Path, table: str, column: str = "value"):
        self.path, self.table, self.column = Path(path), table, column
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._db().execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, {column} TEXT NOT NULL)")

    def _db(self) -> sqlite3.Connection:
        if getattr(self._local, "db", None) is None:
            self._local.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._local.db.execute("PRAGMA journal_mode=WAL")
        return self._local.db

    def get(self, key: str) -> str | None:
        row = self._db().execute(f"SELECT {self.column} FROM {self.table} WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, value: str) -> None:
        self._db().execute(f"INSERT OR REPLACE INTO {self.table} (key, {self.column}) VALUES (?, ?)", (key, value))

    def count(self) -> int:
        return self._db().execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0]
