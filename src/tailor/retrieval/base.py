"""Retrievers rank a user's profile items against a query. ``retrieve`` adds the
per-(example, retriever) ranking cache and picks which profile is searched."""

import hashlib
import json
from abc import ABC, abstractmethod
from pathlib import Path

from tailor.data.schema import Example, ProfileItem
from tailor.kvstore import KeyValueStore


class RankingCache:
    """Rankings (item ids, best first), keyed by retriever, example, query and the
    candidate items, so a rerun skips retrieval entirely."""

    def __init__(self, path: str | Path):
        self.table = KeyValueStore(path, "rankings", "ids")

    def get(self, key: str) -> list[str] | None:
        ids = self.table.get(key)
        return json.loads(ids) if ids is not None else None

    def put(self, key: str, ids: list[str]) -> None:
        self.table.put(key, json.dumps(ids))


class Retriever(ABC):
    name: str

    def __init__(self, cache: RankingCache | None = None):
        self.cache = cache

    @abstractmethod
    def rank(self, query: str, profile: list[ProfileItem]) -> list[ProfileItem]:
        """All of ``profile``, most relevant to ``query`` first."""

    def candidates(self, example: Example) -> list[ProfileItem]:
        """The profile searched for this example: the asker's own."""
        return example.profile

    def retrieve(self, example: Example, k: int | None = None, query: str | None = None) -> list[ProfileItem]:
        query = example.question if query is None else query
        profile = self.candidates(example)
        key = hashlib.sha256(
            json.dumps([self.name, example.id, query, [(p.id, p.text) for p in profile]]).encode()
        ).hexdigest()
        ids = self.cache.get(key) if self.cache else None
        if ids is None:
            ids = [p.id for p in self.rank(query, profile)]
            if self.cache:
                self.cache.put(key, ids)
        by_id = {p.id: p for p in profile}
        ranked = [by_id[i] for i in ids]
        return ranked if k is None else ranked[:k]
