"""Batching: hf backend throughput (generated tokens/s) at batch 1, 8 and 32 on the
offline model, the same RAG prompts greedy at a fixed max_tokens; then a check, with a
recording stand-in model (no model time), that the judge and the VAC stages hand the
backend whole batches (one ``generate`` call per stage) rather than one request at a time.

    .venv/bin/python bench/batching.py [--quick]
"""

import tempfile
from pathlib import Path

from common import greedy_workload, hf_llm, note, parse_args, sample_examples, table, timed, write_result


def throughput(args) -> list[dict]:
    requests, params = greedy_workload(args.prompts, args.max_tokens)
    llm = hf_llm()
    rows = []
    for batch in args.batches:
        llm.batch_size = batch
        before = llm.usage.completion_tokens
        _, seconds = timed(llm.generate, requests, params)
        tokens = llm.usage.completion_tokens - before
        rows.append({"batch": batch, "prompts": len(requests), "seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds})
    base = rows[0]["tokens_per_s"]
    for row in rows:
        row["ratio"] = row["tokens_per_s"] / base
    table(
        f"hf throughput by batch size ({len(requests)} RAG prompts, greedy, max_tokens {args.max_tokens})",
        ["batch", "seconds", "gen. tokens", "tokens/s", f"x batch {rows[0]['batch']}"],
        [[r["batch"], r["seconds"], r["tokens"], r["tokens_per_s"], r["ratio"]] for r in rows],
    )
    note("tokens counted are real ones (up to EOS); a batch keeps stepping until its longest reply ends")
    return rows


def stage_batching() -> list[dict]:
    """Run VAC (one iteration, N=4, the aspect judge as metric) and the eval judge on a
    stand-in model that records every generate call: requests per call, per stage."""
    from tailor.metrics.aspect import AspectJudge
    from tailor.llm import LLM, LLMConfig
    from tailor.llm.types import Completion, Sample, SamplingParams
    from tailor.retrieval import make_retriever
    from tailor.train.sft import SFTResult
    from tailor.pool import ModelPool
    from tailor.train.loop import LoopInputs
    from tailor.train.vac import VACConfig, train_vac

    class Recorder(LLM):
        kind = "recorder"
        batch_size = 1 << 20

        def __init__(self):
            super().__init__("recorder")
            self.calls: list[tuple[str, int]] = []

        def generate(self, requests, params=SamplingParams(), adapter=None, description="generating"):
            self.calls.append((description, len(requests)))
            return super().generate(requests, params, adapter, description)

        def _generate(self, requests, params, adapter):
            # parseable replies: a judge grade after '{"score": ', else the rest of a JSON string
            return [Completion(samples=[Sample(text="2}" if (r.prefill or "").endswith(": ") else 'fine"}', tokens=2)]) for r in requests]

    def trainer(model, rows, eval_rows, settings, output_dir, init_adapter=None):
        return SFTResult(adapter=str(Path(output_dir) / "adapter"), best_eval_loss=None, steps=0, seconds=0.0, rows=len(rows))

    train, valid = sample_examples("train")[:8], sample_examples("validation")[:3]
    policy, judge_llm = Recorder(), Recorder()
    n = 4
    with tempfile.TemporaryDirectory() as tmp:
        config = VACConfig(judge=LLMConfig(), metric="aspect", iterations=1, n_feedback=n, k=3, run_dir=Path(tmp) / "vac")
        pool = ModelPool(config.policy)
        pool.provide(config.policy, policy)
        train_vac(config, LoopInputs(train, valid, policy, AspectJudge(judge_llm), make_retriever("bm25"), pool), trainer)
    eval_judge = Recorder()
    AspectJudge(eval_judge).score_batch(valid, ["an answer"] * len(valid))

    rows = []
    for who, recorder in (("VAC run", policy), ("VAC run", judge_llm), ("eval judge", eval_judge)):
        seen: dict[str, list[int]] = {}
        for description, size in recorder.calls:
            seen.setdefault(description, []).append(size)
        for description, sizes in seen.items():
            rows.append({"where": who, "stage": description, "generate_calls": len(sizes), "requests_per_call": sizes})
    table(
        f"requests per generate call, by stage (stand-in model; VAC: 8 training questions, N={n}, 1 iteration; judge: {len(valid)} answers)",
        ["where", "stage", "generate calls", "requests per call"],
        [[r["where"], r["stage"], r["generate_calls"], " ".join(map(str, r["requests_per_call"]))] for r in rows],
    )
    note("judge: all aspect prompts of a batch of answers go in one generate call (tailor/metrics/aspect.py)")
    note(f"VAC: revisions and judging are one call per stage; feedback sampling is one call per seed ({n} sampled + 1 greedy),")
    note("each batching all training questions; the backend then chunks every call by its batch_size")
    return rows


def main() -> None:
    args = parse_args(__doc__, prompts=32, max_tokens=32)
    args.batches = [1, 8, 32]
    if args.quick:
        args.prompts, args.max_tokens, args.batches = 4, 8, [1, 2, 4]
    rows = throughput(args)
    stages = stage_batching()
    write_result("batching", {"quick": args.quick, "max_tokens": args.max_tokens, "throughput": rows, "stage_batching": stages})


if __name__ == "__main__":
    main()
