"""Determinism: how many greedy answers stay the same when only the batch they are
generated in, or the number of compute threads, changes. The same RAG prompts of the
sample's test split, hf backend, uncached, temperature 0; the reference is one request at
a time (what ``deterministic: true`` does) on every thread.

    .venv/bin/python bench/determinism.py [--quick]
"""

from common import greedy_workload, hf_llm, note, parse_args, table, threads, write_result


def answers(llm, requests, params, batch: int, thread_count: int) -> list[str]:
    import torch

    torch.set_num_threads(thread_count)
    llm.batch_size = batch
    return [c.text for c in llm.generate(requests, params)]


def main() -> None:
    args = parse_args(__doc__, prompts=9, max_tokens=48)
    if args.quick:
        args.prompts, args.max_tokens = 4, 8

    requests, params = greedy_workload(args.prompts, args.max_tokens)
    llm = hf_llm()
    most = threads()
    reference = answers(llm, requests, params, 1, most)
    settings = [(1, 1), (3, most), (len(requests), most), (len(requests), 1)]
    rows = []
    for batch, thread_count in settings:
        got = answers(llm, requests, params, batch, thread_count)
        same = sum(a == b for a, b in zip(got, reference))
        rows.append({"batch": batch, "threads": thread_count, "answers": len(got), "same_as_reference": same, "share": same / len(got)})
    table(
        f"greedy answers identical to batch 1 on {most} threads ({len(requests)} RAG prompts, max_tokens {args.max_tokens})",
        ["batch", "threads", "answers", "identical", "share"],
        [[r["batch"], r["threads"], r["answers"], r["same_as_reference"], r["share"]] for r in rows],
    )
    note("padding to the batch's longest prompt changes the arithmetic, so a greedy answer can change with its batch")
    write_result("determinism", {"quick": args.quick, "max_tokens": args.max_tokens, "reference": {"batch": 1, "threads": most}, "rows": rows})


if __name__ == "__main__":
    main()
