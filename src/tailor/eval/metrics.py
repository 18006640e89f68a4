"""Build a metric by name."""

from typing import Literal

from tailor.eval.aspect import AspectJudge, JudgeSettings
from tailor.eval.base import Metric
from tailor.eval.direct import DirectJudge
from tailor.llm.base import LLM

METRICS = ("aspect", "direct", "proxy", "rouge-l", "rouge-1", "similarity", "accuracy", "rating")
MetricName = Literal["aspect", "direct", "proxy", "rouge-l", "rouge-1", "similarity", "accuracy", "rating"]
ROUGE = {"rouge-l": "rougeL", "rouge-1": "rouge1"}
LAMP = ("accuracy", "rating")  # LaMP-2 / LaMP-3 (tailor.eval.lamp)
JUDGELESS = ("proxy", *ROUGE, *LAMP)  # metrics computed without a judge model


def check_judge(metric: str | None, has_judge: bool) -> str:
    """The metric a config means (default: aspect with a judge, else proxy); ValueError
    when it needs a judge the config lacks."""
    metric = metric or ("aspect" if has_judge else "proxy")
    if metric not in JUDGELESS and not has_judge:
        raise ValueError(f"metric {metric!r} needs a judge model (set `judge`), or use one of {', '.join(JUDGELESS)}")
    return metric


def make_metric(name: str, judge_llm: LLM | None, **options) -> Metric:
    if name == "proxy":
        from tailor.eval.proxy import ProxyCoverage

        return ProxyCoverage(**options)
    if name in ROUGE:
        from tailor.eval.rouge import RougeMetric

        return RougeMetric(ROUGE[name], **options)
    if name in LAMP:
        from tailor.eval.lamp import AccuracyMetric, RatingMetric

        return AccuracyMetric(**options) if name == "accuracy" else RatingMetric(**options)
    if name not in ("aspect", "direct", "similarity"):
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")
    if judge_llm is None:
        raise ValueError(f"the {name} metric needs a judge LLM (configure `judge`), or use the proxy metric")
    if name == "similarity":
        from tailor.eval.similarity import SimilarityJudge

        return SimilarityJudge(judge_llm, **options)
    settings = JudgeSettings(**options)
    return AspectJudge(judge_llm, settings) if name == "aspect" else DirectJudge(judge_llm, settings)
