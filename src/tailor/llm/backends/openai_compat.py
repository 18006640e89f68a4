"""Any OpenAI-compatible chat server: vLLM's ``vllm serve``, llama.cpp's server, OpenAI,
or ``tailor serve-llm``. Requests run concurrently.

Several servers of the same model (replicas) can serve one backend: ``base_url`` takes a
list (or a comma-separated string). A request goes to the server picked by a hash of its
messages, so repeats of one prompt (VAC's N feedback samples, retries) meet the same
server's prefix cache while different prompts spread evenly. A server that refuses the
connection, times out or answers 5xx / 429 is set aside for ``cooldown`` seconds and the
request goes to the next one; rounds over all servers repeat with exponential backoff, and
only when no server answers in ``max_retries + 1`` rounds does the run stop.

A LoRA adapter given as a folder (a training loop's new adapter) is registered on each
server the first time a request for it goes there (vLLM's runtime LoRA updating:
``POST /v1/load_lora_adapter``), by its absolute path, under a name made of the folder and
its content hash, and asked for as ``model: <name>``. Each server keeps at most
``max_adapters`` of them; the least recently used one is unloaded to make room. A server
that failed is assumed to have lost its adapters, and gets them registered again before it
is used again; a server that refuses an adapter stops the run, saying why (``replica``). An
adapter given as a name is one the servers already serve (``--lora-modules``).

The context length is what the servers report (vLLM's ``/v1/models``: ``max_model_len``),
else the ``max_model_len`` option; prompt tokens are counted by the servers' ``/tokenize``
where they have one, else by the ``tokenizer`` option's local tokenizer. A request its
server refuses as longer than the context raises ``PromptTooLong``."""

import hashlib
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from functools import cached_property
from pathlib import Path

import openai

from tailor.errors import BackendError, PromptTooLong
from tailor.kvstore import KeyValueStore
from tailor.llm.backends.replica import TRANSIENT, Replica, error_message
from tailor.llm.base import LLM, adapter_fingerprint
from tailor.llm.cache import ResponseCache
from tailor.llm.protocol import CONTINUE_PREFILL, TokenizeRequest
from tailor.llm.types import ChatRequest, Completion, Sample, SamplingParams, TokenLogprob
from tailor.runs import is_job_adapter

# vLLM's 400 for a prompt its context cannot hold, from 0.8.5 to 0.34.0: "This model's
# maximum context length is N tokens. However, ..." (serving_engine.py's _validate_input to
# 0.14.x, vllm/renderers/params.py from 0.18.0), but "You passed P input tokens and requested
# M output tokens. However, the model's context length is only N tokens, ..." in 0.16.x and
# 0.17.x (vllm/renderers/params.py). The prompt's tokens are "(P in the messages, ...)" in
# 0.8.5, "your request has P input tokens" in 0.11.0 to 0.14.x, "your prompt contains [at
# least] P input tokens" from 0.18.0. Up to 0.31.x a prompt is refused when it leaves less
# than max_tokens; from 0.32.0 vLLM lowers max_tokens instead, and refuses only a prompt
# longer than the context by itself.
CONTEXT_PHRASE = re.compile(r"(?:maximum context length is|context length is only) (\d+) tokens")
PROMPT_PHRASE = re.compile(r"(\d+) in the messages|(?:has|contains|passed) (?:at least )?(\d+) input tokens")


def too_long(message: str, max_tokens: int, server: str) -> PromptTooLong | None:
    """vLLM's refusal of a prompt its context cannot hold, as a ``PromptTooLong`` (with the
    prompt's tokens where the message gives them); None for any other refusal."""
    context = CONTEXT_PHRASE.search(message)
    if context is None:
        return None
    prompt = PROMPT_PHRASE.search(message)
    counted = int(prompt.group(1) or prompt.group(2)) if prompt else None
    return PromptTooLong(counted, max_tokens, int(context.group(1)), f"{server}: {message}")


def served_adapter_name(path: str) -> str:
    """The name an adapter folder is registered under: its two parent folders (in a run,
    the iteration and the role) and its content hash, so each trained adapter has its own."""
    parts = Path(path).resolve().parts
    where = "-".join(parts[-3:-1]) if is_job_adapter(path) else Path(path).name
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', where)}-{adapter_fingerprint(path)[:12]}"


class OpenAIBackend(LLM):
    kind = "openai"

    @classmethod
    def batch_invariant(cls, options: dict) -> dict:
        raise BackendError(
            "the openai backend cannot generate batch-invariantly: no server says over the API whether it does "
            "(vLLM's VLLM_BATCH_INVARIANT=1 is the server's own setting), so leave deterministic off; answers are then cached as batched ones"
        )

    def __init__(
        self,
        model: str,
        base_url: str | list[str] | None = None,
        api_key: str | None = None,
        cache: ResponseCache | None = None,
        concurrency: int = 8,
        timeout: float = 300.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        cooldown: float = 10.0,
        max_adapters: int = 4,
        max_model_len: int | None = None,
        tokenizer: str | None = None,
    ):
        """``concurrency``: requests in flight per server; ``max_retries``: rounds over the
        servers after the first, ``backoff`` seconds before the second, doubling after;
        ``max_adapters``: runtime-registered adapters kept per server; ``max_model_len``: the
        context length where the servers do not report theirs; ``tokenizer``: a local
        tokenizer (model name or path) that counts prompt tokens where the servers cannot."""
        super().__init__(model, cache)
        urls = server_urls(base_url or os.environ.get("OPENAI_BASE_URL"))
        key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        self.replicas = [Replica(openai.OpenAI(base_url=url, api_key=key, timeout=timeout, max_retries=0)) for url in urls]
        self.concurrency = concurrency * len(self.replicas)
        self.batch_size = max(self.concurrency * 4, 32)
        self.max_retries, self.backoff, self.cooldown, self.max_adapters = max_retries, backoff, cooldown, max_adapters
        self.max_model_len, self.tokenizer_name = max_model_len, tokenizer
        self._reported_length: int | None = None
        self._asked_length = False
        self._servers_tokenize = True  # until a server answers that it has no /tokenize

    def _generate(self, requests: list[ChatRequest], params: SamplingParams, adapter: str | None) -> list[Completion]:
        finished = dict(pair for group in self._stream(requests, params, adapter) for pair in group)
        return [finished[i] for i in range(len(requests))]

    def _stream(self, requests: list[ChatRequest], params: SamplingParams, adapter: str | None) -> Iterator[list[tuple[int, Completion]]]:
        pool = ThreadPoolExecutor(self.concurrency)
        try:
            futures = {pool.submit(self._one, request, params, adapter): index for index, request in enumerate(requests)}
            for future in as_completed(futures):
                yield [(futures[future], future.result())]
        finally:
            pool.shutdown(cancel_futures=True)

    def route(self, request: ChatRequest) -> list[Replica]:
        """The servers to try, in order: from the one the request's hash picks, those not
        set aside first."""
        digest = hashlib.sha256(request.model_dump_json().encode()).digest()
        first = int.from_bytes(digest[:8], "big") % len(self.replicas)
        ring = self.replicas[first:] + self.replicas[:first]
        now = time.monotonic()
        return sorted(ring, key=lambda replica: replica.down_until > now)

    def _one(self, request: ChatRequest, params: SamplingParams, adapter: str | None) -> Completion:
        local = adapter is not None and Path(adapter).is_dir()
        model = served_adapter_name(adapter) if local else adapter or self.model
        path = str(Path(adapter).resolve()) if local else None  # a server resolves a relative one against its own folder
        failures: list[str] = []
        for round_ in range(self.max_retries + 1):
            if round_:
                time.sleep(self.backoff * 2 ** (round_ - 1))
            for replica in self.route(request):
                try:
                    return self._on(replica, request, params, model, path)
                except TRANSIENT as err:
                    replica.failed(self.cooldown)
                    failures.append(f"{replica.url}: {type(err).__name__}: {err}")
        raise BackendError(
            f"no server answered for model {model!r} in {self.max_retries + 1} rounds over {len(self.replicas)} server(s); "
            "last failures: " + "; ".join(failures[-len(self.replicas):])
        )

    def _on(self, replica: Replica, request: ChatRequest, params: SamplingParams, model: str, path: str | None) -> Completion:
        """Ask ``replica``, registering adapter ``path`` as ``model`` first, and once more
        if the server answers that it does not know it (it restarted in between)."""
        if path is not None:
            replica.ensure(model, path, self.max_adapters)
        try:
            return self._ask(replica, request, params, model)
        except openai.NotFoundError as err:
            if path is None:
                raise BackendError(f"{replica.url} does not serve model {model!r}: {err.message}") from err
        replica.lost(model)
        replica.ensure(model, path, self.max_adapters)
        try:
            return self._ask(replica, request, params, model)
        except openai.NotFoundError as err:
            raise BackendError(f"{replica.url} does not serve model {model!r}, registered just now: {err.message}") from err

    def _ask(self, replica: Replica, request: ChatRequest, params: SamplingParams, model: str) -> Completion:
        options = dict(
            model=model,
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
            options["extra_body"] = CONTINUE_PREFILL  # a partial assistant reply continued, on vLLM and tailor serve-llm
        try:
            response = replica.client.chat.completions.create(**options)
        except openai.BadRequestError as err:
            refused = too_long(error_message(err), params.max_tokens, replica.url)
            if refused is not None:
                raise refused from err
            raise BackendError(f"{replica.url} refused the request for model {model!r}: {err.message}") from err
        samples = []
        for choice in sorted(response.choices, key=lambda c: c.index):
            logprobs = None
            if params.logprobs is not None:
                if choice.logprobs is None or choice.logprobs.content is None:
                    raise BackendError(f"{replica.url} returned no logprobs for model {options['model']}")
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

    def context_length(self) -> int | None:
        """The smallest ``max_model_len`` the servers report for the model (asked once),
        else the ``max_model_len`` option."""
        if not self._asked_length:
            reported = [length for replica in self.replicas if (length := self._reported(replica)) is not None]
            self._reported_length, self._asked_length = min(reported, default=None), True
        return self._reported_length or self.max_model_len

    def _reported(self, replica: Replica) -> int | None:
        try:
            cards = replica.models()
        except (openai.APIError, *TRANSIENT):
            return None
        lengths = [card.get("max_model_len") for card in cards if card.get("id") == self.model]
        return lengths[0] if lengths and isinstance(lengths[0], int) else None

    def prompt_tokens(self, request: ChatRequest) -> int | None:
        """Counted by the request's server (vLLM's ``POST /tokenize``, with the chat template
        and prefill as generation applies them), else by the ``tokenizer`` option. A count is
        kept beside the response cache, so a rerun asks no server for it again."""
        key = hashlib.sha256(f"{self.model_id}\n{request.model_dump_json()}".encode()).hexdigest()
        known = self._counts.get(key) if self._counts else None
        if known is not None:
            return int(known)
        count = self._server_count(request)
        if count is None and self.tokenizer_name:
            count = self._local_count(request)
        if count is not None and self._counts:
            self._counts.put(key, str(count))
        return count

    @cached_property
    def _counts(self) -> KeyValueStore | None:
        return KeyValueStore(self.cache.path, "prompt_tokens", "tokens") if self.cache else None

    def _server_count(self, request: ChatRequest) -> int | None:
        if not self._servers_tokenize:
            return None
        body = TokenizeRequest.of(request, model=self.model)
        for replica in self.route(request):
            try:
                answer = replica.tokenize(body)
            except TRANSIENT:
                continue
            except openai.APIStatusError as err:
                if err.status_code in (404, 405):
                    self._servers_tokenize = False  # no /tokenize there (OpenAI, llama.cpp's server)
                return None  # a refusal of this one request: counted locally, where a tokenizer is configured
            count = answer.get("count") if isinstance(answer, dict) else None
            return count if isinstance(count, int) else None
        return None

    def _local_count(self, request: ChatRequest) -> int:
        return len(self._tokenizer(request.rendered(self._tokenizer), add_special_tokens=False).input_ids)

    @cached_property
    def _tokenizer(self):
        from transformers import AutoTokenizer

        from tailor.models import resolve_model

        return AutoTokenizer.from_pretrained(resolve_model(self.tokenizer_name))

    def preflight(self, probe_adapter: str | None = None) -> list[str]:
        """Each server asked whether it serves the model, and, given a probe adapter, made
        to register it and drop it again: the problems found, each naming its server."""
        problems = []
        for replica in self.replicas:
            try:
                served = [card.get("id") for card in replica.models()]
            except (openai.APIError, *TRANSIENT) as err:
                problems.append(f"{replica.url}: GET /v1/models failed: {type(err).__name__}: {err}")
                continue
            if self.model not in served:
                problems.append(f"{replica.url} does not serve model {self.model!r} (it serves: {', '.join(map(str, served)) or 'nothing'})")
            if probe_adapter is not None:
                name = f"tailor-preflight-{adapter_fingerprint(probe_adapter)[:12]}"
                try:
                    replica.load(name, probe_adapter)
                    replica.unload(name)
                except BackendError as err:
                    problems.append(str(err))
                except TRANSIENT as err:
                    problems.append(f"{replica.url} did not answer registering LoRA adapter {name!r}: {type(err).__name__}: {err}")
        return problems


def server_urls(base_url: str | list[str] | None) -> list[str | None]:
    """The servers' URLs; ``[None]`` (the client's default, OpenAI) when none is given."""
    urls = base_url.split(",") if isinstance(base_url, str) else list(base_url or [])
    urls = [u.strip() for u in urls if u and u.strip()]
    return urls or [None]
