"""VAC stage cost, read from a finished run (default runs/vac-sample, written by
`make demo`; rerunning VAC takes 20+ minutes): per training example and iteration, the
backend calls and generated tokens of each stage (answers, N feedbacks, N revisions,
judging) against the algorithm's minimum, and each stage's share of wall time; then how
much prompt a backend with prefix caching could skip (the N feedback prompts of an answer
are identical; its N revision prompts share everything up to the feedback).

Calls and seconds are the run's own (history.json). The run records prompt + generated
tokens together, so generated tokens are counted here by tokenizing the saved outputs
(+2 per reply: the closing quote-brace and end of turn) and retries are not in that count.

    .venv/bin/python bench/vac_stages.py [--quick] [--run runs/vac-sample]
"""

import json
from pathlib import Path

from common import REPO, note, parse_args, table, write_result

PREFIX_SUPPORT = {
    "vllm": "yes: automatic prefix caching (enable_prefix_caching; on by default in recent vLLM) shares the KV of common prefixes across a batch",
    "openai": "as the server does it: `vllm serve` caches prefixes; tailor serve-llm does not",
    "hf": "no: every request of a batch prefills its whole prompt",
    "llamacpp": "partly: its KV cache keeps the previous prompt, so only consecutive calls with a common prefix reuse it",
}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def common_prefix(sequences: list[list[int]]) -> int:
    first = sequences[0]
    length = len(first)
    for other in sequences[1:]:
        length = min(length, next((i for i, (a, b) in enumerate(zip(first, other)) if a != b), min(len(first), len(other))))
    return length


def main() -> None:
    args = parse_args(__doc__, run="runs/vac-sample")
    run = (REPO / args.run) if not Path(args.run).is_absolute() else Path(args.run)
    from tailor.runs import FEEDBACKS, INITIAL, REVISED, VALIDATION, RunFolder

    folder = RunFolder(run)
    if not folder.history_file.exists():
        note(f"{run} holds no finished VAC run (history.json); `make demo` writes runs/vac-sample")
        write_result("vac_stages", {"quick": args.quick, "run": str(run), "missing": True})
        return

    from tailor.data import load_examples
    from tailor.llm.backends.hf import HFBackend
    from tailor.prompts.feedback import feedback_request, revision_request
    from tailor.retrieval import make_retriever

    config = folder.config()
    stages = {name: cost.document() for name, cost in folder.history().stages.items()}
    n, k = config["n_feedback"], config["k"]
    iterations = sorted({int(name.split("/")[0].split("_")[1]) for name in stages if name.startswith("iter_")} - {0})
    if args.quick:
        iterations = iterations[:1]
    train = load_examples(config["data"], split=config["train_split"])[: config["train_limit"]]
    valid_n = len(load_examples(config["data"], split=config["valid_split"])[: config["valid_limit"]])
    m = len(train)
    retriever = make_retriever(config["retriever"])
    retrieved = {e.id: retriever.retrieve(e, k) for e in train}
    by_id = {e.id: e for e in train}
    hf = HFBackend(config["policy"]["model"], cache=None)  # its tokenizer only; no weights load

    def reply_tokens(texts: list[str]) -> int:
        return sum(hf.count_tokens(t) + 2 for t in texts)

    def prompt_ids(request) -> list[int]:
        text = hf.tokenizer.apply_chat_template([x.model_dump() for x in request.messages], tokenize=False, add_generation_prompt=True)
        return hf.tokenizer(text + (request.prefill or ""), add_special_tokens=False).input_ids

    aspects = sum(len(e.rubric_aspects) for e in train)
    judged = config["metric"] in ("aspect", "direct")
    per_judgment = (aspects / m) if config["metric"] == "aspect" else 1
    rows, prefix_rows, records = [], [], []
    total_seconds = sum(s["seconds"] for name, s in stages.items())
    for t in iterations:
        stage_folder = folder.iteration(t)
        initial, sampled, revised, validation = (read_jsonl(stage_folder.of(f)) for f in (INITIAL, FEEDBACKS, REVISED, VALIDATION))
        answer_of = {r["id"]: r["answer"] for r in initial}

        def stage(name):
            s = stages.get(f"iter_{t}/{name}", {"seconds": 0.0, "calls": {}, "tokens": {}})
            return s["seconds"], sum(s["calls"].values()), sum(s["tokens"].values())

        feedback_tokens, revision_tokens = reply_tokens([r["feedback"] for r in sampled]), reply_tokens([r["revision"] for r in sampled])
        sampled_s, sampled_calls, _ = stage("feedbacks")
        share = feedback_tokens / max(feedback_tokens + revision_tokens, 1)
        judge_min = round(n * m * per_judgment) if judged else 0
        spec = [
            # stage, recorded seconds, recorded calls, minimum calls, generated tokens
            ("(a) answers", *stage("initial")[:2], m, reply_tokens(answer_of.values())),
            (f"(b) {n} feedbacks per answer", sampled_s * share, None, n * m, feedback_tokens),
            (f"(c) {n} revisions per answer", sampled_s * (1 - share), None, n * m, revision_tokens),
            ("(d) judging the revisions", None, None, judge_min, 0),
            ("(f) greedy feedback + revision", *stage("revised")[:2], 2 * m, reply_tokens([r["feedback"] for r in revised] + [r["revision"] for r in revised])),
            ("train feedback model (SFT)", stage("train_feedback")[0], 0, 0, 0),
            ("train policy (SFT)", stage("train_policy")[0], 0, 0, 0),
            ("validation answers", *stage("validation")[:2], valid_n, reply_tokens([r["response"] for r in validation])),
        ]
        for name, seconds, calls, minimum, tokens in spec:
            if name.startswith("(b)"):
                calls, minimum_shown = sampled_calls, 2 * n * m + judge_min  # (b)-(d) share one recorded stage
            else:
                minimum_shown = minimum
            records.append({"iteration": t, "stage": name, "seconds": seconds, "calls": calls, "minimum_calls": minimum, "generated_tokens": tokens})
            per_example = lambda v: v / m if v is not None else "-"  # noqa: E731
            rows.append([
                t, name, per_example(calls), per_example(minimum_shown) if not name.startswith(("(c)", "(d)")) else "(in b)",
                per_example(tokens), "-" if seconds is None else seconds, "-" if seconds is None else f"{seconds / total_seconds:.1%}",
            ])

        # prefix reuse: the N feedback prompts of an answer are the same prompt; its N revision prompts differ only after the draft
        same_prompt = shared = total = 0
        for qid, answer in answer_of.items():
            e, items = by_id[qid], retrieved[qid]
            fb = prompt_ids(feedback_request(e.question, items, answer, e.narrative))
            same_prompt += len(fb)
            revs = [prompt_ids(revision_request(e.question, items, answer, r["feedback"])) for r in sampled if r["id"] == qid]
            if revs:
                shared += common_prefix(revs) * (len(revs) - 1)
                total += sum(len(r) for r in revs)
        fb_total = same_prompt * n
        prefix_rows.append([t, fb_total, (n - 1) / n, total, shared / max(total, 1), (same_prompt * (n - 1) + shared) / max(fb_total + total, 1)])

    table(
        f"VAC stage cost per training example ({args.run}: {m} questions, N={n}, k={k}, metric {config['metric']}; "
        f"(b)-(d) are one recorded stage, split by generated tokens)",
        ["iter", "stage", "calls", "minimum", "gen. tokens", "seconds", "of wall"],
        rows,
    )
    note(f"minimum per iteration: answers m, feedbacks N*m, revisions N*m, greedy feedback + revision 2m, validation |valid|; "
         f"calls above it are parse retries; judging here is {'the judge: ' + str(judge_min) + ' calls' if judged else 'the proxy metric (embeddings, no backend calls)'}")
    note(f"wall time: the whole run took {total_seconds:.0f}s (trained variant, every recorded stage)")
    table(
        "prefix reuse available (prompt tokens, per iteration)",
        ["iter", "feedback prompt tokens", "reusable", "revision prompt tokens", "reusable", "both stages"],
        prefix_rows,
    )
    for backend, support in PREFIX_SUPPORT.items():
        note(f"{backend}: {support}")
    write_result("vac_stages", {"quick": args.quick, "run": str(run), "n_feedback": n, "train_examples": m, "stages": records,
                                "prefix_reuse": [dict(zip(["iteration", "feedback_prompt_tokens", "feedback_reusable", "revision_prompt_tokens",
                                                           "revision_reusable", "both_reusable"], r)) for r in prefix_rows],
                                "prefix_support": PREFIX_SUPPORT})


if __name__ == "__main__":
    main()
