"""Backends on this CPU: generated tokens/s for the same RAG prompts (greedy, fixed
max_tokens) on ``hf`` (batched, and one at a time), ``llamacpp`` (llama-cpp-python on the
packaged GGUF, bench threads) and the ``openai`` backend against a local OpenAI-compatible
server (``tailor serve-llm``'s app on loopback) in front of hf and of llamacpp. The
llama.cpp figure is the practical CPU ceiling for this model.

    .venv/bin/python bench/backends.py [--quick]
"""

from common import greedy_workload, hf_llm, local_server, note, parse_args, table, threads, timed, warm_up, write_result


def measure(name: str, llm, requests, params) -> dict:
    before = (llm.usage.completion_tokens, llm.usage.requests)
    _, seconds = timed(llm.generate, requests, params)
    tokens = llm.usage.completion_tokens - before[0]
    return {"backend": name, "requests": llm.usage.requests - before[1], "seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds}


def main() -> None:
    args = parse_args(__doc__, prompts=8, max_tokens=64)
    if args.quick:
        args.prompts, args.max_tokens = 2, 8

    from tailor.llm import LLMConfig, make_llm
    from tailor.llm.server import create_app

    requests, params = greedy_workload(args.prompts, args.max_tokens)
    rows = []

    hf = hf_llm(batch_size=8)
    rows.append(measure("hf, batch 8", hf, requests, params))
    hf.batch_size = 1
    rows.append(measure("hf, batch 1", hf, requests, params))

    llama = None
    try:
        llama = make_llm(LLMConfig(backend="llamacpp", cache=False, options={"n_threads": threads()}))
    except Exception as err:  # the optional extra may be missing: say so, measure the rest
        note(f"llamacpp skipped: {err}")
    if llama is not None:
        warm_up(llama)
        rows.append(measure(f"llamacpp ({threads()} threads, one request at a time)", llama, requests, params))

    served = [("hf", hf)] + ([("llamacpp", llama)] if llama is not None else [])
    for label, engine in served:
        engine.batch_size = 8
        with local_server(create_app(engine, "local")) as url:
            client = make_llm(LLMConfig(backend="openai", model="local", cache=False, options={"base_url": url, "concurrency": 8}))
            rows.append(measure(f"openai -> local server ({label}), concurrency 8", client, requests, params))

    ceiling = next((r["tokens_per_s"] for r in rows if r["backend"].startswith("llamacpp")), None)
    table(
        f"backends on this CPU ({len(requests)} RAG prompts, greedy, max_tokens {args.max_tokens})",
        ["backend", "seconds", "gen. tokens", "tokens/s"] + (["of llamacpp"] if ceiling else []),
        [[r["backend"], r["seconds"], r["tokens"], r["tokens_per_s"]] + ([r["tokens_per_s"] / ceiling] if ceiling else []) for r in rows],
    )
    note("hf runs float32 weights dequantized from the same Q4_1 GGUF llamacpp runs; replies may differ in length")
    served_llama = next((r["tokens_per_s"] for r in rows if "(llamacpp)" in r["backend"]), None)
    if ceiling and served_llama and served_llama > 3 * ceiling:
        note("llamacpp in the main thread ran far slower than behind the server (a worker thread): libgomp's spin-waiting")
        note("under CPU contention; OMP_WAIT_POLICY=passive (or an idle machine) removes the gap")
    note("the local server generates one request at a time (a lock around the backend), so concurrency does not batch there")
    write_result("backends", {"quick": args.quick, "prompts": len(requests), "max_tokens": args.max_tokens, "rows": rows})


if __name__ == "__main__":
    main()
