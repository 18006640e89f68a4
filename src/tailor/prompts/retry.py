"""Ask, parse, and re-ask what failed to parse, with the temperature raised on each try
(a bounded budget). What still fails is returned with its raw text and counted. A request
too long for the model's context is never asked: it comes back unparsed and flagged, so one
over-long prompt costs its own example, never the batch."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from tailor.errors import PromptTooLong
from tailor.llm.base import LLM
from tailor.llm.types import ChatRequest, Completion, SamplingParams

T = TypeVar("T")
RetryRule = Literal["capped", "benchmark"]
TOO_LONG = "skipped_for_length"  # the trace key of an answer that was never generated: why its prompt did not fit


def attempt_temperatures(start: float, step: float, attempts: int, rule: RetryRule = "capped") -> list[float]:
    """The temperature of each attempt. ``capped``: ``start + a * step``, at most 1.0 (or
    ``start``, when the recipe samples above 1.0: a retry never cools the first try).
    ``benchmark`` (LaMP-QA's evaluator): after each round the temperature rises by
    ``step`` while it is below 1.0, added up as floats, so from 0 in steps of 0.1 the
    last rise starts just under 1.0 and ends near 1.1."""
    if rule == "capped":
        return [min(max(1.0, start), start + a * step) for a in range(attempts)]
    temperatures, current = [], start
    for _ in range(attempts):
        temperatures.append(current)
        if current < 1.0:
            current += step
    return temperatures


@dataclass
class Parsed(Generic[T]):
    value: T | None  # None when every attempt failed
    raw: str  # the text the value was parsed from, or the last failed output
    attempts: int
    error: str | None = None  # why the last failed attempt did not parse
    too_long: bool = False  # the request did not fit the model's context, so it was never asked (``error`` says why)

    @property
    def ok(self) -> bool:
        return self.value is not None

    def trace(self) -> dict:
        """What an answer's trace keeps of its reply; for a request too long for the
        context, why it was skipped (``TOO_LONG``)."""
        return {"attempts": self.attempts, "parsed": self.ok, "raw": self.raw, **({TOO_LONG: self.error} if self.too_long else {})}


@dataclass
class ParsedBatch(Generic[T]):
    items: list[Parsed[T]] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return sum(not p.ok for p in self.items)

    @property
    def retried(self) -> int:
        return sum(p.attempts > 1 for p in self.items)

    @property
    def texts(self) -> list[str]:
        """Each value, or the raw text of what never parsed (kept for inspection; callers
        that train on replies check ``parsed`` first)."""
        return [p.value if p.ok else p.raw for p in self.items]

    @property
    def parsed(self) -> list[bool]:
        return [p.ok for p in self.items]


def generate_parsed(
    llm: LLM,
    requests: list[ChatRequest],
    params: SamplingParams,
    parse: Callable[[str], T] | Sequence[Callable[[str], T]],
    max_attempts: int = 3,
    temperature_step: float = 0.3,
    adapter: str | None = None,
    description: str = "generating",
    rule: RetryRule = "capped",
    generate: Callable[..., list[Completion | PromptTooLong]] | None = None,
) -> ParsedBatch[T]:
    """``parse`` (one for all requests, or one per request) raises ``ValueError`` on bad
    output; it reads the request's prefill followed by the completion. Attempt ``a``
    samples at the ``rule``'s temperature (``attempt_temperatures``) with seed ``seed + a``.
    ``generate`` asks (``LLM.generate_each``'s signature and result; default: that method):
    a reply format's own way (``ReplyFormat.generate``)."""
    generate = generate or llm.generate_each
    parsers = [parse] * len(requests) if callable(parse) else list(parse)
    items: list[Parsed[T] | None] = [None] * len(requests)
    pending = list(range(len(requests)))
    for attempt, temperature in enumerate(attempt_temperatures(params.temperature, temperature_step, max_attempts, rule)):
        seed = (params.seed or 0) + attempt if attempt else params.seed
        tried = params.model_copy(update={"temperature": temperature, "seed": seed, "n": 1})
        label = description if attempt == 0 else f"{description} (retry {attempt})"
        completions = generate([requests[i] for i in pending], tried, adapter=adapter, description=label)
        still = []
        for i, completion in zip(pending, completions):
            if isinstance(completion, PromptTooLong):
                items[i] = Parsed(None, "", attempt, str(completion), too_long=True)
                continue
            text = (requests[i].prefill or "") + completion.text
            try:
                items[i] = Parsed(parsers[i](text), text, attempt + 1)
            except ValueError as error:
                items[i] = Parsed(None, text, attempt + 1, str(error))
                still.append(i)
        pending = still
        if not pending:
            break
    return ParsedBatch(items)  # type: ignore[arg-type]
