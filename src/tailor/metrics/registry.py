"""The one table of metrics. Each entry says how to build the metric, whether it needs a
judge model, its own settings (a recipe's ``metric_options``), whether a higher score is
better, the convention its numbers follow and the benchmark it belongs to. Configs, the
eval runner, training and the command line read this table; adding a metric is its
module plus one ``register`` call."""

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, get_args

from pydantic import AfterValidator, BaseModel, ValidationError

from tailor.config import describe_error
from tailor.llm.base import LLM
from tailor.metrics.aspect import JudgeSettings
from tailor.metrics.base import Metric, NoSettings
from tailor.metrics.direct import DirectJudgeSettings
from tailor.metrics.lamp import LampTask
from tailor.metrics.proxy import ProxySettings


@dataclass(frozen=True)
class MetricInfo:
    """``build(judge, settings)``: the metric, from its judge model (None unless ``judge``)
    and its validated ``options`` (the pydantic model of its settings); ``benchmark``: the
    benchmark or task it measures for; ``convention``: raised when the metric's numbers
    changed (brought in line with its benchmark's evaluator), so that scores saved under an
    older one are computed again (None: never changed); ``tasks``: the LaMP tasks whose
    datasets it scores unless a config names another metric."""

    name: str
    build: Callable[[LLM | None, BaseModel], Metric]
    summary: str
    benchmark: str
    judge: bool = False
    options: type[BaseModel] = NoSettings
    higher_is_better: bool = True
    convention: int | None = None
    tasks: tuple[str, ...] = ()


METRICS: dict[str, MetricInfo] = {}


def register(info: MetricInfo) -> MetricInfo:
    unknown = sorted(set(info.tasks) - set(get_args(LampTask)))
    if unknown:
        raise ValueError(f"metric {info.name!r}: unknown task {unknown[0]!r}; tasks are {', '.join(get_args(LampTask))}")
    for task in info.tasks:
        if (taken := task_metric(task)) not in (None, info.name):
            raise ValueError(f"metric {info.name!r}: task {task} is already scored by {taken}")
    METRICS[info.name] = info
    return info


def metric_info(name: str) -> MetricInfo:
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")
    return METRICS[name]


def known_metric(name: str) -> str:
    """``name``, when the table holds it (checked when a config is read, so a metric
    registered after this module was imported counts)."""
    return metric_info(name).name


MetricName = Annotated[str, AfterValidator(known_metric)]


def task_metric(task: str | None) -> str | None:
    """The metric a LaMP task's datasets are scored with, unless a config says otherwise."""
    return next((info.name for info in METRICS.values() if task in info.tasks), None)


def check_judge(metric: str | None, has_judge: bool) -> str:
    """The metric a config means (default: aspect with a judge, else proxy); ValueError
    when it needs a judge the config lacks."""
    metric = metric or ("aspect" if has_judge else "proxy")
    if metric_info(metric).judge and not has_judge:
        judgeless = ", ".join(name for name, info in METRICS.items() if not info.judge)
        raise ValueError(f"metric {metric!r} needs a judge model (set `judge`), or use one of {judgeless}")
    return metric


def check_options(metric: str, options: dict) -> BaseModel:
    """The metric's settings read from ``options``; ValueError naming the key when they are
    not its settings, so a recipe fails when it loads, not when its metric first runs."""
    settings = metric_info(metric).options
    try:
        return settings(**options)
    except ValidationError as err:
        raise ValueError("; ".join(_option_error(metric, settings, e) for e in err.errors())) from None


def _option_error(metric: str, settings: type[BaseModel], error: dict) -> str:
    """One error as ``metric_options.<key>: what is wrong``; an unknown key with no near
    match lists the keys the metric takes."""
    key = ".".join(map(str, error["loc"]))
    if error["type"] == "extra_forbidden" and len(error["loc"]) == 1 and not difflib.get_close_matches(key, list(settings.model_fields), n=1):
        takes = ", ".join(settings.model_fields) or "no options"
        return f"metric_options.{key}: unknown key for the {metric} metric (it takes {takes})"
    return "metric_options." + describe_error(settings, error)


def make_metric(name: str, judge_llm: LLM | None, **options) -> Metric:
    info = metric_info(name)
    settings = check_options(name, options)
    if info.judge and judge_llm is None:
        raise ValueError(f"the {name} metric needs a judge LLM (configure `judge`), or use the proxy metric")
    return info.build(judge_llm if info.judge else None, settings)


def _aspect(judge: LLM, settings: JudgeSettings) -> Metric:
    from tailor.metrics.aspect import AspectJudge

    return AspectJudge(judge, settings)


def _direct(judge: LLM, settings: DirectJudgeSettings) -> Metric:
    from tailor.metrics.direct import DirectJudge

    return DirectJudge(judge, settings)


def _similarity(judge: LLM, settings: NoSettings) -> Metric:
    from tailor.metrics.similarity import SimilarityJudge

    return SimilarityJudge(judge)


def _proxy(judge: None, settings: ProxySettings) -> Metric:
    from tailor.metrics.proxy import ProxyCoverage

    return ProxyCoverage(settings.model)


def _planted(judge: None, settings: NoSettings) -> Metric:
    from tailor.metrics.planted import PlantedFacts

    return PlantedFacts()


def _planted_strict(judge: None, settings: NoSettings) -> Metric:
    from tailor.metrics.planted import PlantedStrict

    return PlantedStrict()


def _rouge(kind: str) -> Callable[[None, NoSettings], Metric]:
    def build(judge: None, settings: NoSettings) -> Metric:
        from tailor.metrics.rouge import RougeMetric

        return RougeMetric(kind)

    return build


def _accuracy(judge: None, settings: NoSettings) -> Metric:
    from tailor.metrics.lamp import AccuracyMetric

    return AccuracyMetric()


def _rating(judge: None, settings: NoSettings) -> Metric:
    from tailor.metrics.lamp import RatingMetric

    return RatingMetric()


# The judges, then the judgeless metrics. Convention 2: the numbers changed when the metric
# was brought in line with its benchmark's evaluator.
register(MetricInfo("aspect", _aspect, "a judge grades each rubric aspect 0-2 against the narrative", "LaMP-QA",
                    judge=True, options=JudgeSettings, convention=2))
register(MetricInfo("direct", _direct, "a judge scores the whole response 0-1 from the narrative, the paper's aspect-free alternative", "LaMP-QA",
                    judge=True, options=DirectJudgeSettings))
register(MetricInfo("proxy", _proxy, "how well the response's sentences cover each rubric aspect, by embedding similarity: a cheap stand-in for the judge",
                    "LaMP-QA", options=ProxySettings))
register(MetricInfo("rouge-l", _rouge("rougeL"), "ROUGE-L F-measure against the reference output", "LaMP-5, LaMP-7, LongLaMP",
                    convention=2, tasks=("LaMP-5", "LaMP-7")))
register(MetricInfo("rouge-1", _rouge("rouge1"), "ROUGE-1 F-measure against the reference output", "LaMP-5, LaMP-7, LongLaMP", convention=2))
register(MetricInfo("similarity", _similarity, "a judge's most probable 1-10 rating of how close the response is to the reference", "REST-PG", judge=True))
register(MetricInfo("accuracy", _accuracy, "1 when the response is exactly the reference movie tag", "LaMP-2", convention=2, tasks=("LaMP-2",)))
register(MetricInfo("rating", _rating, "1 - |predicted - reference rating| / 4", "LaMP-3", convention=2, tasks=("LaMP-3",)))
register(MetricInfo("planted-strict", _planted_strict, "the share of needed planted facts stated, not by quoting a post, with no competing value; "
                    "less 0.25 per unneeded fact stated (data v2)", "the planted-preference task"))
register(MetricInfo("planted", _planted, "lenient: the share of needed planted facts the response names, rivals, negation and quotes unchecked",
                    "the planted-preference task"))
