"""What the bench scripts share: arguments, timing, a table printer, result files, a
loopback server and the prompts every generation benchmark uses.

Each script prints its table(s) and writes ``bench/results/<name>.json``. Numbers are
ratios taken within one run: the machine may be shared, so absolute figures drift."""

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

# progress bars off (they would interleave with the tables); set before tailor is imported
os.environ.setdefault("TAILOR_PROGRESS", "0")

RESULTS = Path(__file__).resolve().parent / "results"
REPO = RESULTS.parent.parent


def parse_args(doc: str, **extra) -> argparse.Namespace:
    """``--quick`` (tiny sizes, for a smoke run) plus ``extra`` flags given as name=default."""
    parser = argparse.ArgumentParser(description=doc.strip().split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script, not the numbers")
    for name, default in extra.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    return parser.parse_args()


def threads() -> int:
    """Compute threads for torch and llama.cpp: $BENCH_THREADS, else $OMP_NUM_THREADS, else
    every CPU. On a machine shared with other work, fewer threads than CPUs avoids the
    spin-waiting that makes both engines many times slower when oversubscribed."""
    return int(os.environ.get("BENCH_THREADS") or os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


def machine() -> dict:
    """What the numbers were taken on, including how busy the machine was."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpus": os.cpu_count(), "threads": threads(), "load_avg_1m": round(load[0], 2) if load else None, "python": sys.version.split()[0]}


def write_result(name: str, data: dict) -> Path:
    """``bench/results/<name>.json``, written atomically (temp file + rename)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / f"{name}.json"
    payload = {"bench": name, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(), **data}
    fd, tmp = tempfile.mkstemp(dir=RESULTS, prefix=f".{name}.", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=2, default=str)
        f.write("\n")
    os.replace(tmp, target)
    print(f"-> {target.relative_to(REPO)}")
    return target


def fmt(value) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def table(title: str, headers: list[str], rows: list[list]) -> None:
    """A plain aligned table (numbers right-aligned)."""
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) for i in range(len(headers))]

    def line(values):
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric))

    print(f"\n== {title}")
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(line(row))


def note(text: str) -> None:
    print(f"   {text}")


def timed(fn, *args, **kwargs):
    """(fn's result, seconds)."""
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def best_of(repeats: int, fn, *args, **kwargs):
    """(last result, the fastest of ``repeats`` runs in seconds): the minimum is the least
    disturbed by other work on a shared machine."""
    best, result = float("inf"), None
    for _ in range(repeats):
        result, seconds = timed(fn, *args, **kwargs)
        best = min(best, seconds)
    return result, best


def sample_examples(split: str = "test", count: int | None = None):
    from tailor.data import SAMPLE_LAMPQA, load_examples

    examples = load_examples(SAMPLE_LAMPQA, split=split)
    return examples if count is None else (examples * (count // len(examples) + 1))[:count]


def rag_requests(examples, k: int = 3):
    """The prompts RAG sends (its own reply format and BM25 top-k), for backend-only runs."""
    from tailor.prompts.formats import reply_format
    from tailor.retrieval import make_retriever

    retriever, fmt_ = make_retriever("bm25"), reply_format("answer")
    return [fmt_.request(e.question, retriever.retrieve(e, k)) for e in examples]


def greedy_workload(count: int, max_tokens: int):
    """``count`` RAG prompts on the sample's test questions and greedy sampling: the
    backend-only workload the generation benches share."""
    from tailor.llm.types import SamplingParams

    return rag_requests(sample_examples("test", count)), SamplingParams(temperature=0.0, max_tokens=max_tokens)


def hf_llm(batch_size: int = 8):
    """The offline model on the hf backend, uncached, weights loaded."""
    import torch

    from tailor.llm import LLMConfig, make_llm

    torch.set_num_threads(threads())
    llm = make_llm(LLMConfig(backend="hf", cache=False, options={"batch_size": batch_size}))
    warm_up(llm)
    return llm


def warm_up(llm) -> None:
    """Load weights and run the first (slow) forward pass outside any timing."""
    from tailor.llm.types import ChatRequest, SamplingParams

    llm._generate([ChatRequest.of("Hi")], SamplingParams(max_tokens=4), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_server(app):
    """Serve an ASGI app with uvicorn on loopback in a background thread; yields its URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("the local server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
