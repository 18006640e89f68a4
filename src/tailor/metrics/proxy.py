"""A cheap, deterministic stand-in for the aspect judge on CPU runs: how well each rubric
aspect is covered by some sentence of the response, by embedding similarity.

It is a proxy, labelled so wherever it is reported. Each aspect's text ("title: reason")
is compared with every sentence of the response; the best cosine similarity is mapped
linearly from [FLOOR, CEILING] to [0, 1] (clipped); the example's score is the mean over
aspects. FLOOR is about what all-MiniLM-L6-v2 gives unrelated sentences, CEILING what it
gives close paraphrases."""

import re

from pydantic import BaseModel, ConfigDict, Field

from tailor import logs
from tailor.data.schema import Example
from tailor.metrics.aspect import require_hidden
from tailor.metrics.base import Metric, MetricRun, Score

FLOOR, CEILING = 0.15, 0.65
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if len(s.strip()) > 2]


def calibrate(similarity: float) -> float:
    return min(1.0, max(0.0, (similarity - FLOOR) / (CEILING - FLOOR)))


class ProxySettings(BaseModel):
    """The proxy's own settings (a recipe's ``metric_options``)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(default="all-minilm-l6-v2", description="the sentence encoder (a tailor.models name or a path)")


class ProxyCoverage(Metric):
    name = "proxy-coverage"
    proxy = True

    def __init__(self, model: str = "all-minilm-l6-v2"):
        from sentence_transformers import SentenceTransformer

        from tailor.models import resolve_model

        logs.adopt_library_loggers()

        self.encoder = SentenceTransformer(resolve_model(model), device="cpu")

    def _embed(self, texts: list[str]) -> dict:
        unique = sorted(set(texts))
        vectors = self.encoder.encode(unique, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False) if unique else []
        return dict(zip(unique, vectors))

    def score_batch(self, examples: list[Example], responses: list[str]) -> MetricRun:
        import numpy as np  # here, not at the top: the metric table imports this module for ProxySettings

        for example in examples:
            require_hidden(example, aspects=True)
        aspect_texts = [[f"{a.aspect}: {a.reason}".strip(": ") for a in e.rubric_aspects] for e in examples]
        response_sentences = [sentences(r) for r in responses]
        vectors = self._embed([t for ts in aspect_texts for t in ts] + [s for ss in response_sentences for s in ss])
        scores = []
        for texts, sents, example in zip(aspect_texts, response_sentences, examples):
            if not sents:
                per_aspect = [0.0] * len(texts)
            else:
                sentence_matrix = np.stack([vectors[s] for s in sents])
                per_aspect = [calibrate(float((sentence_matrix @ vectors[t]).max())) for t in texts]
            details = {"aspects": [{"aspect": a.aspect, "coverage": c} for a, c in zip(example.rubric_aspects, per_aspect)], "proxy": True}
            scores.append(Score(float(np.mean(per_aspect)), details))
        return MetricRun(self.name, [e.id for e in examples], scores)
