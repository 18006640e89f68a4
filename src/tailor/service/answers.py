"""The answering endpoints: ``POST /v1/answer`` (answer and trace) and an OpenAI-compatible
``POST /v1/chat/completions`` (``user`` selects the profile, ``model`` the method), so any
OpenAI client becomes a personalized client."""

from fastapi import APIRouter, BackgroundTasks, Depends
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse

from tailor.llm.protocol import VALIDATION_ERROR, ModelCard, ModelList, chat_completion_stream, error_response
from tailor.llm.types import Completion, Sample
from tailor.service.answering import Answered, Answerer
from tailor.service.auth import BearerAuth
from tailor.service.catalog import UnknownModel
from tailor.service.limits import Limits
from tailor.service.metrics import ServiceMetrics
from tailor.service.schemas import AnswerIn, AnswerOut, PersonalizedChatRequest, PersonalizedChatResponse
from tailor.service.summaries import Summaries
from tailor.service.throttle import Throttle


def _chat_settings(body: PersonalizedChatRequest, max_tokens: int) -> dict:
    """The sampling settings a chat request sets explicitly (its answer length at most
    ``max_tokens``); the rest stay the service's."""
    given = body.model_fields_set
    settings = {name: getattr(body, name) for name in ("temperature", "seed", "k") if name in given and getattr(body, name) is not None}
    asked = body.max_completion_tokens or body.max_tokens
    return settings | ({"max_tokens": body.max_new_tokens(asked, max_tokens)} if asked else {})


def _question(body: PersonalizedChatRequest) -> str:
    for message in reversed(body.messages):
        if message.role == "user" and message.content.strip():
            return message.content
    raise RequestValidationError([{"loc": ("body", "messages"), "msg": "no user message to answer", "type": "value_error"}])


def answer_router(answerer: Answerer, auth: BearerAuth, metrics: ServiceMetrics, throttle: Throttle, summaries: Summaries, limits: Limits) -> APIRouter:
    router = APIRouter(prefix="/v1")

    def answered(tenant: int, user_id: str, question: str, model: str, settings: dict, remember: bool, background: BackgroundTasks) -> Answered:
        throttle.admit(tenant)
        result = answerer.answer(tenant, user_id, question, model, settings, slot=lambda: throttle.generating(tenant))
        metrics.count_usage(result.method, result.usage)
        if remember:
            result.answer.trace["remembered"] = summaries.remember(tenant, user_id, question, limits.max_items_per_user)
            background.add_task(summaries.refresh, tenant, user_id)
        return result

    @router.post("/answer", response_model=AnswerOut)
    def answer(body: AnswerIn, background: BackgroundTasks, tenant: int = Depends(auth)) -> AnswerOut:
        try:
            result = answered(tenant, body.user_id, body.question, body.method, {} if body.k is None else {"k": body.k}, body.remember, background)
        except UnknownModel as err:
            raise RequestValidationError([{"loc": ("body", "method"), "msg": str(err), "type": "value_error"}]) from err
        return AnswerOut(user_id=body.user_id, method=body.method, answer=result.answer.text, trace=result.answer.trace)

    @router.post("/chat/completions", response_model=PersonalizedChatResponse, responses=VALIDATION_ERROR)
    def chat(body: PersonalizedChatRequest, background: BackgroundTasks, tenant: int = Depends(auth)):
        try:
            result = answered(tenant, body.user, _question(body), body.model, _chat_settings(body, limits.max_tokens), body.remember, background)
        except UnknownModel as err:
            return error_response(404, str(err), "not_found_error", "model")
        if body.stream:
            return StreamingResponse(chat_completion_stream(body.model, result.answer.text, result.finish_reason, trace=result.answer.trace),
                                     media_type="text/event-stream")
        prompt_tokens, completion_tokens = result.tokens()
        completion = Completion(samples=[Sample(text=result.answer.text, tokens=completion_tokens, finish_reason=result.finish_reason)],
                                prompt_tokens=prompt_tokens)
        return PersonalizedChatResponse.of(body.model, completion, trace=result.answer.trace)

    @router.get("/models", response_model=ModelList, response_model_exclude_none=True)
    def models(tenant: int = Depends(auth)) -> ModelList:
        return ModelList(data=[ModelCard(id=name) for name in answerer.catalog.names()])

    return router
