"""The request / sampling / completion types shared by every backend (vLLM-style split:
what to say is a ``ChatRequest``, how to sample is ``SamplingParams``)."""

from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: str
    content: str


class ChatRequest(BaseModel):
    """One conversation to continue. ``prefill`` is the start of the assistant's reply,
    which the model continues (e.g. ``{"score": `` so that a small judge answers in the
    requested JSON); completions hold only the continuation."""

    messages: list[Message]
    prefill: str | None = None

    @classmethod
    def of(cls, user: str, system: str | None = None, prefill: str | None = None) -> "ChatRequest":
        messages = [Message(role="system", content=system)] if system else []
        return cls(messages=messages + [Message(role="user", content=user)], prefill=prefill)

    def openai_messages(self) -> list[dict]:
        """The messages as OpenAI-style dicts, the prefill as a final assistant message."""
        messages = [m.model_dump() for m in self.messages]
        return messages + [{"role": "assistant", "content": self.prefill}] if self.prefill else messages

    def rendered(self, tokenizer) -> str:
        """The prompt as a model reads it: a transformers ``tokenizer``'s chat template over
        the messages, then the prefill."""
        messages = [m.model_dump() for m in self.messages]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + (self.prefill or "")


class SamplingParams(BaseModel):
    """How to sample. ``n`` samples per request; ``seed`` makes sampling repeatable and is
    part of the cache key, so distinct seeds give distinct cached samples. ``logprobs``:
    when set, return the chosen token's log-probability and the top-``logprobs``
    alternatives at every generated position."""

    model_config = ConfigDict(frozen=True)

    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(default=256, ge=1)
    n: int = Field(default=1, ge=1)
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: int | None = Field(default=None, ge=0, le=20)


class TokenLogprob(BaseModel):
    token: str
    logprob: float
    top: dict[str, float] = Field(default_factory=dict)


class Sample(BaseModel):
    text: str
    tokens: int
    logprobs: list[TokenLogprob] | None = None
    finish_reason: str = "stop"


class Completion(BaseModel):
    """The ``n`` samples for one request, plus token accounting."""

    samples: list[Sample]
    prompt_tokens: int = 0
    cached: bool = False
    seconds: float = 0.0  # its share of the time its batch took to generate (0: not known)

    @property
    def text(self) -> str:
        return self.samples[0].text

    @property
    def texts(self) -> list[str]:
        return [s.text for s in self.samples]

    @property
    def completion_tokens(self) -> int:
        return sum(s.tokens for s in self.samples)
