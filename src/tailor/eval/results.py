"""What ``tailor eval`` returns: per (dataset, split, method) the per-example scores and
what answering cost, and what ``scores.json`` holds."""

import math
from dataclasses import dataclass, field
from pathlib import Path

from tailor.llm import LLMConfig
from tailor.metrics import MetricRun


@dataclass
class MethodResult:
    """One (dataset, split, method): per-example scores and what the run cost."""

    dataset: str
    split: str
    method: str
    values: dict[str, float | None]  # example id -> score (None: the judge could not be read)
    categories: dict[str, str | None]  # example id -> category
    failed_examples: int
    failed_judgments: int
    judgments: int
    wall_seconds: float  # answering only
    seconds_per_query: float
    model_calls: int  # generator calls made when this unit was answered (0: all cached)
    resumed: bool  # answers and scores were both read back from an earlier run
    metric: str = ""
    proxy: bool = False
    graded_only: float | None = None  # the mean over graded items only, where the headline counts ungraded ones 0
    method_name: str = ""  # the method the row runs (``method`` is its label)
    generator: str | None = None
    task: str | None = None  # the LaMP task, when the dataset is one
    task_scores: dict[str, float] | None = None  # the numbers that task reports (tailor.metrics.lamp.task_report)
    # From the traces, means per prompt: the personalization context it carried (retrieved
    # items, or a preference summary) and the user's whole profile; tokens are None where
    # the generator's tokenizer was not at hand.
    context_tokens: float | None = None
    context_words: float | None = None
    profile_tokens: float | None = None
    profile_words: float | None = None
    skipped_for_length: int = 0  # examples with no answer and no score: a prompt they needed did not fit the model's context


@dataclass
class EvalResult:
    out: Path
    metric: str  # the metrics the runs were scored with, comma-separated
    proxy: bool  # some run was scored with a proxy metric
    baseline: str
    generator: str
    judge: str | None
    runs: list[MethodResult]
    judging: dict | None = None  # the judge's sampling and retry schedule, and the aspect judge's template (name and hash)
    generator_calls: int = 0  # model calls made by this invocation
    judge_calls: int = 0
    baselines: list[str] = field(default_factory=list)  # the rows † is measured against (default: [baseline])
    significance: str = "best-baseline"  # or baseline (EvalConfig.significance)

    @property
    def reference_rows(self) -> list[str]:
        return self.baselines or [self.baseline]



def scores_document(run: MetricRun, proxy: bool, fingerprint: str | None = None) -> dict:
    """What ``scores.json`` holds: totals, then every example's value and details."""
    return {
        "fingerprint": fingerprint,
        "metric": run.metric,
        "proxy": proxy,
        "mean": _finite(run.mean),
        "mean_graded_only": _finite(run.graded_only_mean),
        "examples": len(run.scores),
        "failed_examples": run.failed_examples,
        "failed_judgments": run.failed_judgments,
        "judgments": run.judgments,
        "scores": {qid: {"value": s.value, "details": s.details} for qid, s in run.by_id().items()},
    }


def score_summary(run: MetricRun, proxy: bool, benchmark: dict | None = None) -> dict:
    """One response set's totals as ``tailor score --json`` prints them: the headline (the
    benchmark's number), the mean over graded items only, what failed, and the numbers the
    benchmark reports over the whole set (LaMP, LongLaMP) when it has a task."""
    summary = {
        "metric": run.metric,
        "proxy": proxy,
        "score": _finite(run.mean),
        "score_graded_only": _finite(run.graded_only_mean),
        "failed_judgments": run.failed_judgments,
        "judgments": run.judgments,
        "failed_examples": run.failed_examples,
        "examples": len(run.scores),
    }
    return summary | (benchmark or {})


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def describe(config: LLMConfig | None) -> str | None:
    return None if config is None else f"{config.backend}:{config.model}"
