"""Flood: one tenant floods `tailor serve` with concurrent uncached questions while another
asks one question at a time. The second tenant's p95 latency should stay within its solo
p95 plus one capped generation: the per-tenant generation cap turns the flood's excess into
429s at once, and batching lets the second tenant's question join the next batch instead of
queueing behind the flood. The model is a scripted stand-in whose batch takes
BATCH_SECONDS + PER_REQUEST_SECONDS x its size, so the numbers are about the service's
scheduling, not a model's speed.

    .venv/bin/python bench/service_flood.py [--quick] [--questions 20] [--flooders 16]
"""

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from common import local_server, note, parse_args, table, write_result

BATCH_SECONDS, PER_REQUEST_SECONDS = 0.10, 0.02
CAP, MAX_BATCH = 2, 16
ONE_GENERATION = BATCH_SECONDS + PER_REQUEST_SECONDS * MAX_BATCH  # the longest one batch takes
PROFILE = {"items": [{"text": "I keep two beehives on my roof in Oslo"}, {"text": "Our winters are long and dark"}]}


def slow_model():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from fakes import ScriptedLLM

    model = ScriptedLLM(lambda request, params, j: 'A short answer."}')
    generate = model._generate

    def slowly(requests, params, adapter):
        time.sleep(BATCH_SECONDS + PER_REQUEST_SECONDS * len(requests))
        return generate(requests, params, adapter)

    model._generate = slowly
    return model


def ask(client: httpx.Client, key: str, user: str, question: str) -> tuple[int, float]:
    started = time.perf_counter()
    response = client.post("/v1/answer", json={"user_id": user, "question": question, "method": "nopers"}, headers={"Authorization": f"Bearer {key}"})
    return response.status_code, time.perf_counter() - started


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def main() -> None:
    args = parse_args(__doc__, questions=20, flooders=16)
    if args.quick:
        args.questions, args.flooders = 6, 4

    from tailor.methods import AnswerConfig
    from tailor.retrieval import make_retriever
    from tailor.service.answering import Answerer
    from tailor.service.app import create_app
    from tailor.service.auth import Access, create_tenant
    from tailor.service.catalog import ModelCatalog
    from tailor.service.limits import Limits
    from tailor.service.store import ProfileStore, make_engine

    folder = Path(tempfile.mkdtemp(prefix="tailor-flood-"))
    store = ProfileStore(make_engine(str(folder / "service.sqlite")))
    answerer = Answerer(store, slow_model, make_retriever("bm25"), ModelCatalog(folder), AnswerConfig(k=2, max_tokens=32), max_batch=MAX_BATCH)
    app = create_app(store, answerer, Limits(concurrent_answers=CAP, requests_per_minute=1_000_000), folder, Access())
    quiet, flooder = create_tenant(store, "quiet"), create_tenant(store, "flooder")
    with local_server(app) as url, httpx.Client(base_url=url.removesuffix("/v1"), timeout=60) as client:
        url = url.removesuffix("/v1")
        for key in (quiet, flooder):
            client.put("/v1/users/u1", json=PROFILE, headers={"Authorization": f"Bearer {key}"}).raise_for_status()
        ask(client, quiet, "u1", "warm-up")
        solo = [ask(client, quiet, "u1", f"Solo question {i}?")[1] for i in range(args.questions)]

        stop, flood_statuses = threading.Event(), []

        def flood(worker: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as own:
                n = 0
                while not stop.is_set():
                    flood_statuses.append(ask(own, flooder, "u1", f"Flood {worker}-{n}?")[0])
                    n += 1

        workers = [threading.Thread(target=flood, args=(w,)) for w in range(args.flooders)]
        for worker in workers:
            worker.start()
        time.sleep(0.5)
        flooded = [ask(client, quiet, "u1", f"Question under flood {i}?") for i in range(args.questions)]
        stop.set()
        for worker in workers:
            worker.join()

    under = [seconds for _, seconds in flooded]
    bound = p95(solo) + ONE_GENERATION
    rows = [
        ["quiet tenant alone", len(solo), statistics.median(solo) * 1000, p95(solo) * 1000, "-"],
        [f"quiet tenant, {args.flooders} flooding clients", len(under), statistics.median(under) * 1000, p95(under) * 1000, sum(s != 200 for s, _ in flooded)],
    ]
    table("Latency of the quiet tenant's answers (ms)", ["run", "answers", "p50", "p95", "errors"], rows)
    refused = sum(s == 429 for s in flood_statuses)
    note(f"flooder: {len(flood_statuses)} requests, {refused} refused with 429 (generation cap {CAP}), {sum(s == 200 for s in flood_statuses)} answered")
    note(f"quiet p95 under flood {p95(under) * 1000:.0f} ms vs bound {bound * 1000:.0f} ms (solo p95 + one capped generation of "
         f"{ONE_GENERATION * 1000:.0f} ms): {'within' if p95(under) <= bound else 'OVER'}")
    write_result("service_flood", {
        "quick": args.quick, "solo_p95_ms": p95(solo) * 1000, "flood_p95_ms": p95(under) * 1000, "bound_ms": bound * 1000,
        "within": p95(under) <= bound, "flood_requests": len(flood_statuses), "flood_refused": refused, "quiet_errors": rows[1][4],
    })


if __name__ == "__main__":
    main()
