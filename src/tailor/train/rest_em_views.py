"""What a ReST-EM or REST-PG run shows, declared by ``RestEMTrainer``: what the E-step
kept per iteration (a report table, and per example in the run browser the sampled answers
with their rewards) and, when the recipe's runs differ in the exploration budget m,
validation per task against m (REST-PG's Figure 2: a report table and ``budget.png``)."""

from pathlib import Path

from tailor.io import atomic_write_bytes
from tailor.render import figure, markdown_table, number, png
from tailor.runs import KEPT_SAMPLES, SAMPLES, RunFolder, StageFolder
from tailor.train.controls import CONTROL_NAMES
from tailor.train.rows import read_jsonl
from tailor.train.views import Column, ExampleTable, IterationSection, ReportInputs, ReportSection, TableColumn, mean_of_known


def read_e_step(folder: StageFolder, t: int) -> dict | None:
    """Iteration t's samples and those kept (inputs with one), with their mean rewards."""
    samples, kept = folder.of(SAMPLES), folder.of(KEPT_SAMPLES)
    if not samples.exists() or not kept.exists():
        return None
    sampled, chosen = read_jsonl(samples), read_jsonl(kept)
    return {
        "iteration": t, "samples": len(sampled), "kept": len(chosen), "inputs_kept": len({r["id"] for r in chosen}),
        "mean_reward": mean_of_known([r["score"] for r in sampled]), "mean_kept_reward": mean_of_known([r["score"] for r in chosen]),
        "mean_kept_metric": mean_of_known([r.get("metric_score", r["score"]) for r in chosen]),
    }


class SelfTraining(IterationSection):
    """The E-step table, each row naming the rewards its selection saw (a control's: permuted)."""

    def read(self, run) -> list[dict]:
        rewards = CONTROL_NAMES[run.config.get("reward_control", "none")]
        return [{**row, "rewards": rewards} for row in super().read(run)]


SELF_TRAINING = SelfTraining(
    "self_training", "Self-training (E-step)",
    "Samples drawn, those kept as targets, and their mean reward; the metric's mean score of the kept ones differs from "
    "their mean reward only in a control run, whose selection saw rewards permuted across the training examples.",
    (Column("Rewards", "rewards", str), Column("Samples", "samples", str), Column("Kept", "kept", str), Column("Inputs with a kept sample", "inputs_kept", str),
     Column("Mean reward", "mean_reward"), Column("Mean kept reward", "mean_kept_reward"), Column("Mean kept metric score", "mean_kept_metric")),
    read_e_step,
)


class ExplorationBudget(ReportSection):
    """pi_1's validation per category for each exploration budget m, when the runs differ in
    m: report.json's ``budget``, a table and ``budget.png``."""

    def build(self, runs, inputs: ReportInputs) -> dict:
        budgets = {r.config.get("samples"): r for r in runs if r.config.get("samples") and len(r.validation) > 1}
        if len(budgets) < 2:
            return {"budget": {}}
        return {"budget": {m: r.category_scores(inputs.valid, 1) for m, r in sorted(budgets.items())}}

    def markdown(self, runs, built: dict) -> list[str]:
        budget = built["budget"]
        if not budget:
            return []
        names = sorted({c for scores in budget.values() for c in scores})
        lines = ["", "## Exploration budget (validation of π_1 per task against m)", ""]
        return lines + markdown_table(["m", *names, "Average (macro)"], [[str(m), *(number(s.get(c)) for c in names), number(mean_of_known(list(s.values())))] for m, s in budget.items()])

    def write(self, folder: RunFolder, built: dict, inputs: ReportInputs) -> list[Path]:
        if not built["budget"]:
            return []
        atomic_write_bytes(folder.budget_plot, render_budget(built["budget"], inputs.metric))
        return [folder.budget_plot]


def render_budget(budget: dict[int, dict[str, float]], metric: str) -> bytes:
    """REST-PG's Figure 2: validation per task (and the macro average) against m."""
    drawn, grid = figure(1, 1, 5.5, 4)
    ax = grid[0, 0]
    budgets = list(budget)
    for name in sorted({c for scores in budget.values() for c in scores}):
        ax.plot(budgets, [budget[m].get(name) for m in budgets], marker="o", label=name)
    ax.plot(budgets, [mean_of_known(list(budget[m].values())) for m in budgets], "k--", marker="s", label="average (macro)")
    ax.set(title="Exploration budget", xlabel="samples per input m (one iteration)", ylabel=metric, xscale="log", xticks=budgets, xticklabels=[str(m) for m in budgets])
    ax.legend(fontsize="small")
    return png(drawn)


EXPLORATION_BUDGET = ExplorationBudget()

SAMPLED_ANSWERS = ExampleTable(
    SAMPLES, title="Sampled answers (E-step)", first="Iteration",
    columns=(TableColumn("j", "j"), TableColumn("reply", "Reply", "text"), TableColumn("score", "Reward", "number")),
)
