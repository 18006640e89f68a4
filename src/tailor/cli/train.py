"""``tailor train <kind>``: one command per entry of ``tailor.train.trainers.TRAINERS``,
all with one body (``run_loop``); given no recipe, a command runs its entry's sample one."""

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand

from tailor.cli.common import command, console, finished
from tailor.errors import TailorError
from tailor.train.trainers import TRAINERS

train_app = typer.Typer(help="Train personalization models.", no_args_is_help=True)


def recipe_keys(config_class) -> str:
    """The recipe's keys with their descriptions (the config's ``Field`` descriptions)."""
    lines = [f"{name}: {field.description}" for name, field in config_class.model_fields.items() if field.description]
    return "Recipe keys (YAML):\n\n" + "\n\n".join(lines)


class RecipeCommand(TyperCommand):
    """A loop command whose --help ends with its recipe's keys, read from the config class
    only when help is shown (the trainer's module is not imported to start the CLI)."""

    kind = ""

    @property
    def epilog(self) -> str:
        return recipe_keys(TRAINERS[self.kind].trainer.config_class)

    @epilog.setter
    def epilog(self, value) -> None:
        pass


def loop_settings(kind: str, config: Path | None, resume: Path | None, run_dir: Path | None, iterations: int | None, seed: int | None = None):
    """The recipe (default: the entry's sample recipe) or the run to resume, with the command
    line's overrides: ``seed`` replaces every seed of the recipe and, unless ``run_dir`` is
    given, names the run's folder (``tailor.train.seeds``)."""
    from pydantic import ValidationError

    from tailor.config import describe_error
    from tailor.train.seeds import seed_run

    entry = TRAINERS[kind]
    config_class = entry.trainer.config_class
    recipe = config or (None if resume else entry.recipe)
    if (recipe is None) == (resume is None):
        raise TailorError("give one of --config (a new or rerun recipe) or --resume RUN (a run folder)")
    if seed is not None and resume is not None:
        raise TailorError("--seed starts the recipe's run with another seed; a run to --resume keeps its own")
    settings = config_class.from_yaml(recipe) if recipe else config_class.resume(resume)
    settings = settings if seed is None else seed_run(settings, seed)
    overrides = {k: v for k, v in {"run_dir": run_dir, "iterations": iterations}.items() if v is not None}
    try:  # validated again: an override the loop does not read is refused, as in a recipe
        settings = config_class.model_validate({**settings.model_dump(), **overrides})
    except ValidationError as err:
        raise TailorError("; ".join(describe_error(config_class, e) for e in err.errors())) from err
    return settings


def run_loop(kind: str, config: Path | None, resume: Path | None, run_dir: Path | None, iterations: int | None, cases: int, check: bool = False,
             seed: int | None = None) -> None:
    """What every ``tailor train`` command does: the run of ``loop_settings`` and its
    variants, then the report; with ``check``, only the generation servers' preflight."""
    started = time.perf_counter()
    settings = loop_settings(kind, config, resume, run_dir, iterations, seed)
    trainer_class = TRAINERS[kind].trainer
    if check:
        from tailor.pool import ModelPool
        from tailor.train.preflight import preflight

        lines = preflight(settings, ModelPool(settings.policy))
        console.print("\n".join(lines) or "nothing to check: every model of the recipe runs in this process", markup=False)
        console.print(f"preflight: ready ({time.perf_counter() - started:.1f} s)")
        return
    trainer = trainer_class(settings, announce=lambda line: console.print(f"[bold]{line}[/bold]"))
    result = trainer.run(resume=resume is not None, cases=cases)
    for name, run in {"main": result, **result.variants}.items():
        console.print(f"[bold]{name}[/bold] → {run.run_dir}")
        for line in run.lines():
            console.print(line)
    report = result.report
    extras = [f"{label}: {path}" for label, path in (("curves", report.curves), ("budget", report.budget), ("case studies", report.cases)) if path]
    console.print(f"report: {report.markdown} | " + " | ".join(extras))
    finished(started, result.run_dir)


def loop_command(kind: str) -> None:
    entry = TRAINERS[kind]

    def train_loop(
        config: Annotated[Optional[Path], typer.Option("--config", help=f"{entry.label} recipe (YAML); default: {entry.recipe}")] = None,
        resume: Annotated[Optional[Path], typer.Option(help="continue the run in this folder with the settings it was started with")] = None,
        run_dir: Annotated[Optional[Path], typer.Option(help="run folder, replacing the config's (a rerun there resumes)")] = None,
        iterations: Annotated[Optional[int], typer.Option(help="T (RPO: RL epochs), replacing the config's (a run may be extended)")] = None,
        cases: Annotated[int, typer.Option(help="case studies in the report (VAC: the largest gains of revision over initial answer)")] = 3,
        check: Annotated[bool, typer.Option("--check", help="only ask the recipe's generation servers whether they serve its models and take its LoRA adapters (every run does so first)")] = False,
        seed: Annotated[Optional[int], typer.Option(help="train with this seed (sampling and every fine-tuning stage), in <run_dir>/seed-N unless it is the recipe's own")] = None,
    ) -> None:
        run_loop(kind, config, resume, run_dir, iterations, cases, check, seed)

    command(train_app, kind, help=entry.summary, cls=type(f"{entry.label}Command", (RecipeCommand,), {"kind": kind}))(train_loop)


for _kind in TRAINERS:
    loop_command(_kind)


@command(train_app, "compare")
def train_compare_command(
    runs: Annotated[list[Path], typer.Argument(help="training run folders (each with its variants)")],
    plot: Annotated[Optional[Path], typer.Option(help="write the learning curves and the test scores to this PNG")] = None,
) -> None:
    """Runs side by side: each one's held-out test (untrained against kept policy, paired
    t-test) as a Markdown table, and with --plot their learning curves."""
    from tailor.io import atomic_write_bytes
    from tailor.train.compare import comparison_table, metric_of, read_runs, render_comparison

    compared = read_runs(runs)
    metric = metric_of(compared)
    console.print(f"metric: {metric}\n")
    console.print(comparison_table(compared), markup=False, highlight=False, soft_wrap=True)
    if plot:
        atomic_write_bytes(plot, render_comparison(compared, metric))
        console.print(f"learning curves: {plot}")


def seed_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise TailorError(f"--seeds: give seeds as numbers separated by commas (e.g. 0,1,2), not {text!r}") from err


RECIPES_HELP = "learning recipes (default: configs/learn-*.yaml), each with a test_split"
SEEDS_HELP = "the training seeds of every recipe, comma-separated"
OUT_HELP = "where the table (table.md, table.json, table.png) and the baselines' answers go"


@command(train_app, "table")
def train_table_command(
    recipes: Annotated[Optional[list[Path]], typer.Argument(help=RECIPES_HELP)] = None,
    seeds: Annotated[str, typer.Option(help=SEEDS_HELP)] = "0,1,2",
    out: Annotated[Path, typer.Option(help=OUT_HELP)] = Path("runs/learn"),
) -> None:
    """The learning table: each recipe's kept policy over the seeds it finished, against its
    starting point, the best untrained prompt and the answers that read nothing, at the
    user level with Holm's correction (the baselines are answered once, then read back)."""
    from tailor.train.learn import learning_recipes

    started = time.perf_counter()
    show_table(learning_recipes(recipes), seed_list(seeds), out)
    finished(started, out)


def show_table(recipes: list[Path], seeds: list[int], out: Path) -> None:
    from tailor.train.learn import write_learning_table

    files = write_learning_table(recipes, seeds, out)
    console.print(files.markdown.read_text(encoding="utf-8"), markup=False, highlight=False, soft_wrap=True)
    console.print(f"table: {files.markdown} | {files.json} | figure: {files.figure}")


@command(train_app, "learn")
def train_learn_command(
    recipes: Annotated[Optional[list[Path]], typer.Argument(help=RECIPES_HELP)] = None,
    seeds: Annotated[str, typer.Option(help=SEEDS_HELP)] = "0,1,2",
    out: Annotated[Path, typer.Option(help=OUT_HELP)] = Path("runs/learn"),
) -> None:
    """`make learn`: train every recipe with every seed, one run after another (each resumes
    in its folder: a rerun skips what finished), then write the learning table."""
    from tailor.train.learn import learning_recipes, train_seeds

    started = time.perf_counter()
    chosen, seed_numbers = learning_recipes(recipes), seed_list(seeds)
    train_seeds(chosen, seed_numbers, announce=lambda line: console.print(f"[bold]{line}[/bold]"))
    show_table(chosen, seed_numbers, out)
    finished(started, out)
