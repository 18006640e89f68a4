"""Concurrency: throughput of the ``openai`` backend against a local OpenAI-compatible
server (``tailor serve-llm``'s app on loopback, hf behind it) at concurrency 1, 4 and 16,
the same RAG prompts greedy at a fixed max_tokens; beside it, the hf backend taking the
same prompts as one batch, which is what a batching server (``vllm serve``) does with
concurrent requests. Feeds docs/scaling.md.

    .venv/bin/python bench/concurrency.py [--quick]
"""

from common import greedy_workload, hf_llm, local_server, note, parse_args, table, timed, write_result


def main() -> None:
    args = parse_args(__doc__, requests=16, max_tokens=32)
    levels = [1, 4, 16]
    if args.quick:
        args.requests, args.max_tokens, levels = 4, 8, [1, 4]

    from tailor.llm import LLMConfig, make_llm
    from tailor.llm.server import create_app

    requests, params = greedy_workload(args.requests, args.max_tokens)
    hf = hf_llm(batch_size=args.requests)
    rows = []
    with local_server(create_app(hf, "local")) as url:
        for level in levels:
            client = make_llm(LLMConfig(backend="openai", model="local", cache=False, options={"base_url": url, "concurrency": level}))
            _, seconds = timed(client.generate, requests, params)
            tokens = client.usage.completion_tokens
            rows.append({"run": f"openai -> local server, concurrency {level}", "concurrency": level, "seconds": seconds, "tokens": tokens})
    _, seconds = timed(hf.generate, requests, params)
    rows.append({"run": f"hf in-process, one batch of {len(requests)}", "concurrency": None, "seconds": seconds, "tokens": None})
    rows[-1]["tokens"] = rows[0]["tokens"]  # greedy: the same replies, so the same tokens
    for row in rows:
        row["requests_per_s"] = len(requests) / row["seconds"]
        row["tokens_per_s"] = row["tokens"] / row["seconds"]
        row["speedup"] = rows[0]["seconds"] / row["seconds"]
    table(
        f"openai backend throughput vs concurrency ({len(requests)} RAG prompts, greedy, max_tokens {args.max_tokens})",
        ["run", "seconds", "requests/s", "tokens/s", "x concurrency 1"],
        [[r["run"], r["seconds"], r["requests_per_s"], r["tokens_per_s"], r["speedup"]] for r in rows],
    )
    note("tailor serve-llm runs one generation at a time (a lock around the backend): concurrency only overlaps HTTP;")
    note("a server that batches concurrent requests (vllm serve, continuous batching) approaches the one-batch row")
    write_result("concurrency", {"quick": args.quick, "requests": len(requests), "max_tokens": args.max_tokens, "rows": rows})


if __name__ == "__main__":
    main()
