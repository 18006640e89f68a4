"""A scripted LLM for fast unit tests: answers come from a function, every request the
backend receives is recorded (so tests can inspect the prompts actually sent). A reply may
be a ``Sample`` instead of a text, e.g. to script logprobs."""

from collections.abc import Callable

from tailor.llm.base import LLM
from tailor.llm.types import ChatRequest, Completion, Sample, SamplingParams


class ScriptedLLM(LLM):
    kind = "scripted"

    def __init__(self, reply: Callable[[ChatRequest, SamplingParams, int], str | Sample], cache=None, model: str = "script"):
        super().__init__(model, cache)
        self.reply = reply
        self.received: list[tuple[ChatRequest, SamplingParams, str | None]] = []

    def _generate(self, requests, params, adapter):
        out = []
        for request in requests:
            self.received.append((request, params, adapter))
            replies = [self.reply(request, params, j) for j in range(params.n)]
            samples = [r if isinstance(r, Sample) else Sample(text=r, tokens=len(r.split())) for r in replies]
            out.append(Completion(samples=samples, prompt_tokens=7))
        return out

    def prompts(self) -> list[str]:
        return ["\n".join(m.content for m in r.messages) for r, _, _ in self.received]
