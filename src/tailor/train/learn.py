"""``make learn`` / ``tailor train learn``: every learning recipe over its seeds, one run
after another, then the learning table; and ``tailor train table``, the table alone.

Each (recipe, seed) run goes to its seed's folder (``tailor.train.seeds``) and resumes
there: a rerun reads every finished stage, adapter and test answer back, so an interrupted
``make learn`` goes on where it stopped and a finished one only rebuilds the table. The
table goes to ``<out>/table.md``, ``table.json`` and ``table.png``; the baselines it
answers, once, to ``<out>/baselines/``."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tailor.data import load_examples
from tailor.errors import TailorError
from tailor.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from tailor.pool import ModelPool
from tailor.train.baselines import baseline_config, score_baselines
from tailor.train.learning_rows import loop_rows, recipe_config
from tailor.train.learning_table import LearningTable, build_table, table_figure, table_markdown
from tailor.train.seeds import seed_run
from tailor.train.trainers import TRAINERS

RECIPES = "configs/learn-*.yaml"
SEEDS = (0, 1, 2)


def learning_recipes(recipes: list[Path] | None = None) -> list[Path]:
    """The recipes given, or every ``configs/learn-*.yaml`` (in name order)."""
    found = list(recipes) if recipes else sorted(Path().glob(RECIPES))
    if not found:
        raise TailorError(f"no learning recipes: give some, or run where {RECIPES} exist")
    return found


def train_seeds(recipes: list[Path], seeds: list[int], pool: ModelPool | None = None, announce: Callable[[str], None] = lambda line: None) -> None:
    """Train each recipe with each seed, one after another, each in its seed's folder (and
    resuming there)."""
    for recipe in recipes:
        kind, config = recipe_config(recipe)
        for seed in seeds:
            run = seed_run(config, seed)
            announce(f"{recipe} · seed {seed} → {run.run_dir}")
            TRAINERS[kind].trainer(run, pool=pool, announce=announce).run()


@dataclass
class TableFiles:
    table: LearningTable
    markdown: Path
    json: Path
    figure: Path


def write_learning_table(recipes: list[Path], seeds: list[int], out: Path, pool: ModelPool | None = None) -> TableFiles:
    """The learning table of ``recipes`` over ``seeds`` (the seeds each row has finished) and
    the baselines, answered and scored once under ``out``; written to ``out``."""
    configs = [(f"{recipe} ({name})", variant) for recipe in recipes for name, variant in recipe_config(recipe)[1].runs()]
    settings = baseline_config(configs, out)
    examples = load_examples(settings.data, split=settings.test_split)[: settings.test_limit]
    by_id = {e.id: e for e in examples}
    loops = [row for recipe in recipes for row in loop_rows(recipe, seeds, by_id)]
    baselines = score_baselines(settings, pool)
    table = build_table(loops, baselines, examples, settings.metric)
    table.notes.append(
        f"Baselines: answered and scored once in {settings.run_dir} (policy {settings.policy.model}, retriever {settings.retriever}, k {settings.k}, "
        f"up to {settings.answer_max_tokens} answer tokens, temperature {settings.answer_temperature}, seed {settings.seed})."
    )
    files = TableFiles(table, out / "table.md", out / "table.json", out / "table.png")
    atomic_write_text(files.markdown, table_markdown(table))
    atomic_write_json(files.json, table.document())
    atomic_write_bytes(files.figure, table_figure(table))
    return files
