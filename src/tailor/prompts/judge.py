"""Judge prompts for LaMP-QA (our wording; the aspect judge's is a template file that a
recipe may replace). Judges are the only prompts that read the hidden narrative
("details") and rubric aspects. Each asks for a small JSON object and starts the reply
with its key, so that even a small judge answers in that shape."""

import hashlib
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tailor.data.schema import Aspect
from tailor.errors import TailorError
from tailor.llm.types import ChatRequest

ASPECT_SCORES = (0, 1, 2)
DIRECT_SCORES = (0.0, 0.25, 0.5, 0.75, 1.0)
DEFAULT_ASPECT_TEMPLATE = Path(__file__).parent / "templates" / "aspect_judge.txt"
TEMPLATE_FIELDS = ("question", "narrative", "aspect", "reason", "evidence", "response", "output_key")


class AspectPrompt(BaseModel):
    """The aspect judge's prompt: a template file (ours by default; any other, e.g. the
    benchmark's own wording put into this form) with the placeholders ``{question}``,
    ``{narrative}``, ``{aspect}``, ``{reason}``, ``{evidence}``, ``{response}`` and
    ``{output_key}`` (literal braces doubled), the JSON key the grade comes back under,
    and an optional system message. Reports name the template and its hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    template: Path = Field(default=DEFAULT_ASPECT_TEMPLATE, description="the prompt template file")
    output_key: str = Field(default="score", description="the JSON key the judge answers with (the benchmark's prompt asks for match_score)")
    system: str | None = Field(default=None, description="a system message for the judge")

    @cached_property
    def text(self) -> str:
        try:
            text = Path(self.template).read_text(encoding="utf-8").removesuffix("\n")
        except OSError as err:
            raise TailorError(f"judge template {self.template}: {err.strerror or err}") from err
        try:
            text.format(**{name: "" for name in TEMPLATE_FIELDS})
        except (KeyError, IndexError, ValueError) as err:
            raise TailorError(f"judge template {self.template}: placeholders are {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)} (double other braces): {err}") from err
        return text

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def describe(self) -> str:
        return f"{self.template} (sha256 {self.digest}, key {self.output_key!r}{', with a system message' if self.system else ''})"

    def request(self, question: str, details: str, response: str, aspect: Aspect) -> ChatRequest:
        content = self.text.format(
            question=question, narrative=details, aspect=aspect.aspect, reason=aspect.reason, evidence=aspect.evidence,
            response=response, output_key=self.output_key,
        )
        return ChatRequest.of(content, system=self.system, prefill=f'{{"{self.output_key}": ')


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
