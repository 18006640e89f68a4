"""Judge prompts for LaMP-QA (our wording). Judges are the only prompts that read the
hidden narrative ("details") and rubric aspects. Each asks for a small JSON object and
starts the reply with its key, so that even a small judge answers in that shape."""

from tailor.data.schema import Aspect
from tailor.llm.types import ChatRequest

ASPECT_SCORES = (0, 1, 2)
DIRECT_SCORES = (0.0, 0.25, 0.5, 0.75, 1.0)


def aspect_request(question: str, details: str, response: str, aspect: Aspect) -> ChatRequest:
    return ChatRequest.of(
        "You grade how well an answer serves one specific need of the person who asked.\n\n"
        f"The person's question:\n{question}\n\n"
        f"What they wrote about their situation and needs:\n{details}\n\n"
        f"The need to check:\n- {aspect.aspect}\n- why it matters to them: {aspect.reason}\n"
        f"- where they said so: \"{aspect.evidence}\"\n\n"
        f"The answer to grade:\n{response}\n\n"
        "Grade only this need. 0 = the answer ignores it; 1 = the answer touches it but "
        "vaguely, partly or generically; 2 = the answer deals with it clearly and concretely "
        'for this person. Reply with JSON only: {"score": 0, 1 or 2}.',
        prefill='{"score": ',
    )


def direct_request(question: str, details: str, response: str) -> ChatRequest:
    return ChatRequest.of(
        "You grade how well an answer meets the needs a person described.\n\n"
        f"The person's question:\n{question}\n\n"
        f"What they wrote about their situation and needs:\n{details}\n\n"
        f"The answer to grade:\n{response}\n\n"
        "Scale: 0 = does not answer the question in light of what they described; "
        "0.25 = barely relevant, misses the core needs or is largely wrong; "
        "0.5 = covers some important needs but is incomplete, imprecise or shallow; "
        "0.75 = mostly right and satisfying, with some needs covered thinly; "
        "1 = correct, clear and complete for nearly every need they described. "
        'Reply with JSON only: {"score": one of 0, 0.25, 0.5, 0.75, 1}.',
        prefill='{"score": ',
    )


def pairwise_request(question: str, details: str, first: str, second: str) -> ChatRequest:
    return ChatRequest.of(
        "Two answers were written for the same person. Decide which one meets the needs "
        "they described better.\n\n"
        f"The person's question:\n{question}\n\n"
        f"What they wrote about their situation and needs:\n{details}\n\n"
        f"Answer 1:\n{first}\n\nAnswer 2:\n{second}\n\n"
        'Reply with JSON only: {"better": 1} or {"better": 2}.',
        prefill='{"better": ',
    )
