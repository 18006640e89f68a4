import pytest

from tailor.data.schema import Example, ProfileItem
from tailor.retrieval import BM25Retriever, RandomProfileRetriever, RankingCache, make_retriever

PROFILE = [
    ProfileItem(id="garden", text="Which tomato varieties grow well on a shady balcony?"),
    ProfileItem(id="bilingual", text="Our toddler hears Spanish at home and English at daycare; is mixing languages a problem?"),
    ProfileItem(id="car", text="How often should I change the oil in a ten-year-old hatchback?"),
    ProfileItem(id="guitar", text="Best strings for a beginner acoustic guitar with sore fingers?"),
]
EXAMPLE = Example(id="u1", question="Is mixing languages bad for a toddler learning Spanish?", profile=PROFILE)


def test_bm25_ranks_the_matching_item_first_and_keeps_every_item():
    ranked = BM25Retriever().retrieve(EXAMPLE)
    assert ranked[0].id == "bilingual"
    assert sorted(p.id for p in ranked) == sorted(p.id for p in PROFILE)
    assert [p.id for p in BM25Retriever().retrieve(EXAMPLE, k=2)] == [p.id for p in ranked[:2]]


def test_bm25_with_no_shared_words_keeps_profile_order():
    assert [p.id for p in BM25Retriever().retrieve(EXAMPLE, query="zzz qqq")] == [p.id for p in PROFILE]


def test_dense_retriever_with_the_offline_encoder():
    dense = make_retriever("dense")
    ranked = dense.retrieve(EXAMPLE, query="my sore fingers from playing guitar")
    assert ranked[0].id == "guitar"
    assert len(dense._item_vectors) == len(PROFILE)  # embedded once...
    dense.retrieve(EXAMPLE, query="tomatoes in the shade")
    assert len(dense._item_vectors) == len(PROFILE)  # ...and reused for the next question


def test_dense_mean_pooling_contriever_style():
    dense = make_retriever("dense", pooling="mean", normalize=False)
    assert "mean" in dense.name and "dot" in dense.name
    assert dense.retrieve(EXAMPLE, query="changing engine oil in my car")[0].id == "car"


def test_ranking_cache_skips_ranking_on_the_second_call(tmp_path):
    class Counting(BM25Retriever):
        calls = 0

        def rank(self, query, profile):
            Counting.calls += 1
            return super().rank(query, profile)

    cache = RankingCache(tmp_path / "r.sqlite")
    first = Counting(cache).retrieve(EXAMPLE)
    second = Counting(RankingCache(tmp_path / "r.sqlite")).retrieve(EXAMPLE)
    assert Counting.calls == 1
    assert [p.id for p in first] == [p.id for p in second]
    Counting(cache).retrieve(EXAMPLE, query="another question")
    assert Counting.calls == 2


def test_random_profile_uses_another_users_profile_deterministically():
    pool = [Example(id=f"u{i}", question="q", profile=[ProfileItem(id=f"u{i}-p{j}", text=f"post {j} of user {i}") for j in range(3)]) for i in range(6)]
    control = RandomProfileRetriever(BM25Retriever(), pool, seed=3)
    for example in pool:
        owners = {item.id.split("-")[0] for item in control.retrieve(example)}
        assert len(owners) == 1 and owners != {example.id}
    again = RandomProfileRetriever(BM25Retriever(), pool, seed=3)
    assert [p.id for p in control.retrieve(pool[0])] == [p.id for p in again.retrieve(pool[0])]
    drawn = {RandomProfileRetriever(BM25Retriever(), pool, seed=s).retrieve(pool[0])[0].id.split("-")[0] for s in range(20)}
    assert len(drawn) > 1


def test_random_profile_needs_two_users():
    with pytest.raises(ValueError):
        RandomProfileRetriever(BM25Retriever(), [EXAMPLE])


def test_unknown_retriever_name():
    with pytest.raises(ValueError, match="unknown retriever"):
        make_retriever("tfidf")
