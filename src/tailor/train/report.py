"""The report of a training run and its variants, read from the run folder: what every
run has, and the sections its trainer declares (``LoopTrainer.report_sections``, found by
the run's kind; ``train/views.py``):

- validation score per iteration for the run and each variant, e.g. trained against
  frozen feedback (VAC's Figure 5), as a table and the left panel of ``curves.png``;
- the held-out test, where the run has one;
- per category (LongLaMP: per task), the validation score of each run's kept policy;
- the declared sections (VAC: the loop's own signal on the training split, beside the
  curves, and ``case_studies.md``; ReST-EM / REST-PG: the E-step, and ``budget.png``);
- the training cost: wall time, backend calls and tokens per stage.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import TYPE_CHECKING

from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from tailor.render import figure, markdown_table, number, png
from tailor.run_history import HeldOutTest, MetricIdentity, StageCost
from tailor.runs import VALIDATION, RunFolder
from tailor.train.rows import read_jsonl
from tailor.train.trainers import trainer_of
from tailor.train.views import ReportInputs, ReportSection, mean_of_known

if TYPE_CHECKING:
    from tailor.train.loop import LoopTrainer

# report.json's shape, the same for every trainer: each run's entry holds these lists and the
# document these keys, empty unless the run's trainer declares a section that fills them.
RUN_LISTS = ("signal", "self_training")
TOP_KEYS = {"budget": {}, "case_iteration": 0, "cases": []}


@dataclass
class LoopSummary:
    """What one run left in its folder: its history's summary, and what each declared
    section read of it (``sections``, by ``run_key``)."""

    label: str
    run_dir: Path
    config: dict
    validation: list[float | None]  # index t: pi_t's validation score
    best_iteration: int | None
    best_adapter: str | None
    stages: dict[str, StageCost]
    metric: MetricIdentity
    test: HeldOutTest | None = None  # the untrained policy against the kept one on the held-out split (``Run.test``)
    sections: dict[str, list[dict]] = field(default_factory=dict)
    oracle: dict[str, str] = field(default_factory=dict)  # the settings an oracle filled, each with what it wrote (``History.oracle``)

    @classmethod
    def read(cls, label: str, run_dir: Path, sections: Sequence[ReportSection] = ()) -> "LoopSummary":
        folder = RunFolder(run_dir)
        history = folder.history()
        if history is None:
            raise TailorError(f"{run_dir} holds no training run (no history.json); train it first")
        summary = history.summary()
        run = cls(label, run_dir, folder.config(), summary.validation, summary.best_iteration, summary.kept.get("policy"), history.stages, summary.metric, summary.test)
        run.sections = {section.run_key: section.read(run) for section in sections if section.run_key}
        run.oracle = history.oracle or {}
        return run

    def minutes(self) -> float:
        """The run's recorded stage time (training, generation, scoring), in minutes."""
        return sum(stage.seconds for stage in self.stages.values()) / 60

    def category_scores(self, examples: dict[str, Example], t: int) -> dict[str, float]:
        """pi_t's mean validation score per category of its examples."""
        path = RunFolder(self.run_dir).iteration(t).of(VALIDATION)
        by_category: dict[str, list[float]] = {}
        for row in read_jsonl(path) if path.exists() else []:
            if row["score"] is not None and row["id"] in examples:
                by_category.setdefault(examples[row["id"]].category or "all", []).append(row["score"])
        return {c: mean(v) for c, v in sorted(by_category.items())}


def _cost_rows(run: LoopSummary) -> list[list[str]]:
    rows, totals = [], [0.0, 0, 0, 0, 0]
    for name, stage in run.stages.items():
        calls, tokens, unparsed = sum(stage.calls.values()), sum(stage.tokens.values()), stage.unparsed
        too_long = stage.skipped_for_length
        held = f"{stage.eval_rows} (best loss {number(stage.best_eval_loss)})" if stage.eval_rows else ""
        rows.append([f"{run.label}: {name}", f"{stage.seconds:.1f}", str(calls), str(tokens), str(unparsed), str(too_long), held])
        totals = [totals[0] + stage.seconds, totals[1] + calls, totals[2] + tokens, totals[3] + unparsed, totals[4] + too_long]
    rows.append([f"**{run.label}: total**", f"**{totals[0]:.1f}**", *(f"**{total}**" for total in totals[1:]), ""])
    return rows


def render_markdown(runs: list[LoopSummary], metric: str, examples: dict[str, Example], sections: Sequence[ReportSection], built: dict, folder: RunFolder) -> str:
    main = runs[0]
    iterations = max(len(r.validation) for r in runs)
    lines = [f"# Training report: {main.run_dir}", ""]
    for r in runs:
        lines += [f"**Oracle** ({r.label}): {name}, {wrote}." for name, wrote in r.oracle.items()] + ([""] if r.oracle else [])
    if iterations:
        lines += [f"Metric: {metric}", "", "## Validation score per iteration", ""]
        lines += markdown_table(
            ["Iteration", *(r.label for r in runs)],
            [[f"{t} (π_{t})", *(number(r.validation[t] if t < len(r.validation) else None) for r in runs)] for t in range(iterations)],
        )
    else:  # a loop that validates by held-out loss alone (the planner)
        lines += ["## Validation", "", "By held-out loss alone: no metric scores this run; its held-out rows and best loss are under Training cost."]
    lines.append("")
    for r in runs:
        if r.best_iteration is not None:
            lines.append(f"- {r.label}: best iteration {r.best_iteration}, policy adapter {r.best_adapter or '(none: the untrained policy)'}")
        elif r.best_adapter and not r.validation:
            lines.append(f"- {r.label}: adapter {r.best_adapter}, the checkpoint with the lowest held-out loss")
    tested = [r for r in runs if r.test]
    if tested:
        lines += ["", "## Held-out test: the untrained policy against the kept one", ""]
        lines += ["Both answer the test split as at inference; the p-value is a two-sided paired t-test over its examples. "
                  "Unparsed: answers whose reply did not parse (kept verbatim, or the method's fallback), untrained / kept.", ""]
        lines += markdown_table(
            ["Run", "Split (examples)", "Untrained", "Kept policy", "p-value", "Unparsed", "Minutes"],
            [[r.label, f"{r.test.split} ({r.test.examples})", number(r.test.start), f"π_{r.test.end_iteration}: {number(r.test.end)}",
              number(r.test.p_value), " / ".join(map(str, r.test.unparsed if r.test.unparsed is not None else ["–", "–"])), f"{r.minutes():.1f}"]
             for r in tested],
        )
    per_category = {r.label: r.category_scores(examples, r.best_iteration) for r in runs if r.best_iteration is not None}
    categories = sorted({c for scores in per_category.values() for c in scores})
    if len(categories) > 1:
        lines += ["", "## Validation score of each run's kept policy, per category", ""]
        lines += markdown_table(
            ["Run", *categories, "Average (macro)"],
            [[label, *(number(s.get(c)) for c in categories), number(mean_of_known([s.get(c) for c in categories]))] for label, s in per_category.items()],
        )
    for section in sections:
        lines += section.markdown(runs, built)
    lines += ["", "## Training cost", ""]
    lines += ["Wall time, backend calls and tokens (prompt + completion) per stage; the rows whose model output did not parse "
              "after every retry (left out of every training set and selection); the requests never sent because they did not fit "
              "their model's context even without retrieved items (their rows are among the unparsed); and for a fine-tuning stage "
              "the rows it held out, whose lowest loss picked the checkpoint kept. A stage read back from disk costs nothing again.", ""]
    header = ["Stage", "Seconds", "Backend calls", "Tokens", "Unparsed (left out)", "Too long (not sent)", "Held-out rows"]
    lines += markdown_table(header, [row for r in runs for row in _cost_rows(r)])
    for section in sections:
        lines += section.footer(folder, built)
    return "\n".join(lines) + "\n"


def render_curves(runs: list[LoopSummary], metric: str, sections: Sequence[ReportSection]) -> bytes:
    """Validation per iteration, one line per run (VAC's Figure 5); beside it, a panel for
    each declared section that draws one (VAC: initial answers against revisions)."""
    beside = [section for section in sections if section.draws(runs)]
    drawn, grid = figure(1, 1 + len(beside), 5.5, 4)
    axes = grid[0]
    colors = {}
    for r in runs:
        points = [(t, v) for t, v in enumerate(r.validation) if v is not None]
        (line,) = axes[0].plot([t for t, _ in points], [v for _, v in points], marker="o", label=r.label)
        colors[r.label] = line.get_color()
    axes[0].set(title="Validation score per iteration", xlabel="iteration t (policy π_t)", ylabel=metric)
    for ax, section in zip(axes[1:], beside):
        section.draw(ax, runs, colors, metric)
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize="small")
    return png(drawn)


@dataclass
class RunReport:
    markdown: Path
    json: Path
    curves: Path | None  # None: no run of it was validated per iteration (the planner)
    budget: Path | None
    cases: Path | None


def write_run_report(
    run_dir: str | Path, train_examples: Sequence[Example] = (), valid_examples: Sequence[Example] = (), cases: int = 3, case_ids: list[str] | None = None,
    trainer: "type[LoopTrainer] | None" = None,
) -> RunReport:
    """Write ``report.md``, ``report.json`` and, where they apply, ``curves.png`` and the
    files of the sections ``trainer`` (default: the one of the run's kind) declares
    (``budget.png``, ``case_studies.md``) in ``run_dir``; the run's variants join under
    their names once they have run."""
    folder = RunFolder(run_dir)
    run_dir = folder.path
    trainer = trainer or trainer_of(folder.kind())
    sections = trainer.report_sections
    main = LoopSummary.read("main", run_dir, sections)
    main.label = trainer.report_label(main.config)
    runs = [main] + [LoopSummary.read(name, variant.path, sections) for name, variant in folder.variants()]
    identity = main.metric
    metric = identity.name + (" (proxy metric, not the benchmark's judge)" if identity.proxy else "")
    inputs = ReportInputs({e.id: e for e in train_examples}, {e.id: e for e in valid_examples}, identity.name, cases, case_ids)
    built = {key: value for section in sections for key, value in section.build(runs, inputs).items()}
    atomic_write_text(folder.report_markdown, render_markdown(runs, metric, inputs.valid, sections, built, folder))
    atomic_write_json(folder.report_json, {"metric": identity.document(), "runs": [_as_dict(r, inputs.valid) for r in runs], **TOP_KEYS, **built})
    curves = folder.curves_plot if any(r.validation for r in runs) else None  # none for a run validated by held-out loss alone
    if curves:
        atomic_write_bytes(curves, render_curves(runs, identity.name, sections))
    written = [path for section in sections for path in section.write(folder, built, inputs)]
    return RunReport(
        folder.report_markdown, folder.report_json, curves,
        folder.budget_plot if folder.budget_plot in written else None, folder.case_studies if folder.case_studies in written else None,
    )


def _as_dict(run: LoopSummary, examples: dict[str, Example]) -> dict:
    return {
        "label": run.label, "run_dir": str(run.run_dir), "validation": run.validation, "best_iteration": run.best_iteration,
        "best_adapter": run.best_adapter, "best_by_category": run.category_scores(examples, run.best_iteration) if run.best_iteration is not None else {},
        **{key: [] for key in RUN_LISTS}, **run.sections, "stages": {name: stage.document() for name, stage in run.stages.items()},
    }
