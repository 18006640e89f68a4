"""A minimal OpenAI-compatible chat server in front of any tailor backend, so that the
``openai`` backend (and any OpenAI client) can talk to a local model: ``tailor serve-llm``."""

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from tailor.llm.base import LLM
from tailor.llm.types import ChatRequest, Completion, Message, Sample, SamplingParams


class ChatCompletionBody(BaseModel):
    model: str
    messages: list[Message] = Field(min_length=1)
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n: int = 1
    seed: int | None = None
    stop: str | list[str] | None = None
    logprobs: bool = False
    top_logprobs: int | None = None
    continue_final_message: bool = False  # vLLM's extension: continue the last assistant message
    add_generation_prompt: bool = True

    def request(self) -> ChatRequest:
        if self.continue_final_message and self.messages[-1].role == "assistant":
            return ChatRequest(messages=self.messages[:-1], prefill=self.messages[-1].content)
        return ChatRequest(messages=self.messages)


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


def create_app(llm: LLM, served_name: str, adapters: dict[str, str] | None = None, default_max_tokens: int = 256) -> FastAPI:
    """``served_name`` answers with the base model; each key of ``adapters`` answers with
    that LoRA adapter (the way vLLM serves ``--lora-modules``)."""
    adapters = dict(adapters or {})
    lock = threading.Lock()  # one generation at a time: backends are not re-entrant
    app = FastAPI(title="tailor LLM server")

    @app.get("/v1/models")
    def models() -> dict:
        names = [served_name, *adapters]
        return {"object": "list", "data": [{"id": n, "object": "model", "owned_by": "tailor"} for n in names]}

    @app.post("/v1/chat/completions")
    def chat(body: ChatCompletionBody) -> dict:
        if body.model != served_name and body.model not in adapters:
            raise HTTPException(404, f"model {body.model!r} is not served here; try {served_name!r}")
        stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
        params = SamplingParams(
            temperature=body.temperature,
            top_p=body.top_p,
            max_tokens=body.max_completion_tokens or body.max_tokens or default_max_tokens,
            n=body.n,
            seed=body.seed,
            stop=stop,
            logprobs=(body.top_logprobs or 0) if body.logprobs else None,
        )
        with lock:
            completion = llm.generate([body.request()], params, adapter=adapters.get(body.model))[0]
        return chat_completion_response(body.model, completion)

    return app
