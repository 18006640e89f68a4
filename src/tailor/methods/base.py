"""The method protocol: ``answer_batch(examples) -> list[Answer]``. Methods batch their
model calls across examples; the trace keeps every intermediate for inspection. An example
whose prompt does not fit the model's context even without retrieved items gets an answer
that is skipped (``Answer.skipped``): no text, no score, counted apart."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from tailor.data.schema import Example
from tailor.errors import PromptTooLong
from tailor.llm.base import LLM
from tailor.prompts.retry import TOO_LONG


@dataclass
class Answer:
    text: str
    trace: dict = field(default_factory=dict)

    @property
    def skipped(self) -> str | None:
        """Why the example got no answer (its prompt did not fit the model's context); None when it got one."""
        return self.trace.get(TOO_LONG)


def skipped_answer(method: str, why: str | PromptTooLong) -> Answer:
    """The answer of an example skipped because a prompt it needed did not fit the context."""
    return Answer("", {"method": method, TOO_LONG: str(why)})


class Method(ABC):
    name: str

    def answer(self, example: Example) -> Answer:
        return self.answer_batch([example])[0]

    @abstractmethod
    def answer_batch(self, examples: list[Example]) -> list[Answer]: ...


def context_size(llm: LLM, texts: list[str], example: Example) -> dict:
    """How much personalization context a prompt carries (retrieved items, or a preference
    summary) and how large the user's whole profile is: words, and tokens in ``llm``'s
    tokenizer (None when it has none at hand). Traces record it so reports can set a
    method's quality against its context length."""
    profile = [item.text for item in example.profile]
    return {**_size(llm, texts, "context"), **_size(llm, profile, "profile")}


def _size(llm: LLM, texts: list[str], name: str) -> dict:
    counts = [llm.count_tokens(t) for t in texts]
    return {f"{name}_words": sum(len(t.split()) for t in texts), f"{name}_tokens": None if None in counts else sum(counts)}
