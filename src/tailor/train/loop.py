"""One shape for every trainer: a config object in, ``run(run_dir, resume) -> LoopResult``
out. ``LoopTrainer`` does what every loop shares (load the splits, build the models once in
a ``ModelPool``, run the recipe and each of its variants, write the run report); a
trainer only says how to train one run (``train_one``). What kind of run it makes, and
what that is called, is its entry's in ``tailor.train.trainers.TRAINERS``.

>>> result = VACTrainer(VACConfig.from_yaml("configs/vac-sample-cpu.yaml")).run()
>>> result.best_adapter, result.report.markdown
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from tailor import logs
from tailor.data import load_examples
from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.llm import LLM
from tailor.metrics import Metric
from tailor.pool import ModelPool
from tailor.retrieval.base import Retriever
from tailor.run_history import HeldOutTest
from tailor.runs import RunFolder
from tailor.train.preflight import preflight
from tailor.train.stages import LoopConfig
from tailor.train.trainers import TRAINERS, kind_of
from tailor.train.views import VALIDATION_ANSWERS, ExampleView, ReportSection

if TYPE_CHECKING:
    from tailor.train.report import RunReport


@dataclass
class LoopInputs:
    """What every loop trains and validates on, built once for the run and its variants
    (``metric`` None: a loop that reads no metric, validating by held-out loss alone)."""

    train: list[Example]
    valid: list[Example]
    policy: LLM
    metric: Metric | None
    retriever: Retriever
    pool: ModelPool


@dataclass
class LoopResult:
    """One run: validation of pi_0 .. pi_T (empty for a trainer that validates by loss),
    the iteration and adapter it kept; ``variants`` holds its variants' results and
    ``report`` the run report's files."""

    kind: str
    run_dir: Path
    validation: list[float]
    best_iteration: int | None
    best_adapter: str | None
    metric: str = ""
    proxy: bool = False
    variants: dict[str, "LoopResult"] = field(default_factory=dict)
    report: "RunReport | None" = None
    summary: str = ""  # what a loop that validates by held-out loss alone kept, printed instead of per-iteration validation
    test: HeldOutTest | None = None  # the untrained policy against the kept one on the held-out split (``Run.test``), with a test_split

    def test_line(self) -> str | None:
        """The held-out test, as the CLI and the run report state it."""
        if not self.test:
            return None
        t = self.test
        p = "n/a" if t.p_value is None else f"{t.p_value:.3g}"
        unparsed = t.unparsed if t.unparsed is not None else [0, 0]
        return (f"test ({t.split}, {t.examples} examples): {self.metric} untrained {t.start:.4f} → "
                f"π_{t.end_iteration} {t.end:.4f}, paired t-test p = {p}"
                + (f"; unparsed answers {unparsed[0]} → {unparsed[1]}" if any(unparsed) else ""))

    def lines(self) -> list[str]:
        """Each iteration's validation score, the kept one marked, and the kept adapter."""
        label = " (proxy metric)" if self.proxy else ""
        lines = [
            f"iteration {t}: validation {self.metric}{label} {score:.4f}" + ("  <- best" if t == self.best_iteration else "")
            for t, score in enumerate(self.validation)
        ]
        kept = self.best_adapter or "(none: the untrained policy scored best)"
        lines += [line for line in [self.test_line()] if line]
        return lines + [self.summary or f"best policy adapter: {kept} | history: {RunFolder(self.run_dir).history_file}"]


def held_out_test(folder: RunFolder) -> HeldOutTest | None:
    history = folder.history()
    return history.test if history else None


class LoopTrainer:
    """A training loop over a ``LoopConfig``. Subclasses set ``config_class`` and implement
    ``train_one`` (and, to name a run by its settings, ``title``); they declare what their
    runs show beyond what every run has (``train/views.py``): ``report_sections``, the
    report's, and ``example_views``, the run browser's per example (by default the
    validation answers). What kind of run a trainer makes is its entry's in ``TRAINERS``."""

    config_class: ClassVar[type[LoopConfig]]
    report_sections: ClassVar[tuple[ReportSection, ...]] = ()
    example_views: ClassVar[tuple[ExampleView, ...]] = (VALIDATION_ANSWERS,)

    @classmethod
    def report_label(cls, config: dict) -> str:
        """What the report calls the recipe's own run (its ``config.json`` given) beside its variants."""
        return "main"

    def __init__(self, config: LoopConfig, pool: ModelPool | None = None, announce: Callable[[str], None] | None = None):
        if not isinstance(config, self.config_class):
            raise TailorError(f"{type(self).__name__} takes a {self.config_class.__name__}, got {type(config).__name__}")
        self.config, self.pool = config, pool or ModelPool(config.policy)
        self.announce = announce or (lambda message: None)

    def title(self, config: LoopConfig) -> str:
        """What a run of ``config`` is called in the CLI's output: its entry's label."""
        return TRAINERS[kind_of(config)].label

    def train_one(self, config: LoopConfig, inputs: LoopInputs):
        """Train one run of ``config`` (the recipe or a variant): a result with
        ``validation``, ``best_iteration`` and ``best_adapter`` (and, for a loop that
        validates by held-out loss alone, a ``summary`` of what it kept)."""
        raise NotImplementedError

    def inputs(self, config: LoopConfig) -> LoopInputs:
        train = load_examples(config.data, split=config.train_split)[: config.train_limit]
        valid = load_examples(config.data, split=config.valid_split)[: config.valid_limit]
        metric = self.pool.metric(config.metric, config.judge, config.metric_options) if config.metric else None
        retriever = self.pool.retriever(config.retriever, config.retriever_options)
        return LoopInputs(train, valid, self.pool.llm(config.policy), metric, retriever, self.pool)

    def run(self, run_dir: str | Path | None = None, resume: bool = False, cases: int = 3) -> LoopResult:
        """Check the generation servers (``preflight``), train the recipe and each variant in
        ``run_dir`` (default: the config's), then write the run report. A rerun reads
        finished stages back; ``resume`` also demands that ``run_dir`` already holds this run."""
        from tailor.train.report import write_run_report

        config = self.config if run_dir is None else self.config.model_copy(update={"run_dir": Path(run_dir)})
        folder = RunFolder(config.run_dir)
        if resume and not folder.config_file.exists():
            raise TailorError(f"{folder.path} holds no run to resume (no config.json)")
        with folder.attempt(kind_of(config)), logs.into(folder.path):
            preflight(config, self.pool)  # the generation servers, before any model is loaded or asked
            inputs = self.inputs(config)
            results: dict[str, LoopResult] = {}
            for name, variant in config.runs():
                self.announce(f"{self.title(variant)} ({name}) → {variant.run_dir}")
                trained = self.train_one(variant, inputs)
                metric = inputs.metric
                results[name] = LoopResult(
                    kind_of(variant), Path(variant.run_dir), list(trained.validation), trained.best_iteration, trained.best_adapter,
                    metric.name if metric else "", bool(metric and metric.proxy), test=held_out_test(RunFolder(variant.run_dir)),
                    summary=getattr(trained, "summary", ""),
                )
            main = results.pop("main")
            main.variants = results
            main.report = write_run_report(config.run_dir, inputs.train, inputs.valid, cases, trainer=type(self))
        return main
