"""Prometheus metrics: requests by endpoint (the route's template, never a user id) and
status, their latency, and the model calls and cache hits behind answers. Each app has its
own registry, so several apps (tests) can live in one process."""

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tailor.llm.base import Usage


class ServiceMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("tailor_http_requests", "HTTP requests", ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("tailor_http_request_seconds", "HTTP request latency", ["endpoint"], registry=self.registry)
        self.backend_calls = Counter("tailor_backend_calls", "Requests sent to the model backend", ["method"], registry=self.registry)
        self.cache_hits = Counter("tailor_answer_cache_hits", "Model responses served from the user's cache", ["method"], registry=self.registry)

    def count_usage(self, method: str, usage: Usage) -> None:
        self.backend_calls.labels(method).inc(usage.requests)
        self.cache_hits.labels(method).inc(usage.cache_hits)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request (streams until their end)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", "unmatched")  # set by the router on the shared scope
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
