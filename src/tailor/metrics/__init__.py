"""Every metric (the LaMP-QA judges, the proxy, ROUGE, LaMP's task metrics, the REST-PG
similarity judge) and the table that builds them by name (``METRICS``, one ``MetricInfo``
each). The evaluation harness (``tailor.eval``) and the training loops (``tailor.train``)
both stand on this floor."""

from tailor.metrics.base import Metric, MetricRun, Score
from tailor.metrics.registry import METRICS, MetricInfo, MetricName, check_judge, check_options, make_metric, metric_info, register, task_metric

__all__ = [
    "METRICS", "Metric", "MetricInfo", "MetricName", "MetricRun", "Score",
    "check_judge", "check_options", "make_metric", "metric_info", "register", "task_metric",
]
