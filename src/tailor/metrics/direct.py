"""Direct scoring (the LaMP-QA paper's aspect-free alternative): one judgment per response,
from the narrative, on the scale 0 / 0.25 / 0.5 / 0.75 / 1."""

from pydantic import model_validator

from tailor.data.schema import Example
from tailor.metrics.aspect import JudgeSettings, require_hidden
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.metrics.parsing import read_choice
from tailor.llm.base import LLM
from tailor.prompts.judge import DIRECT_SCORES, direct_request
from tailor.prompts.retry import generate_parsed


class DirectJudgeSettings(JudgeSettings):
    """The aspect judge's sampling and retries; the direct judge's prompt is fixed."""

    @model_validator(mode="after")
    def _fixed_prompt(self) -> "DirectJudgeSettings":
        if "prompt" in self.model_fields_set:
            raise ValueError("prompt: only the aspect judge reads a prompt template; the direct judge's prompt is fixed")
        return self


class DirectJudge(Metric):
    name = "direct"

    def __init__(self, llm: LLM, settings: JudgeSettings = JudgeSettings()):
        self.llm, self.settings = llm, settings

    def score_batch(self, examples: list[Example], responses: list[str]) -> MetricRun:
        for example in examples:
            require_hidden(example, aspects=False)
        requests = [direct_request(e.question, e.narrative, r) for e, r in zip(examples, responses, strict=True)]
        batch = generate_parsed(
            self.llm, requests, self.settings.params(), lambda t: read_choice(t, "score", DIRECT_SCORES), self.settings.max_attempts,
            self.settings.temperature_step, description="judging responses", rule=self.settings.retry_rule,
        )
        scores = [Score(p.value, {"raw": p.raw, "attempts": p.attempts}) for p in batch.items]
        return MetricRun(self.name, [e.id for e in examples], scores, failed_judgments=batch.failures, judgments=len(requests))
