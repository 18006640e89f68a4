"""Long-form personalized generation (LongLaMP) prompts, in our words, and REST-PG's
reasoning data.

Generation: the task input and retrieved texts the user wrote; the reply is the text
itself or, with reasoning, a bullet summary of what the user's texts show under
``Reasoning:`` and then the text under ``Response:`` (one fixed template, which is also
how reasoning data becomes an SFT target).

A small model may loop in its reasoning and never reach ``Response:``; with a cap on the
reasoning (``reason_then_respond``) each reply is asked in two calls: the reasoning up to
``Response:`` (or a new ``Reasoning:``) or the cap, then ``Response:`` is written after it
and the model writes the response. The reply keeps the one template.

Reasoning data: a model sees the user's texts, the input and the text the user actually
wrote, and summarises the user's preferences, interests, background and style in bullets.
The summary must not hand the expected text over: bullets quoting it are dropped
(``prompts/quotes.py``), and a summary left empty is unreadable (so it is retried).
"""

from tailor.data.schema import ProfileItem
from tailor.errors import PromptTooLong
from tailor.llm.base import LLM
from tailor.llm.types import ChatRequest, Completion, Sample, SamplingParams
from tailor.prompts.answer import format_profile
from tailor.prompts.quotes import without_quotes

REASONING_HEAD = "Reasoning:"
RESPONSE_HEAD = "Response:"
RESPONSE_START = f"\n\n{RESPONSE_HEAD}\n"  # between the reasoning and the response, as ``compose`` writes them


def generation_request(task_input: str, items: list[ProfileItem] | None, reasoning: bool, preferences: str | None = None) -> ChatRequest:
    """The policy's request; ``items=None`` gives the non-personalized prompt, and
    ``preferences`` (a summary of the user, as POPI infers it) replaces the history."""
    if preferences is not None:
        history = f"What I prefer, in short: {preferences}\n\n"
    else:
        history = "" if items is None else f"Here are texts I wrote before:\n{format_profile(items) if items else '(none)'}\n\n"
    if reasoning:
        how = (
            f"First write '{REASONING_HEAD}' and, in short bullet points, what my earlier texts show about my "
            "preferences, interests, background knowledge and writing style that matter for this task. "
            f"Then write '{RESPONSE_HEAD}' and the text itself."
        )
        return ChatRequest.of(f"{history}My task: {task_input}\n\nWrite the text the way I would. {how}", prefill=f"{REASONING_HEAD}\n")
    return ChatRequest.of(f"{history}My task: {task_input}\n\nWrite the text the way I would. Reply with the text only.")


def compose(reasoning: str, response: str) -> str:
    """The reasoning-then-response reply, as the policy writes it and learns it."""
    return f"{REASONING_HEAD}\n{reasoning.strip()}\n\n{RESPONSE_HEAD}\n{response.strip()}"


def reason_then_respond(
    llm: LLM, requests: list[ChatRequest], params: SamplingParams, reasoning_tokens: int, adapter: str | None = None, description: str = "generating",
) -> list[Completion | PromptTooLong]:
    """Replies in the reasoning format, each in two calls: the reasoning, ended by the model's
    own ``Response:``, by its starting ``Reasoning:`` over, or by ``reasoning_tokens``; then,
    ``Response:`` written after it, the
    response, in the rest of ``params.max_tokens`` and ended where the model starts a section
    again. Each completion is the reply after its request's prefill, as one call gives it; a
    request too long for the context comes back as its ``PromptTooLong``."""
    if params.n != 1 or reasoning_tokens >= params.max_tokens:
        raise ValueError(f"two-call replies take n=1 and a reasoning cap ({reasoning_tokens}) below max_tokens ({params.max_tokens})")
    heads = (*params.stop, RESPONSE_HEAD, REASONING_HEAD)
    out = llm.generate_each(requests, params.model_copy(update={"max_tokens": reasoning_tokens, "stop": heads}), adapter, f"{description}: reasoning")
    reasoned = {i: f"{c.text.strip()}{RESPONSE_START}" for i, c in enumerate(out) if isinstance(c, Completion)}
    follow = [requests[i].model_copy(update={"prefill": (requests[i].prefill or "") + reasoned[i]}) for i in reasoned]
    rest = params.model_copy(update={"max_tokens": params.max_tokens - reasoning_tokens, "stop": heads})
    for (i, reply), response in zip(reasoned.items(), llm.generate_each(follow, rest, adapter, f"{description}: response")):
        first = out[i]
        if isinstance(response, PromptTooLong):
            out[i] = response
            continue
        one, two = first.samples[0], response.samples[0]
        sample = Sample(text=reply + two.text, tokens=one.tokens + two.tokens, finish_reason=two.finish_reason)
        out[i] = Completion(samples=[sample], prompt_tokens=first.prompt_tokens, cached=first.cached and response.cached, seconds=first.seconds + response.seconds)
    return out


def split_reply(reply: str) -> tuple[str, str]:
    """(reasoning, response) of a reasoning reply; ValueError without a response part."""
    head, marker, response = reply.rpartition(RESPONSE_HEAD)
    if not marker or not response.strip():
        raise ValueError(f"no {RESPONSE_HEAD!r} part")
    return head.replace(REASONING_HEAD, "", 1).strip(), response.strip()


def parse_plain(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise ValueError("empty reply")
    return text


def parse_reasoned(raw: str) -> str:
    """The whole reply (reasoning and response) once it holds a response part."""
    split_reply(raw)
    return raw.strip()


def reasoning_request(task_input: str, items: list[ProfileItem], expected: str) -> ChatRequest:
    return ChatRequest.of(
        f"Texts a user wrote before:\n{format_profile(items) if items else '(none)'}\n\n"
        f"The task they were given: {task_input}\n\n"
        f"The text they wrote for it:\n{expected}\n\n"
        "In short bullet points ('- '), describe what the earlier texts reveal about this user's preferences, "
        "interests, background knowledge and writing style that explains how they wrote this text, including "
        "patterns that carry over from other topics. Describe; do not copy sentences from the text they wrote.",
        prefill="- ",
    )


def parse_reasoning(raw: str, expected: str) -> str:
    """The bullets of a reasoning reply, without any that quote ``expected``; ValueError when none is left."""
    kept = without_quotes(raw, expected)
    if not kept:
        raise ValueError("no reasoning left after dropping quotations of the expected text")
    return kept
