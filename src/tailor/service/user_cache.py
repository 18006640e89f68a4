"""Caches whose entries belong to one user, kept in the profile store, so that deleting the
user deletes every answer and summary made from their profile.

The service never uses tailor's shared response cache (``$TAILOR_CACHE``): it is keyed
by the full request, so it cannot tell whose profile a prompt holds. Instead each request
sees the shared backend through a ``UserLLM`` whose response cache is the user's own."""

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from tailor.llm.base import LLM
from tailor.llm.batcher import RequestBatcher
from tailor.llm.types import ChatRequest, Completion, SamplingParams
from tailor.service.store import ProfileStore


class UserCompletions:
    """The response-cache interface (``get_many`` / ``put_many``) over one user's rows."""

    def __init__(self, store: ProfileStore, user_pk: int):
        self.store, self.user_pk = store, user_pk

    def get_many(self, keys: list[str]) -> dict[str, Completion]:
        rows = self.store.derived(self.user_pk, "completion", keys)
        return {k: Completion.model_validate_json(v).model_copy(update={"cached": True}) for k, v in rows.items()}

    def put_many(self, model: str, items: dict[str, Completion]) -> None:
        self.store.keep_derived(self.user_pk, "completion", {k: c.model_dump_json(exclude={"cached"}) for k, c in items.items()})


class UserSummaries:
    """The summary-store interface (``get`` / ``put``) over one user's rows, for POPI."""

    def __init__(self, store: ProfileStore, user_pk: int):
        self.store, self.user_pk = store, user_pk

    def get(self, key: str) -> str | None:
        return self.store.derived(self.user_pk, "summary", [key]).get(key)

    def put(self, key: str, value: str) -> None:
        self.store.keep_derived(self.user_pk, "summary", {key: value})


class GenerationTimeout(Exception):
    """An answer waited longer than the service's request timeout for its generation."""


class UserLLM(LLM):
    """The shared backend as one request sees it: responses cached in the user's rows,
    generation through the service's ``RequestBatcher`` (with other requests' prompts, in
    one batch), usage counted per request.
    ``returned`` keeps every completion the request got, cached or not, in order: their
    tokens are the request's usage, and the last one's finish reason is the answer's."""

    def __init__(self, backend: LLM, cache: UserCompletions, batcher: RequestBatcher, lock: threading.Lock, timeout: float | None = None,
                 slot: Callable[[], AbstractContextManager] = nullcontext):
        super().__init__(backend.model, cache)
        self.backend, self.batcher, self.lock, self.timeout, self.slot = backend, batcher, lock, timeout, slot
        self.kind, self.batch_size = backend.kind, backend.batch_size  # the same model id, so the same cache keys
        self.returned: list[Completion] = []

    def generate(self, requests: list[ChatRequest], params: SamplingParams = SamplingParams(), adapter: str | None = None,
                 description: str = "generating") -> list[Completion]:
        completions = super().generate(requests, params, adapter, description)
        self.returned.extend(completions)
        return completions

    def count_tokens(self, text: str) -> int | None:
        with self.lock:  # a tokenizer is not safe to share across threads either
            return self.backend.count_tokens(text)

    def context_length(self) -> int | None:
        with self.lock:  # read from the tokenizer where the model config has none
            return self.backend.context_length()

    def prompt_tokens(self, request: ChatRequest) -> int | None:
        with self.lock:
            return self.backend.prompt_tokens(request)

    def _generate(self, requests: list[ChatRequest], params: SamplingParams, adapter: str | None) -> list[Completion]:
        try:
            with self.slot():
                return self.batcher.submit_many(requests, params, adapter, self.timeout)
        except TimeoutError as err:
            raise GenerationTimeout(f"no answer within the service's request timeout ({self.timeout:g} s)") from err
