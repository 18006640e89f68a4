"""The planted-preference task's metric: an aspect is met when the response states its
planted fact, that is, contains one of the aspect's ``accept`` phrasings (matched without
case, with any run of spaces and hyphens as one separator, and not inside a longer word,
so "5km" states "km" but "Lisbonne" does not state "Lisbon"). The example's score is the
share of its aspects met. It is deterministic and needs no judge; it is this task's own
metric, not any benchmark's. Each aspect is reported as the judges report it (grade 0 or
2 of 2), so reports and the run browser read it alike."""

import re
import unicodedata

from tailor.data.schema import Example
from tailor.errors import DataError
from tailor.metrics.base import Metric, MetricRun, Score


def normalize(text: str) -> str:
    """Case-folded, accents kept, every run of whitespace or hyphens one space."""
    return re.sub(r"[\s\-‐-―]+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


def states(response: str, phrasing: str) -> bool:
    """Whether ``response`` holds ``phrasing`` as a whole word or phrase (letters on either side break it)."""
    pattern = r"(?<![^\W\d_])" + re.escape(normalize(phrasing)) + r"(?![^\W\d_])"
    return re.search(pattern, normalize(response)) is not None


class PlantedFacts(Metric):
    name = "planted-facts"

    def score_batch(self, examples: list[Example], responses: list[str]) -> MetricRun:
        scores, judgments = [], 0
        for example, response in zip(examples, responses, strict=True):
            if not example.rubric_aspects:
                raise DataError("<dataset>", example.id, "rubric_aspects", "the planted metric needs at least one aspect")
            graded = []
            for position, aspect in enumerate(example.rubric_aspects):
                if not aspect.accept:
                    raise DataError("<dataset>", example.id, f"rubric_aspects[{position}].accept", "the planted metric needs the phrasings that state the fact")
                met = any(states(response, phrasing) for phrasing in aspect.accept)
                graded.append({"aspect": aspect.aspect, "score": 2 if met else 0})
            judgments += len(graded)
            value = sum(g["score"] for g in graded) / (2 * len(graded))
            scores.append(Score(value, {"aspects": graded, "failed_aspects": 0, "graded_only": value}))
        return MetricRun(self.name, [e.id for e in examples], scores, judgments=judgments)
