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
``POST /v1/load_lora_adapter``), under a name made of the folder and its content hash, and
asked for as ``model: <name>``. Each server keeps at most ``max_adapters`` of them; the
least recently used one is unloaded to make room. A server that failed is assumed to have
lost its adapters, and gets them registered again before it is used again. An adapter given
as a name is one the servers already serve (``--lora-modules``)."""

import hashlib
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import httpx
import openai

from tailor.errors import BackendError
from tailor.llm.base import LLM, adapter_fingerprint
from tailor.llm.cache import ResponseCache
from tailor.llm.types import ChatRequest, Completion, Sample, SamplingParams, TokenLogprob

TRANSIENT = (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError)  # timeouts are connection errors


def served_adapter_name(path: str) -> str:
    """The name an adapter folder is registered under: its two parent folders (in a run,
    the iteration and the role) and its content hash, so each trained adapter has its own."""
    parts = Path(path).resolve().parts
    where = "-".join(parts[-3:-1]) if Path(path).name == "adapter" else Path(path).name
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', where)}-{adapter_fingerprint(path)[:12]}"


class Replica:
    """One server: its client, and the adapters registered on it (least recently used first)."""

    def __init__(self, client: openai.OpenAI):
        self.client = client
        self.url = str(client.base_url).rstrip("/")
        self.loaded: OrderedDict[str, str] = OrderedDict()
        self.down_until = 0.0
        self.lock = threading.Lock()

    def failed(self, cooldown: float) -> None:
        """It did not answer: set it aside, and assume it comes back without its adapters."""
        with self.lock:
            self.down_until = time.monotonic() + cooldown
            self.loaded.clear()

    def lost(self, name: str) -> None:
        """It answered that ``name`` is not served (it restarted): register it again."""
        with self.lock:
            self.loaded.pop(name, None)

    def ensure(self, name: str, path: str, keep: int) -> None:
        """Register adapter ``path`` as ``name`` here unless it is; keep at most ``keep``."""
        with self.lock:
            if name in self.loaded:
                self.loaded.move_to_end(name)
                return
            while len(self.loaded) >= keep:
                old, _ = self.loaded.popitem(last=False)
                self._post("/unload_lora_adapter", {"lora_name": old}, name=old, path=None)
            self._post("/load_lora_adapter", {"lora_name": name, "lora_path": path}, name=name, path=path)
            self.loaded[name] = path

    def _post(self, route: str, body: dict, name: str, path: str | None) -> None:
        try:
            self.client.post(route, body=body, cast_to=httpx.Response)
        except openai.APIStatusError as err:
            if err.status_code >= 500 or err.status_code == 429:
                raise
            text = str(err.message)
            if path is None or "already been loaded" in text:
                return  # unloading one that is gone, or loading one it kept: as wanted
            raise BackendError(
                f"{self.url} could not register LoRA adapter {name!r} from {path}: {text}. Generation servers read adapters "
                "from their own disk: the folder must exist at that same path on every server (shared storage), and vLLM must "
                "run with --enable-lora, a --max-lora-rank at least the adapter's rank, and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
            ) from err


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
        backoff: float = 0.5,
        cooldown: float = 10.0,
        max_adapters: int = 4,
    ):
        """``concurrency``: requests in flight per server; ``max_retries``: rounds over the
        servers after the first, ``backoff`` seconds before the second, doubling after;
        ``max_adapters``: runtime-registered adapters kept per server."""
        super().__init__(model, cache)
        urls = server_urls(base_url or os.environ.get("OPENAI_BASE_URL"))
        key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        self.replicas = [Replica(openai.OpenAI(base_url=url, api_key=key, timeout=timeout, max_retries=0)) for url in urls]
        self.concurrency = concurrency * len(self.replicas)
        self.batch_size = max(self.concurrency * 4, 32)
        self.max_retries, self.backoff, self.cooldown, self.max_adapters = max_retries, backoff, cooldown, max_adapters

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
        failures: list[str] = []
        for round_ in range(self.max_retries + 1):
            if round_:
                time.sleep(self.backoff * 2 ** (round_ - 1))
            for replica in self.route(request):
                try:
                    return self._on(replica, request, params, model, adapter if local else None)
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
            # vLLM's (and tailor serve-llm's) way to continue a partial assistant reply
            options["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
        try:
            response = replica.client.chat.completions.create(**options)
        except openai.BadRequestError as err:
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


def server_urls(base_url: str | list[str] | None) -> list[str | None]:
    """The servers' URLs; ``[None]`` (the client's default, OpenAI) when none is given."""
    urls = base_url.split(",") if isinstance(base_url, str) else list(base_url or [])
    urls = [u.strip() for u in urls if u and u.strip()]
    return urls or [None]
