"""Load test of `tailor serve` on loopback, against the real offline model.

Starts the service as an operator would (`tailor serve` in a subprocess, a fresh SQLite
store), loads sample users' profiles, asks each user's question once so the model's
answers are in the user's cache, then sends REQUESTS answer and chat requests at
CONCURRENCY: every request authenticates, reads the profile and ranks it (rankings are
never cached) and is answered from the cache. Prints p50/p95 latency and errors, and
writes them to bench/results/service_load.json.

    .venv/bin/python bench/service_load.py [--requests 200] [--concurrency 16] [--users 4]
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tailor_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tailor.cli", *args]


def create_tenant(db: str, name: str = "bench") -> str:
    """A new tenant's API key, through the CLI (`tailor serve --create-tenant`)."""
    done = subprocess.run(tailor_command("serve", "--db", db, "--create-tenant", name), capture_output=True, text=True, check=True)
    return done.stdout.strip()


class ServiceProcess:
    """`tailor serve` in a subprocess on a free loopback port; its output goes to ``log``."""

    def __init__(self, db: str, log: Path, *options: str):
        self.port = free_port()
        self.command = tailor_command("serve", "--db", db, "--port", str(self.port), *options)
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> "ServiceProcess":
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tailor serve exited with {self.process.returncode}; see {self.log}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"tailor serve did not start within {timeout}s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@dataclass
class LoadReport:
    requests: int
    concurrency: int
    errors: int
    p50_ms: float
    p95_ms: float
    seconds: float
    error_examples: list[str]


def run_load(url: str, key: str, calls: list[tuple[str, dict]], concurrency: int) -> LoadReport:
    """Send ``calls`` (path, JSON body) with at most ``concurrency`` in flight; any non-2xx
    answer or transport error is an error."""

    async def send_all() -> list[tuple[float, str | None]]:
        gate = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120, limits=limits) as client:

            async def one(path: str, body: dict) -> tuple[float, str | None]:
                async with gate:
                    started = time.perf_counter()
                    try:
                        response = await client.post(path, json=body)
                        error = None if response.is_success else f"{path}: {response.status_code} {response.text[:200]}"
                    except httpx.HTTPError as err:
                        error = f"{path}: {type(err).__name__}: {err}"
                    return time.perf_counter() - started, error

            return await asyncio.gather(*(one(path, body) for path, body in calls))

    started = time.perf_counter()
    results = asyncio.run(send_all())
    seconds = time.perf_counter() - started
    latencies = sorted(latency * 1000 for latency, _ in results)
    errors = [error for _, error in results if error]
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return LoadReport(len(calls), concurrency, len(errors), round(cuts[49], 1), round(cuts[94], 1), round(seconds, 2), errors[:5])


def answer_calls(pairs: list[tuple[str, str]], count: int) -> list[tuple[str, dict]]:
    """``count`` requests over (user, question) pairs, alternating /v1/answer and the chat endpoint."""
    calls = []
    for n in range(count):
        user, question = pairs[n % len(pairs)]
        if n % 2:
            calls.append(("/v1/chat/completions", {"model": "rag", "user": user, "messages": [{"role": "user", "content": question}]}))
        else:
            calls.append(("/v1/answer", {"user_id": user, "question": question, "method": "rag"}))
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--users", type=int, default=4, help="sample users (each asks its own question)")
    parser.add_argument("--max-tokens", type=int, default=64, help="answer length of the warm-up generations")
    parser.add_argument("--out", type=Path, default=RESULTS / "service_load.json")
    args = parser.parse_args()

    from tailor.data import SAMPLE_LAMPQA, load_examples

    users = load_examples(SAMPLE_LAMPQA, split="test")[: args.users]
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "service.sqlite")
        key = create_tenant(db)
        service = ServiceProcess(db, Path(tmp) / "serve.log", "--k", "3", "--max-tokens", str(args.max_tokens)).start()
        try:
            headers = {"Authorization": f"Bearer {key}"}
            started = time.perf_counter()
            for user in users:
                items = [{"id": p.id, "text": p.text} for p in user.profile]
                httpx.put(f"{service.url}/v1/users/{user.id}", json={"items": items}, headers=headers).raise_for_status()
                body = {"user_id": user.id, "question": user.question, "method": "rag"}
                httpx.post(f"{service.url}/v1/answer", json=body, headers=headers, timeout=600).raise_for_status()
            warm_up = time.perf_counter() - started
            report = run_load(service.url, key, answer_calls([(u.id, u.question) for u in users], args.requests), args.concurrency)
        finally:
            service.stop()
    result = {**asdict(report), "users": len(users), "warm_up_seconds": round(warm_up, 1), "cpus": os.cpu_count()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{report.requests} requests at concurrency {report.concurrency} in {report.seconds}s: "
          f"p50 {report.p50_ms} ms, p95 {report.p95_ms} ms, errors {report.errors}  ({len(users)} users, warm-up {warm_up:.0f}s) -> {args.out}")
    for error in report.error_examples:
        print(f"  {error}")
    sys.exit(1 if report.errors else 0)


if __name__ == "__main__":
    main()
