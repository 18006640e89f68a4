"""Retrieval: latency per query for BM25 and dense (all-MiniLM-L6-v2) over one user's
profile of 10, 100, 1,000 and 10,000 items, with the index build time apart.

Profiles are the sample's profile texts, each made unique (so no embedding is reused by
accident). Queries go through ``Retriever.retrieve`` without a ranking cache. BM25
(``bm25s``) builds its index inside every ``rank`` call, so its build is timed alone too
and its query time is the rest. Dense embeds a profile's items once and keeps them
(keyed by text) for the user's next questions: its build is the first question's extra
time, and the script checks that later questions embed nothing but the query.

    .venv/bin/python bench/retrieval.py [--quick]
"""

import os

from common import note, parse_args, sample_examples, table, timed, write_result


def profile_of(size: int, texts: list[str]):
    from tailor.data.schema import ProfileItem

    return [ProfileItem(id=f"p{i}", text=f"{texts[i % len(texts)]} (note {i})") for i in range(size)]


def main() -> None:
    args = parse_args(__doc__, questions=5)
    sizes = [10, 100, 1000, 10000]
    if args.quick:
        sizes, args.questions = [10, 100], 2

    from tailor.retrieval import make_retriever

    pool = sample_examples("train") + sample_examples("validation") + sample_examples("test")
    texts = list(dict.fromkeys(p.text for e in pool for p in e.profile))
    questions = sample_examples("test")[: args.questions]
    bm25 = make_retriever("bm25")
    rows, results = [], []
    for size in sizes:
        profile = profile_of(size, texts)
        asked = [e.model_copy(update={"profile": profile, "id": f"{e.id}-{size}"}) for e in questions]

        # BM25: the index is rebuilt for every question
        builds = [timed(bm25.build_index, profile)[1] for _ in asked]
        totals = [timed(bm25.retrieve, e, 10)[1] for e in asked]
        build, total = min(builds), sum(totals) / len(totals)
        results.append({"retriever": "bm25", "items": size, "build_s": build, "query_s": max(total - build, 0.0), "per_question_s": total})
        rows.append(["bm25", size, build * 1e3, max(total - build, 0.0) * 1e3, total * 1e3, "every question"])

        # dense: a fresh retriever per profile size, so the first question pays the embeddings
        dense = make_retriever("dense")
        embedded: list[int] = []
        inner = dense.embed
        dense.embed = lambda batch: (embedded.append(len(batch)), inner(batch))[1]
        dense.embed(["warm-up"])  # the encoder's first call is slow; keep it out of the figures
        embedded.clear()
        first = timed(dense.retrieve, asked[0], 10)[1]
        later = [timed(dense.retrieve, e, 10)[1] for e in asked[1:]] or [first]
        query = min(later)
        reused = all(n == 1 for n in embedded[1:])  # after the first question: the query only
        results.append({"retriever": "dense", "items": size, "build_s": first - query, "query_s": query, "per_question_s": query,
                        "embed_calls": embedded, "embeddings_reused": reused})
        rows.append(["dense", size, (first - query) * 1e3, query * 1e3, query * 1e3, "once per user" if reused else "NOT REUSED"])
        del dense

    table(
        f"retrieval latency ({len(questions)} questions per size, top-10, {os.cpu_count()} CPUs)",
        ["retriever", "profile items", "build ms", "query ms", "per question ms", "index built"],
        rows,
    )
    note("bm25: per question = build + query (BM25Retriever.rank indexes the profile on each call)")
    note("dense: build = embedding the profile on the user's first question; later questions embed only the query")
    write_result("retrieval", {"quick": args.quick, "questions": len(questions), "rows": results})


if __name__ == "__main__":
    main()
