"""Retrieved context cut to fit a model's context: a prompt keeps as many of its ranked
items (best first) as leave room for the answer, the lowest-ranked dropped first. Every
prompt a method or loop generates from with items is built through ``fit_items``; the rows
that are only trained on (the planner's, RPO's reflection rows) are bounded by
``sft.max_length`` instead. A prompt too long even without any item is left to
``LLM.generate_each``, which skips it."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tailor.llm.base import LLM
from tailor.llm.types import ChatRequest

T = TypeVar("T")


@dataclass
class Fitted(Generic[T]):
    request: ChatRequest
    items: list[T] | None  # the items the request holds, best first (None: a prompt without items)
    trimmed: int  # the lowest-ranked items dropped to fit


def fit_items(llm: LLM, max_tokens: int, items: Sequence[T] | None, build: Callable[[list[T] | None], ChatRequest]) -> Fitted[T]:
    """``build(kept)`` with the longest prefix ``kept`` of ``items`` whose prompt and
    ``max_tokens`` fit ``llm``'s context; all of them where the context length or the
    prompt's tokens are unknown. When none fits, the prompt without items (which the
    model will refuse: the example is skipped)."""
    if items is None:
        return Fitted(build(None), None, 0)
    ranked = list(items)

    def fits(n: int) -> bool:
        return llm.too_long(build(ranked[:n]), max_tokens) is None

    if fits(len(ranked)):
        return Fitted(build(ranked), ranked, 0)
    low, high = 0, len(ranked)  # the prompt grows with every item: high never fits; find the most that do
    if fits(0):
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if fits(middle) else (low, middle)
    return Fitted(build(ranked[:low]), ranked[:low], len(ranked) - low)
