"""Build a metric by name: the one list of metric names, and what each needs."""

from tailor.llm.base import LLM
from tailor.metrics.base import Metric
from tailor.names import METRICS
ROUGE = {"rouge-l": "rougeL", "rouge-1": "rouge1"}
LAMP = ("accuracy", "rating")  # LaMP-2 / LaMP-3 (tailor.metrics.lamp)
JUDGELESS = ("proxy", "planted", *ROUGE, *LAMP)  # metrics computed without a judge model
# Metrics whose numbers changed when they were brought in line with the benchmarks'
# evaluators: scores saved under an older convention are computed again.
CONVENTION = {"aspect": 2, "accuracy": 2, "rating": 2, "rouge-l": 2, "rouge-1": 2}


def check_judge(metric: str | None, has_judge: bool) -> str:
    """The metric a config means (default: aspect with a judge, else proxy); ValueError
    when it needs a judge the config lacks."""
    metric = metric or ("aspect" if has_judge else "proxy")
    if metric not in JUDGELESS and not has_judge:
        raise ValueError(f"metric {metric!r} needs a judge model (set `judge`), or use one of {', '.join(JUDGELESS)}")
    return metric


def check_options(metric: str, options: dict) -> None:
    """ValueError naming the key when ``options`` are not the metric's settings, so a recipe
    fails when it loads, not when its metric first runs."""
    if not options:
        return
    if metric in ("aspect", "direct"):
        from pydantic import ValidationError

        from tailor.config import describe_error
        from tailor.metrics.aspect import JudgeSettings

        try:
            JudgeSettings(**options)
        except ValidationError as err:
            raise ValueError("; ".join("metric_options." + describe_error(JudgeSettings, e) for e in err.errors())) from None
        if metric == "direct" and "prompt" in options:
            raise ValueError("metric_options.prompt: only the aspect judge reads a prompt template; the direct judge's prompt is fixed")
        return
    accepted = _option_names(metric)
    unknown = sorted(set(options) - accepted)
    if unknown:
        takes = ", ".join(sorted(accepted)) or "no options"
        raise ValueError(f"metric_options.{unknown[0]}: unknown key for the {metric} metric (it takes {takes})")


def _option_names(metric: str) -> set[str]:
    """The keyword settings of a judgeless or similarity metric's constructor."""
    import inspect

    if metric == "proxy":
        from tailor.metrics.proxy import ProxyCoverage as cls
    elif metric == "planted":
        from tailor.metrics.planted import PlantedFacts as cls
    elif metric in ROUGE:
        from tailor.metrics.rouge import RougeMetric as cls
    elif metric in LAMP:
        from tailor.metrics.lamp import AccuracyMetric, RatingMetric

        cls = AccuracyMetric if metric == "accuracy" else RatingMetric
    else:
        from tailor.metrics.similarity import SimilarityJudge as cls
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in inspect.signature(cls.__init__).parameters.values() if p.kind in named and p.name not in ("self", "llm", "kind")}


def make_metric(name: str, judge_llm: LLM | None, **options) -> Metric:
    check_options(name, options)
    if name == "proxy":
        from tailor.metrics.proxy import ProxyCoverage

        return ProxyCoverage(**options)
    if name == "planted":
        from tailor.metrics.planted import PlantedFacts

        return PlantedFacts()
    if name in ROUGE:
        from tailor.metrics.rouge import RougeMetric

        return RougeMetric(ROUGE[name], **options)
    if name in LAMP:
        from tailor.metrics.lamp import AccuracyMetric, RatingMetric

        return AccuracyMetric(**options) if name == "accuracy" else RatingMetric(**options)
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")
    if judge_llm is None:
        raise ValueError(f"the {name} metric needs a judge LLM (configure `judge`), or use the proxy metric")
    if name == "similarity":
        from tailor.metrics.similarity import SimilarityJudge

        return SimilarityJudge(judge_llm, **options)
    from tailor.metrics.aspect import AspectJudge, JudgeSettings
    from tailor.metrics.direct import DirectJudge

    settings = JudgeSettings(**options)
    return AspectJudge(judge_llm, settings) if name == "aspect" else DirectJudge(judge_llm, settings)
