"""The LaMP-QA metric (its appendix, Algorithm 1): each rubric aspect is graded 0-2 by a
judge LLM that sees the question, the narrative, the aspect and the response; the
example's score is the mean of grade/2 over its aspects.

Grades the judge fails to produce (after the bounded retries) are left out of that mean
and counted; an example with no readable grade scores None."""

from statistics import mean

from pydantic import BaseModel, Field

from tailor.data.schema import Example
from tailor.errors import DataError
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.metrics.parsing import read_choice
from tailor.llm.base import LLM
from tailor.llm.types import SamplingParams
from tailor.prompts.judge import ASPECT_SCORES, aspect_request
from tailor.prompts.retry import generate_parsed


class JudgeSettings(BaseModel):
    temperature: float = 0.0
    max_tokens: int = 64
    max_attempts: int = Field(default=3, ge=1)
    seed: int = 0


def require_hidden(example: Example, aspects: bool) -> None:
    if not example.narrative:
        raise DataError("<dataset>", example.id, "narrative", "the judge needs the question narrative")
    if aspects and not example.rubric_aspects:
        raise DataError("<dataset>", example.id, "rubric_aspects", "the aspect judge needs at least one aspect")


class AspectJudge(Metric):
    name = "aspect"

    def __init__(self, llm: LLM, settings: JudgeSettings = JudgeSettings()):
        self.llm, self.settings = llm, settings

    def score_batch(self, examples: list[Example], responses: list[str]) -> MetricRun:
        slots, requests = [], []
        for row, (example, response) in enumerate(zip(examples, responses, strict=True)):
            require_hidden(example, aspects=True)
            for aspect in example.rubric_aspects:
                slots.append(row)
                requests.append(aspect_request(example.question, example.narrative, response, aspect))
        params = SamplingParams(temperature=self.settings.temperature, max_tokens=self.settings.max_tokens, seed=self.settings.seed)
        batch = generate_parsed(
            self.llm, requests, params, lambda t: read_choice(t, "score", ASPECT_SCORES), self.settings.max_attempts, description="judging aspects"
        )
        per_example: list[list[dict]] = [[] for _ in examples]
        for row, parsed in zip(slots, batch.items):
            aspect = examples[row].rubric_aspects[len(per_example[row])]
            grade = None if parsed.value is None else int(parsed.value)
            per_example[row].append({"aspect": aspect.aspect, "score": grade, "raw": parsed.raw, "attempts": parsed.attempts})
        scores = []
        for graded in per_example:
            readable = [g["score"] / 2 for g in graded if g["score"] is not None]
            value = mean(readable) if readable else None
            scores.append(Score(value, {"aspects": graded, "failed_aspects": len(graded) - len(readable)}))
        return MetricRun(self.name, [e.id for e in examples], scores, failed_judgments=batch.failures, judgments=len(requests))
