"""The metric protocol: ``score_batch(examples, responses) -> MetricRun``. A metric sees
the hidden narrative and rubric aspects; it must not depend on which method produced a
response, nor on the order responses come in."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from statistics import mean

from pydantic import BaseModel, ConfigDict

from tailor.data.schema import Example


@dataclass
class Score:
    """``value`` in [0, 1], or None when the judge's output could not be read at all
    (then the example is left out of averages and counted in ``failed``)."""

    value: float | None
    details: dict = field(default_factory=dict)


@dataclass
class MetricRun:
    """Scores of one response set, with what could not be scored counted, never hidden."""

    metric: str
    ids: list[str]  # example id of each scored response (an example may appear many times)
    scores: list[Score]
    failed_judgments: int = 0  # unparseable judge outputs after every retry
    judgments: int = 0

    @property
    def failed_examples(self) -> int:
        return sum(s.value is None for s in self.scores)

    @property
    def mean(self) -> float:
        values = [s.value for s in self.scores if s.value is not None]
        return mean(values) if values else float("nan")

    @property
    def graded_only_mean(self) -> float:
        """For judges whose headline counts ungraded items as 0 (the aspect judge): the mean
        over what was graded; otherwise the headline mean."""
        values = [s.details.get("graded_only", s.value) for s in self.scores]
        known = [v for v in values if v is not None]
        return mean(known) if known else float("nan")

    def by_id(self) -> dict[str, Score]:
        return dict(zip(self.ids, self.scores))


class Metric(ABC):
    name: str
    proxy: bool = False  # True for cheap stand-ins of the benchmark metric; reports label them

    @abstractmethod
    def score_batch(self, examples: list[Example], responses: list[str]) -> MetricRun:
        """Score ``responses[i]`` for ``examples[i]``; all judge calls go out as one batch."""

    def score(self, example: Example, response: str) -> Score:
        return self.score_batch([example], [response]).scores[0]


class NoSettings(BaseModel):
    """The settings of a metric that takes none: any ``metric_options`` key is an error."""

    model_config = ConfigDict(extra="forbid")
