"""The LaMP-QA control: retrieve from a random *other* user's profile (seeded per example)."""

import random

from tailor.data.schema import Example, ProfileItem
from tailor.retrieval.base import Retriever


class RandomProfileRetriever(Retriever):
    """Ranks, with ``inner``, the profile of another example drawn from ``pool``."""

    def __init__(self, inner: Retriever, pool: list[Example], seed: int = 0):
        super().__init__(inner.cache)
        if len(pool) < 2:
            raise ValueError("a random-profile control needs a pool of at least two examples")
        self.inner, self.pool, self.seed = inner, pool, seed
        self.name = f"random:{seed}:{inner.name}"

    def rank(self, query: str, profile: list[ProfileItem]) -> list[ProfileItem]:
        return self.inner.rank(query, profile)

    def candidates(self, example: Example) -> list[ProfileItem]:
        owner = example.user_id or example.id
        others = [e for e in self.pool if (e.user_id or e.id) != owner]
        return random.Random(f"{self.seed}:{example.id}").choice(others).profile
