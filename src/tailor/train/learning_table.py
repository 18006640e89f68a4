"""The learning table (``tailor train table`` / ``learn``): every loop of the recipes over its
seeds beside the baselines (``tailor.train.baselines``), on the same test questions.

Each loop row is compared with its starting point (the best untrained prompt among the
formats its recipe accepts), the best untrained prompt of all, and every baseline that
reads nothing: a two-sided paired t-test over users, each user's mean over their questions
and the row's seeds (``tailor.metrics.significance.user_level_p_value``), with Holm's
correction over every comparison of the whole table. A loop learned when its mean is above
each of them with an adjusted p under 0.05."""

import statistics
from dataclasses import dataclass, field

from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.metrics.significance import bootstrap_interval, holm, user_level_p_value, user_means
from tailor.render import figure, markdown_table, number, png
from tailor.train.baselines import user_of
from tailor.train.compare import SIGNIFICANCE
from tailor.train.learning_rows import CEILING, LOOP, READS_NOTHING, UNTRAINED, Row

START, BEST = "its starting point", "the best untrained prompt"
KIND_COLORS = {LOOP: "tab:blue", UNTRAINED: "tab:orange", READS_NOTHING: "tab:red", CEILING: "tab:green"}


@dataclass
class Comparison:
    """A loop row against a baseline (``roles``: why it must beat it): the difference of
    their means over users, the user-level p and its Holm-adjusted value."""

    row: str
    against: str
    roles: list[str]
    difference: float | None
    p: float | None
    adjusted: float | None = None

    @property
    def won(self) -> bool:
        return self.difference is not None and self.difference > 0 and self.adjusted is not None and self.adjusted < SIGNIFICANCE


@dataclass
class LearningTable:
    metric: str
    rows: list[Row]  # the loops, then the baselines
    comparisons: list[Comparison]
    users: dict[str, str]  # question id -> user
    notes: list[str] = field(default_factory=list)

    @property
    def loops(self) -> list[Row]:
        return [r for r in self.rows if r.kind == LOOP]

    @property
    def baselines(self) -> list[Row]:
        return [r for r in self.rows if r.kind != LOOP]

    def of(self, row: Row) -> list[Comparison]:
        return [c for c in self.comparisons if c.row == row.name]

    def start_of(self, row: Row) -> Row | None:
        """The row's starting point: the best-scoring untrained prompt among its formats."""
        return best([b for b in self.baselines if b.kind == UNTRAINED and set(b.formats) & set(row.formats)])

    def learned(self, row: Row) -> str:
        """yes, or no with the baselines it does not beat (below them, or not significantly above)."""
        if not row.runs:
            return "– (no finished seed)"
        compared = self.of(row)
        if not any(START in c.roles for c in compared):
            return "no (no untrained prompt in its formats)"
        below = [c.against for c in compared if c.difference is None or c.difference <= 0]
        unsure = [c.against for c in compared if c.against not in below and not c.won]
        if not below and not unsure:
            return "yes"
        return "no (" + "; ".join(part for part in (f"not above {', '.join(below)}" if below else "",
                                                   f"not significantly above {', '.join(unsure)}" if unsure else "") if part) + ")"

    def document(self) -> dict:
        return {
            "metric": self.metric, "users": len(set(self.users.values())), "questions": len(self.users), "notes": self.notes,
            "rows": [{**r.document(), **({"learned": self.learned(r)} if r.kind == LOOP else {})} for r in self.rows],
            "comparisons": [c.__dict__ for c in self.comparisons],
        }


def best(rows: list[Row]) -> Row | None:
    scored = [r for r in rows if r.mean is not None]
    return max(scored, key=lambda r: r.mean) if scored else None


def compared(row: Row, baseline: Row, roles: list[str], users: dict[str, str]) -> Comparison:
    mine, theirs = user_means(row.runs, users), user_means(baseline.runs, users)
    both = sorted(mine.keys() & theirs.keys())
    difference = statistics.fmean(mine[u] - theirs[u] for u in both) if both else None
    return Comparison(row.name, baseline.name, roles, difference, user_level_p_value(row.runs, baseline.runs, users))


def build_table(loops: list[Row], baselines: list[Row], examples: list[Example], metric: str) -> LearningTable:
    """The table of ``loops`` and ``baselines`` on ``examples``: each loop with a run against
    its starting point, the best untrained prompt and every baseline that reads nothing,
    one comparison per pair, Holm-adjusted over all of them."""
    users = {e.id: user_of(e) for e in examples}
    names = [r.name for r in loops + baselines]
    if len(set(names)) < len(names):
        raise TailorError(f"two rows of the table are named alike ({sorted({n for n in names if names.count(n) > 1})[0]}); give their recipes other file names")
    table = LearningTable(metric, loops + baselines, [], users)
    overall = best([b for b in baselines if b.kind == UNTRAINED])
    for row in (r for r in loops if r.runs):
        musts: dict[str, list[str]] = {}
        for baseline, role in [(table.start_of(row), START), (overall, BEST), *((b, b.name) for b in baselines if b.kind == READS_NOTHING)]:
            if baseline is not None:
                musts.setdefault(baseline.name, []).append(role)
        by_name = {b.name: b for b in baselines}
        table.comparisons += [compared(row, by_name[name], roles, users) for name, roles in musts.items()]
    for comparison, adjusted in zip(table.comparisons, holm([c.p for c in table.comparisons])):
        comparison.adjusted = adjusted
    return table


def cell(comparison: Comparison | None) -> str:
    if comparison is None or comparison.difference is None:
        return "–"
    p = "–" if comparison.adjusted is None else f"{comparison.adjusted:.2g}"
    return f"{comparison.difference:+.3f} (p {p})"


def score(row: Row) -> str:
    if row.mean is None:
        return "–"
    return number(row.mean, 3) + (f" ± {row.std:.3f}" if row.std is not None else "")


def counts(values: list[int]) -> str:
    return " / ".join(map(str, values)) or "–"


def minutes(row: Row) -> str:
    return f"{statistics.fmean(row.minutes):.1f}" if row.minutes else "–"


def table_markdown(table: LearningTable) -> str:
    """The table as Markdown, with what its columns and its verdict mean."""
    nothing = [b for b in table.baselines if b.kind == READS_NOTHING]
    header = ["Row", "What it is", "Seeds", f"Test {table.metric} (mean ± std over seeds)", "Starting point", f"vs {START}", f"vs {BEST}",
              *(f"vs {b.name}" for b in nothing), "Learned", "Quoting the history", "Unparsed", "Minutes per seed", "Commit"]
    lines = []
    for row in table.rows:
        if row.kind == LOOP:
            by_role = {role: c for c in table.of(row) for role in c.roles}
            start = table.start_of(row)
            seeds = ", ".join(map(str, row.seeds)) + (f" ({len(row.seeds)} seeds)" if 0 < len(row.seeds) < 3 else "") if row.seeds else "none yet"
            lines.append([row.name, row.what, seeds, score(row), f"{start.name}: {number(start.mean, 3)}" if start else "–", cell(by_role.get(START)),
                          cell(by_role.get(BEST)), *(cell(by_role.get(b.name)) for b in nothing), table.learned(row), counts(row.quoting),
                          counts(row.unparsed), minutes(row), " / ".join(dict.fromkeys(row.commits)) or "–"])
        else:
            lines.append([row.name, f"{row.kind}: {row.what}", "–", score(row), *(["–"] * (3 + len(nothing))), "–", counts(row.quoting),
                          counts(row.unparsed), minutes(row), "–"])
    questions, users = len(table.users), len(set(table.users.values()))
    text = [f"# Learning table: {table.metric}", "",
            f"Test split: {questions} questions from {users} users, the same for every row. Each vs cell is the row's mean over users minus the "
            f"baseline's, and the p of a two-sided paired t-test over users (each user's mean over their questions and the row's seeds), "
            f"Holm-adjusted over all {len(table.comparisons)} comparisons of the table. Learned: above its starting point (the best untrained "
            f"prompt among the formats its recipe accepts), the best untrained prompt of all and every baseline that reads nothing, each with "
            f"adjusted p < {SIGNIFICANCE}. Quoting the history (eight words of a post in a row) and unparsed answers: per seed, of {questions}. "
            f"Commit: the code each row's held-out tests ran (+dirty: with uncommitted changes).", "",
            *markdown_table(header, lines, text_columns=3), ""]
    return "\n".join(text + [f"- {note}" for note in table.notes]) + ("\n" if table.notes else "")


def table_figure(table: LearningTable) -> bytes:
    """Each row's mean over users with its 95% user-bootstrap interval (a loop: over its
    seeds too), coloured by kind; a loop's per-seed means as open points."""
    rows = [r for r in table.rows if r.runs]
    drawn, grid = figure(1, 1, 9, 0.4 * len(rows) + 1.5)
    ax = grid[0][0]
    for y, row in enumerate(reversed(rows)):
        means = list(user_means(row.runs, table.users).values())
        centre, interval = statistics.fmean(means), bootstrap_interval(means)
        low, high = interval or (centre, centre)
        ax.errorbar([centre], [y], xerr=[[centre - low], [high - centre]], fmt="o", color=KIND_COLORS[row.kind], capsize=3)
        if row.kind == LOOP and len(row.runs) > 1:
            ax.plot(row.run_means(), [y] * len(row.runs), "o", mfc="none", color=KIND_COLORS[row.kind], alpha=0.6)
    for kind, color in KIND_COLORS.items():
        ax.plot([], [], "o", color=color, label=kind)
    ax.plot([], [], "o", mfc="none", color="grey", label="one seed of a loop")
    ax.set(yticks=range(len(rows)), yticklabels=[r.name for r in reversed(rows)], xlabel=f"test {table.metric}\n(mean over users, 95% bootstrap interval)",
           title="Held-out test, row by row")
    ax.legend(fontsize="small", loc="best")
    return png(drawn)
