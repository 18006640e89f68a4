"""Bounded shutdown and cancellation: a stopped batcher fails what is queued and cuts the
running batch short; a client that disconnects withdraws its generation; SIGTERM stops
``tailor serve-llm`` within its grace period even while the real model is generating a long
answer."""

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from conftest import ServerThread, free_port
from fakes import ScriptedLLM

from tailor.llm.batcher import RequestBatcher, ShuttingDown
from tailor.llm.server import create_app
from tailor.llm.types import ChatRequest, SamplingParams


class Blocking(ScriptedLLM):
    """Generates until ``cancel()``: a batch that would run forever."""

    def __init__(self):
        super().__init__(lambda request, params, j: "cut short")
        self.started, self.cancelled = threading.Event(), threading.Event()

    def _generate(self, requests, params, adapter):
        self.started.set()
        self.cancelled.wait(timeout=30)
        return super()._generate(requests, params, adapter)

    def cancel(self):
        self.cancelled.set()


def test_stopping_fails_what_is_queued_and_cuts_the_running_batch_short():
    model = Blocking()
    batcher = RequestBatcher(model, max_batch=1, wait=0)
    running = batcher.enqueue([ChatRequest.of("first")], SamplingParams())
    assert model.started.wait(5)
    queued = batcher.enqueue([ChatRequest.of("second")], SamplingParams())
    started = time.monotonic()
    batcher.stop()
    assert running[0].result.result(timeout=5).text == "cut short" and model.cancelled.is_set()
    with pytest.raises(ShuttingDown):
        queued[0].result.result(timeout=5)
    assert time.monotonic() - started < 2


def test_a_client_that_disconnects_withdraws_its_generation():
    model = Blocking()
    with ServerThread(create_app(model, "smol")) as server:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.url}/v1/chat/completions", json={"model": "smol", "messages": [{"role": "user", "content": "hi"}]}, timeout=1.0)
        assert model.cancelled.wait(5)  # the generation nobody waits for was cut short


@pytest.mark.model
def test_sigterm_stops_serve_llm_within_its_grace_period_while_it_generates(tmp_path):
    port = free_port()
    env = {**os.environ, "TAILOR_PROGRESS": "0"}
    server = subprocess.Popen(
        [sys.executable, "-m", "tailor.cli", "serve-llm", "--port", str(port), "--shutdown-grace", "2", "--max-tokens-cap", "4096"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"), env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        body = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Write a very long story."}], "max_tokens": 4000}
        client = threading.Thread(target=lambda: httpx.post(f"{url}/v1/chat/completions", json=body, timeout=300), daemon=True)
        client.start()
        time.sleep(4)  # the model is generating (4000 tokens would take minutes here)
        sent = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        assert time.monotonic() - sent < 10, (tmp_path / "server.log").read_text()[-2000:]
    finally:
        server.kill()
