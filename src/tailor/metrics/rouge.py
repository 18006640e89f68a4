"""ROUGE F-measure of a response against the example's reference output, computed as the
LaMP and LongLaMP evaluators compute it: their HF ``rouge`` metric wraps ``rouge_score``
with its default tokenizer and no stemmer, and reports F-measure. Two differences, both
documented: the HF metric cannot be loaded offline, so ``rouge_score`` is called
directly; and where the HF metric aggregates by the median of (unseeded) bootstrap
resamples, tailor reports the plain mean over examples."""

from tailor.data.schema import Example
from tailor.errors import DataError
from tailor.metrics.base import Metric, MetricRun, Score

KINDS = {"rougeL": "rouge-l", "rouge1": "rouge-1"}


def require_reference(example: Example, metric: str) -> str:
    if not example.reference:
        raise DataError("<dataset>", example.id, "reference", f"the {metric} metric compares responses with the reference output")
    return example.reference


def rouge_scorer_for(kinds: list[str]):
    """``rouge_score``'s scorer for ``kinds`` as the benchmarks configure it (no stemmer).
    Imported here: rouge_score pulls in nltk (about 1 s), which `tailor eval` would
    otherwise pay on every run."""
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(kinds, use_stemmer=False)


class RougeMetric(Metric):
    def __init__(self, kind: str = "rougeL"):
        if kind not in KINDS:
            raise ValueError(f"unknown ROUGE kind {kind!r}; choose one of {', '.join(KINDS)}")
        self.kind, self.name = kind, KINDS[kind]
        self.scorer = rouge_scorer_for([kind])

    def score_batch(self, examples: list[Example], responses: list[str]) -> MetricRun:
        references = [require_reference(e, self.name) for e in examples]
        scores = [Score(self.scorer.score(ref, response)[self.kind].fmeasure) for ref, response in zip(references, responses, strict=True)]
        return MetricRun(self.name, [e.id for e in examples], scores)
