"""RPO at inference: a base model (any backend; it may be a black-box API) answers without
personalization; the user's items are retrieved with the question and that generic answer
together; a reflection model reasons over them inside ``<think>`` and rewrites the answer
inside ``<personalized>``. Only the personalized part is the answer; the reasoning goes to
the trace. A reflection that cannot be read after retries falls back to the generic
answer, flagged in the trace. The reflection prompt keeps as many retrieved items as fit
the reflection model's context; an example whose generic answer or reflection prompt does
not fit even so is skipped."""

from functools import partial

from pydantic import BaseModel, ConfigDict, Field

from tailor.data.schema import Example
from tailor.llm.base import LLM
from tailor.llm.types import SamplingParams
from tailor.methods.base import Answer, Method, context_size, skipped_answer
from tailor.methods.rag import AnswerConfig, RetrievalAugmented
from tailor.prompts.fit import fit_items
from tailor.prompts.retry import generate_parsed
from tailor.prompts.rpo import parse_reflection, reflection_request, retrieval_query
from tailor.retrieval.base import Retriever


class RPOOptions(BaseModel):
    """RPO's own settings at inference (``tailor train rpo`` trains with the same)."""

    model_config = ConfigDict(extra="forbid")

    reflection_max_tokens: int = Field(default=768, ge=1, description="the longest reflection (its reasoning and the rewrite), in tokens")


class ReflectivePersonalization(Method):
    """``base_llm`` writes the generic answer in ``config.format``; ``reflection_llm``
    (default: the base model) with ``adapter`` rewrites it from the top-k items."""

    name = "rpo"

    def __init__(
        self, base_llm: LLM, retriever: Retriever, config: AnswerConfig = AnswerConfig(),
        reflection_llm: LLM | None = None, adapter: str | None = None, options: RPOOptions = RPOOptions(),
    ):
        self.base = RetrievalAugmented(base_llm, None, config)
        self.retriever, self.config = retriever, config
        self.reflection_llm, self.adapter = reflection_llm or base_llm, adapter
        self.reflection_tokens = options.reflection_max_tokens

    def answer_batch(self, examples: list[Example]) -> list[Answer]:
        generic = self.base.answer_batch(examples)
        answers: list[Answer | None] = [skipped_answer(self.name, g.skipped) if g.skipped else None for g in generic]
        todo = [i for i, answer in enumerate(answers) if answer is None]
        fitted = {}
        for i in todo:
            e, g = examples[i], generic[i]
            items = self.retriever.retrieve(e, self.config.k, query=retrieval_query(e.question, g.text))
            fitted[i] = fit_items(self.reflection_llm, self.reflection_tokens, items, partial(reflection_request, e.question, g.text))
        params = SamplingParams(temperature=self.config.temperature, max_tokens=self.reflection_tokens, seed=self.config.seed)
        batch = generate_parsed(
            self.reflection_llm, [fitted[i].request for i in todo], params, parse_reflection, self.config.max_attempts, adapter=self.adapter,
            description="rpo reflections",
        )
        for i, parsed in zip(todo, batch.items):
            g, items = generic[i], fitted[i].items
            trace = {
                "method": self.name, "generic_answer": g.text, "retrieved": [item.id for item in items], "trimmed": fitted[i].trimmed,
                "think": parsed.value.think if parsed.ok else None, **parsed.trace(),
                **context_size(self.reflection_llm, [item.text for item in items], examples[i]),
            }
            answers[i] = Answer(parsed.value.personalized if parsed.ok else g.text, trace)
        return answers  # type: ignore[return-value]
