"""Every metric (the LaMP-QA judges, the proxy, ROUGE, LaMP's task metrics, the REST-PG
similarity judge) and the registry that builds them by name. The evaluation harness
(``tailor.eval``) and the training loops (``tailor.train``) both stand on this floor."""

from tailor.metrics.base import Metric, MetricRun, Score
from tailor.metrics.registry import JUDGELESS, METRICS, check_judge, check_options, make_metric
from tailor.names import MetricName

__all__ = ["JUDGELESS", "METRICS", "Metric", "MetricName", "MetricRun", "Score", "check_judge", "check_options", "make_metric"]
