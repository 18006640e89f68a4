"""Retrievers over user profiles: BM25, dense (sentence-transformers), random-other-user."""

from tailor.retrieval.base import RankingCache, Retriever
from tailor.retrieval.bm25 import BM25Retriever
from tailor.retrieval.random_profile import RandomProfileRetriever

__all__ = ["BM25Retriever", "DenseRetriever", "RandomProfileRetriever", "RankingCache", "Retriever", "make_retriever"]


def __getattr__(name: str):
    if name == "DenseRetriever":  # sentence-transformers is slow to import; load it on use
        from tailor.retrieval.dense import DenseRetriever

        return DenseRetriever
    raise AttributeError(name)


def make_retriever(name: str, cache: RankingCache | None = None, **options) -> Retriever:
    """``bm25``, ``dense`` (default encoder all-minilm-l6-v2) or ``dense:<model>``."""
    if name == "bm25":
        return BM25Retriever(cache, **options)
    if name == "dense" or name.startswith("dense:"):
        from tailor.retrieval.dense import DenseRetriever

        model = name.split(":", 1)[1] if ":" in name else "all-minilm-l6-v2"
        return DenseRetriever(model, cache, **options)
    raise ValueError(f"unknown retriever {name!r}: use bm25, dense or dense:<model>")
