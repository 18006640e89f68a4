"""A minimal OpenAI-compatible chat server in front of any tailor backend, so that the
``openai`` backend (and any OpenAI client) can talk to a local model: ``tailor serve-llm``.
What it accepts and answers is ``tailor.llm.protocol``'s."""

import asyncio
import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response

from tailor.llm.base import LLM
from tailor.llm.batcher import RequestBatcher
from tailor.llm.protocol import (
    VALIDATION_ERROR, ChatCompletionRequest, ChatCompletionResponse, LoadLoraAdapterRequest, ModelCard, ModelList, TokenizeRequest,
    TokenizeResponse, UnloadLoraAdapterRequest, error_response, validation_error_response,
)
from tailor.llm.types import ChatRequest, SamplingParams

DISCONNECT_POLL = 0.25  # seconds between checks that a waiting client is still connected


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
    app.add_exception_handler(RequestValidationError, validation_error_response)

    @app.get("/v1/models", response_model=ModelList, response_model_exclude_none=True)
    def models() -> ModelList:
        base = ModelCard(id=served_name, max_model_len=llm.context_length())
        return ModelList(data=[base, *(ModelCard(id=n, parent=served_name) for n in adapters)])

    @app.post("/v1/load_lora_adapter", responses=VALIDATION_ERROR)
    def load_adapter(body: LoadLoraAdapterRequest):
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

    @app.post("/v1/unload_lora_adapter", responses=VALIDATION_ERROR)
    def unload_adapter(body: UnloadLoraAdapterRequest):
        if adapters.pop(body.lora_name, None) is None:
            return error_response(404, f"The lora adapter '{body.lora_name}' cannot be found.", "NotFoundError")
        return PlainTextResponse(f"Success: LoRA adapter '{body.lora_name}' removed successfully.")

    @app.post("/tokenize", response_model=TokenizeResponse, responses=VALIDATION_ERROR)
    def tokenize(body: TokenizeRequest):
        count = llm.prompt_tokens(body.request())
        if count is None:
            return error_response(404, f"the {llm.kind} model behind this server counts no tokens", "NotFoundError")
        return TokenizeResponse(count=count, max_model_len=llm.context_length())

    @app.post("/v1/chat/completions", response_model=ChatCompletionResponse, responses=VALIDATION_ERROR)
    async def chat(body: ChatCompletionRequest, request: Request):
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
        return ChatCompletionResponse.of(body.model, result.result())

    return app
