"""Answering with retrieved profile items (RAG-Personalization), or without any (NoPers):
one mechanism, the retriever is simply absent for NoPers. The reply format decides the
task shape: LaMP-QA answers, or LongLaMP texts with or without reasoning first. The prompt
keeps as many retrieved items as fit the model's context (``trimmed``: those dropped)."""

from functools import partial

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tailor.data.schema import Example
from tailor.llm.base import LLM
from tailor.llm.types import SamplingParams
from tailor.methods.base import Answer, Method, context_size
from tailor.prompts.fit import fit_items
from tailor.prompts.formats import FormatName, ReplyFormat, reply_format
from tailor.prompts.retry import generate_parsed
from tailor.retrieval.base import Retriever


class AnswerConfig(BaseModel):
    """Generation settings shared by the answering methods (LaMP-QA: k=10, temperature 0.1)."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(default=10, ge=0, description="profile items retrieved")
    temperature: float = Field(default=0.1, description="sampling temperature of the answer")
    max_tokens: int = Field(default=512, description="the longest answer, in tokens")
    max_attempts: int = Field(default=3, ge=1, description="tries per request when a reply does not parse (temperature rising)")
    seed: int = Field(default=0, description="seeds sampling")
    format: FormatName = Field(default="answer", description="the reply format: answer (LaMP-QA JSON), longform, …")
    reasoning_max_tokens: int | None = Field(
        default=None, ge=1,
        description="longform-reasoning only: the longest reasoning part; each reply is then asked in two calls, the reasoning until "
        "'Response:' or this many tokens, then 'Response:' is written and the response asked in the rest of max_tokens (none: one call)",
    )

    @model_validator(mode="after")
    def _reasoning_cap(self) -> Self:
        if self.reasoning_max_tokens is not None and self.format != "longform-reasoning":
            raise ValueError(f"reasoning_max_tokens caps the reasoning of format longform-reasoning; format {self.format!r} has none")
        if self.reasoning_max_tokens is not None and self.reasoning_max_tokens >= self.max_tokens:
            raise ValueError(f"reasoning_max_tokens {self.reasoning_max_tokens} leaves no room for the response within max_tokens {self.max_tokens}")
        return self

    @property
    def reply(self) -> ReplyFormat:
        return reply_format(self.format, self.reasoning_max_tokens)


class RetrievalAugmented(Method):
    def __init__(self, llm: LLM, retriever: Retriever | None, config: AnswerConfig = AnswerConfig(), adapter: str | None = None):
        self.llm, self.retriever, self.config, self.adapter = llm, retriever, config, adapter
        self.name = "nopers" if retriever is None else f"rag[{retriever.name}]"

    def answer_batch(self, examples: list[Example]) -> list[Answer]:
        retrieved = [self.retriever.retrieve(e, self.config.k) if self.retriever else None for e in examples]
        fmt = self.config.reply
        fitted = [fit_items(self.llm, self.config.max_tokens, items, partial(fmt.request, e.question)) for e, items in zip(examples, retrieved)]
        params = SamplingParams(temperature=self.config.temperature, max_tokens=self.config.max_tokens, seed=self.config.seed)
        batch = generate_parsed(
            self.llm, [f.request for f in fitted], params, fmt.parse, self.config.max_attempts, adapter=self.adapter, description=f"{self.name} answers",
            generate=partial(fmt.generate, self.llm),
        )
        answers = []
        for example, fit, parsed in zip(examples, fitted, batch.items):
            # Unparseable output is kept verbatim as the reply and flagged in the trace.
            reply = parsed.value if parsed.ok else parsed.raw
            trace = {"method": self.name, **parsed.trace(), **fmt.trace(reply)}
            if fit.items is not None:
                trace.update(retrieved=[item.id for item in fit.items], trimmed=fit.trimmed)
            trace.update(context_size(self.llm, [item.text for item in fit.items or []], example))
            answers.append(Answer(fmt.answer(reply), trace))
        return answers
