"""``history.json``, typed: what a training run records as it goes (the cost of each stage,
validation per iteration, the metric, the prompts trimmed to fit, the kept iteration and
adapters, the held-out test, the parts an oracle wrote). ``RunFolder.history()`` and ``write_history`` (``tailor.runs``,
which names the file) read and write it through ``History`` alone; a history written before
reads unchanged in meaning, and a key this model does not know is kept."""

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class _Record(BaseModel):
    """A record of ``history.json``: keys it does not know are kept, and a key the run did
    not write (one added since) is not written back."""

    model_config = ConfigDict(extra="allow")

    def document(self) -> dict:
        return self.model_dump(exclude_unset=True)


class StageCost(_Record):
    """A stage's wall time, backend calls and tokens by model role, its rows whose output did
    not parse, its requests never sent for length; a fine-tuning stage's held-out rows and
    the best loss on them."""

    seconds: float
    calls: dict[str, int] = {}
    tokens: dict[str, int] = {}
    unparsed: int = 0
    skipped_for_length: int = 0
    eval_rows: int | None = None
    best_eval_loss: float | None = None


class Validated(_Record):
    """pi_t on the validation split: its mean score, its adapter (None: the base model), the
    adapters of every role of the method validated, relative to the run folder (a history
    written before has none), how many answers were scored, of how many, and those
    unparsed or never sent for length."""

    score: float | None = None
    adapter: str | None = None
    adapters: dict[str, str | None] | None = None
    scored: int = 0
    examples: int = 0
    unparsed: int = 0
    skipped_for_length: int = 0


class MetricIdentity(_Record):
    """The metric that scored the run, and whether it is a proxy (not the benchmark's judge)."""

    name: str = "score"
    proxy: bool = False


class Trimmed(_Record):
    """The training prompts that dropped retrieved items to fit, and how many items."""

    inputs: int
    items: int


class HeldOutTest(_Record):
    """The untrained policy (start) against the kept pi_``end_iteration`` (end) on a held-out
    split, with the paired t-test's p-value; the lists are untrained / kept."""

    split: str
    examples: int
    end_iteration: int
    start: float | None = None
    end: float | None = None
    p_value: float | None = None
    scored: list[int] | None = None
    unparsed: list[int] | None = None
    skipped_for_length: list[int] | None = None
    commit: str | None = None  # the code it ran (``tailor.source``); None in runs from before it was recorded


def _kept_key(role: str) -> str:
    return "best_adapter" if role == "policy" else f"best_{role}"


class History(_Record):
    """``history.json``: what a training run recorded. ``kept`` holds the adapter a finished
    run kept for each role (None: the base model), on disk ``best_adapter`` for the policy
    and ``best_<role>`` for any other (POPI's ``best_summarizer``)."""

    stages: dict[str, StageCost] = {}
    validation: dict[int, Validated] = {}
    metric: MetricIdentity | None = None
    trimmed: Trimmed | None = None
    best_iteration: int | None = None
    kept: dict[str, str | None] = Field(default_factory=dict, exclude=True)
    test: HeldOutTest | None = None
    oracle: dict[str, str] | None = None  # the settings an oracle filled (``train/oracle.py``), each with what it wrote

    @classmethod
    def read(cls, document: dict) -> "History":
        """From the file's content, as any run wrote it."""
        roles = {key: "policy" if key == "best_adapter" else key.removeprefix("best_") for key in document if key.startswith("best_") and key != "best_iteration"}
        recorded = {key: value for key, value in document.items() if key not in roles}
        return cls.model_validate(recorded | {"kept": {role: document[key] for key, role in roles.items()}})

    def document(self) -> dict:
        """The file's content, its keys in the order a run records them."""
        document: dict = {"stages": {name: cost.document() for name, cost in self.stages.items()},
                          "validation": {str(t): v.document() for t, v in self.validation.items()}}
        for name in ("metric", "trimmed"):
            if (record := getattr(self, name)) is not None:
                document[name] = record.document()
        if self.oracle:
            document["oracle"] = self.oracle
        if self.best_iteration is not None:
            document["best_iteration"] = self.best_iteration
        # the policy's adapter beside the kept iteration (``Run.finish`` records them together,
        # before the test), any other role's after the test (its trainer records it then)
        kept = {_kept_key(role): adapter for role, adapter in self.kept.items()}
        if "best_adapter" in kept:
            document["best_adapter"] = kept.pop("best_adapter")
        if self.test is not None:
            document["test"] = self.test.document()
        document |= kept
        return document | (self.model_extra or {})

    @property
    def finished(self) -> bool:
        """Whether the run recorded what it kept (``Run.finish``): the kept iteration and its
        adapters, or, for a loop validated by held-out loss alone (the planner), its adapter."""
        return bool(self.kept)

    def summary(self) -> "TrainingSummary":
        """The one summary of the run (``TrainingSummary``)."""
        scores = {t: v.score for t, v in self.validation.items()}
        best = self.best_iteration
        losses = [stage.best_eval_loss for stage in self.stages.values() if stage.best_eval_loss is not None]
        return TrainingSummary(
            [scores.get(t) for t in range(max(scores) + 1)] if scores else [], len(scores), best,
            scores.get(best) if best is not None else None, dict(self.kept), self.metric or MetricIdentity(), self.test,
            self.finished, min(losses) if self.finished and not scores and losses else None,
        )


@dataclass(frozen=True)
class TrainingSummary:
    """What a training run's history says of it, the one summary its report, the run
    browser, ``tailor runs`` and the trainer's result show: validation by iteration (None
    where pi_t was not validated), how many policies were validated, the kept iteration
    (None: unfinished, or validated by held-out loss alone) with its score, the kept adapters
    by role, the metric, the test, whether it finished, and for a run validated by held-out
    loss alone (the planner) the best loss that picked what it kept."""

    validation: list[float | None]
    validated: int
    best_iteration: int | None
    best_score: float | None
    kept: dict[str, str | None]
    metric: MetricIdentity
    test: HeldOutTest | None
    finished: bool = False
    held_out_loss: float | None = None
