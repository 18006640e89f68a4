"""What a VAC run shows, declared by ``VACTrainer``: the loop's own signal on the training
split (a report table and the panel beside the validation curves), the case studies of
``case_studies.md`` (VAC's Figure 8, top row: question, initial answer, feedback, revision;
the narrative is shown there, it is a report, not a prompt), and per example in the run
browser each round's initial answer, sampled feedbacks with their revisions' scores, and
the revision the policy learned."""

from dataclasses import dataclass
from pathlib import Path

from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.io import atomic_write_text
from tailor.render import number
from tailor.runs import CHOSEN_FEEDBACK, FEEDBACKS, INITIAL, REVISED, TRAIN_SCORES, RunFolder, StageFolder
from tailor.train.rows import read_jsonl
from tailor.train.views import Column, ExampleView, IterationSection, ReportInputs, ReportSection, RowsFor, mean_of_known


def no_signal(folder: StageFolder) -> float | None:
    """The share of questions none of whose N sampled revisions scored above 0: the paper's
    argmax has nothing to choose there (None where no feedback was sampled)."""
    path = folder.of(FEEDBACKS)
    if not path.exists():
        return None
    best: dict[str, float] = {}
    for row in read_jsonl(path):
        best[row["id"]] = max(best.get(row["id"], 0.0), row["score"] or 0.0)
    return sum(score == 0.0 for score in best.values()) / len(best) if best else None


def read_signal(folder: StageFolder, t: int) -> dict | None:
    """Iteration t's mean score of pi_{t-1}'s initial answers, of the revisions pi_t was
    trained on, and (trained feedback only) of the best of the N sampled revisions, and the
    share of questions none of whose N revisions scored."""
    path = folder.of(TRAIN_SCORES)
    if not path.exists():
        return None
    rows = read_jsonl(path)
    chosen = folder.of(CHOSEN_FEEDBACK)
    best = mean_of_known([row["score"] for row in read_jsonl(chosen)]) if chosen.exists() else None
    return {"iteration": t, "initial": mean_of_known([r["initial"] for r in rows]), "revised": mean_of_known([r["revised"] for r in rows]),
            "best_of_n": best, "no_signal": no_signal(folder)}


@dataclass(frozen=True)
class TrainingSignal(IterationSection):
    """The signal's table, and beside the validation curves its initial answers against revisions."""

    def draws(self, runs) -> bool:
        return any(run.sections.get(self.run_key) for run in runs)

    def draw(self, axes, runs, colors, metric) -> None:
        for r in runs:
            for kind, style in (("initial", ":"), ("revised", "-")):
                signal = [(s["iteration"], s[kind]) for s in r.sections.get(self.run_key, []) if s[kind] is not None]
                axes.plot([t for t, _ in signal], [v for _, v in signal], style, marker="o", color=colors[r.label], label=f"{r.label}: {kind}")
        axes.set(title="Training split: initial answers vs revisions", xlabel="iteration t", ylabel=metric)


TRAINING_SIGNAL = TrainingSignal(
    "signal", "The loop's own signal on the training split",
    "Mean score of π_{t-1}'s initial answers, of the revisions π_t was trained on, and (trained feedback only) "
    "of the best of the N sampled revisions, whose feedback trained φ_t; and the share of questions none of whose N revisions scored above 0.",
    (Column("Initial answers", "initial"), Column("Revisions (policy targets)", "revised"), Column("Best of N", "best_of_n"),
     Column("No revision scored", "no_signal")),
    read_signal,
)


def pick_cases(run_dir: Path, count: int, ids: list[str] | None = None) -> tuple[int, list[dict]]:
    """A VAC run's latest finished iteration: the rows for ``ids``, else its ``count``
    largest gains of revision over initial answer (id, initial, feedback, revision, scores)."""
    run = RunFolder(run_dir)
    finished = [t for t in run.iterations() if run.iteration(t).of(TRAIN_SCORES).exists()]
    if not finished:
        return 0, []
    t = finished[-1]
    folder = run.iteration(t)
    initial = {r["id"]: r["answer"] for r in read_jsonl(folder.of(INITIAL))}
    revised = {r["id"]: r for r in read_jsonl(folder.of(REVISED))}
    scores = {r["id"]: r for r in read_jsonl(folder.of(TRAIN_SCORES))}
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


class CaseStudies(ReportSection):
    """The main run's case studies: report.json's ``case_iteration`` and ``cases``,
    ``case_studies.md`` and the report's link to it."""

    def build(self, runs, inputs: ReportInputs) -> dict:
        iteration, chosen = pick_cases(runs[0].run_dir, inputs.cases, inputs.case_ids)
        return {"case_iteration": iteration, "cases": chosen}

    def footer(self, folder: RunFolder, built: dict) -> list[str]:
        name = folder.case_studies.name
        return ["", f"Case studies (initial answer, feedback, revision): [{name}]({name})"] if built["cases"] else []

    def write(self, folder: RunFolder, built: dict, inputs: ReportInputs) -> list[Path]:
        if not built["cases"]:
            return []
        atomic_write_text(folder.case_studies, render_cases(built["case_iteration"], built["cases"], inputs.train))
        return [folder.case_studies]


CASE_STUDIES = CaseStudies()


@dataclass
class Candidate:
    j: int
    seed: int | None
    feedback: str
    revision: str
    score: float | None
    chosen: bool


@dataclass
class FeedbackRound:
    """Iteration t of a VAC loop for one training question: pi_{t-1}'s answer, the sampled
    feedbacks (each revision scored), and phi_t's feedback with the revision pi_t learned."""

    iteration: int
    initial: str | None
    initial_score: float | None
    candidates: list[Candidate]
    feedback: str | None
    revision: str | None
    revised_score: float | None


@dataclass(frozen=True)
class FeedbackRounds(ExampleView):
    """Each round of the loop that answered the example: the browser's ``vac_round``."""

    template = "feedback_rounds"

    def rows(self, folder: RunFolder, example_id: str, rows_for: RowsFor) -> list[FeedbackRound]:
        rounds = []
        for t in folder.iterations():
            out = folder.iteration(t)
            initial = rows_for(out.of(INITIAL), example_id)
            if not initial:
                continue
            chosen = {row["j"] for row in rows_for(out.of(CHOSEN_FEEDBACK), example_id)}
            candidates = [
                Candidate(row["j"], row.get("seed"), row["feedback"], row["revision"], row.get("score"), row["j"] in chosen)
                for row in rows_for(out.of(FEEDBACKS), example_id)
            ]
            revised = next(iter(rows_for(out.of(REVISED), example_id)), {})
            scores = next(iter(rows_for(out.of(TRAIN_SCORES), example_id)), {})
            rounds.append(FeedbackRound(
                t, initial[0]["answer"], scores.get("initial"), sorted(candidates, key=lambda c: c.j),
                revised.get("feedback"), revised.get("revision"), scores.get("revised"),
            ))
        return rounds


FEEDBACK_ROUNDS = FeedbackRounds(
    INITIAL, heading="VAC: initial answer → feedback → revision", missing="No VAC training run under this root trained on this question."
)
