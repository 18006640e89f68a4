"""ROUGE F-measure of a response against the example's reference output (the LongLaMP
benchmark's own metric)."""

from tailor.data.schema import Example
from tailor.errors import DataError
from tailor.metrics.base import Metric, MetricRun, Score

KINDS = {"rougeL": "rouge-l", "rouge1": "rouge-1"}


def require_reference(example: Example, metric: str) -> str:
    if not example.reference:
        raise DataError("<dataset>", example.id, "reference", f"the {metric} metric compares responses with the reference output")
    return example.reference


class RougeMetric(Metric):
    def __init__(self, kind: str = "rougeL"):
        if kind not in KINDS:
            raise ValueError(f"unknown ROUGE kind {kind!r}; choose one of {', '.join(KINDS)}")
        # imported here: rouge_score pulls in nltk (about 1 s), which `tailor eval` would
        # otherwise pay on every run through tailor.metrics.lamp's import of require_reference
        from rouge_score import rouge_scorer

        self.kind, self.name = kind, KINDS[kind]
        self.scorer = rouge_scorer.RougeScorer([kind], use_stemmer=True)

    def score_batch(self, examples: list[Example], responses: list[str]) -> MetricRun:
        references = [require_reference(e, self.name) for e in examples]
        scores = [Score(self.scorer.score(ref, response)[self.kind].fmeasure) for ref, response in zip(references, responses, strict=True)]
        return MetricRun(self.name, [e.id for e in examples], scores)
