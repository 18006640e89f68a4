"""Long-form personalized generation (LongLaMP) prompts, in our words, and REST-PG's
reasoning data.

Generation: the task input and retrieved texts the user wrote; the reply is the text
itself or, with reasoning, a bullet summary of what the user's texts show under
``Reasoning:`` and then the text under ``Response:`` (one fixed template, which is also
how reasoning data becomes an SFT target).

Reasoning data: a model sees the user's texts, the input and the text the user actually
wrote, and summarises the user's preferences, interests, background and style in bullets.
The summary must not hand the expected text over: bullets quoting it are dropped
(``prompts/quotes.py``), and a summary left empty is unreadable (so it is retried).
"""

from tailor.data.schema import ProfileItem
from tailor.llm.types import ChatRequest
from tailor.prompts.answer import format_profile
from tailor.prompts.quotes import without_quotes

REASONING_HEAD = "Reasoning:"
RESPONSE_HEAD = "Response:"
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
