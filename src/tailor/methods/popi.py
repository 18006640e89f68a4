"""POPI at inference: a preference-inference model turns each user's profile into a short
natural-language summary, stored once per user and profile; a generator (any backend,
frozen or trained) answers conditioned on that summary instead of the raw history.

Summaries are keyed by the summarizer (model and adapter content), the profile and the
length limits (words and tokens), never by the generator: one summary serves every
generator. The summarizer reads as many of the user's items, in profile order, as fit its
context; a user whose summary prompt does not fit even without items has none, and their
examples are skipped."""

import hashlib
import json
from functools import partial
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from tailor.data.schema import Example
from tailor.kvstore import KeyValueStore
from tailor.llm.base import LLM, adapter_fingerprint
from tailor.llm.types import ChatRequest, SamplingParams
from tailor.methods.base import Answer, Method, context_size, skipped_answer
from tailor.methods.rag import AnswerConfig
from tailor.prompts.fit import fit_items
from tailor.prompts.popi import parse_summary, summary_request
from tailor.prompts.retry import generate_parsed


class POPIOptions(BaseModel):
    """POPI's own settings at inference: the summarizer's (``tailor train popi`` trains with the same)."""

    model_config = ConfigDict(extra="forbid")

    summary_words: int = Field(default=60, ge=1, description="the longest summary, in words")
    summary_max_tokens: int = Field(default=128, ge=1, description="the longest summary, in tokens")


class SummaryCache(Protocol):
    """Where summaries are kept: a ``SummaryStore`` file, or the service's per-user rows."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...


class SummaryStore(KeyValueStore):
    """Preference summaries, by default in the summarizer's response cache file."""

    def __init__(self, path: str | Path):
        super().__init__(path, "summaries", "summary")

    @classmethod
    def beside(cls, llm: LLM) -> "SummaryStore | None":
        """The store in ``llm``'s response cache file; None when it keeps no such file."""
        path = getattr(llm.cache, "path", None)
        return cls(path) if path else None


class PreferenceInference:
    """The summarizer: one greedy summary per user and profile, from the store when known."""

    def __init__(self, llm: LLM, store: SummaryCache | None = None, adapter: str | None = None, options: POPIOptions = POPIOptions(),
                 max_attempts: int = 3, seed: int = 0):
        self.llm, self.store, self.adapter = llm, store, adapter
        self.max_words, self.max_tokens, self.max_attempts, self.seed = options.summary_words, options.summary_max_tokens, max_attempts, seed

    def key(self, example: Example) -> str:
        """The summarizer (model and adapter content), the length limits and the profile."""
        limits = [self.max_words, self.max_tokens]
        payload = [self.llm.kind, self.llm.model, adapter_fingerprint(self.adapter), limits, [(p.id, p.text) for p in example.profile]]
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()

    def request(self, example: Example) -> ChatRequest:
        """The summary request: as many of the user's items as fit the summarizer's context."""
        return fit_items(self.llm, self.max_tokens, example.profile, lambda kept: summary_request(kept, self.max_words)).request

    def summaries(self, examples: list[Example]) -> list[str | None]:
        """Each example's user's summary; None where the summary prompt does not fit the
        summarizer's context."""
        keys = [self.key(e) for e in examples]
        known = {k: self.store.get(k) for k in set(keys)} if self.store else {}
        missing = list(dict.fromkeys(k for k in keys if known.get(k) is None))  # each user once, in order
        if missing:
            first: dict[str, Example] = {}
            for k, e in zip(keys, examples):
                first.setdefault(k, e)
            params = SamplingParams(temperature=0.0, max_tokens=self.max_tokens, seed=self.seed)
            batch = generate_parsed(
                self.llm, [self.request(first[k]) for k in missing], params,
                lambda raw: parse_summary(raw, self.max_words), self.max_attempts, adapter=self.adapter, description="preference summaries",
            )
            for k, parsed in zip(missing, batch.items):
                # an unreadable summary is used as written (cut to length) but not stored
                known[k] = None if parsed.too_long else parsed.value if parsed.ok else " ".join(parsed.raw.split()[: self.max_words])
                if self.store and parsed.ok:
                    self.store.put(k, known[k])
        return [known[k] for k in keys]


class PreferencePersonalization(Method):
    """The generator answers from the user's preference summary; ``adapter`` is its own
    (POPI's DPO-trained generator), or None for any frozen model."""

    name = "popi"

    def __init__(self, llm: LLM, inference: PreferenceInference, config: AnswerConfig = AnswerConfig(), adapter: str | None = None):
        self.llm, self.inference, self.config, self.adapter = llm, inference, config, adapter

    def answer_batch(self, examples: list[Example]) -> list[Answer]:
        summaries = self.inference.summaries(examples)
        answers: list[Answer | None] = [skipped_answer(self.name, "the summary prompt does not fit the summarizer's context") if s is None else None for s in summaries]
        todo = [i for i, answer in enumerate(answers) if answer is None]
        fmt = self.config.reply
        requests = [fmt.request(examples[i].question, None, preferences=summaries[i]) for i in todo]
        params = SamplingParams(temperature=self.config.temperature, max_tokens=self.config.max_tokens, seed=self.config.seed)
        batch = generate_parsed(
            self.llm, requests, params, fmt.parse, self.config.max_attempts, adapter=self.adapter, description="popi answers", generate=partial(fmt.generate, self.llm),
        )
        for i, parsed in zip(todo, batch.items):
            reply = parsed.value if parsed.ok else parsed.raw
            summary = summaries[i]
            trace = {"method": self.name, "summary": summary, **parsed.trace(), **fmt.trace(reply), **context_size(self.llm, [summary], examples[i])}
            answers[i] = Answer(fmt.answer(reply), trace)
        return answers  # type: ignore[return-value]
