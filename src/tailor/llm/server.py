"""A minimal OpenAI-compatible chat server in front of any tailor backend, so that the
``openai`` backend (and any OpenAI client) can talk to a local model: ``tailor serve-llm``."""

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tailor.llm.base import LLM
from tailor.llm.batcher import RequestBatcher
from tailor.llm.types import ChatRequest, Completion, Message, Sample, SamplingParams


INT64 = 2**63 - 1
DISCONNECT_POLL = 0.25  # seconds between checks that a waiting client is still connected


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

    def message(self) -> Message:
        return Message(role=self.role, content=self.content)


class ChatBody(BaseModel):
    """Messages as a chat request: vLLM's ``continue_final_message`` makes the last
    assistant message a prefill that the answer continues."""

    messages: list[ChatMessage] = Field(min_length=1)
    continue_final_message: bool = False
    add_generation_prompt: bool = True

    def request(self) -> ChatRequest:
        messages = [m.message() for m in self.messages]
        if self.continue_final_message and messages[-1].role == "assistant":
            return ChatRequest(messages=messages[:-1], prefill=messages[-1].content)
        return ChatRequest(messages=messages)


class TokenizeBody(ChatBody):
    """vLLM's ``POST /tokenize`` of chat messages."""

    model: str | None = None


class ChatCompletionBody(ChatBody):
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


def _logprobs(sample: Sample) -> dict | None:
    if sample.logprobs is None:
        return None
    return {
        "content": [
            {"token": t.token, "logprob": t.logprob, "bytes": None,
             "top_logprobs": [{"token": k, "logprob": v, "bytes": None} for k, v in t.top.items()]}
            for t in sample.logprobs
        ]
    }


def chat_completion_response(model: str, completion: Completion, **extra) -> dict:
    """A ``chat.completion`` object in OpenAI's wire format, one choice per sample;
    ``extra`` adds top-level fields (clients keep unknown fields)."""
    choices = [
        {"index": i, "message": {"role": "assistant", "content": s.text}, "finish_reason": s.finish_reason, "logprobs": _logprobs(s)}
        for i, s in enumerate(completion.samples)
    ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens,
        },
        **extra,
    }


def chat_completion_stream(model: str, text: str, finish_reason: str = "stop", **extra) -> Iterator[str]:
    """``text`` as OpenAI's streamed ``chat.completion.chunk`` server-sent events, a word
    at a time, ending with ``data: [DONE]``; ``extra`` adds top-level fields to the last chunk."""
    envelope = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

    def event(delta: dict, finish: str | None = None, **fields) -> str:
        chunk = {**envelope, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **fields}
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    yield event({"role": "assistant", "content": ""})
    for piece in re.findall(r"\s*\S+|\s+$", text):
        yield event({"content": piece})
    yield event({}, finish_reason, **extra)
    yield "data: [DONE]\n\n"


def error_response(status: int, message: str, kind: str, param: str | None = None) -> JSONResponse:
    """An error in OpenAI's shape, which its clients read the message from."""
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": status}}, status_code=status)


def openai_validation_error(_request: Request, err: RequestValidationError) -> JSONResponse:
    """422 in OpenAI's shape, naming the first bad field (``param``, dotted) and every problem,
    without echoing the input back."""
    problems = [(".".join(str(part) for part in e["loc"][1:]) or "body", e["msg"]) for e in err.errors()]
    message = "; ".join(f"{field}: {msg}" for field, msg in problems)
    return error_response(422, message, "invalid_request_error", problems[0][0])


class LoadAdapterBody(BaseModel):
    lora_name: str = Field(min_length=1)
    lora_path: str = Field(min_length=1)


class UnloadAdapterBody(BaseModel):
    lora_name: str = Field(min_length=1)
    lora_int_id: int | None = None  # vLLM accepts it; names are what tailor goes by


def overflow(llm: LLM, request: ChatRequest, max_tokens: int) -> str | None:
    """Why ``request`` and ``max_tokens`` more do not fit the model's context (in the words
    vLLM's refusal shares, which clients match), or None where they fit or it is unknown."""
    refused = llm.too_long(request, max_tokens)
    if refused is None:
        return None
    context, prompt = refused.context_length, refused.prompt_tokens
    return (f"This model's maximum context length is {context} tokens. However, your prompt contains {prompt} input tokens "
            f"and asks for {max_tokens} more ({prompt} + {max_tokens} > {context}).")


def adapter_rank(path: str) -> int:
    """The largest LoRA rank in an adapter folder's ``adapter_config.json`` (PEFT's ``r``,
    or a larger one in its ``rank_pattern``)."""
    config = json.loads((Path(path) / "adapter_config.json").read_text())
    return max([config.get("r", 0), *(config.get("rank_pattern") or {}).values()])


def create_app(
    llm: LLM, served_name: str, adapters: dict[str, str] | None = None, default_max_tokens: int = 256,
    max_batch: int = 16, batch_wait: float = 0.01, max_tokens: int = 1024, max_lora_rank: int | None = None,
) -> FastAPI:
    """``served_name`` answers with the base model; each key of ``adapters`` answers with
    that LoRA adapter (the way vLLM serves ``--lora-modules``), and adapters come and go at
    run time through ``/v1/load_lora_adapter`` and ``/v1/unload_lora_adapter``, answered as
    vLLM 0.18.0 and later answer them (``VLLM_ALLOW_RUNTIME_LORA_UPDATING``), an adapter of
    a rank above ``max_lora_rank`` refused as vLLM refuses it. ``/v1/models`` gives the
    model's context length (``max_model_len``) and ``/tokenize`` counts a prompt's tokens
    where the model behind can; a prompt whose answer would not fit that context is refused
    with vLLM's phrase. Concurrent requests are generated together (``RequestBatcher``); a
    request may ask for ``max_tokens`` at most."""
    adapters = dict(adapters or {})
    batcher = RequestBatcher(llm, max_batch, batch_wait)
    app = FastAPI(title="tailor LLM server", lifespan=lambda _app: batcher.running())
    app.state.batcher = batcher
    app.add_exception_handler(RequestValidationError, openai_validation_error)

    @app.get("/v1/models")
    def models() -> dict:
        base = {"id": served_name, "object": "model", "owned_by": "tailor", "max_model_len": llm.context_length()}
        return {"object": "list", "data": [base, *({"id": n, "object": "model", "owned_by": "tailor", "parent": served_name} for n in adapters)]}

    @app.post("/v1/load_lora_adapter")
    def load_adapter(body: LoadAdapterBody):
        name, path = body.lora_name, body.lora_path
        if name == served_name:
            return error_response(400, f"The lora adapter '{name}' conflicts with a served base model.", "InvalidUserInput")
        if name in adapters:
            return error_response(400, f"The lora adapter '{name}' has already been loaded.", "InvalidUserInput")
        if not (Path(path) / "adapter_config.json").is_file():
            return error_response(404, f"Loading lora {name} failed: No adapter found for {path}", "NotFoundError")
        if max_lora_rank is not None and adapter_rank(path) > max_lora_rank:
            reason = f"LoRA rank {adapter_rank(path)} is greater than max_lora_rank {max_lora_rank}."
            return error_response(500, f"Call to add_lora method failed: {reason}", "InternalServerError")
        adapters[name] = path
        return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")

    @app.post("/v1/unload_lora_adapter")
    def unload_adapter(body: UnloadAdapterBody):
        if adapters.pop(body.lora_name, None) is None:
            return error_response(404, f"The lora adapter '{body.lora_name}' cannot be found.", "NotFoundError")
        return PlainTextResponse(f"Success: LoRA adapter '{body.lora_name}' removed successfully.")

    @app.post("/tokenize")
    def tokenize(body: TokenizeBody):
        count = llm.prompt_tokens(body.request())
        if count is None:
            return error_response(404, f"the {llm.kind} model behind this server counts no tokens", "NotFoundError")
        return {"count": count, "max_model_len": llm.context_length()}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatCompletionBody, request: Request):
        if body.model != served_name and body.model not in adapters:
            return error_response(404, f"The model `{body.model}` does not exist; served here: {', '.join([served_name, *adapters])}", "NotFoundError")
        stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
        params = SamplingParams(
            temperature=body.temperature,
            top_p=body.top_p,
            max_tokens=body.max_new_tokens(default_max_tokens, max_tokens),
            n=body.n,
            seed=body.seed,
            stop=stop,
            logprobs=(body.top_logprobs or 0) if body.logprobs else None,
        )
        refused = await asyncio.to_thread(overflow, llm, body.request(), params.max_tokens)  # counting may take a tokenizer's time
        if refused:
            return error_response(400, refused, "BadRequestError", "input_tokens")
        pending = batcher.enqueue([body.request()], params, adapters.get(body.model))
        result = asyncio.wrap_future(pending[0].result)
        while not (await asyncio.wait({result}, timeout=DISCONNECT_POLL))[0]:
            if await request.is_disconnected():
                batcher.withdraw(pending)  # the client is gone: its generation is not wanted
                return Response(status_code=499)
        return chat_completion_response(body.model, result.result())

    return app
