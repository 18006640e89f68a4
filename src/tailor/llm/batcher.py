"""Concurrent requests to one model, generated together: what a server needs to turn its
clients' concurrency into batch size (``vllm serve`` does it with continuous batching;
``tailor serve-llm`` does it here, a batch at a time).

Requests wait in a queue; one worker thread takes the first, keeps collecting for up to
``wait`` seconds or ``max_batch`` requests, then generates each group that shares sampling
settings and adapter in one ``generate_each`` call (a request too long for the model's
context fails alone, never its batch-mates). The backend sees one caller, so it needs no
lock of its own."""

import contextlib
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from tailor.errors import PromptTooLong
from tailor.llm.base import LLM
from tailor.llm.types import ChatRequest, Completion, SamplingParams


class ShuttingDown(RuntimeError):
    """The server stopped before the request was generated."""


@dataclass
class Pending:
    """One request in the batcher: its ``result`` resolves to its completion."""

    request: ChatRequest
    params: SamplingParams
    adapter: str | None
    result: Future = field(default_factory=Future)
    withdrawn: bool = False  # its caller stopped waiting (a client that disconnected)


class RequestBatcher:
    def __init__(self, llm: LLM, max_batch: int = 16, wait: float = 0.01, lock: contextlib.AbstractContextManager | None = None):
        """``lock``: held while generating, when other threads use the model too (its tokenizer)."""
        if max_batch < 1 or wait < 0:
            raise ValueError(f"max_batch must be >= 1 and wait >= 0, got {max_batch} and {wait}")
        self.llm, self.max_batch, self.wait, self.lock = llm, max_batch, wait, lock or contextlib.nullcontext()
        self._queue: queue.Queue[Pending | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._start = threading.Lock()
        self.batches: list[int] = []  # the size of every batch generated, for tests and benches
        self._current: list[Pending] = []  # the batch being generated

    def submit(self, request: ChatRequest, params: SamplingParams, adapter: str | None = None, timeout: float | None = None) -> Completion:
        """Generate ``request`` with whatever else arrives meanwhile; blocks until done."""
        return self.submit_many([request], params, adapter, timeout)[0]

    def submit_many(self, requests: list[ChatRequest], params: SamplingParams, adapter: str | None = None,
                    timeout: float | None = None) -> list[Completion]:
        """Generate ``requests`` with whatever else arrives meanwhile; blocks until done, or
        raises ``TimeoutError`` after ``timeout`` seconds, withdrawing what has not started."""
        pending = self.enqueue(requests, params, adapter)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            return [item.result.result(None if deadline is None else max(deadline - time.monotonic(), 0)) for item in pending]
        except TimeoutError:
            self.withdraw(pending)
            raise

    def enqueue(self, requests: list[ChatRequest], params: SamplingParams, adapter: str | None = None) -> list[Pending]:
        """Queue ``requests`` for the next batch; each one's ``result`` is a future."""
        with self._start:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="tailor-batcher", daemon=True)
                self._worker.start()
        pending = [Pending(request, params, adapter) for request in requests]
        for item in pending:
            self._queue.put(item)
        return pending

    def withdraw(self, pending: list[Pending]) -> None:
        """Nobody waits for ``pending`` any more: a queued one is never generated, and the
        batch being generated is cut short when none of its requests is still wanted."""
        for item in pending:
            item.withdrawn = True
            item.result.cancel()  # succeeds only while it is queued
        current = self._current
        if current and all(item.withdrawn for item in current):
            self.llm.cancel()

    @contextlib.asynccontextmanager
    async def running(self):
        """A FastAPI lifespan: the batcher stops with the app."""
        try:
            yield
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop now, for a bounded shutdown: queued requests fail with ``ShuttingDown``, the
        batch being generated is cut short (``LLM.cancel``), and the worker ends."""
        self.llm.cancel()
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None and item.result.set_running_or_notify_cancel():
                item.result.set_exception(ShuttingDown("the server is shutting down"))
        self._queue.put(None)

    def _collect(self, first: Pending) -> list[Pending]:
        batch, deadline = [first], time.monotonic() + self.wait
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # stop after this batch
                break
            batch.append(item)
        return batch

    def _work(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = self._collect(first)
            self.batches.append(len(batch))
            groups: dict[tuple, list[Pending]] = {}
            for item in batch:
                if item.result.set_running_or_notify_cancel():  # false: withdrawn by its caller
                    groups.setdefault((item.params, item.adapter), []).append(item)
            for (params, adapter), items in groups.items():
                self._current = items
                try:
                    with self.lock:
                        completions = self.llm.generate_each([i.request for i in items], params, adapter=adapter)
                except Exception as err:  # every waiting request gets the error, and the worker goes on
                    for item in items:
                        item.result.set_exception(err)
                    continue
                for item, completion in zip(items, completions):
                    if isinstance(completion, PromptTooLong):
                        item.result.set_exception(completion)
                    else:
                        item.result.set_result(completion)
            self._current = []
