"""Answering a stored user's question with a tailor method: the profile from the store
becomes an ``Example`` (id, question, profile items, user id, nothing else: no narrative
or rubric aspects exist here), and the method is built per request with
``tailor.methods.registry.make_method`` around the shared backend seen through the user's caches."""

import hashlib
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.llm.base import LLM, Usage
from tailor.llm.batcher import RequestBatcher
from tailor.llm.types import Completion
from tailor.methods import Answer, AnswerConfig, Method
from tailor.methods.registry import MethodConfig, make_method
from tailor.retrieval import Retriever
from tailor.service.catalog import ModelCatalog, ModelChoice, UnknownModel
from tailor.service.store import ProfileStore
from tailor.service.user_cache import UserCompletions, UserLLM, UserSummaries


class DoesNotFit(TailorError):
    """The question (with the method's instructions) does not fit the model's context even
    without the user's items: answered 400, as an OpenAI-compatible server answers it."""


@dataclass
class Answered:
    method: str
    answer: Answer
    usage: Usage  # this request's model calls and cache hits
    completions: list[Completion]  # every completion the method got, cached or not; the last is the answer's

    @property
    def finish_reason(self) -> str:
        return self.completions[-1].samples[0].finish_reason if self.completions else "stop"

    def tokens(self) -> tuple[int, int]:
        """(prompt, completion) tokens of the completions the answer took, as generated."""
        return sum(c.prompt_tokens for c in self.completions), sum(c.completion_tokens for c in self.completions)


class Answerer:
    """``backend`` builds the generator on first use (loading a model can wait until a
    question needs it); rankings are not cached (one user's profile ranks in milliseconds,
    and a cached ranking would be one more copy of profile data to delete)."""

    def __init__(self, store: ProfileStore, backend: Callable[[], LLM], retriever: Retriever, catalog: ModelCatalog,
                 config: AnswerConfig = AnswerConfig(), timeout: float | None = None, max_batch: int = 16):
        self.store, self.retriever, self.catalog, self.config, self.timeout = store, retriever, catalog, config, timeout
        self._make_backend, self._backend, self._batcher, self.max_batch = backend, None, None, max_batch
        self._backend_lock, self._tokenizer_lock = threading.Lock(), threading.Lock()

    def backend(self) -> tuple[LLM, RequestBatcher]:
        """The generator, built on first use, and the batcher every request generates through."""
        with self._backend_lock:
            if self._backend is None:
                self._backend = self._make_backend()
                self._batcher = RequestBatcher(self._backend, self.max_batch, lock=self._tokenizer_lock)  # the tokenizer is shared
            return self._backend, self._batcher

    def stop(self) -> None:
        """Stop generating, for a bounded shutdown (``RequestBatcher.stop``)."""
        with self._backend_lock:
            if self._batcher is not None:
                self._batcher.stop()

    def summary(self, tenant_id: int, user_id: str, model: str = "popi") -> str:
        """The user's preference summary from POPI's summarizer (``model`` selects it, e.g. a
        POPI run's), kept in the user's rows per profile: made once, then read back."""
        choice = self.catalog.resolve(model)
        if choice.method != "popi":
            raise UnknownModel(f"model {model!r} writes no preference summaries: it is {choice.method!r}, not popi")
        profile = self.store.profile(tenant_id, user_id)
        backend, batcher = self.backend()
        llm = UserLLM(backend, UserCompletions(self.store, profile.user_pk), batcher, self._tokenizer_lock, self.timeout)
        method = self._method(choice, llm, profile.user_pk)
        example = Example(id=f"{user_id}/summary", question="(the user's preferences)", profile=profile.items, user_id=user_id)
        summary = method.inference.summaries([example])[0]
        if summary is None:
            raise DoesNotFit(f"the preference summary's prompt does not fit the context of model {model!r}")
        return summary

    def answer(self, tenant_id: int, user_id: str, question: str, model: str, settings: dict | None = None,
               slot: Callable[[], AbstractContextManager] = nullcontext) -> Answered:
        """``settings`` override the answer settings (k, temperature, max_tokens, seed): the
        served training run's, else the serve-time ``AnswerConfig``; ``slot()`` is held while
        the answer generates (not when it comes from the cache)."""
        choice = self.catalog.resolve(model)
        profile = self.store.profile(tenant_id, user_id)
        question_id = hashlib.sha256(question.encode()).hexdigest()[:16]
        example = Example(id=f"{user_id}/{question_id}", question=question, profile=profile.items, user_id=user_id)
        backend, batcher = self.backend()
        llm = UserLLM(backend, UserCompletions(self.store, profile.user_pk), batcher, self._tokenizer_lock, self.timeout, slot)
        method = self._method(choice, llm, profile.user_pk, settings)
        answer = method.answer(example)
        if answer.skipped:
            raise DoesNotFit(f"the question does not fit the context of model {model!r}, even without the user's items")
        return Answered(choice.method, answer, llm.usage, llm.returned)

    def _method(self, choice: ModelChoice, llm: UserLLM, user_pk: int, settings: dict | None = None) -> Method:
        """The chosen method on the user's view of the backend (which plays every role), with a
        training run's answer settings (the server's seed) or the server's, then ``settings``."""
        config = choice.answer.model_copy(update={"seed": self.config.seed}) if choice.answer else self.config
        return make_method(MethodConfig(
            choice.method, llm, self.retriever, config.model_copy(update=settings or {}), adapters=choice.adapters, options=choice.options,
            summary_store=UserSummaries(self.store, user_pk),
        ))
