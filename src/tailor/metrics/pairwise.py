"""Pairwise preference (the LaMP-QA paper's third strategy). Every pair is judged in both
orders; a judge that picks the same *position* both times has flipped its preference with
the order, which is reported as the position-flip rate. Only order-consistent verdicts
count as wins; flips count as ties."""

from dataclasses import dataclass

from tailor.data.schema import Example
from tailor.metrics.aspect import JudgeSettings, require_hidden
from tailor.metrics.parsing import read_choice
from tailor.llm.base import LLM
from tailor.prompts.judge import pairwise_request
from tailor.prompts.retry import generate_parsed


@dataclass
class PairwiseRun:
    verdicts: list[str]  # per example: "a", "b", "tie" (order flip) or "failed"
    details: list[dict]

    def rate(self, verdict: str) -> float:
        judged = [v for v in self.verdicts if v != "failed"]
        return sum(v == verdict for v in judged) / len(judged) if judged else float("nan")

    @property
    def flip_rate(self) -> float:
        return self.rate("tie")

    @property
    def failed(self) -> int:
        return self.verdicts.count("failed")


def combine(first_order: int | None, second_order: int | None) -> str:
    """``first_order``: the judge's pick (1 or 2) with A shown first; ``second_order``:
    its pick with B shown first."""
    if first_order is None or second_order is None:
        return "failed"
    winner_first = "a" if first_order == 1 else "b"
    winner_second = "b" if second_order == 1 else "a"
    return winner_first if winner_first == winner_second else "tie"


class PairwiseJudge:
    name = "pairwise"

    def __init__(self, llm: LLM, settings: JudgeSettings = JudgeSettings()):
        self.llm, self.settings = llm, settings

    def compare(self, examples: list[Example], responses_a: list[str], responses_b: list[str]) -> PairwiseRun:
        requests = []
        for example, a, b in zip(examples, responses_a, responses_b, strict=True):
            require_hidden(example, aspects=False)
            requests += [pairwise_request(example.question, example.narrative, a, b), pairwise_request(example.question, example.narrative, b, a)]
        batch = generate_parsed(
            self.llm, requests, self.settings.params(), lambda t: read_choice(t, "better", (1.0, 2.0)), self.settings.max_attempts,
            self.settings.temperature_step, description="pairwise judging", rule=self.settings.retry_rule,
        )
        verdicts, details = [], []
        for i in range(len(examples)):
            ab, ba = batch.items[2 * i], batch.items[2 * i + 1]
            picks = [None if p.value is None else int(p.value) for p in (ab, ba)]
            verdicts.append(combine(*picks))
            details.append({"a_first": picks[0], "b_first": picks[1], "raw": [ab.raw, ba.raw]})
        return PairwiseRun(verdicts, details)
