"""Dataset statistics in the shape of the LaMP-QA paper's Table 1 (mean ± std; lengths in words)."""

from collections import defaultdict
from dataclasses import dataclass
from statistics import mean, pstdev

from tailor.data.schema import Example


@dataclass(frozen=True)
class Spread:
    mean: float
    std: float

    def __str__(self) -> str:
        return f"{self.mean:.1f} ± {self.std:.1f}"


def spread(values: list[float]) -> Spread:
    return Spread(mean(values), pstdev(values)) if values else Spread(float("nan"), float("nan"))


@dataclass(frozen=True)
class GroupStats:
    group: str
    questions: int
    aspects_per_question: Spread
    profile_size: Spread
    question_length: Spread
    narrative_length: Spread


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


def dataset_stats(examples: list[Example]) -> list[GroupStats]:
    """One row per category (examples with none go under '(none)'), then an 'all' row
    when there is more than one group; uncategorized data gets the 'all' row alone."""
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        groups[example.category or "(none)"].append(example)
    if list(groups) == ["(none)"]:
        groups = {"all": list(examples)}
    if len(groups) > 1:
        groups["all"] = list(examples)
    return [
        GroupStats(
            group=name,
            questions=len(members),
            aspects_per_question=spread([len(e.rubric_aspects) for e in members]),
            profile_size=spread([len(e.profile) for e in members]),
            question_length=spread([_words(e.question) for e in members]),
            narrative_length=spread([_words(e.narrative) for e in members if e.narrative]),
        )
        for name, members in groups.items()
    ]
