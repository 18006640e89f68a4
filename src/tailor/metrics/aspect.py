"""The LaMP-QA metric (its appendix, Algorithm 1): each rubric aspect is graded 0-2 by a
judge LLM that sees the question, the narrative, the aspect and the response; the
example's score is the mean of grade/2 over its aspects.

As in the benchmark's own evaluation, an aspect the judge never grades (after the
retries) counts 0 in that mean: the headline is the benchmark's number. Beside it each
example keeps the mean over its graded aspects only (``graded_only``, None when none was
graded) and the count of ungraded ones, so failures are shown, never hidden."""

from statistics import mean

from pydantic import BaseModel, ConfigDict, Field

from tailor.data.schema import Example
from tailor.errors import DataError
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.metrics.parsing import read_choice
from tailor.llm.base import LLM
from tailor.llm.types import SamplingParams
from tailor.prompts.judge import ASPECT_SCORES, AspectPrompt
from tailor.prompts.retry import RetryRule, generate_parsed


class JudgeSettings(BaseModel):
    """How a judge samples and retries. The defaults suit a small budget; the LaMP-QA
    evaluator's own schedule is ``max_attempts: 101`` (one try and up to 100 retries of
    what did not parse), ``retry_rule: benchmark`` with ``temperature_step: 0.1`` from 0,
    ``top_p: 0.95`` and ``max_tokens: 4096`` (configs/lampqa-paper.yaml)."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(default=0.0, ge=0.0, description="the first attempt's temperature")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, description="nucleus sampling")
    max_tokens: int = Field(default=64, ge=1, description="the longest judgment, in tokens")
    max_attempts: int = Field(default=3, ge=1, description="tries per judgment: the first and the retries of what did not parse")
    temperature_step: float = Field(default=0.3, ge=0.0, description="how much each retry raises the temperature")
    retry_rule: RetryRule = Field(default="capped", description="capped: start + a*step, at most 1.0; benchmark: LaMP-QA's rule (+step while below 1.0)")
    seed: int = Field(default=0, description="seeds sampling; retry a uses seed + a")
    prompt: AspectPrompt = Field(default=AspectPrompt(), description="the aspect judge's template file, output key and system message")

    def params(self) -> SamplingParams:
        return SamplingParams(temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens, seed=self.seed)

    def describe(self) -> str:
        """The sampling and retry schedule, as reports state it."""
        return (f"temperature {self.temperature}, top-p {self.top_p}, up to {self.max_tokens} tokens; {self.max_attempts} attempts, "
                f"retries raising the temperature by {self.temperature_step} ({self.retry_rule} rule)")


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
                requests.append(self.settings.prompt.request(example.question, example.narrative, response, aspect))
        s = self.settings
        batch = generate_parsed(
            self.llm, requests, s.params(), lambda t: read_choice(t, s.prompt.output_key, ASPECT_SCORES), s.max_attempts, s.temperature_step,
            description="judging aspects", rule=s.retry_rule,
        )
        per_example: list[list[dict]] = [[] for _ in examples]
        for row, parsed in zip(slots, batch.items):
            aspect = examples[row].rubric_aspects[len(per_example[row])]
            grade = None if parsed.value is None else int(parsed.value)
            per_example[row].append({"aspect": aspect.aspect, "score": grade, "raw": parsed.raw, "attempts": parsed.attempts})
        scores = []
        for graded in per_example:
            readable = [g["score"] / 2 for g in graded if g["score"] is not None]
            details = {"aspects": graded, "failed_aspects": len(graded) - len(readable), "graded_only": mean(readable) if readable else None}
            scores.append(Score(sum(readable) / len(graded), details))
        return MetricRun(self.name, [e.id for e in examples], scores, failed_judgments=batch.failures, judgments=len(requests))
