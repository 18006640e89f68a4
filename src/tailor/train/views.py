"""What a trainer declares its runs show, beyond what every run has (validation per
iteration, the held-out test, the kept policy per category, the training cost):

- ``ReportSection``: a part of the run report (``train/report.py``) — its rows of each run,
  what it builds from all of them, its lines, a panel beside the validation curves, a file
  of its own;
- ``ExampleView``: what the run browser shows of one example for each loop of the run, and
  the stage file whose rows list the run's examples.

``LoopTrainer.report_sections`` and ``LoopTrainer.example_views`` hold a trainer's; the report
and the browser find them by the run's kind (``trainers.trainer_of``) and render exactly
those, never guessing from the files a run folder holds."""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from tailor.data.schema import Example
from tailor.render import markdown_table, number
from tailor.runs import VALIDATION, RunFolder, StageFile, StageFolder

if TYPE_CHECKING:
    from tailor.train.report import LoopSummary

RowsFor = Callable[[Path, str], list[dict]]  # a stage file's rows about one example (the browser caches them)


@dataclass(frozen=True)
class ReportInputs:
    """What a report is written from besides the run folders: the examples by id, the
    metric's name, and which case studies to show (``cases`` largest gains, or the ids asked for)."""

    train: dict[str, Example]
    valid: dict[str, Example]
    metric: str = "score"  # its name, as the plots' axes say it
    cases: int = 3
    case_ids: list[str] | None = None


def mean_of_known(values: list) -> float | None:
    known = [v for v in values if v is not None]
    return mean(known) if known else None


class ReportSection:
    """A part of a training run's report. Every hook adds nothing unless a section says
    otherwise: ``read`` gives its rows of one run (held in that run's entry of report.json
    under ``run_key``), ``build`` what it holds at report.json's top (from every run),
    ``markdown`` its lines before the training cost and ``footer`` after it, ``draws`` whether
    it has a panel beside the validation curves (drawn by ``draw``), ``write`` its own files."""

    run_key: ClassVar[str | None] = None

    def read(self, run: "LoopSummary") -> list[dict]:
        return []

    def build(self, runs: list["LoopSummary"], inputs: ReportInputs) -> dict:
        return {}

    def markdown(self, runs: list["LoopSummary"], built: dict) -> list[str]:
        return []

    def footer(self, folder: RunFolder, built: dict) -> list[str]:
        return []

    def draws(self, runs: list["LoopSummary"]) -> bool:
        return False

    def draw(self, axes, runs: list["LoopSummary"], colors: dict[str, str], metric: str) -> None:
        """Draw on ``axes``, one colour per run (``colors`` by label)."""

    def write(self, folder: RunFolder, built: dict, inputs: ReportInputs) -> list[Path]:
        return []


@dataclass(frozen=True)
class Column:
    """A column of a report table: its header, the row's key, and how a value is printed."""

    title: str
    key: str
    format: Callable[[Any], str] = number


@dataclass(frozen=True)
class IterationSection(ReportSection):
    """A table with a row per iteration of each run, read from that iteration's stage files
    (``read_iteration``: None where the iteration holds nothing for it)."""

    run_key: str = field()  # a field without default, not the base class's None
    title: str
    intro: str
    columns: tuple[Column, ...]
    read_iteration: Callable[[StageFolder, int], dict | None]

    def read(self, run: "LoopSummary") -> list[dict]:
        folder = RunFolder(run.run_dir)
        return [row for t in range(1, len(run.validation)) if (row := self.read_iteration(folder.iteration(t), t))]

    def markdown(self, runs: list["LoopSummary"], built: dict) -> list[str]:
        if not any(run.sections.get(self.run_key) for run in runs):
            return []
        header = ["Iteration", "Run", *(c.title for c in self.columns)]
        rows = [[str(row["iteration"]), run.label, *(c.format(row[c.key]) for c in self.columns)] for run in runs for row in run.sections[self.run_key]]
        return ["", f"## {self.title}", "", self.intro, "", *markdown_table(header, rows)]


@dataclass(frozen=True)
class ExampleView:
    """What the run browser shows of one example for each loop of a run: the rows ``rows``
    gives (for ``template``, a macro of the browser's ``macros.html``), and ``listing``, the
    stage file of each iteration whose rows list the run's examples. A view with a
    ``heading`` is a case view: an eval run's example page shows it too, from every training
    run under the root whose trainer declares it (``missing``: what it says when none did)."""

    template: ClassVar[str]
    listing: StageFile
    heading: str | None = None
    missing: str = ""

    def rows(self, folder: RunFolder, example_id: str, rows_for: RowsFor) -> list:
        raise NotImplementedError


@dataclass(frozen=True)
class TableColumn:
    """A column of the browser's table: the row's key, its header, and its kind (``plain``,
    ``text``: long text, ``number``: a score)."""

    key: str
    title: str
    kind: Literal["plain", "text", "number"] = "plain"


@dataclass(frozen=True)
class ExampleTable(ExampleView):
    """One stage file's rows about the example, in every iteration: a table whose first
    column is the iteration (``Iteration``: t) or the policy (``Policy``: π_t)."""

    template: ClassVar[str] = "example_table"
    title: str = ""
    first: Literal["Iteration", "Policy"] = "Iteration"
    columns: tuple[TableColumn, ...] = field(default=())

    def rows(self, folder: RunFolder, example_id: str, rows_for: RowsFor) -> list[tuple[int, dict]]:
        return [(t, row) for t in folder.iterations() for row in rows_for(folder.iteration(t).of(self.listing), example_id)]


VALIDATION_ANSWERS = ExampleTable(
    VALIDATION, title="Validation answers", first="Policy", columns=(TableColumn("response", "Response", "text"), TableColumn("score", "Score", "number"))
)
