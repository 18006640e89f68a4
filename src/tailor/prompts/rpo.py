"""RPO (reflective personalization) prompts, in our words, and their parser.

A base model first answers without personalization; the reflection model then rewrites
that generic answer for the user, reasoning inside ``<think>...</think>`` and giving the
rewrite inside ``<personalized>...</personalized>``. For SFT data a teacher, who also
sees the answer the user actually gave, writes the same two parts with the true answer
as the personalized part: a trajectory from the generic answer to the real one.
"""

import re
from dataclasses import dataclass

from tailor.data.schema import ProfileItem
from tailor.llm.types import ChatRequest
from tailor.prompts.answer import format_profile

_SHAPE = "Write your reasoning inside <think>...</think>, then the rewritten answer alone inside <personalized>...</personalized>."
THINK_PREFILL = "<think>"  # the reply starts with its reasoning: small models then keep the shape
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<(/?)personalized>", re.IGNORECASE)


@dataclass
class Reflection:
    think: str | None  # None when the reply has no (or an empty) <think> part
    personalized: str


def retrieval_query(question: str, generic_answer: str) -> str:
    """RPO retrieves the user's items with the question and the generic answer together."""
    return f"{question.strip()}\n\n{generic_answer.strip()}"


def reflection_request(question: str, generic_answer: str, items: list[ProfileItem]) -> ChatRequest:
    return ChatRequest.of(
        f"Things this user wrote or did before:\n{format_profile(items) if items else '(none)'}\n\n"
        f"The task: {question}\n\n"
        f"An answer written without knowing the user:\n{generic_answer}\n\n"
        "Work out what the user's past items reveal about their preferences, habits and way of "
        "expressing themselves, and what in the answer above should therefore change (or stay) for "
        "this user. Then rewrite the answer for them, keeping the form the task asks for; imitate how "
        f"they decide and write rather than copying their past items. {_SHAPE}",
        prefill=THINK_PREFILL,
    )


def trajectory_request(question: str, generic_answer: str, item: ProfileItem, ground_truth: str) -> ChatRequest:
    """The teacher's request: explain, from one past item, how the generic answer turns
    into the answer the user actually gave (which becomes the personalized part)."""
    return ChatRequest.of(
        f"Something this user wrote or did before:\n{format_profile([item])}\n\n"
        f"The task: {question}\n\n"
        f"An answer written without knowing the user:\n{generic_answer}\n\n"
        f"The answer this user actually gave:\n{ground_truth}\n\n"
        "Explain, step by step, how to get from the first answer to the user's answer: which signals in "
        "their past item point to the change, what to keep, what to alter and why. Reason as if you had "
        "not been shown the user's answer: argue from the past item and the task, never from knowing the "
        "result. Write this reasoning inside <think>...</think>, then copy the user's answer exactly inside "
        "<personalized>...</personalized>.",
        prefill=THINK_PREFILL,
    )


def parse_reflection(raw: str) -> Reflection:
    """The two parts of a reflection reply; ValueError when there is not exactly one
    non-empty, un-nested ``<personalized>`` block. Text outside the tags is ignored."""
    blocks, start = [], None
    for tag in _TAG.finditer(raw):
        closing = tag.group(1) == "/"
        if not closing:
            if start is not None:
                raise ValueError("nested <personalized> block")
            start = tag.end()
        elif start is None:
            raise ValueError("no <personalized> opening tag" if not blocks else "</personalized> without an opening tag")
        else:
            blocks.append(raw[start : tag.start()])
            start = None
    if start is not None:
        raise ValueError("<personalized> is never closed")
    if not blocks:
        raise ValueError("no <personalized> block")
    if len(blocks) > 1:
        raise ValueError("more than one <personalized> block")
    personalized = blocks[0].strip()
    if not personalized:
        raise ValueError("empty <personalized> part")
    think = _THINK.search(raw)
    return Reflection(think=(think.group(1).strip() or None) if think else None, personalized=personalized)


def parse_trajectory(raw: str, checked: bool = True) -> str:
    """The teacher's reasoning: its ``<think>`` part, ended by ``</think>`` or by a
    ``<personalized>`` tag. The personalized part is replaced by the true output anyway, so
    only the reasoning has to be usable; ValueError when it is empty or, ``checked`` (the
    paper's brevity and consistency checks), when it never ends (the token budget cut it
    off) or repeats a line (a teacher stuck in a loop)."""
    start = raw.lower().find("<think>")
    body = raw[start + len("<think>") :] if start >= 0 else raw
    ends = [i for i in (body.lower().find("</think>"), body.lower().find("<personalized>")) if i >= 0]
    think = body[: min(ends, default=len(body))].strip()
    if not think:
        raise ValueError("empty reasoning")
    if not checked:
        return think
    if not ends:
        raise ValueError("the reasoning never ends (cut off by the token budget)")
    lines = [line.strip() for line in think.splitlines() if line.strip()]
    if len(set(lines)) < len(lines):
        raise ValueError("the reasoning repeats a line")
    return think
