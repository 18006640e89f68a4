"""Build a metric by name."""

from tailor.eval.aspect import AspectJudge, JudgeSettings
from tailor.eval.base import Metric
from tailor.eval.direct import DirectJudge
from tailor.llm.base import LLM

METRICS = ("aspect", "direct", "proxy")


def make_metric(name: str, judge_llm: LLM | None, **options) -> Metric:
    if name == "proxy":
        from tailor.eval.proxy import ProxyCoverage

        return ProxyCoverage(**options)
    if name not in ("aspect", "direct"):
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")
    if judge_llm is None:
        raise ValueError(f"the {name} metric needs a judge LLM (configure `judge`), or use the proxy metric")
    settings = JudgeSettings(**options)
    return AspectJudge(judge_llm, settings) if name == "aspect" else DirectJudge(judge_llm, settings)
