"""Concurrency: throughput of the ``openai`` backend against a local OpenAI-compatible
server (``tailor serve-llm``'s app on loopback, hf behind it, which batches concurrent
requests) at concurrency 1, 4 and 8, the same RAG prompts greedy at a fixed max_tokens;
beside it, the hf backend taking the same prompts as one batch in process, the most a
batching server can get. Feeds docs/scaling.md (target: 8 clients at least 2x one at a time).

    .venv/bin/python bench/concurrency.py [--quick]
"""

from common import greedy_workload, hf_llm, local_server, note, parse_args, table, timed, write_result


def main() -> None:
    args = parse_args(__doc__, requests=16, max_tokens=32)
    levels = [1, 4, 8]
    if args.quick:
        args.requests, args.max_tokens, levels = 4, 8, [1, 4]

    from tailor.llm import LLMConfig, make_llm
    from tailor.llm.server import create_app

    requests, params = greedy_workload(args.requests, args.max_tokens)
    hf = hf_llm(batch_size=args.requests)
    rows = []
    app = create_app(hf, "local", max_batch=max(levels))
    with local_server(app) as url:
        for level in levels:
            client = make_llm(LLMConfig(backend="openai", model="local", cache=False, options={"base_url": url, "concurrency": level}))
            app.state.batcher.batches.clear()
            _, seconds = timed(client.generate, requests, params)
            tokens = client.usage.completion_tokens
            batches = list(app.state.batcher.batches)
            rows.append({"run": f"openai -> local server, concurrency {level}", "concurrency": level, "seconds": seconds, "tokens": tokens,
                         "mean_batch": sum(batches) / len(batches)})
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
    for row in rows[:-1]:
        note(f"concurrency {row['concurrency']}: the server generated batches of {row['mean_batch']:.1f} requests on average")
    eight = next(r for r in rows if r["concurrency"] == max(levels))
    note(f"{max(levels)} concurrent clients: {eight['speedup']:.2f}x the throughput of one at a time (target: at least 2x)")
    write_result("concurrency", {"quick": args.quick, "requests": len(requests), "max_tokens": args.max_tokens, "rows": rows})


if __name__ == "__main__":
    main()
