"""Answer-generation prompts (our wording). Inputs: the question and, for personalized
variants, retrieved profile items. Output: a JSON object with ``personalized_answer``.
Nothing here takes a narrative or rubric aspects: generation never sees them.

The whole instruction sits in the user turn, with the JSON shape spelled out: small chat
models (SmolLM2-135M) follow that far more reliably than a separate system prompt.
"""

from tailor.data.schema import ProfileItem
from tailor.llm.types import ChatRequest
from tailor.prompts.json_extract import extract_text

ANSWER_FIELD = "personalized_answer"

REPLY_SHAPE = f'Reply with JSON only, shaped like {{"{ANSWER_FIELD}": "<your answer>"}}.'
# The reply starts with the JSON key; the model writes the answer string from there.
ANSWER_PREFILL = f'{{"{ANSWER_FIELD}": "'


def format_profile(items: list[ProfileItem]) -> str:
    return "\n\n".join(f"[{n}] {item.text}" for n, item in enumerate(items, start=1))


def answer_request(question: str, items: list[ProfileItem] | None, preferences: str | None = None) -> ChatRequest:
    """The request for an answer; ``items=None`` gives the non-personalized prompt, and
    ``preferences`` (a summary of the user, as POPI infers it) replaces the history."""
    if preferences is not None:
        return ChatRequest.of(
            f"What I prefer, in short: {preferences}\n\nMy question: {question}\n\n"
            f"Answer my question in a way that fits these preferences, without repeating them back to me. {REPLY_SHAPE}",
            prefill=ANSWER_PREFILL,
        )
    if items is None:
        return ChatRequest.of(f"My question: {question}\n\nGive me a helpful, concrete answer. {REPLY_SHAPE}", prefill=ANSWER_PREFILL)
    history = format_profile(items) if items else "(none)"
    return ChatRequest.of(
        f"Here are some posts I wrote earlier:\n{history}\n\n"
        f"My question: {question}\n\n"
        "Answer my question in a way that fits me: use what my earlier posts show about my "
        "situation, constraints, experience and tastes, without quoting them back to me. "
        f"{REPLY_SHAPE}",
        prefill=ANSWER_PREFILL,
    )


def parse_answer(raw: str) -> str:
    """The answer string of a reply (prefill included); ValueError when there is none."""
    return extract_text(raw, ANSWER_FIELD)
