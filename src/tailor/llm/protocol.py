"""The OpenAI wire format tailor speaks, in one place: the bodies ``tailor serve-llm`` and
``tailor serve`` accept and answer on ``/v1/chat/completions`` and ``/v1/models``, their
errors, the streamed chunks, and vLLM's extensions (``/tokenize``, runtime LoRA loading) that
the ``openai`` backend sends. Each body converts to and from ``tailor.llm.types``."""

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Literal, Self

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tailor.llm.types import ChatRequest, Completion, Message, Sample, TokenLogprob

INT64 = 2**63 - 1
CONTINUE_PREFILL = {"continue_final_message": True, "add_generation_prompt": False}  # vLLM's way to continue a final assistant message


# Requests


class ContentPart(BaseModel):
    """One part of an OpenAI message's content; only text parts are read."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    """An OpenAI chat message: its content a string, or a list of text parts (joined by newlines)."""

    role: str
    content: str | list[ContentPart]

    @field_validator("content")
    @classmethod
    def _text_only(cls, content: str | list[ContentPart]) -> str:
        if isinstance(content, str):
            return content
        others = sorted({part.type for part in content if part.type != "text"})
        if others:
            raise ValueError(f"only text content parts are supported, not {', '.join(others)}")
        return "\n".join(part.text or "" for part in content)


class ChatMessages(BaseModel):
    """Messages as a chat request: vLLM's ``continue_final_message`` makes the last
    assistant message a prefill that the answer continues."""

    messages: list[ChatMessage] = Field(min_length=1)
    continue_final_message: bool = False
    add_generation_prompt: bool = True

    @classmethod
    def of(cls, request: ChatRequest, **fields) -> Self:
        """``request`` on the wire, its prefill as a final assistant message to continue."""
        return cls(messages=request.openai_messages(), **(CONTINUE_PREFILL if request.prefill else {}), **fields)

    def request(self) -> ChatRequest:
        messages = [Message(role=m.role, content=m.content) for m in self.messages]
        if self.continue_final_message and messages[-1].role == "assistant":
            return ChatRequest(messages=messages[:-1], prefill=messages[-1].content)
        return ChatRequest(messages=messages)


class TokenizeRequest(ChatMessages):
    """vLLM's ``POST /tokenize`` of chat messages."""

    model: str | None = None


class ChatCompletionRequest(ChatMessages):
    """The chat request's fields that tailor reads; any others are ignored."""

    model: str
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int = Field(default=1, ge=1, le=128)
    seed: int | None = Field(default=None, ge=-INT64 - 1, le=INT64)
    stop: str | list[str] | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)

    def max_new_tokens(self, default: int, cap: int) -> int:
        """The answer length asked for (else ``default``); over ``cap``, a 422 naming the field."""
        field = "max_completion_tokens" if self.max_completion_tokens else "max_tokens"
        asked = self.max_completion_tokens or self.max_tokens
        if asked is not None and asked > cap:
            raise RequestValidationError([{"loc": ("body", field), "msg": f"must be at most {cap} (this server's cap), got {asked}", "type": "value_error"}])
        return min(asked or default, cap)


class LoadLoraAdapterRequest(BaseModel):
    """vLLM's ``POST /v1/load_lora_adapter``."""

    lora_name: str = Field(min_length=1)
    lora_path: str = Field(min_length=1)


class UnloadLoraAdapterRequest(BaseModel):
    """vLLM's ``POST /v1/unload_lora_adapter``."""

    lora_name: str = Field(min_length=1)
    lora_int_id: int | None = None  # vLLM accepts it; names are what tailor goes by


# Answers


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprobs(TopLogprob):
    """A generated token's log-probability and the most likely alternatives at its position."""

    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprobs]

    @classmethod
    def of(cls, logprobs: list[TokenLogprob] | None) -> "ChoiceLogprobs | None":
        if logprobs is None:
            return None
        return cls(content=[
            TokenLogprobs(token=t.token, logprob=t.logprob, top_logprobs=[TopLogprob(token=k, logprob=v) for k, v in t.top.items()])
            for t in logprobs
        ])


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatCompletionChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str
    logprobs: ChoiceLogprobs | None = None

    @classmethod
    def of(cls, index: int, sample: Sample) -> "ChatCompletionChoice":
        return cls(index=index, message=AssistantMessage(content=sample.text), finish_reason=sample.finish_reason, logprobs=ChoiceLogprobs.of(sample.logprobs))


class UsageInfo(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _now() -> int:
    return int(time.time())


class ChatCompletionResponse(BaseModel):
    """A ``chat.completion``: one choice per sample."""

    id: str = Field(default_factory=_completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=_now)
    model: str
    choices: list[ChatCompletionChoice]
    usage: UsageInfo

    @classmethod
    def of(cls, model: str, completion: Completion, **fields) -> Self:
        """``completion`` as answered for ``model``; ``fields`` set a subclass's own."""
        usage = UsageInfo(prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
                          total_tokens=completion.prompt_tokens + completion.completion_tokens)
        return cls(model=model, choices=[ChatCompletionChoice.of(i, s) for i, s in enumerate(completion.samples)], usage=usage, **fields)


class StreamChoice(BaseModel):
    index: int = 0
    delta: dict[str, str]  # only what this chunk adds: the role first, then content
    finish_reason: str | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    """One streamed ``chat.completion.chunk``; extra top-level fields are kept (clients keep
    unknown fields)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(default_factory=_completion_id)
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int = Field(default_factory=_now)
    model: str
    choices: list[StreamChoice]


def chat_completion_stream(model: str, text: str, finish_reason: str = "stop", **extra) -> Iterator[str]:
    """``text`` as server-sent ``chat.completion.chunk`` events, a word at a time, ending
    with ``data: [DONE]``; ``extra`` adds top-level fields to the last chunk."""
    first = ChatCompletionChunk(model=model, choices=[StreamChoice(delta={"role": "assistant", "content": ""})])

    def event(chunk: ChatCompletionChunk) -> str:
        return f"data: {json.dumps(chunk.model_dump(), ensure_ascii=False)}\n\n"

    def following(delta: dict[str, str], finish: str | None = None, **fields) -> ChatCompletionChunk:
        return ChatCompletionChunk(id=first.id, created=first.created, model=model, choices=[StreamChoice(delta=delta, finish_reason=finish)], **fields)

    yield event(first)
    for piece in re.findall(r"\s*\S+|\s+$", text):
        yield event(following({"content": piece}))
    yield event(following({}, finish_reason, **extra))
    yield "data: [DONE]\n\n"


class ModelCard(BaseModel):
    """A served model: vLLM's cards carry the context length (``max_model_len``), an
    adapter's card its base model (``parent``); served without the fields not known."""

    id: str
    object: Literal["model"] = "model"
    owned_by: str = "tailor"
    max_model_len: int | None = None
    parent: str | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class TokenizeResponse(BaseModel):
    count: int
    max_model_len: int | None


# Errors


class ErrorInfo(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: int


class ErrorResponse(BaseModel):
    """An error in OpenAI's shape, which its clients read the message from."""

    error: ErrorInfo


VALIDATION_ERROR = {422: {"model": ErrorResponse, "description": "A field out of bounds, in OpenAI's error shape"}}  # a route's ``responses``


def error_response(status: int, message: str, kind: str, param: str | None = None) -> JSONResponse:
    return JSONResponse(ErrorResponse(error=ErrorInfo(message=message, type=kind, param=param, code=status)).model_dump(), status_code=status)


def validation_error_response(_request: Request, err: RequestValidationError) -> JSONResponse:
    """422 in OpenAI's shape, naming the first bad field (``param``, dotted) and every problem,
    without echoing the input back."""
    problems = [(".".join(str(part) for part in e["loc"][1:]) or "body", e["msg"]) for e in err.errors()]
    message = "; ".join(f"{field}: {msg}" for field, msg in problems)
    return error_response(422, message, "invalid_request_error", problems[0][0])
