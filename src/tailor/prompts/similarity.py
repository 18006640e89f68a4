"""The similarity-judge prompt (our wording of the REST-PG evaluator): how close a generated
text comes to the one the user actually wrote for the same input. The reply is started
with ``Score: `` so that the very next token is the score, whose probabilities are read."""

from tailor.llm.types import ChatRequest

SCORE_PREFILL = "Score: "

RUBRIC = {
    1: "unrelated to the reference, or off the task altogether",
    3: "on the same topic, but most of the reference's content is missing or contradicted",
    5: "covers part of the reference's content, with clear gaps or a different style",
    7: "covers most of the reference's content in a similar style, with minor differences",
    10: "essentially the same content as the reference, in the same style and voice",
}


def similarity_request(task: str, reference: str, generated: str, prefill: str = SCORE_PREFILL) -> ChatRequest:
    scale = "\n".join(f"{value} = {criterion}" for value, criterion in RUBRIC.items())
    return ChatRequest.of(
        "Compare a generated text with the text a person actually wrote for the same task.\n\n"
        f"The task:\n{task}\n\n"
        f"What the person wrote (the reference):\n{reference}\n\n"
        f"The generated text:\n{generated}\n\n"
        f"Rate how close the generated text is to the reference, in content and in style:\n{scale}\n\n"
        f"Reply with the score only, one of {', '.join(map(str, RUBRIC))}.",
        prefill=prefill,
    )
