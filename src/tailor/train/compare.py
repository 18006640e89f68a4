"""Training runs side by side (``tailor train compare``): for each run and its variants,
the held-out test (the untrained policy against the kept one, ``Run.test``) as one table,
and their validation curves with the test's start and end as one figure. This is how the
README's planted-preference table and its learning curves are made."""

from dataclasses import dataclass
from pathlib import Path

from tailor.data import load_examples
from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.prompts.quotes import quotes
from tailor.render import figure, markdown_table, number, png
from tailor.runs import RunFolder
from tailor.train.report import LoopSummary
from tailor.train.rows import read_jsonl

SIGNIFICANCE = 0.05


@dataclass
class ComparedRun:
    kind: str
    summary: LoopSummary
    quoting: list[int] | None = None  # test answers quoting the user's history back: untrained, kept

    def learned(self) -> str:
        """yes: the kept policy beats the untrained one on the test split with p < 0.05."""
        test = self.summary.test
        if not test:
            return "– (no held-out test in its history)"
        p = test.p_value
        if test.end > test.start and p is not None and p < SIGNIFICANCE:
            return "yes"
        return "rises, not significant" if test.end > test.start else "no"


def p_value(p: float | None) -> str:
    return "–" if p is None else f"{p:.2g}"


def quotes_history(example: Example, response: str) -> bool:
    """Whether the response recites one of the user's items (eight words in a row, or all
    of a shorter item): a fact can be met by quoting the post that states it."""
    return any(quotes(response, item.text) for item in example.profile)


def history_quoting(summary: LoopSummary) -> list[int] | None:
    """How many of the untrained and of the kept policy's test answers quote the user's
    history back; None when the run has no test or its data is not at hand."""
    test, data = summary.test, summary.config.get("data")
    if not test or not data or not Path(data).exists():
        return None
    examples = {e.id: e for e in load_examples(data, split=test.split)}
    folder = RunFolder(summary.run_dir)
    counts = []
    for iteration in (None, test.end_iteration):
        path = folder.test_answers(iteration)
        rows = read_jsonl(path if path.exists() else folder.test_answers(None))  # the untrained policy was kept
        counts.append(sum(quotes_history(examples[row["id"]], row["response"]) for row in rows if row["id"] in examples))
    return counts


def read_runs(run_dirs: list[Path]) -> list[ComparedRun]:
    """Each run folder and the variants it ran, labelled by folder; an error naming the
    folder that holds no training run."""
    runs = []
    for run_dir in run_dirs:
        folder = RunFolder(run_dir)
        kind = folder.kind()
        if kind is None or not folder.history_file.exists():
            raise TailorError(f"{run_dir} holds no training run (no history.json); train it first")
        summaries = [LoopSummary.read(str(run_dir), folder.path)] + [LoopSummary.read(str(v.path), v.path) for _, v in folder.variants()]
        runs += [ComparedRun(kind, summary, history_quoting(summary)) for summary in summaries]
    return runs


def comparison_table(runs: list[ComparedRun]) -> str:
    """The Markdown table: per run, the test split, the untrained and kept policies' mean
    scores, the paired t-test's p-value, their unparsed answers and answers quoting the
    user's history back, the run's minutes, and whether it learned."""
    rows = []
    for r in runs:
        test = r.summary.test
        unparsed = " / ".join(map(str, test.unparsed if test.unparsed is not None else ["–", "–"])) if test else "–"
        rows.append([
            f"{r.kind} (`{r.summary.label}`)", f"{test.split} ({test.examples})" if test else "–", number(test.start if test else None),
            f"π_{test.end_iteration}: {number(test.end)}" if test else "–", p_value(test.p_value if test else None),
            unparsed, " / ".join(map(str, r.quoting)) if r.quoting else "–", f"{r.summary.minutes():.1f}", r.learned(),
        ])
    header = ["Run", "Test split (examples)", "Untrained", "Kept policy", "p-value", "Unparsed", "Quoting the history", "Minutes", "Learned (p < 0.05)"]
    return "\n".join(markdown_table(header, rows, text_columns=2)) + "\n"


def render_comparison(runs: list[ComparedRun], metric: str) -> bytes:
    """Left: each run's validation score per iteration. Right: each run's test score,
    untrained against kept."""
    drawn, grid = figure(1, 2, 5.5, 4)
    curves, tests = grid[0]
    for r in runs:
        points = [(t, v) for t, v in enumerate(r.summary.validation) if v is not None]
        (line,) = curves.plot([t for t, _ in points], [v for _, v in points], marker="o", label=r.summary.label)
        if r.summary.test:
            test = r.summary.test
            tests.plot([0, 1], [test.start, test.end], marker="o", color=line.get_color(), label=f"{r.summary.label} (p = {p_value(test.p_value)})")
    curves.set(title="Validation score per iteration", xlabel="iteration t (policy π_t)", ylabel=metric)
    curves.xaxis.get_major_locator().set_params(integer=True)
    tests.set(title="Held-out test: untrained → kept policy", xticks=[0, 1], xticklabels=["untrained", "kept"], ylabel=metric, xlim=(-0.3, 1.3))
    for ax in (curves, tests):
        ax.legend(fontsize="small")
    return png(drawn)


def metric_of(runs: list[ComparedRun]) -> str:
    """The metric every run was validated with; an error when they differ (their scores do not compare)."""
    names = {r.summary.metric.name for r in runs}
    if len(names) > 1:
        raise TailorError(f"these runs were scored with different metrics ({', '.join(sorted(names))}); compare runs of one metric")
    return names.pop()
