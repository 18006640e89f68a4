"""RPO at inference: a base model (any backend; it may be a black-box API) answers without
personalization; the user's items are retrieved with the question and that generic answer
together; a reflection model reasons over them inside ``<think>`` and rewrites the answer
inside ``<personalized>``. Only the personalized part is the answer; the reasoning goes to
the trace. A reflection that cannot be read after retries falls back to the generic
answer, flagged in the trace."""

from tailor.data.schema import Example
from tailor.llm.base import LLM
from tailor.llm.types import SamplingParams
from tailor.methods.base import Answer, Method, context_size
from tailor.methods.rag import AnswerConfig, RetrievalAugmented
from tailor.prompts.retry import generate_parsed
from tailor.prompts.rpo import parse_reflection, reflection_request, retrieval_query
from tailor.retrieval.base import Retriever


class ReflectivePersonalization(Method):
    """``base_llm`` writes the generic answer in ``config.format``; ``reflection_llm``
    (default: the base model) with ``adapter`` rewrites it from the top-k items."""

    name = "rpo"

    def __init__(
        self, base_llm: LLM, retriever: Retriever, config: AnswerConfig = AnswerConfig(),
        reflection_llm: LLM | None = None, adapter: str | None = None, reflection_tokens: int | None = None,
    ):
        self.base = RetrievalAugmented(base_llm, None, config)
        self.retriever, self.config = retriever, config
        self.reflection_llm, self.adapter = reflection_llm or base_llm, adapter
        self.reflection_tokens = reflection_tokens or 2 * config.max_tokens  # room for the reasoning and the rewrite

    def answer_batch(self, examples: list[Example]) -> list[Answer]:
        generic = self.base.answer_batch(examples)
        retrieved = [self.retriever.retrieve(e, self.config.k, query=retrieval_query(e.question, g.text)) for e, g in zip(examples, generic)]
        requests = [reflection_request(e.question, g.text, items) for e, g, items in zip(examples, generic, retrieved)]
        params = SamplingParams(temperature=self.config.temperature, max_tokens=self.reflection_tokens, seed=self.config.seed)
        batch = generate_parsed(self.reflection_llm, requests, params, parse_reflection, self.config.max_attempts, adapter=self.adapter, description="rpo reflections")
        answers = []
        for example, g, items, parsed in zip(examples, generic, retrieved, batch.items):
            trace = {
                "method": self.name, "generic_answer": g.text, "retrieved": [item.id for item in items],
                "think": parsed.value.think if parsed.ok else None, "attempts": parsed.attempts, "parsed": parsed.ok, "raw": parsed.raw,
                **context_size(self.reflection_llm, [item.text for item in items], example),
            }
            answers.append(Answer(parsed.value.personalized if parsed.ok else g.text, trace))
        return answers
