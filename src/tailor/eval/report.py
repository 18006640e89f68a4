"""The results table in the shape of LaMP-QA's Table 2 (methods × categories, macro
average, † for a significant paired t-test against a baseline), as Markdown, JSON and a
grouped bar chart; with the LaMP benchmark's own numbers for LaMP task datasets
(``tailor.eval.benchmark_table``) and each method's context length beside its quality
(``tailor.eval.context_report``).

The macro average is the mean of the per-category means, so a large category does not
outweigh a small one. Its † comes from the paired test over all examples. Tests pair the
same examples' scores and leave out examples the judge could not score for either method."""

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import mean

from tailor.eval.benchmark_table import BenchmarkTable, build_benchmark_tables, render_benchmark_markdown
from tailor.eval.context_report import ContextTable, build_context_tables, render_context_chart, render_context_markdown
from tailor.eval.results import EvalResult, MethodResult
from tailor.metrics.significance import paired_p_value
from tailor.io import atomic_write_bytes, atomic_write_text, json_text
from tailor.render import figure, markdown_table, number, png
from tailor.runs import RunFolder

ALPHA = 0.05
DAGGER = "†"
MACRO = "Average (macro)"
UNCATEGORIZED = "uncategorized"


def category_label(category: str) -> str:
    """``Art_and_Entertainment`` → ``Art & Entertainment``."""
    return category.replace("_and_", " & ").replace("_", " ")


@dataclass
class Cell:
    mean: float | None
    n: int  # examples with a score
    p_value: float | None = None  # paired t-test against ``against``; None when not tested
    against: str | None = None  # the baseline row it was tested against
    reference_mean: float | None = None
    needs_better: bool = True  # significant only when better (best-baseline), or whenever it differs (baseline)

    @property
    def significant(self) -> bool:
        if self.p_value is None or self.p_value >= ALPHA:
            return False
        return not self.needs_better or (self.mean is not None and self.reference_mean is not None and self.mean > self.reference_mean)

    def text(self) -> str:
        return number(self.mean) + (DAGGER if self.significant else "")

    def as_dict(self) -> dict:
        return {"mean": self.mean, "n": self.n, "p_value": self.p_value, "against": self.against, "significant": self.significant}


@dataclass
class Row:
    method: str
    cells: dict[str, Cell]  # category -> cell
    macro: Cell  # mean of the category means; p_value from all examples
    seconds_per_query: float
    failed_examples: int
    failed_judgments: int
    judgments: int
    graded_only: float | None = None  # judge metrics whose headline counts ungraded items 0: the mean over graded ones
    skipped_for_length: int = 0  # examples never answered: a prompt they needed did not fit the model's context


@dataclass
class Table:
    dataset: str
    split: str
    metric: str
    categories: list[str]
    rows: list[Row] = field(default_factory=list)
    baseline_present: bool = False

    def header(self) -> list[str]:
        return ["Method", *(category_label(c) for c in self.categories), MACRO, "Runtime / query (s)"]

    def body(self) -> list[list[str]]:
        return [[r.method, *(r.cells[c].text() for c in self.categories), r.macro.text(), f"{r.seconds_per_query:.3g}"] for r in self.rows]


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return mean(known) if known else None


def build_tables(result: EvalResult, p_values: dict[str, float | None] | None = None) -> list[Table]:
    """One table per (dataset, split), rows in the order the methods were configured. Each
    cell not of a baseline row is tested against its column's reference: the baseline
    with the best mean there (``best-baseline``), or the one baseline (``baseline``).
    ``p_values``: the tests' memo (``paired_p_value``)."""
    groups: dict[tuple[str, str], list[MethodResult]] = {}
    for run in result.runs:
        groups.setdefault((run.dataset, run.split), []).append(run)
    tables = []
    for (dataset, split), runs in groups.items():
        categories = sorted({c or UNCATEGORIZED for run in runs for c in run.categories.values()})
        columns = {c: [i for i, cat in runs[0].categories.items() if (cat or UNCATEGORIZED) == c] for c in categories}
        means = {run.method: {c: _mean([run.values.get(i) for i in ids]) for c, ids in columns.items()} for run in runs}
        for run in runs:
            means[run.method][MACRO] = _mean(list(means[run.method].values()))
        baselines = [r for r in runs if r.method in result.reference_rows]
        table = Table(dataset, split, runs[0].metric, categories, baseline_present=bool(baselines))
        for run in runs:
            tested = bool(baselines) and run not in baselines
            cells = {}
            for column, ids in [*columns.items(), (MACRO, list(run.categories))]:
                values = [run.values.get(i) for i in ids]
                cell = Cell(means[run.method][column], sum(v is not None for v in values))
                if tested:
                    reference = max(baselines, key=lambda b: -math.inf if means[b.method][column] is None else means[b.method][column])
                    cell.p_value = paired_p_value(run.values, reference.values, ids, p_values)
                    cell.against = reference.method
                    cell.needs_better = result.significance == "best-baseline"
                    cell.reference_mean = means[reference.method][column]
                cells[column] = cell
            macro = cells.pop(MACRO)
            table.rows.append(Row(
                run.method, cells, macro, run.seconds_per_query, run.failed_examples, run.failed_judgments, run.judgments, run.graded_only, run.skipped_for_length,
            ))
        tables.append(table)
    return tables


def metric_line(result: EvalResult) -> str:
    if result.proxy:
        return f"Metric: {result.metric} (proxy metric, not the benchmark's judge)"
    line = f"Metric: {result.metric}" + (f" (judge: {result.judge})" if result.judge else "")
    for what, text in (result.judging or {}).items():
        line += f"\n\nJudge {what}: {text}"
    return line


def render_markdown(result: EvalResult, tables: list[Table], benchmark: list[BenchmarkTable], contexts: list[ContextTable]) -> str:
    lines = ["# Evaluation report", "", metric_line(result), "", f"Generator: {result.generator}", ""]
    lines += render_benchmark_markdown(benchmark)
    for table in tables:
        lines += [f"## {table.dataset} / {table.split} ({table.metric})", ""]
        lines += markdown_table(table.header(), table.body())
        lines.append("")
        lines.append(significance_note(result, table))
        lines.append("Runtime / query: the time its answers took to generate, also when this run read them from the response cache.")
        if any(r.judgments or r.failed_examples for r in table.rows):  # a metric with no judge fails no judgment
            lines += ["", "Judge parse failures (unreadable after retries) and examples left unscored:", ""]
            lines += [f"- {r.method}: {r.failed_judgments} of {r.judgments} judgments failed; {r.failed_examples} examples unscored" + graded_note(r) for r in table.rows]
        if any(r.skipped_for_length for r in table.rows):
            lines += ["", "Examples skipped for length (a prompt they needed did not fit the model's context even without retrieved "
                      "items; no answer, no score, left out of the means and tests):", ""]
            lines += [f"- {r.method}: {r.skipped_for_length} skipped for length" for r in table.rows]
        lines.append("")
    lines += render_context_markdown(contexts)
    return "\n".join(lines)


def significance_note(result: EvalResult, table: Table) -> str:
    """What † means in this table."""
    if not table.baseline_present:
        return f"No significance tests: no baseline row ({', '.join(result.reference_rows)}) is among these methods."
    test = f"paired t-test on the same examples, p < {ALPHA}; the average column tests all examples together"
    if result.significance == "best-baseline":
        return (f"{DAGGER}: significantly better than the best baseline in that column, among {', '.join(result.reference_rows)} "
                f"({test}). Average (macro) is the mean of the category means.")
    return f"{DAGGER}: differs from {result.baseline} (two-sided {test}). Average (macro) is the mean of the category means."


def graded_note(row: Row) -> str:
    """For a judge whose headline counts an ungraded aspect 0: the mean over graded ones."""
    if row.graded_only is None or not row.failed_judgments:
        return ""
    return f" (the headline counts them 0, as the benchmark does; mean over graded aspects only: {number(row.graded_only)})"


def report_document(result: EvalResult, tables: list[Table], benchmark: list[BenchmarkTable], contexts: list[ContextTable]) -> dict:
    return {
        "metric": result.metric,
        "proxy": result.proxy,
        "judge": result.judge,
        "generator": result.generator,
        "judging": result.judging,
        "baseline": result.baseline,
        "baselines": result.reference_rows,
        "significance": result.significance,
        "alpha": ALPHA,
        "tables": [
            {
                "dataset": t.dataset,
                "split": t.split,
                "metric": t.metric,
                "categories": t.categories,
                "rows": [
                    {
                        "method": r.method,
                        "categories": {c: r.cells[c].as_dict() for c in t.categories},
                        "macro": r.macro.as_dict(),
                        "seconds_per_query": r.seconds_per_query,
                        "failed_examples": r.failed_examples,
                        "failed_judgments": r.failed_judgments,
                        "judgments": r.judgments,
                        "graded_only": r.graded_only,
                        "skipped_for_length": r.skipped_for_length,
                    }
                    for r in t.rows
                ],
            }
            for t in tables
        ],
        "benchmark": [b.as_dict() for b in benchmark],
        "context": [asdict(c) for c in contexts],
    }


def render_chart(result: EvalResult, tables: list[Table]) -> bytes:
    """A grouped bar chart per (dataset, split): categories and the macro average on the
    x axis, one bar per method. Drawn without pyplot, so no global backend is touched."""
    drawn, grid = figure(max(1, len(tables)), 1, 10, 4.2)
    axes = grid[:, 0]
    for ax, table in zip(axes, tables):
        groups = [category_label(c) for c in table.categories] + [MACRO]
        width = 0.8 / max(1, len(table.rows))
        for position, row in enumerate(table.rows):
            cells = [row.cells[c] for c in table.categories] + [row.macro]
            xs = [g + (position - (len(table.rows) - 1) / 2) * width for g in range(len(groups))]
            bars = ax.bar(xs, [c.mean or 0.0 for c in cells], width, label=row.method)
            ax.bar_label(bars, labels=[DAGGER if c.significant else "" for c in cells])
        ax.set_xticks(range(len(groups)), groups)
        ax.set_ylabel(table.metric + (" (proxy)" if table.metric == "proxy" else ""))
        ax.set_title(f"{table.dataset} / {table.split}")
        ax.legend(fontsize="small")
    return png(drawn)


@dataclass
class Report:
    tables: list[Table]
    benchmark: list[BenchmarkTable]
    contexts: list[ContextTable]
    markdown: Path
    json: Path
    chart: Path
    context_chart: Path | None  # only when some method carried personalization context


def write_report(result: EvalResult, out: str | Path | None = None) -> Report:
    """Write ``report.md``, ``report.json``, ``report.png`` and, when methods carried
    context, ``context.png`` under ``out`` (default: the run's folder)."""
    out = Path(out or result.out)
    folder = RunFolder(out)
    p_values = (folder.report() or {}).get("p_values") or {}
    used: dict[str, float | None] = {}
    tables = build_tables(result, _Memo(p_values, used))
    benchmark = build_benchmark_tables(result)
    quality = {(t.dataset, t.split, r.method): r.macro.mean for t in tables for r in t.rows}
    contexts = build_context_tables(result, quality)
    report = Report(tables, benchmark, contexts, folder.report_markdown, folder.report_json, folder.scores_plot, folder.context_plot if contexts else None)
    document = json_text(report_document(result, tables, benchmark, contexts) | {"p_values": used})
    # The charts draw the document's numbers: a rerun that changed none keeps them (drawing
    # took about 1 s of a finished rerun's 2), and rewrites no file.
    charts_current = _holds(report.json, document) and all(c.is_file() for c in (report.chart, report.context_chart) if c)
    markdown = render_markdown(result, tables, benchmark, contexts)
    if not _holds(report.markdown, markdown):
        atomic_write_text(report.markdown, markdown)
    if not charts_current:
        atomic_write_bytes(report.chart, render_chart(result, tables))
        if report.context_chart:
            atomic_write_bytes(report.context_chart, render_context_chart(contexts))
        atomic_write_text(report.json, document)  # last: it is what says the charts are current
    return report


class _Memo(dict):
    """The previous report's p-values to read from; what this report used is recorded in
    ``used`` (so the memo holds only tests of the current scores)."""

    def __init__(self, previous: dict, used: dict):
        super().__init__(previous)
        self.used = used

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.used[key] = value

    def __getitem__(self, key):
        value = super().__getitem__(key)
        self.used[key] = value
        return value


def _holds(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except OSError:
        return False
