"""Size limits on what clients send, and the middleware that bounds request bodies."""

from dataclasses import dataclass

from fastapi import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1_000_000
    max_item_chars: int = 20_000
    max_items_per_user: int = 1_000
    max_page: int = 100  # items per page of GET /v1/users/{id}/items
    max_tokens: int = 1024  # the longest answer a request may ask for
    requests_per_minute: int = 120  # answer requests per tenant
    concurrent_answers: int = 4  # a tenant's answers being generated at once
    request_timeout: float = 300.0  # seconds an answer may wait for its generation (then 504)


class BodySizeLimit:
    """413 for a body over ``max_bytes``: at once when its Content-Length says so, and
    while reading when it is sent without one (chunked)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._too_large()(scope, receive, send)
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self._detail())  # FastAPI turns this into the response
            return message

        await self.app(scope, bounded_receive, send)

    def _detail(self) -> str:
        return f"request body over {self.max_bytes} bytes"

    def _too_large(self) -> JSONResponse:
        return JSONResponse({"detail": self._detail()}, status_code=413)
