"""BM25 over a profile with ``bm25s`` (imported on first use: it pulls in scipy, about
0.25 s that a command reading finished results back would otherwise pay)."""

from tailor.data.schema import ProfileItem
from tailor.retrieval.base import RankingCache, Retriever


class BM25Retriever(Retriever):
    name = "bm25"

    def __init__(self, cache: RankingCache | None = None, k1: float = 1.5, b: float = 0.75):
        super().__init__(cache)
        self.k1, self.b = k1, b

    def rank(self, query: str, profile: list[ProfileItem]) -> list[ProfileItem]:
        if len(profile) < 2:
            return list(profile)
        import bm25s

        index = self.build_index(profile)
        query_tokens = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)[0]
        if not any(t in index.vocab_dict for t in query_tokens):
            return list(profile)  # nothing in common: keep the profile's own order
        scores = index.get_scores(query_tokens)
        order = sorted(range(len(profile)), key=lambda i: (-scores[i], i))
        return [profile[i] for i in order]

    def build_index(self, profile: list[ProfileItem]):
        """The ``bm25s.BM25`` index over the profile's texts, built anew on every ``rank``."""
        import bm25s

        index = bm25s.BM25(k1=self.k1, b=self.b)
        index.index(bm25s.tokenize([p.text for p in profile], stopwords="en", show_progress=False), show_progress=False)
        return index
