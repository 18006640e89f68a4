"""``tailor serve``: the service's FastAPI app, from its parts or from its settings."""

from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tailor.llm import LLMConfig, make_llm
from tailor.methods import AnswerConfig
from tailor.retrieval import make_retriever
from tailor.service.answering import Answerer
from tailor.service.answers import answer_router
from tailor.service.auth import BearerAuth
from tailor.service.browser import make_browser_router
from tailor.service.catalog import ModelCatalog
from tailor.service.limits import BodySizeLimit, Limits
from tailor.service.metrics import RequestMetrics, ServiceMetrics
from tailor.service.profiles import profile_router
from tailor.service.store import DuplicateItems, ProfileFull, ProfileStore, UnknownUser, make_engine


def _validation_error(_request: Request, err: RequestValidationError) -> JSONResponse:
    """422 naming each field, without echoing the input back (it may be profile text)."""
    return JSONResponse({"detail": [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in err.errors()]}, status_code=422)


def _error(status: int):
    def handler(_request: Request, err: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=status)

    return handler


def create_app(store: ProfileStore, answerer: Answerer, limits: Limits = Limits(), runs_root: Path = Path("runs")) -> FastAPI:
    metrics = ServiceMetrics()
    auth = BearerAuth(store)
    app = FastAPI(title="tailor service")
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)  # the outermost: it sees every response, 413s included
    app.add_exception_handler(RequestValidationError, _validation_error)
    # Another tenant's user is not found, exactly like a user that does not exist.
    app.add_exception_handler(UnknownUser, lambda _request, err: JSONResponse({"detail": f"user {err.args[0]!r} not found"}, status_code=404))
    app.add_exception_handler(DuplicateItems, _error(409))
    app.add_exception_handler(ProfileFull, _error(413))
    app.include_router(profile_router(store, auth, limits))
    app.include_router(answer_router(answerer, auth, metrics))
    app.include_router(make_browser_router(runs_root), prefix="/runs")

    @app.get("/healthz")
    def healthz() -> dict:
        store.ping()
        return {"status": "ok"}

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=metrics.content_type)

    return app


class ServiceConfig(BaseModel):
    """What ``tailor serve`` is started with. ``aliases``: served model names for specs
    (``METHOD[:ADAPTER]``); ``planner_adapter``: the planner PlanPers uses."""

    db: str = "runs/service.sqlite"
    llm: LLMConfig = Field(default_factory=LLMConfig)
    retriever: str = "bm25"
    answer: AnswerConfig = Field(default_factory=AnswerConfig)
    planner_adapter: str | None = None
    aliases: dict[str, str] = Field(default_factory=dict)
    runs_root: Path = Path("runs")
    limits: Limits = Field(default_factory=Limits)


def app_from_config(config: ServiceConfig) -> FastAPI:
    """The app with its store opened, its retriever ready and its generator built on first
    use, without tailor's shared response cache (see ``user_cache``)."""
    store = ProfileStore(make_engine(config.db))
    defaults = {"planner": config.planner_adapter} if config.planner_adapter else {}
    catalog = ModelCatalog(config.runs_root, config.aliases, defaults)
    answerer = Answerer(store, lambda: make_llm(config.llm.model_copy(update={"cache": False})), make_retriever(config.retriever), catalog, config.answer)
    return create_app(store, answerer, config.limits, config.runs_root)
