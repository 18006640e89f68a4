"""The benchmarks' own numbers (LaMP's, LongLaMP's), in the shapes of RPO's tables: Table 2 (methods ×
task, setting and reported metric) and, when the rows use different generators, Table 6
(task and metric × generator: a trained reflection model or summary kept fixed while the
base model changes). Built from the runs of datasets that name a LaMP ``task``."""

from dataclasses import dataclass, field

from tailor.metrics.lamp import REPORTED
from tailor.eval.results import EvalResult
from tailor.render import markdown_table

LABELS = {
    "accuracy": "Acc.", "macro_f1": "F1", "mae": "MAE", "rmse": "RMSE", "rouge-1": "R-1", "rouge-l": "R-L",
    "parsed": "parsed (share)", "mae_lenient": "MAE, lenient reader (extra)",
    "bleu": "BLEU", "rouge-2": "R-2", "rouge-lsum": "R-Lsum", "meteor": "METEOR", "pairs": "pairs scored", "skipped": "empty pairs skipped",
}


def metric_label(metric: str) -> str:
    return f"{LABELS[metric]} {'↑' if REPORTED[metric] else '↓'}"


@dataclass
class BenchmarkTable:
    """One evaluation split: ``values[method][(dataset, metric)]``, columns in config order."""

    split: str
    families: set[str] = field(default_factory=set)  # LaMP, LongLaMP
    columns: list[tuple[str, str]] = field(default_factory=list)  # (dataset, reported metric)
    values: dict[str, dict[tuple[str, str], float]] = field(default_factory=dict)
    generators: dict[str, str | None] = field(default_factory=dict)  # method -> its generator

    @property
    def swaps_generator(self) -> bool:
        return len(set(self.generators.values())) > 1

    def cell(self, method: str, column: tuple[str, str]) -> str:
        value = self.values[method].get(column)
        return "–" if value is None else f"{value:.3f}"

    def title(self) -> str:
        return f"{' and '.join(sorted(self.families))} benchmark / {self.split}"

    def header(self) -> list[str]:
        """Table 2's shape: a row per method; a column per dataset and reported metric."""
        return ["Method", *(["Generator"] if self.swaps_generator else []), *(f"{d} {metric_label(m)}" for d, m in self.columns)]

    def body(self) -> list[list[str]]:
        return [[method, *([self.generators[method] or ""] if self.swaps_generator else []), *(self.cell(method, c) for c in self.columns)] for method in self.values]

    def by_generator_header(self) -> list[str]:
        """Table 6's shape: a row per dataset and metric; a column per method and its generator."""
        return ["Dataset", "Metric", *(f"{m} ({self.generators[m]})" for m in self.values)]

    def by_generator_body(self) -> list[list[str]]:
        return [[d, metric_label(m), *(self.cell(method, (d, m)) for method in self.values)] for d, m in self.columns]

    def as_dict(self) -> dict:
        return {
            "split": self.split,
            "columns": [{"dataset": d, "metric": m, "higher_is_better": REPORTED[m]} for d, m in self.columns],
            "rows": [{"method": m, "generator": self.generators[m], "values": {f"{d}/{k}": v for (d, k), v in row.items()}} for m, row in self.values.items()],
        }


def build_benchmark_tables(result: EvalResult) -> list[BenchmarkTable]:
    """One table per evaluation split that has runs on LaMP task datasets."""
    tables: dict[str, BenchmarkTable] = {}
    for run in result.runs:
        if run.task_scores is None:
            continue
        table = tables.setdefault(run.split, BenchmarkTable(run.split))
        table.families.add("LongLaMP" if run.task == "LongLaMP" else "LaMP")
        for metric, value in run.task_scores.items():
            column = (run.dataset, metric)
            if column not in table.columns:
                table.columns.append(column)
            table.values.setdefault(run.method, {})[column] = value
        table.generators[run.method] = run.generator
    return list(tables.values())


def render_benchmark_markdown(tables: list[BenchmarkTable]) -> list[str]:
    lines = []
    for table in tables:
        lines += [f"## {table.title()}", "", "The numbers the benchmark reports, over each whole response set (↑: higher is better).", ""]
        if any(m == "meteor" and row.get((d, m)) is None for d, m in table.columns for row in table.values.values()):
            lines += ["METEOR is not available (–): no WordNet is installed (`make install-wordnet`).", ""]
        lines += markdown_table(table.header(), table.body(), 2 if table.swaps_generator else 1) + [""]
        if table.swaps_generator:
            lines += [f"### By generator / {table.split}", "", "The same numbers with a column per method and the base model it ran on.", ""]
            lines += markdown_table(table.by_generator_header(), table.by_generator_body(), 2) + [""]
    return lines
