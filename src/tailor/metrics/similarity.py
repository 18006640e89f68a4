"""The REST-PG evaluator (its section 4.1 and appendix A): a judge LLM compares the response
with the user's reference output on a 1/3/5/7/10 rubric; the score is the rubric value the
judge gives the highest probability, divided by 10. Nothing is sampled: probabilities are
read from the top-k logprobs of the token right after the ``Score: `` prefill.

"10" is usually two tokens, "1" then "0", so P("1") is split by a second request that
prefills "1": P(10) = P(1)·P(0 | 1) and P(1) = P(1)·(1 − P(0 | 1)). Where "10" is one
token, it is read from the first top-k like the other values."""

import math

from tailor.data.schema import Example
from tailor.errors import BackendError, PromptTooLong
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.metrics.rouge import require_reference
from tailor.llm.base import LLM
from tailor.llm.types import Completion, SamplingParams
from tailor.prompts.similarity import RUBRIC, SCORE_PREFILL, similarity_request


def next_token_probabilities(completion: Completion, llm: LLM) -> dict[str, float] | None:
    """Top-k probabilities of the first generated token, keyed by the token stripped of
    whitespace (" 7" and "7" both mean 7); None when the reply ended before any token (the
    hf backend drops the distribution of an end-of-reply token)."""
    logprobs = completion.samples[0].logprobs
    if logprobs is None:
        raise BackendError(
            f"the {llm.kind} backend returned no logprobs, and the similarity metric needs them: "
            "it reads the judge's probability of each score (the hf, vllm, openai and llamacpp backends give them)"
        )
    if not logprobs:
        return None
    probabilities: dict[str, float] = {}
    for token, logprob in logprobs[0].top.items():
        probabilities[token.strip()] = probabilities.get(token.strip(), 0.0) + math.exp(logprob)
    return probabilities


def judge(first: dict[str, float], zero_after_one: float | None) -> tuple[int | None, dict[int, float]]:
    """The most probable rubric value (None when no value is in the top-k) and each value's
    probability, 0 outside the top-k. ``zero_after_one`` is P("0" | "1"); None when it
    could not be read, and then a value wins only if it wins however "1" and "10" share P("1")."""
    probabilities = {value: first.get(str(value), 0.0) for value in RUBRIC}
    one = probabilities[1]
    if zero_after_one is None:
        low, high = {**probabilities, 1: 0.0}, {**probabilities, 10: probabilities[10] + one}
        sure = [v for v in RUBRIC if low[v] > 0 and all(low[v] >= high[w] for w in RUBRIC if w != v)]
        return (sure[0] if sure else None), probabilities
    probabilities[1], probabilities[10] = one * (1 - zero_after_one), probabilities[10] + one * zero_after_one
    winner = max(probabilities, key=probabilities.get)
    return (winner if probabilities[winner] > 0 else None), probabilities


class SimilarityJudge(Metric):
    name = "similarity"
    params = SamplingParams(temperature=0, max_tokens=1, logprobs=20)

    def __init__(self, llm: LLM):
        self.llm = llm

    def score_batch(self, examples: list[Example], responses: list[str]) -> MetricRun:
        references = [require_reference(e, self.name) for e in examples]
        requests = [similarity_request(e.question, ref, r) for e, ref, r in zip(examples, references, responses, strict=True)]
        completions = self.llm.generate_each(requests, self.params, description="judging similarity")
        firsts = [None if isinstance(c, PromptTooLong) else next_token_probabilities(c, self.llm) for c in completions]
        split = [i for i, first in enumerate(firsts) if first and first.get("1", 0.0) > 0]
        after_one = [requests[i].model_copy(update={"prefill": SCORE_PREFILL + "1"}) for i in split]
        seconds = self.llm.generate_each(after_one, self.params, description="judging similarity (1 or 10)") if split else []
        zero_after_one: dict[int, float | None] = {}
        for i, completion in zip(split, seconds):
            after = None if isinstance(completion, PromptTooLong) else next_token_probabilities(completion, self.llm)
            zero_after_one[i] = None if after is None else min(1.0, after.get("0", 0.0))
        scores = []
        for i, first in enumerate(firsts):
            if first is None:
                refused = completions[i]
                reason = f"the judge's prompt does not fit its context: {refused}" if isinstance(refused, PromptTooLong) else "the judge's reply was empty"
                scores.append(Score(None, {"probabilities": {}, "reason": reason}))
                continue
            split_one = zero_after_one.get(i, 0.0)
            winner, probabilities = judge(first, split_one)
            scores.append(Score(None if winner is None else winner / 10, {"probabilities": probabilities, "zero_after_one": split_one}))
        failed = sum(s.value is None for s in scores)
        return MetricRun(self.name, [e.id for e in examples], scores, failed_judgments=failed, judgments=len(requests) + len(split))
