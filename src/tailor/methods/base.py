"""The method protocol: ``answer_batch(examples) -> list[Answer]``. Methods batch their
model calls across examples; the trace keeps every intermediate for inspection."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from tailor.data.schema import Example


@dataclass
class Answer:
    text: str
    trace: dict = field(default_factory=dict)


class Method(ABC):
    name: str

    def answer(self, example: Example) -> Answer:
        return self.answer_batch([example])[0]

    @abstractmethod
    def answer_batch(self, examples: list[Example]) -> list[Answer]: ...
