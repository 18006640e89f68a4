"""``tailor eval``: answer each dataset split with each configured method, score every
response set with its dataset's metric, and keep it all on disk so that a rerun resumes.

Under ``out/<dataset>/<split>/<method>/`` (``tailor.runs.UnitFolder``): ``responses.json``
(the benchmark's format), ``traces.jsonl``, ``meta.json`` (answer fingerprint and timing)
and ``scores.json``. A dataset that names its LaMP ``task`` is scored with that task's
metric, and its results also carry the numbers the LaMP benchmark reports (accuracy and
macro-F1, MAE and RMSE, or ROUGE-1 and ROUGE-L). All units are answered before any is
judged, so the generator can be let go before a large judge is loaded on the same
accelerator."""

from pathlib import Path

from tailor import logs, progress
from tailor.errors import TailorError
from tailor.eval.config import EvalConfig
from tailor.eval.results import EvalResult, describe
from tailor.eval.units import EvalModels, Unit, plan
from tailor.llm import LLM, LOCAL_BACKENDS
from tailor.methods.registry import method_info
from tailor.metrics import Metric, metric_info
from tailor.pool import ModelPool
from tailor.runs import EVAL_KIND, RunFolder


def run_eval(config: EvalConfig, generator: LLM | None = None, judge: LLM | None = None, metric: Metric | None = None, pool: ModelPool | None = None) -> EvalResult:
    """Answer, then score, every (dataset, split, method). Models are built only when some
    unit needs them, in ``pool`` (default: a new one); pass ``generator`` / ``judge`` /
    ``metric`` to supply your own."""
    pool = pool or ModelPool(config.generator)
    if generator is not None:
        pool.provide(config.generator, generator)
    if metric is not None:
        pool.provide_metric(metric)
    models = EvalModels(config, pool, judge)
    units = plan(config)
    folder = RunFolder(config.out)
    with folder.attempt(EVAL_KIND), logs.into(folder.path):
        answered = [unit.answered() for unit in units]
        pending = [unit for unit, done in zip(units, answered) if not done]
        check_adapters(pending)
        for unit in progress.track(pending, f"answering ({len(pending)} of {len(units)} method × split runs)", total=len(pending)):
            unit.answer(models)
        if pending:
            models.release_generators()
        metrics = list(dict.fromkeys(unit.metric for unit in units))
        scored = [unit.scored() for unit in units]
        unscored = [unit for unit, done in zip(units, scored) if not done]
        for unit in progress.track(unscored, f"scoring with {', '.join(metrics)} ({len(unscored)} of {len(units)} runs)", total=len(unscored)):
            unit.score(models)
        results = [unit.result(was_answered and was_scored) for unit, was_answered, was_scored in zip(units, answered, scored)]
    return EvalResult(
        out=config.out,
        metric=", ".join(dict.fromkeys(r.metric for r in results)),
        proxy=any(r.proxy for r in results),
        baseline=config.baseline,
        baselines=config.baseline_rows if config.significance == "best-baseline" else [config.baseline],
        significance=config.significance,
        generator=describe(config.generator),
        judge=describe(config.judge) if any(metric_info(m).judge for m in metrics) else None,
        runs=results,
        judging=judging(config, metrics),
        generator_calls=models.generator_calls,
        judge_calls=models.judge_calls,
    )


def judging(config: EvalConfig, metrics: list[str]) -> dict | None:
    """How the grading judges (those that take ``JudgeSettings``: aspect, direct) sampled
    and retried, and which template the aspect judge read, for the report; None when no
    such judge ran."""
    from tailor.metrics.aspect import JudgeSettings

    graded = [m for m in metrics if issubclass(metric_info(m).options, JudgeSettings)]
    if not graded:
        return None
    settings = JudgeSettings(**(config.metric_options if config.metric in graded else {}))
    return {"schedule": settings.describe(), **({"template": settings.prompt.describe()} if "aspect" in graded else {})}


def check_adapters(pending: list[Unit]) -> None:
    """Fail before any model time is spent when a trained adapter a local backend must
    load from a path is missing."""
    for unit in pending:
        method = unit.method
        info = method_info(method.method)
        for role, adapter in method.adapters.items():
            backend = (method.helpers.get(role) or method.generator).backend
            if adapter and backend in LOCAL_BACKENDS and not Path(adapter).exists():
                trainer = info.trainer if role == info.adapter and info.trainer else "…"
                raise TailorError(
                    f"method {unit.spec.key!r}: adapter {adapter} does not exist; train it first "
                    f"(`tailor train {trainer}`) or leave the method out with --methods"
                )
