"""POPI's preference inference prompt (our wording): from what a user wrote or did, a short
natural-language summary of what they prefer, which a generator reads in place of the raw
history. The summary describes the user; it does not list or quote their items."""

from tailor.data.schema import ProfileItem
from tailor.llm.types import ChatRequest
from tailor.prompts.answer import format_profile

SUMMARY_PREFILL = "This user "


def summary_request(items: list[ProfileItem], max_words: int) -> ChatRequest:
    return ChatRequest.of(
        f"Things a user wrote or did before:\n{format_profile(items) if items else '(none)'}\n\n"
        f"In at most {max_words} words, say what this user prefers in the answers and texts they get: "
        "the topics and constraints that matter to them, their level of expertise, and the tone, length "
        "and style that suit them. Write plain sentences about the user; do not list or quote their items.",
        prefill=SUMMARY_PREFILL,
    )


def parse_summary(raw: str, max_words: int) -> str:
    """The summary, cut to ``max_words`` words; ValueError when nothing follows the prefill."""
    words = raw.split()
    if len(words) <= len(SUMMARY_PREFILL.split()):
        raise ValueError("empty preference summary")
    return " ".join(words[:max_words])
