"""VAC prompts (our wording): a feedback model critiques an answer for one person, and
the policy rewrites its answer following that critique.

Only ``feedback_request`` takes the narrative (and, where a run allows it, the rubric
aspects): it is the training-time critic's view of what this person needs.
``revision_request`` (the policy's side) sees the question, the retrieved items, its own
answer and the feedback, never the narrative or rubric aspects.
"""

from tailor.data.schema import ProfileItem
from tailor.llm.types import ChatRequest
from tailor.prompts.answer import ANSWER_PREFILL, REPLY_SHAPE, format_profile
from tailor.prompts.json_extract import extract_text

FEEDBACK_FIELD = "feedback"
FEEDBACK_PREFILL = f'{{"{FEEDBACK_FIELD}": "'


def _context(question: str, items: list[ProfileItem], answer: str) -> str:
    history = format_profile(items) if items else "(none)"
    return f"Earlier posts by the asker:\n{history}\n\nTheir question: {question}\n\nThe draft answer:\n{answer}"


def feedback_request(question: str, items: list[ProfileItem], answer: str, narrative: str, aspects: list[str] | None = None) -> ChatRequest:
    """The critic's request; ``aspects`` (the rubric's, where the run lets it read them) follow the narrative."""
    wanted = "".join(f"\n- {aspect}" for aspect in aspects or [])
    return ChatRequest.of(
        f"{_context(question, items, answer)}\n\n"
        f"What the asker actually wants, in their own words:\n{narrative}\n\n"
        + (f"What a good answer for them must cover:{wanted}\n\n" if wanted else "") +
        "Review the draft for this particular person. Say concretely what it should add, drop or "
        "change so that it meets what they want and fits their situation; give instructions a writer "
        "can act on, not a grade. "
        f'Reply with JSON only, shaped like {{"{FEEDBACK_FIELD}": "<your feedback>"}}.',
        prefill=FEEDBACK_PREFILL,
    )


def parse_feedback(text: str) -> str:
    """The feedback string of a reply (prefill included); ValueError when there is none."""
    return extract_text(text, FEEDBACK_FIELD)


def revision_request(question: str, items: list[ProfileItem], answer: str, feedback: str) -> ChatRequest:
    return ChatRequest.of(
        f"{_context(question, items, answer)}\n\n"
        f"A reviewer's notes on the draft:\n{feedback}\n\n"
        "Rewrite the draft so that it follows the notes and suits the asker; give the full new answer, "
        f"not a list of changes. {REPLY_SHAPE}",
        prefill=ANSWER_PREFILL,
    )
