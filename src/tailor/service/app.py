"""``tailor serve``: the service's FastAPI app, from its parts or from its settings."""

import contextlib
from pathlib import Path

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from tailor.llm import LLMConfig, make_llm
from tailor.llm.protocol import error_response, validation_error_response
from tailor.methods import AnswerConfig
from tailor.retrieval import make_retriever
from tailor.service.answering import Answerer, DoesNotFit
from tailor.service.answers import answer_router
from tailor.service.auth import Access, AdminAuth, BearerAuth
from tailor.browser.router import make_browser_router
from tailor.service.catalog import ModelCatalog
from tailor.service.limits import BodySizeLimit, Limits
from tailor.service.metrics import RequestMetrics, ServiceMetrics
from tailor.service.profiles import profile_router
from tailor.service.store import DuplicateItems, ProfileFull, ProfileStore, UnknownUser, make_engine
from tailor.service.summaries import Summaries
from tailor.service.throttle import Throttle, TooManyRequests
from tailor.service.user_cache import GenerationTimeout


OPENAI_ROUTES = ("/v1/chat/completions", "/v1/models")  # their errors take OpenAI's shape, which its clients read


def _validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
    """422 naming each field, without echoing the input back (it may be profile text)."""
    if request.url.path in OPENAI_ROUTES:
        return validation_error_response(request, err)
    return JSONResponse({"detail": [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in err.errors()]}, status_code=422)


def _shaped(request: Request, status: int, message: str, headers: dict | None = None) -> JSONResponse:
    """An error as the route's clients read it: OpenAI's shape on the OpenAI routes, else ``detail``."""
    if request.url.path in OPENAI_ROUTES:
        kind = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}.get(status, "invalid_request_error")
        response = error_response(status, message, kind)
    else:
        response = JSONResponse({"detail": message}, status_code=status)
    response.headers.update(headers or {})
    return response


async def _http_error(request: Request, err: StarletteHTTPException) -> Response:
    if request.url.path in OPENAI_ROUTES:
        return _shaped(request, err.status_code, str(err.detail), err.headers)
    return await http_exception_handler(request, err)


def _too_many(request: Request, err: TooManyRequests) -> JSONResponse:
    return _shaped(request, 429, str(err), {"Retry-After": str(err.retry_after)})


def _error(status: int, message=str):
    def handler(request: Request, err: Exception) -> JSONResponse:
        return _shaped(request, status, message(err))

    return handler


@contextlib.asynccontextmanager
async def _stopping(answerer: Answerer):
    """The app's lifespan: at shutdown, generation stops at once (the grace period is uvicorn's)."""
    try:
        yield
    finally:
        answerer.stop()


def create_app(
    store: ProfileStore, answerer: Answerer, limits: Limits = Limits(), runs_root: Path = Path("runs"), access: Access = Access(),
    summaries_on_write: bool = False,
) -> FastAPI:
    metrics = ServiceMetrics()
    auth = BearerAuth(store)
    runs_access = AdminAuth(store, access.admin_key, access.public_runs, "run folders")
    metrics_access = AdminAuth(store, access.admin_key, access.public_metrics, "metrics")
    app = FastAPI(title="tailor service", lifespan=lambda _app: _stopping(answerer))
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)  # the outermost: it sees every response, 413s included
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Another tenant's user is not found, exactly like a user that does not exist.
    app.add_exception_handler(UnknownUser, _error(404, lambda err: f"user {err.args[0]!r} not found"))
    app.add_exception_handler(DuplicateItems, _error(409))
    app.add_exception_handler(ProfileFull, _error(413))
    app.add_exception_handler(TooManyRequests, _too_many)
    app.add_exception_handler(GenerationTimeout, _error(504))
    app.add_exception_handler(DoesNotFit, _error(400))
    summaries = Summaries(answerer, on_write=summaries_on_write)
    app.include_router(profile_router(store, auth, limits, summaries))
    throttle = Throttle(limits.requests_per_minute, limits.concurrent_answers)
    app.include_router(answer_router(answerer, auth, metrics, throttle, summaries, limits))
    app.include_router(make_browser_router(runs_root), prefix="/runs", dependencies=[Depends(runs_access)])

    @app.get("/healthz")
    def healthz() -> dict:
        store.ping()
        return {"status": "ok"}

    @app.get("/metrics", dependencies=[Depends(metrics_access)])
    def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=metrics.content_type)

    return app


class ServiceConfig(BaseModel):
    """What ``tailor serve`` is started with. ``aliases``: served model names for specs
    (``METHOD[:ADAPTER]``); ``adapters``: by role, the adapter every method playing the
    role uses unless its model name says (e.g. PlanPers' planner)."""

    db: str = "runs/service.sqlite"
    llm: LLMConfig = Field(default_factory=LLMConfig)
    retriever: str = "bm25"
    answer: AnswerConfig = Field(default_factory=AnswerConfig)
    adapters: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, str] = Field(default_factory=dict)
    runs_root: Path = Path("runs")
    limits: Limits = Field(default_factory=Limits)
    access: Access = Field(default_factory=Access)
    summaries_on_write: bool = False  # remake a user's preference summary after every profile write, not only after remembered questions


def app_from_config(config: ServiceConfig) -> FastAPI:
    """The app with its store opened, its retriever ready and its generator built on first
    use, without tailor's shared response cache (see ``user_cache``)."""
    store = ProfileStore(make_engine(config.db))
    catalog = ModelCatalog(config.runs_root, config.aliases, config.adapters)
    answerer = Answerer(
        store, lambda: make_llm(config.llm.model_copy(update={"cache": False})), make_retriever(config.retriever), catalog, config.answer,
        timeout=config.limits.request_timeout,
    )
    return create_app(store, answerer, config.limits, config.runs_root, config.access, config.summaries_on_write)
