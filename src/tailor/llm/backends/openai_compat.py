"""Any OpenAI-compatible chat server: vLLM's ``vllm serve``, llama.cpp's server, OpenAI,
or ``tailor serve-llm``. Requests run concurrently; timeouts and retries with
exponential backoff are the ``openai`` client's own.

Several servers of the same model (replicas) can serve one backend: ``base_url`` takes a
list (or a comma-separated string). A request goes to the server picked by a hash of its
messages, so repeats of one prompt (VAC's N feedback samples, retries) meet the same
server's prefix cache while different prompts spread evenly."""

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import openai

from tailor.errors import BackendError
from tailor.llm.base import LLM
from tailor.llm.cache import ResponseCache
from tailor.llm.types import ChatRequest, Completion, Sample, SamplingParams, TokenLogprob


class OpenAIBackend(LLM):
    kind = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | list[str] | None = None,
        api_key: str | None = None,
        cache: ResponseCache | None = None,
        concurrency: int = 8,
        timeout: float = 300.0,
        max_retries: int = 5,
    ):
        """``concurrency``: requests in flight per server."""
        super().__init__(model, cache)
        urls = server_urls(base_url or os.environ.get("OPENAI_BASE_URL"))
        self.clients = [
            openai.OpenAI(base_url=url, api_key=api_key or os.environ.get("OPENAI_API_KEY") or "not-needed", timeout=timeout, max_retries=max_retries)
            for url in urls
        ]
        self.concurrency = concurrency * len(self.clients)
        self.batch_size = max(self.concurrency * 4, 32)

    def _generate(self, requests: list[ChatRequest], params: SamplingParams, adapter: str | None) -> list[Completion]:
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(lambda r: self._one(r, params, adapter), requests))

    def client_for(self, request: ChatRequest) -> openai.OpenAI:
        if len(self.clients) == 1:
            return self.clients[0]
        digest = hashlib.sha256(request.model_dump_json().encode()).digest()
        return self.clients[int.from_bytes(digest[:8], "big") % len(self.clients)]

    def _one(self, request: ChatRequest, params: SamplingParams, adapter: str | None) -> Completion:
        client = self.client_for(request)
        # A served LoRA adapter (vLLM --lora-modules) is addressed by its model name.
        options = dict(
            model=adapter or self.model,
            messages=request.openai_messages(),
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            n=params.n,
        )
        if params.seed is not None:
            options["seed"] = params.seed
        if params.stop:
            options["stop"] = list(params.stop)
        if params.logprobs is not None:
            options.update(logprobs=True, top_logprobs=params.logprobs)
        if request.prefill:
            # vLLM's (and tailor serve-llm's) way to continue a partial assistant reply
            options["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
        try:
            response = client.chat.completions.create(**options)
        except (openai.BadRequestError, openai.NotFoundError) as err:
            raise BackendError(f"{client.base_url} refused the request for model {options['model']!r}: {err.message}") from err
        samples = []
        for choice in sorted(response.choices, key=lambda c: c.index):
            logprobs = None
            if params.logprobs is not None:
                if choice.logprobs is None or choice.logprobs.content is None:
                    raise BackendError(f"{client.base_url} returned no logprobs for model {options['model']}")
                logprobs = [
                    TokenLogprob(token=t.token, logprob=t.logprob, top={a.token: a.logprob for a in (t.top_logprobs or [])})
                    for t in choice.logprobs.content
                ]
            tokens = len(logprobs) if logprobs is not None else 0
            samples.append(Sample(text=(choice.message.content or "").strip(), tokens=tokens, logprobs=logprobs, finish_reason=choice.finish_reason or "stop"))
        usage = response.usage
        if usage is not None and params.logprobs is None:
            per_sample = usage.completion_tokens // max(len(samples), 1)
            samples = [s.model_copy(update={"tokens": per_sample}) for s in samples]
        return Completion(samples=samples, prompt_tokens=usage.prompt_tokens if usage else 0)


def server_urls(base_url: str | list[str] | None) -> list[str | None]:
    """The servers' URLs; ``[None]`` (the client's default, OpenAI) when none is given."""
    urls = base_url.split(",") if isinstance(base_url, str) else list(base_url or [])
    urls = [u.strip() for u in urls if u and u.strip()]
    return urls or [None]
