"""The report of a training run (VAC, ReST-EM, REST-PG) and its variants, read from the
run folder, with what each loop left:

- validation score per iteration for the run and each variant, e.g. trained against
  frozen feedback (VAC's Figure 5), as a table and the left panel of ``curves.png``;
- per category (LongLaMP: per task), the validation score of each run's kept policy;
- VAC: the loop's own signal on the training split (initial answers against the
  revisions the policy learned, and the best of N), the right panel of ``curves.png``,
  and case studies in ``case_studies.md``: question, initial answer, feedback, revision
  (Figure 8, top row; the narrative is shown there, it is a report, not a prompt);
- ReST-EM / REST-PG: what the E-step kept per iteration, and ``budget.png`` (validation
  per task against the exploration budget m, REST-PG's Figure 2) when variants vary m;
- the training cost: wall time, backend calls and tokens per stage.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from tailor.render import figure, markdown_table, number, png
from tailor.runs import RunFolder
from tailor.train.rows import read_jsonl


@dataclass
class IterationSignal:
    iteration: int
    initial: float | None  # mean score of pi_{t-1}'s answers on the training split
    revised: float | None  # mean score of the revisions pi_t was trained on
    best_of_n: float | None  # mean score of the best of the N sampled revisions (trained feedback only)


@dataclass
class SelfTraining:
    """ReST-EM's E-step in iteration t: rewards of all samples and of those kept."""

    iteration: int
    samples: int
    kept: int
    inputs_kept: int  # inputs with at least one kept sample
    mean_reward: float | None
    mean_kept_reward: float | None


@dataclass
class LoopSummary:
    """What one run left in its folder."""

    label: str
    run_dir: Path
    config: dict
    validation: list[float | None]  # index t: pi_t's validation score
    best_iteration: int | None
    best_adapter: str | None
    signal: list[IterationSignal]
    self_training: list[SelfTraining]
    stages: dict[str, dict]
    test: dict | None = None  # the untrained policy against the kept one on the held-out split (``Run.test``)

    @classmethod
    def read(cls, label: str, run_dir: Path) -> "LoopSummary":
        folder = RunFolder(run_dir)
        history = folder.history()
        if history is None:
            raise TailorError(f"{run_dir} holds no training run (no history.json); train it first")
        config = folder.config()
        scores = {int(t): v["score"] for t, v in history["validation"].items()}
        validation = [scores.get(t) for t in range(max(scores) + 1)] if scores else []
        rounds = range(1, len(validation))
        signal = [s for s in (_signal(folder.iteration(t), t) for t in rounds) if s]
        self_training = [s for s in (_self_training(folder.iteration(t), t) for t in rounds) if s]
        return cls(label, run_dir, config, validation, history.get("best_iteration"), history.get("best_adapter"), signal, self_training, history["stages"],
                   history.get("test"))

    def minutes(self) -> float:
        """The run's recorded stage time (training, generation, scoring), in minutes."""
        return sum(stage["seconds"] for stage in self.stages.values()) / 60

    def category_scores(self, examples: dict[str, Example], t: int) -> dict[str, float]:
        """pi_t's mean validation score per category of its examples."""
        path = RunFolder(self.run_dir).iteration(t) / "validation.jsonl"
        by_category: dict[str, list[float]] = {}
        for row in read_jsonl(path) if path.exists() else []:
            if row["score"] is not None and row["id"] in examples:
                by_category.setdefault(examples[row["id"]].category or "all", []).append(row["score"])
        return {c: mean(v) for c, v in sorted(by_category.items())}


def _mean(values: list) -> float | None:
    known = [v for v in values if v is not None]
    return mean(known) if known else None


def _signal(folder: Path, t: int) -> IterationSignal | None:
    path = folder / "train_scores.jsonl"
    if not path.exists():
        return None
    rows = read_jsonl(path)
    chosen = folder / "chosen_feedback.jsonl"
    best = _mean([row["score"] for row in read_jsonl(chosen)]) if chosen.exists() else None
    return IterationSignal(t, _mean([r["initial"] for r in rows]), _mean([r["revised"] for r in rows]), best)


def _self_training(folder: Path, t: int) -> SelfTraining | None:
    if not (folder / "samples.jsonl").exists() or not (folder / "kept.jsonl").exists():
        return None
    sampled, kept = read_jsonl(folder / "samples.jsonl"), read_jsonl(folder / "kept.jsonl")
    return SelfTraining(
        t, len(sampled), len(kept), len({r["id"] for r in kept}), _mean([r["score"] for r in sampled]), _mean([r["score"] for r in kept])
    )


def _cost_rows(run: LoopSummary) -> list[list[str]]:
    rows, totals = [], [0.0, 0, 0, 0, 0]
    for name, stage in run.stages.items():
        calls, tokens, unparsed = sum(stage["calls"].values()), sum(stage["tokens"].values()), stage.get("unparsed", 0)
        too_long = stage.get("skipped_for_length", 0)
        held = f"{stage['eval_rows']} (best loss {number(stage.get('best_eval_loss'))})" if stage.get("eval_rows") else ""
        rows.append([f"{run.label}: {name}", f"{stage['seconds']:.1f}", str(calls), str(tokens), str(unparsed), str(too_long), held])
        totals = [totals[0] + stage["seconds"], totals[1] + calls, totals[2] + tokens, totals[3] + unparsed, totals[4] + too_long]
    rows.append([f"**{run.label}: total**", f"**{totals[0]:.1f}**", *(f"**{total}**" for total in totals[1:]), ""])
    return rows


def _budget(runs: list[LoopSummary], examples: dict[str, Example]) -> dict[int, dict[str, float]]:
    """pi_1's validation per category for each exploration budget m, when the runs differ in m."""
    budgets = {r.config.get("samples"): r for r in runs if r.config.get("samples") and len(r.validation) > 1}
    if len(budgets) < 2:
        return {}
    return {m: r.category_scores(examples, 1) for m, r in sorted(budgets.items())}


def render_markdown(runs: list[LoopSummary], metric: str, examples: dict[str, Example], case_file: str | None, budget: dict) -> str:
    main = runs[0]
    iterations = max(len(r.validation) for r in runs)
    lines = [f"# Training report: {main.run_dir}", ""]
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
            [[r.label, f"{r.test['split']} ({r.test['examples']})", number(r.test["start"]), f"π_{r.test['end_iteration']}: {number(r.test['end'])}",
              number(r.test["p_value"]), " / ".join(map(str, r.test.get("unparsed", ["–", "–"]))), f"{r.minutes():.1f}"] for r in tested],
        )
    per_category = {r.label: r.category_scores(examples, r.best_iteration) for r in runs if r.best_iteration is not None}
    categories = sorted({c for scores in per_category.values() for c in scores})
    if len(categories) > 1:
        lines += ["", "## Validation score of each run's kept policy, per category", ""]
        lines += markdown_table(
            ["Run", *categories, "Average (macro)"],
            [[label, *(number(s.get(c)) for c in categories), number(_mean([s.get(c) for c in categories]))] for label, s in per_category.items()],
        )
    if any(r.signal for r in runs):
        lines += ["", "## The loop's own signal on the training split", ""]
        lines += [
            "Mean score of π_{t-1}'s initial answers, of the revisions π_t was trained on, and (trained feedback only) "
            "of the best of the N sampled revisions, whose feedback trained φ_t.",
            "",
        ]
        lines += markdown_table(
            ["Iteration", "Run", "Initial answers", "Revisions (policy targets)", "Best of N"],
            [[str(s.iteration), r.label, number(s.initial), number(s.revised), number(s.best_of_n)] for r in runs for s in r.signal],
        )
    if any(r.self_training for r in runs):
        lines += ["", "## Self-training (E-step)", "", "Samples drawn, those kept as targets, and their mean reward.", ""]
        lines += markdown_table(
            ["Iteration", "Run", "Samples", "Kept", "Inputs with a kept sample", "Mean reward", "Mean kept reward"],
            [
                [str(s.iteration), r.label, str(s.samples), str(s.kept), str(s.inputs_kept), number(s.mean_reward), number(s.mean_kept_reward)]
                for r in runs for s in r.self_training
            ],
        )
    if budget:
        names = sorted({c for scores in budget.values() for c in scores})
        lines += ["", "## Exploration budget (validation of π_1 per task against m)", ""]
        lines += markdown_table(["m", *names, "Average (macro)"], [[str(m), *(number(s.get(c)) for c in names), number(_mean(list(s.values())))] for m, s in budget.items()])
    lines += ["", "## Training cost", ""]
    lines += ["Wall time, backend calls and tokens (prompt + completion) per stage; the rows whose model output did not parse "
              "after every retry (left out of every training set and selection); the requests never sent because they did not fit "
              "their model's context even without retrieved items (their rows are among the unparsed); and for a fine-tuning stage "
              "the rows it held out, whose lowest loss picked the checkpoint kept. A stage read back from disk costs nothing again.", ""]
    header = ["Stage", "Seconds", "Backend calls", "Tokens", "Unparsed (left out)", "Too long (not sent)", "Held-out rows"]
    lines += markdown_table(header, [row for r in runs for row in _cost_rows(r)])
    if case_file:
        lines += ["", f"Case studies (initial answer, feedback, revision): [{case_file}]({case_file})"]
    return "\n".join(lines) + "\n"


def render_curves(runs: list[LoopSummary], metric: str) -> bytes:
    """Validation per iteration, one line per run (VAC's Figure 5); beside it, when VAC left
    one, the training-split signal: initial answers against revisions per iteration."""
    with_signal = any(r.signal for r in runs)
    drawn, grid = figure(1, 2 if with_signal else 1, 5.5, 4)
    axes = grid[0]
    colors = {}
    for r in runs:
        points = [(t, v) for t, v in enumerate(r.validation) if v is not None]
        (line,) = axes[0].plot([t for t, _ in points], [v for _, v in points], marker="o", label=r.label)
        colors[r.label] = line.get_color()
    axes[0].set(title="Validation score per iteration", xlabel="iteration t (policy π_t)", ylabel=metric)
    if with_signal:
        for r in runs:
            for kind, style in (("initial", ":"), ("revised", "-")):
                signal = [(s.iteration, getattr(s, kind)) for s in r.signal if getattr(s, kind) is not None]
                axes[1].plot([t for t, _ in signal], [v for _, v in signal], style, marker="o", color=colors[r.label], label=f"{r.label}: {kind}")
        axes[1].set(title="Training split: initial answers vs revisions", xlabel="iteration t", ylabel=metric)
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize="small")
    return png(drawn)


def render_budget(budget: dict[int, dict[str, float]], metric: str) -> bytes:
    """REST-PG's Figure 2: validation per task (and the macro average) against m."""
    drawn, grid = figure(1, 1, 5.5, 4)
    ax = grid[0, 0]
    budgets = list(budget)
    for name in sorted({c for scores in budget.values() for c in scores}):
        ax.plot(budgets, [budget[m].get(name) for m in budgets], marker="o", label=name)
    ax.plot(budgets, [_mean(list(budget[m].values())) for m in budgets], "k--", marker="s", label="average (macro)")
    ax.set(title="Exploration budget", xlabel="samples per input m (one iteration)", ylabel=metric, xscale="log", xticks=budgets, xticklabels=[str(m) for m in budgets])
    ax.legend(fontsize="small")
    return png(drawn)


def pick_cases(run_dir: Path, count: int, ids: list[str] | None = None) -> tuple[int, list[dict]]:
    """A VAC run's latest finished iteration: the rows for ``ids``, else its ``count``
    largest gains of revision over initial answer (id, initial, feedback, revision, scores)."""
    run = RunFolder(run_dir)
    finished = [t for t in run.iterations() if (run.iteration(t) / "train_scores.jsonl").exists()]
    if not finished:
        return 0, []
    t = finished[-1]
    folder = run.iteration(t)
    initial = {r["id"]: r["answer"] for r in read_jsonl(folder / "initial.jsonl")}
    revised = {r["id"]: r for r in read_jsonl(folder / "revised.jsonl")}
    scores = {r["id"]: r for r in read_jsonl(folder / "train_scores.jsonl")}
    rows = [
        {"id": i, "initial": initial[i], "feedback": revised[i]["feedback"], "revision": revised[i]["revision"],
         "initial_score": scores[i]["initial"], "revised_score": scores[i]["revised"]}
        for i in scores
    ]
    if ids:
        unknown = sorted(set(ids) - set(scores))
        if unknown:
            raise TailorError(f"case study ids not in iteration {t}'s training questions: {', '.join(unknown)}")
        return t, [row for i in ids for row in rows if row["id"] == i]

    def gain(row: dict) -> float:
        before, after = row["initial_score"], row["revised_score"]
        return float("-inf") if before is None or after is None else after - before

    return t, sorted(rows, key=gain, reverse=True)[:count]


def render_cases(iteration: int, cases: list[dict], examples: dict[str, Example]) -> str:
    lines = [f"# Case studies: iteration {iteration}", "", "π_{t-1}'s initial answer, φ_t's feedback (it saw the narrative), and the revision π_t was trained on.", ""]
    for case in cases:
        example = examples.get(case["id"])
        lines += [f"## {case['id']}", ""]
        if example:
            lines += [f"**Question:** {example.question}", "", f"**Narrative (seen by the feedback model only):** {example.narrative}", ""]
        lines += [
            f"**Initial answer** (score {number(case['initial_score'])}):", "", _quote(case["initial"]), "",
            "**Feedback:**", "", _quote(case["feedback"]), "",
            f"**Revised answer** (score {number(case['revised_score'])}):", "", _quote(case["revision"]), "",
        ]
    return "\n".join(lines)


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in (text.strip() or "(empty)").splitlines())


@dataclass
class RunReport:
    markdown: Path
    json: Path
    curves: Path | None  # None: no run of it was validated per iteration (the planner)
    budget: Path | None
    cases: Path | None


def write_run_report(
    run_dir: str | Path, train_examples: Sequence[Example] = (), valid_examples: Sequence[Example] = (), cases: int = 3, case_ids: list[str] | None = None
) -> RunReport:
    """Write ``report.md``, ``report.json`` and, where they apply, ``curves.png``,
    ``budget.png`` and ``case_studies.md`` in ``run_dir``; the run's variants join under
    their names once they have run."""
    folder = RunFolder(run_dir)
    run_dir = folder.path
    main = LoopSummary.read("main", run_dir)
    if "train_feedback" in main.config:  # a VAC run: name it by its feedback model
        main.label = "trained" if main.config["train_feedback"] else "frozen"
    runs = [main] + [LoopSummary.read(name, variant.path) for name, variant in folder.variants()]
    identity = (folder.history() or {}).get("metric", {})
    metric = identity.get("name", "score") + (" (proxy metric, not the benchmark's judge)" if identity.get("proxy") else "")
    valid = {e.id: e for e in valid_examples}
    budget = _budget(runs, valid)
    iteration, chosen = pick_cases(run_dir, cases, case_ids)
    report = RunReport(
        folder.file("report.md"), folder.file("report.json"), folder.file("curves.png") if any(r.validation for r in runs) else None,
        folder.file("budget.png") if budget else None, folder.file("case_studies.md") if chosen else None,
    )
    atomic_write_text(report.markdown, render_markdown(runs, metric, valid, report.cases.name if report.cases else None, budget))
    atomic_write_json(report.json, {
        "metric": identity, "runs": [_as_dict(r, valid) for r in runs], "budget": budget, "case_iteration": iteration, "cases": chosen,
    })
    if report.curves:
        atomic_write_bytes(report.curves, render_curves(runs, identity.get("name", "score")))
    if report.budget:
        atomic_write_bytes(report.budget, render_budget(budget, identity.get("name", "score")))
    if report.cases:
        atomic_write_text(report.cases, render_cases(iteration, chosen, {e.id: e for e in train_examples}))
    return report


def _as_dict(run: LoopSummary, examples: dict[str, Example]) -> dict:
    return {
        "label": run.label, "run_dir": str(run.run_dir), "validation": run.validation, "best_iteration": run.best_iteration,
        "best_adapter": run.best_adapter, "best_by_category": run.category_scores(examples, run.best_iteration) if run.best_iteration is not None else {},
        "signal": [vars(s) for s in run.signal], "self_training": [vars(s) for s in run.self_training], "stages": run.stages,
    }
