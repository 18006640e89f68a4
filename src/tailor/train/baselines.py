"""The learning table's baselines, on the same test questions as its loops:

- answers that read nothing, which every loop must beat: one sentence listing the planted
  task's whole vocabulary (every city, pet, unit amount and diet of ``tailor.data.planted``,
  so it follows the generator), a fixed sentence naming both unit systems and every diet,
  the user's posts pasted back, and another user's gold answer (a fixed derangement:
  users in order, each given the next one's answer to the question at the same place);
- the gold answer, a ceiling;
- the untrained model with each answer prompt tailor has (``tailor.prompts.formats``), as
  RAG with the recipes' retriever and k: a loop's starting point is the best of those its
  recipe accepts, and the best of all is a baseline every loop must beat.

They are answered and scored once per setting set (data, split, model, judge, metric,
retriever, k and answer settings: ``baseline_config``), in ``<out>/baselines/<digest>/``,
through a training run's stages: each baseline is a stage, read back when done, its cost in
that folder's ``history.json``."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tailor.data import load_examples
from tailor.data.planted import CITIES, DIETS, PETS, UNITS
from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.io import json_digest
from tailor.methods.base import Answer, Method
from tailor.pool import ModelPool
from tailor.prompts.formats import FORMATS
from tailor.runs import RunFolder
from tailor.train.learning_rows import CEILING, READS_NOTHING, UNTRAINED, Row, tally
from tailor.train.loop import LoopInputs
from tailor.train.sft import train_sft
from tailor.train.stages import LoopConfig, Run

UNITS_AND_DIETS = "Aim for 5 km (3 miles); vegetarian, vegan, pescatarian or gluten-free options all work."


def listed(words) -> str:
    words = list(words)
    return ", ".join(words[:-1]) + f" or {words[-1]}" if len(words) > 1 else "".join(words)


def vocabulary_sentence() -> str:
    """One sentence stating every value the planted generator can give a user."""
    amounts = [amount for system in UNITS.values() for amount in system.values() if isinstance(amount, str)]
    return (f"Whether you live in {listed(CITIES)}, walk {listed(PETS)}, count in {listed(amounts)}, "
            f"or eat {listed(DIETS)}, this plan works for you.")


def user_of(example: Example) -> str:
    return example.user_id or example.id


def other_users_gold(examples: list[Example]) -> dict[str, str | None]:
    """Each question's answer from another user: users in order of id, each given the next
    one's (the last the first's) gold answer to the question at the same place among their
    questions (cycling where the other has fewer)."""
    by_user: dict[str, list[Example]] = {}
    for e in examples:
        by_user.setdefault(user_of(e), []).append(e)
    users = sorted(by_user)
    given = {}
    for i, user in enumerate(users):
        other = by_user[users[(i + 1) % len(users)]]
        given.update({e.id: other[j % len(other)].reference for j, e in enumerate(by_user[user])})
    return given


@dataclass(frozen=True)
class Baseline:
    """One baseline: its name (the table's row and its answers' file), what its answers are,
    its kind, and how it answers: written from the questions (``write``), or the untrained
    model with the answer prompt ``format``."""

    name: str
    what: str
    kind: str
    write: Callable[[list[Example]], list[str | None]] | None = None
    format: str | None = None


def baselines(examples: list[Example]) -> list[Baseline]:
    """Every baseline the test questions allow: the gold answers' two need a gold answer on
    every question, another user's one at least two users."""
    fixed = [
        Baseline("vocabulary sentence", "one sentence naming every city, pet, unit amount and diet of the planted generator", READS_NOTHING,
                 lambda batch: [vocabulary_sentence()] * len(batch)),
        Baseline("units-and-diets sentence", f"always “{UNITS_AND_DIETS}”", READS_NOTHING, lambda batch: [UNITS_AND_DIETS] * len(batch)),
        Baseline("pasted posts", "the user's posts pasted back, all of them", READS_NOTHING,
                 lambda batch: [" ".join(item.text for item in e.profile) for e in batch]),
    ]
    if all(e.reference for e in examples):
        if len({user_of(e) for e in examples}) > 1:
            fixed.append(Baseline("another user's gold", "another user's gold answer (a fixed derangement of users)", READS_NOTHING,
                                  lambda batch: [other_users_gold(examples)[e.id] for e in batch]))
        fixed.append(Baseline("gold", "the gold answer", CEILING, lambda batch: [e.reference for e in batch]))
    untrained = [Baseline(f"untrained {name}", f"the base model, RAG with the {name} prompt", UNTRAINED, format=name) for name in FORMATS]
    return fixed + untrained


def file_name(name: str) -> str:
    """A baseline's name as a file name: letters, digits and dashes."""
    return "".join(c if c.isalnum() else "-" for c in name.replace("'", "")).strip("-")


class Written(Method):
    """Answers that no model writes: a baseline's own texts."""

    def __init__(self, baseline: Baseline):
        self.name, self.write = baseline.name, baseline.write

    def answer_batch(self, examples: list[Example]) -> list[Answer]:
        return [Answer(text or "", {"method": self.name}) for text in self.write(examples)]


# The settings every recipe of a table must share (else their rows would not score the same
# answers on the same questions), and those only the recipes whose loop reads them must.
SHARED = ("data", "test_split", "test_limit", "policy", "judge", "metric", "metric_options", "answer_temperature")
RETRIEVAL = ("retriever", "retriever_options", "k")


def shared_value(configs: list[tuple[str, LoopConfig]], key: str):
    """The one value of ``key`` every config holds; an error naming them where they differ."""
    values = {json_digest(c.model_dump(mode="json")[key]): (name, getattr(c, key)) for name, c in configs}
    if len(values) > 1:
        named = "; ".join(f"{name}: {value}" for name, value in values.values())
        raise TailorError(f"the table's recipes differ in {key} ({named}); their rows would not be scored alike")
    return next(iter(values.values()))[1]


def baseline_config(configs: list[tuple[str, LoopConfig]], out: str | Path) -> LoopConfig:
    """The settings the baselines are answered with, from the table's recipes (name, config):
    the data, test split, policy, judge, metric and answer temperature they all share, the
    retriever and k of those that retrieve, the most answer tokens and attempts any of them
    allows (no untrained prompt is cut shorter than a loop's), and seed 0; its run folder
    is named by their digest."""
    if not configs:
        raise TailorError("a learning table needs at least one recipe")
    settings = {key: shared_value(configs, key) for key in SHARED}
    retrieving = [(name, c) for name, c in configs if "k" not in type(c).unread]
    settings |= {key: shared_value(retrieving, key) for key in RETRIEVAL} if retrieving else {}
    settings |= {"answer_max_tokens": max(c.answer_max_tokens for _, c in configs), "max_attempts": max(c.max_attempts for _, c in configs)}
    config = LoopConfig.model_validate({**settings, "seed": 0})
    return config.model_copy(update={"run_dir": Path(out) / "baselines" / json_digest(config.staged())[:12]})


def score_baselines(config: LoopConfig, pool: ModelPool | None = None) -> list[Row]:
    """Every baseline's row on the config's test split, answered and scored once in its
    run folder (a rerun reads them back); the untrained prompts load the model only when
    their answers are not there yet."""
    pool = pool or ModelPool(config.policy)
    examples = load_examples(config.data, split=config.test_split)[: config.test_limit]
    metric = pool.metric(config.metric, config.judge, config.metric_options)
    inputs = LoopInputs([], [], pool.llm(config.policy), metric, pool.retriever(config.retriever, config.retriever_options), pool)
    folder = RunFolder(config.run_dir)
    folder.write_config(config.model_dump(mode="json", exclude={"run_dir"}))
    run = Run(config, inputs, train_sft)
    by_id = {e.id: e for e in examples}
    rows = []
    for baseline in baselines(examples):
        method = run.built(config.model_copy(update={"format": baseline.format}).inference({})) if baseline.format else Written(baseline)
        stage = f"test/{baseline.name}"
        answers = run.scored_answers(stage, folder.path / "test" / f"{file_name(baseline.name)}.jsonl", method, examples)
        scores, quoting, unparsed = tally(answers, by_id)
        seconds = run.history.stages[stage].seconds if stage in run.history.stages else 0.0
        rows.append(Row(baseline.name, baseline.what, baseline.kind, [scores], [config.seed], [quoting], [unparsed], [seconds / 60],
                        (baseline.format,) if baseline.format else (), run_dirs=[str(folder.path)]))
    return rows
