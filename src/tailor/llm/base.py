"""The LLM protocol. Subclasses implement ``_generate`` for a batch; ``generate`` adds the
response cache, batching into chunks (each completion cached as soon as its backend hands
it over, so a killed run loses at most the unfinished part of one chunk), usage accounting
and a progress bar."""

import contextlib
import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tailor import progress
from tailor.errors import BackendError, PromptTooLong
from tailor.kvstore import KeyValueStore
from tailor.paths import default_cache_path
from tailor.llm.cache import ResponseCache, cache_key
from tailor.llm.types import ChatRequest, Completion, SamplingParams


@dataclass
class Usage:
    """What a backend has cost so far in this process."""

    requests: int = 0  # requests sent to the model (cache misses)
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0  # spent generating in this process
    generation_seconds: float = 0.0  # what the returned completions took to generate, read from the cache or not
    too_long: int = 0  # requests answered by PromptTooLong (longer than the context), by generate_each

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds else 0.0


@lru_cache(maxsize=256)
def _fingerprint(path: str, files: str) -> str:
    """The content hash of the adapter at ``path``, whose files' names, sizes and times
    are ``files``; remembered in the cache database, so a rerun reads it back rather than
    hashing megabytes of weights again."""
    memo = KeyValueStore(default_cache_path(), "adapter_fingerprints", "digest")
    key = hashlib.sha256(f"{path}\n{files}".encode()).hexdigest()
    known = memo.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    for file in sorted(Path(path).rglob("*")):
        if file.is_file() and file.suffix in (".json", ".safetensors", ".bin", ".gguf"):
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
    memo.put(key, digest.hexdigest()[:32])
    return digest.hexdigest()[:32]


def adapter_fingerprint(adapter: str | None) -> str | None:
    """A content hash of a LoRA adapter folder (or the name itself for a served adapter)."""
    if adapter is None:
        return None
    path = Path(adapter)
    if not path.exists():
        return adapter
    files = sorted((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*") if p.is_file())
    return _fingerprint(str(path.resolve()), repr(files))


class LLM(ABC):
    """``generate(requests, params, adapter=None) -> list[Completion]``, one per request."""

    kind: str = "llm"
    batch_size: int = 8
    deterministic: bool = False  # answers independent of their batch (LLMConfig.deterministic)

    def __init__(self, model: str, cache: ResponseCache | None = None):
        self.model = model
        self.cache = cache
        self.usage = Usage()

    @property
    def model_id(self) -> str:
        """Identifies the weights and the engine in the cache key; batch-invariant answers
        are cached apart from batched ones, whose text depends on their batch."""
        return f"{self.kind}:{self.model}" + (":batch-invariant" if self.deterministic else "")

    def generate(
        self,
        requests: list[ChatRequest],
        params: SamplingParams = SamplingParams(),
        adapter: str | None = None,
        description: str = "generating",
    ) -> list[Completion]:
        fingerprint = adapter_fingerprint(adapter)
        keys = [cache_key(self.model_id, fingerprint, r, params) for r in requests]
        done: dict[str, Completion] = self.cache.get_many(keys) if self.cache else {}
        self.usage.cache_hits += sum(1 for k in keys if k in done)
        todo: dict[str, ChatRequest] = {}
        for key, request in zip(keys, requests):
            if key not in done:
                todo.setdefault(key, request)
        chunks = [list(todo.items())[i : i + self.batch_size] for i in range(0, len(todo), self.batch_size)]
        if chunks:
            for chunk in progress.track(chunks, f"{description} ({len(todo)} calls, {self.kind})", total=len(chunks)):
                mark = time.perf_counter()
                for finished in self._stream([r for _, r in chunk], params, adapter):
                    now = time.perf_counter()
                    self._account([completion for _, completion in finished], now - mark)
                    mark = now
                    fresh = {chunk[index][0]: completion for index, completion in finished}
                    if self.cache:
                        self.cache.put_many(self.model_id, fresh)
                    done.update(fresh)
        completions = [done[k] for k in keys]
        self.usage.generation_seconds += sum(c.seconds for c in completions)
        return completions

    @classmethod
    def batch_invariant(cls, options: dict) -> dict:
        """The backend's ``options`` made to generate every answer independently of its batch
        (``LLMConfig.deterministic``), or a ``BackendError`` saying why this backend cannot,
        so that no answer is cached as batch-invariant unless it is."""
        raise BackendError(f"the {cls.kind} backend cannot generate batch-invariantly: leave deterministic off")

    def cancel(self) -> None:
        """Cut short the generation under way, where the engine can (hf: at its next token),
        for a server's bounded shutdown; nothing by default."""

    def released(self) -> contextlib.AbstractContextManager:
        """Give back the accelerator memory this model holds while the block runs (a training
        stage on the same GPU), and take it again after; nothing by default."""
        return contextlib.nullcontext()

    def count_tokens(self, text: str) -> int | None:
        """Tokens ``text`` takes in this model's prompts; None where the tokenizer is not at
        hand (a remote model)."""
        return None

    def context_length(self) -> int | None:
        """The most tokens a prompt and its answer may take together (the engine's
        ``max_model_len``); None where unknown."""
        return None

    def prompt_tokens(self, request: ChatRequest) -> int | None:
        """Tokens ``request`` takes as a prompt, chat template and prefill included; None
        where unknown."""
        return None

    def preflight(self, probe_adapter: str | None = None) -> list[str]:
        """What would stop a run on this model, found before it starts (each problem a line
        naming the server at fault): where the model is served, and whether an untrained
        LoRA adapter shaped like the run's (``probe_adapter``) can be registered there and
        dropped again. Nothing by default: a local engine loads adapters from this machine."""
        return []

    def too_long(self, request: ChatRequest, max_tokens: int) -> PromptTooLong | None:
        """Why ``request`` and ``max_tokens`` to answer it would not fit this model's context;
        None where they fit, or where the context length or the prompt's tokens are unknown."""
        limit = self.context_length()
        tokens = self.prompt_tokens(request) if limit is not None else None
        if tokens is None or tokens + max_tokens <= limit:
            return None
        return PromptTooLong(tokens, max_tokens, limit, self.model_id)

    def generate_each(
        self, requests: list[ChatRequest], params: SamplingParams = SamplingParams(), adapter: str | None = None, description: str = "generating",
    ) -> list[Completion | PromptTooLong]:
        """``generate``, where a request too long for the context gets its ``PromptTooLong``
        in place of a completion rather than failing the others: those this model can count
        are never sent, and a batch the engine itself refuses is halved until each refusal
        is pinned to its request (what was generated before a refusal is read back from the
        response cache, where there is one)."""
        fingerprint = adapter_fingerprint(adapter)
        keys = [cache_key(self.model_id, fingerprint, r, params) for r in requests]
        cached = self.cache.get_many(keys) if self.cache else {}  # answered before: nothing to count
        answered: list[Completion | PromptTooLong | None] = [None if key in cached else self.too_long(r, params.max_tokens) for key, r in zip(keys, requests)]
        sent = [i for i, refused in enumerate(answered) if refused is None]
        for i, answer in zip(sent, self._halving([requests[i] for i in sent], params, adapter, description)):
            answered[i] = answer
        self.usage.too_long += sum(isinstance(a, PromptTooLong) for a in answered)
        return answered  # type: ignore[return-value]

    def _halving(self, requests: list[ChatRequest], params: SamplingParams, adapter: str | None, description: str) -> list[Completion | PromptTooLong]:
        if not requests:
            return []
        try:
            return list(self.generate(requests, params, adapter, description))
        except PromptTooLong as refused:
            if len(requests) == 1:
                return [refused]
            half = len(requests) // 2
            return self._halving(requests[:half], params, adapter, description) + self._halving(requests[half:], params, adapter, description)

    def _account(self, fresh: list[Completion], seconds: float) -> None:
        """Count the cost of completions that finished together, and give each its share of
        the time since the last ones finished."""
        for completion in fresh:
            completion.seconds = seconds / len(fresh)
        self.usage.requests += len(fresh)
        self.usage.prompt_tokens += sum(c.prompt_tokens for c in fresh)
        self.usage.completion_tokens += sum(c.completion_tokens for c in fresh)
        self.usage.seconds += seconds

    def _stream(self, requests: list[ChatRequest], params: SamplingParams, adapter: str | None) -> Iterator[list[tuple[int, Completion]]]:
        """The completions as they finish, in groups of (index in ``requests``, completion).
        Each group is cached at once, so a killed run loses only what was unfinished: a
        backend whose requests finish one by one (a server) yields each alone."""
        yield list(enumerate(self._generate(requests, params, adapter)))

    @abstractmethod
    def _generate(self, requests: list[ChatRequest], params: SamplingParams, adapter: str | None) -> list[Completion]:
        """Generate ``params.n`` samples for each request, uncached."""
