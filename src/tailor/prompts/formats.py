"""How a policy is asked, and how its reply is read, scored and taught: one object per
task shape, so one answering method and one set of training loops serve LaMP-QA answers
and LongLaMP texts alike."""

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

from tailor.data.schema import ProfileItem
from tailor.errors import PromptTooLong, TailorError
from tailor.llm.base import LLM
from tailor.llm.types import ChatRequest, Completion, SamplingParams
from tailor.prompts.answer import ANSWER_FIELD, answer_request, parse_answer
from tailor.prompts.longform import generation_request, parse_plain, parse_reasoned, reason_then_respond, split_reply


FormatName = Literal["answer", "longform", "longform-reasoning"]


class ReplyFormat(ABC):
    name: str

    @abstractmethod
    def request(self, question: str, items: list[ProfileItem] | None, preferences: str | None = None) -> ChatRequest:
        """The policy's request; ``items=None`` for the non-personalized prompt, ``preferences``
        (a preference summary) in place of the history."""

    @abstractmethod
    def parse(self, raw: str) -> str:
        """The reply as the policy should learn it (prefill included); ValueError when unreadable."""

    def generate(
        self, llm: LLM, requests: list[ChatRequest], params: SamplingParams, adapter: str | None = None, description: str = "generating",
    ) -> list[Completion | PromptTooLong]:
        """The completions of ``requests`` (``LLM.generate_each``): one call each, unless the
        format asks in parts."""
        return llm.generate_each(requests, params, adapter, description)

    def answer(self, reply: str) -> str:
        """The part of a reply the metric scores."""
        return reply

    def trace(self, reply: str) -> dict:
        """What else a reply holds, for the answer's trace."""
        return {}

    def target(self, reply: str) -> str:
        """The assistant message an SFT row teaches for this reply."""
        return reply


class QuestionAnswer(ReplyFormat):
    """LaMP-QA: a JSON object with the answer, whose string is the reply."""

    name = "answer"

    def request(self, question, items, preferences=None):
        return answer_request(question, items, preferences)

    def parse(self, raw):
        return parse_answer(raw)

    def target(self, reply):
        return json.dumps({ANSWER_FIELD: reply}, ensure_ascii=False)


@dataclass(frozen=True)
class LongForm(ReplyFormat):
    """LongLaMP: the text itself, or reasoning over the profile and then the text (REST-PG),
    of which only the text is scored. ``reasoning_max_tokens`` caps the reasoning: each
    reply is then asked in two calls, ``Response:`` written after the reasoning
    (``reason_then_respond``), so a model that loops in its reasoning still responds."""

    reasoning: bool = False
    reasoning_max_tokens: int | None = None

    @property
    def name(self) -> str:
        return "longform-reasoning" if self.reasoning else "longform"

    def request(self, question, items, preferences=None):
        return generation_request(question, items, self.reasoning, preferences)

    def parse(self, raw):
        return parse_reasoned(raw) if self.reasoning else parse_plain(raw)

    def generate(self, llm, requests, params, adapter=None, description="generating"):
        if self.reasoning_max_tokens is None:
            return super().generate(llm, requests, params, adapter, description)
        return reason_then_respond(llm, requests, params, self.reasoning_max_tokens, adapter, description)

    def answer(self, reply):
        if not self.reasoning:
            return reply
        try:
            return split_reply(reply)[1]
        except ValueError:
            return reply  # an unreadable reply kept verbatim is scored whole

    def trace(self, reply):
        if not self.reasoning:
            return {}
        try:
            return {"reasoning": split_reply(reply)[0]}
        except ValueError:
            return {"reasoning": None}


FORMATS: dict[str, ReplyFormat] = {f.name: f for f in (QuestionAnswer(), LongForm(False), LongForm(True))}


def reply_format(name: str, reasoning_max_tokens: int | None = None) -> ReplyFormat:
    """The format ``name``; ``reasoning_max_tokens`` (the reasoning format's alone) caps its reasoning."""
    if name not in FORMATS:
        raise TailorError(f"unknown reply format {name!r}; choose one of {', '.join(FORMATS)}")
    if reasoning_max_tokens is None:
        return FORMATS[name]
    if name != "longform-reasoning":
        raise TailorError(f"a reasoning cap needs the longform-reasoning format, not {name!r}")
    return LongForm(True, reasoning_max_tokens)
