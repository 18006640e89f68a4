"""The rows of the learning table (``tailor train table`` / ``learn``), one description for
every row: a loop over its seeds (its kept policy's test answers, one run per seed) or a
baseline (one run). A row holds, per run, each test question's score, the answers quoting
the user's history back and those that did not parse, and the run's minutes.

A loop's rows are read from its recipe: the run of each seed (``tailor.train.seeds``) and
each variant the recipe declares, as its folder holds them once finished; a row is named by
its trainer's label and variant, and says what it is through the settings its config class
declares (``described_by``: VAC's targets rule, ReST-EM's warm-up), its variant's changes,
and any setting whose value names an oracle."""

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from tailor.config import load_yaml_config
from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.prompts.formats import FORMATS
from tailor.runs import RunFolder
from tailor.train.compare import quotes_history
from tailor.train.oracle import ORACLE, oracle_settings
from tailor.train.rows import parsed, read_jsonl
from tailor.train.seeds import seed_run
from tailor.train.stages import LoopConfig
from tailor.train.trainers import TRAINERS, kind_of

# What a row is, and so what a loop must beat: the untrained model with one answer prompt;
# answers no model wrote from the question and history (they read nothing, and every loop
# must beat them); the gold answer, a ceiling; and a loop's kept policy.
UNTRAINED, READS_NOTHING, CEILING, LOOP = "untrained", "reads nothing", "ceiling", "loop"


@dataclass
class Row:
    name: str
    what: str
    kind: str
    runs: list[dict[str, float | None]]  # per run (a loop: per seed), each test question's score
    seeds: list[int]
    quoting: list[int]
    unparsed: list[int]
    minutes: list[float]
    formats: tuple[str, ...] = ()  # a loop: the answer formats its recipe accepts; an untrained baseline: its own
    recipe: str = ""
    run_dirs: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)  # per run, the code its held-out test ran (``tailor.source``)

    def run_means(self) -> list[float]:
        """Each run's mean over its scored questions."""
        return [statistics.fmean(known) for scores in self.runs if (known := [v for v in scores.values() if v is not None])]

    @property
    def mean(self) -> float | None:
        means = self.run_means()
        return statistics.fmean(means) if means else None

    @property
    def std(self) -> float | None:
        """The standard deviation of the run means over seeds (None for one run)."""
        means = self.run_means()
        return statistics.stdev(means) if len(means) > 1 else None

    def document(self) -> dict:
        return {
            "name": self.name, "what": self.what, "kind": self.kind, "seeds": self.seeds, "mean": self.mean, "std": self.std, "run_means": self.run_means(),
            "quoting": self.quoting, "unparsed": self.unparsed, "minutes": self.minutes, "formats": list(self.formats), "recipe": self.recipe,
            "run_dirs": self.run_dirs, "commits": self.commits,
        }


def tally(rows: list[dict], examples: dict[str, Example]) -> tuple[dict[str, float | None], int, int]:
    """Scored answer rows (``Run.scored_answers``'): each question's score, how many answers
    quote the user's history, how many did not parse."""
    scores = {row["id"]: row["score"] for row in rows}
    quoting = sum(quotes_history(examples[row["id"]], row["response"]) for row in rows if row["id"] in examples)
    return scores, quoting, sum(not parsed(row) for row in rows)


def recipe_config(path: str | Path) -> tuple[str, LoopConfig]:
    """A recipe's kind and config: the one trainer of ``TRAINERS`` whose config the recipe
    fits (its keys tell them apart: ``n_feedback`` is VAC's, ``samples`` ReST-EM's, a
    reasoning warm-up REST-PG's)."""
    if not Path(path).is_file():
        raise TailorError(f"{path}: no such recipe")
    fits: dict[str, LoopConfig] = {}
    for entry in TRAINERS.values():
        try:
            config = load_yaml_config(entry.trainer.config_class, path, "recipe")
        except TailorError:
            continue
        fits.setdefault(kind_of(config), config)
    if len(fits) != 1:
        found = f"fits {', '.join(sorted(fits))}" if fits else "fits no trainer's config"
        raise TailorError(f"{path}: a learning table's recipe must fit one trainer's config; it {found}")
    return next(iter(fits.items()))


def accepted_formats(config: LoopConfig) -> tuple[str, ...]:
    """The answer formats the config's loop accepts with its other settings (VAC: ``answer``
    alone; ReST-EM without warm-up: ``answer`` and ``longform``)."""
    accepted = []
    for name in FORMATS:
        try:
            type(config).model_validate({**config.model_dump(), "format": name})
        except (ValidationError, ValueError):
            continue
        accepted.append(name)
    return tuple(accepted)


def setting(name: str, value) -> str:
    """A setting as a recipe writes it."""
    return f"{name}: {json.dumps(value) if isinstance(value, bool) or value is None else value}"


def described(config: LoopConfig, changes: dict) -> tuple[str, bool]:
    """What a run of ``config`` is, from its declared settings (those set), its variant's
    ``changes`` and the settings an oracle fills (which every row that uses one must say);
    and whether it uses an oracle."""
    shown = {name: value for name in type(config).described_by if (value := getattr(config, name)) is not None}
    parts = [setting(name, value) for name, value in shown.items()]
    parts += [setting(name, value) for name, value in changes.items() if name not in shown]
    oracles = [setting(name, ORACLE) for name in oracle_settings(config.model_dump(mode="json"))]
    parts += [found for found in oracles if found not in parts]
    return ", ".join(parts), bool(oracles)


def loop_rows(recipe: str | Path, seeds: list[int], examples: dict[str, Example]) -> list[Row]:
    """The recipe's run and each of its variants over ``seeds``: the seeds whose run has
    finished its held-out test (a recipe none of whose seeds has gives rows with no runs)."""
    kind, config = recipe_config(recipe)
    if not config.test_split:
        raise TailorError(f"{recipe}: a learning table's recipe needs a test_split (the held-out questions every row is scored on)")
    label = TRAINERS[kind].label
    rows: dict[str, Row] = {}
    for name, variant in config.runs():
        what, oracle = described(variant, config.variants.get(name, {}))
        title = f"{label} ({Path(recipe).stem}{'' if name == 'main' else f', {name}'})" + (" [oracle]" if oracle else "")
        rows[name] = Row(title, what, LOOP, [], [], [], [], [], accepted_formats(variant), str(recipe))
    for seed in seeds:
        for name, variant in seed_run(config, seed).runs():
            folder = RunFolder(variant.run_dir)
            history = folder.history()
            if history is None or history.test is None:
                continue
            kept = folder.test_answers(history.test.end_iteration)
            scores, quoting, unparsed = tally(read_jsonl(kept if kept.exists() else folder.test_answers(None)), examples)
            row = rows[name]
            row.runs.append(scores)
            row.seeds.append(seed)
            row.quoting.append(quoting)
            row.unparsed.append(unparsed)
            row.minutes.append(sum(stage.seconds for stage in history.stages.values()) / 60)
            row.run_dirs.append(str(folder.path))
            row.commits.append(history.test.commit or "unrecorded")
    return list(rows.values())
