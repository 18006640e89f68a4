"""The run-folder layout, owned here: every other module asks a ``RunFolder`` (a training
run, or an eval run's output folder), a ``StageFolder`` (one stage of a training run), a
``JobFolder`` (one fine-tuning job) or a ``UnitFolder`` (one dataset × split × method of an
eval run) where a file lives, and never writes a run file's name itself
(``tests/test_run_files.py``); ``RunFolder.history()`` reads and ``write_history`` writes
``history.json`` through the typed ``History`` (``tailor.run_history``) alone.

A training run folder holds ``run.json`` (its kind and the state of its last attempt),
``config.json`` (the settings it was started with, for ``--resume``), ``history.json`` (the
cost of each stage, validation per iteration, the kept adapters, the held-out test),
``tailor.log``, ``preflight/`` (the probe adapters the servers were checked with), one
``iter_<t>/`` per iteration with its stage files and fine-tuning jobs (the ``StageFile``s below),
ReST's ``warmup/`` and RPO's ``sft/`` stages, ``test/`` (the held-out test's answers), its
variants in sub-folders, and its report (``report.md``, ``report.json``, ``curves.png``,
``budget.png``, ``case_studies.md``). An eval run folder holds ``run.json``, ``tailor.log``,
its report (``report.md``, ``report.json``, ``report.png``, ``context.png``) and one unit
folder per dataset / split / method with ``responses.json`` (the benchmark's format),
``traces.jsonl``, ``meta.json`` and ``scores.json``."""

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from tailor.errors import TailorError
from tailor.io import atomic_write_json
from tailor.run_history import History, Validated

EVAL_KIND = "eval"


@dataclass(frozen=True)
class StageFile:
    """A file (or a fine-tuning job's folder) a training stage writes in its stage folder,
    and what it holds."""

    name: str
    holds: str


# Rows about one example each (keyed by ``id``; POPI's summaries by ``user``), read back when a
# rerun finds the stage done, and shown by the run browser where a trainer declares them.
VALIDATION = StageFile("validation.jsonl", "π_t's answer to each validation question, its score and whether it parsed")
INITIAL = StageFile("initial.jsonl", "π_{t-1}'s answer to each training question")
INITIAL_SCORES = StageFile("initial_scores.jsonl", "the score of each initial answer")
FEEDBACKS = StageFile("feedbacks.jsonl", "the N feedbacks sampled per answer, each with its revision and that revision's score")
CHOSEN_FEEDBACK = StageFile("chosen_feedback.jsonl", "per question, the sampled feedback whose revision scored best (φ_t's target)")
REVISED = StageFile("revised.jsonl", "φ_t's greedy feedback and π_{t-1}'s revision by it (π_t's target)")
TRAIN_SCORES = StageFile("train_scores.jsonl", "the scores of each initial answer and of its revision")
REASONING = StageFile("reasoning.jsonl", "the reasoning summary written for each training input (the warm-up's targets)")
SAMPLES = StageFile("samples.jsonl", "the m replies sampled per input and their rewards (the E-step)")
KEPT_SAMPLES = StageFile("kept.jsonl", "the sampled replies kept as targets")
GENERIC = StageFile("generic.jsonl", "the base model's generic answer to each training input")
TRAJECTORIES = StageFile("trajectories.jsonl", "the teacher's reasoning from the generic answer to the user's own")
SUMMARIES = StageFile("summaries.jsonl", "the N preference summaries sampled per user and the gain each brought")
CHOSEN_SUMMARIES = StageFile("chosen_summaries.jsonl", "each user's best-rewarded summary (the summarizer's target)")
ANSWERS = StageFile("answers.jsonl", "the M answers sampled per input from its user's chosen summary, scored")
# The rows a fine-tuning job trains on.
POLICY_SFT = StageFile("policy_sft.jsonl", "the policy's SFT rows")
POLICY_DPO = StageFile("policy_dpo.jsonl", "the policy's DPO pairs")
FEEDBACK_SFT = StageFile("feedback_sft.jsonl", "the feedback model's SFT rows")
REFLECTION_SFT = StageFile("reflection_sft.jsonl", "the reflection model's SFT rows")
RL_PROMPTS = StageFile("rl_prompts.jsonl", "the prompts of this RL stage")
SUMMARIZER_SFT = StageFile("summarizer_sft.jsonl", "the summarizer's SFT rows")
GENERATOR_DPO = StageFile("generator_dpo.jsonl", "the generator's DPO pairs")
# Fine-tuning jobs (a ``JobFolder`` each).
POLICY_MODEL = StageFile("policy_model", "the policy's fine-tuning")
FEEDBACK_MODEL = StageFile("feedback_model", "the feedback model's fine-tuning")
SUMMARIZER_MODEL = StageFile("summarizer_model", "the summarizer's fine-tuning")
GENERATOR_MODEL = StageFile("generator_model", "the generator's fine-tuning")


def _read(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def building(path: Path) -> Path:
    """Where ``path`` is built before it is moved into place, so a killed build is never taken for it."""
    return path.with_name(f"{path.name}.partial")


# --- folders ------------------------------------------------------------------------------------


class StageFolder:
    """A folder of stage files and fine-tuning jobs: an iteration ``iter_<t>/``, ReST's
    ``warmup/``, RPO's ``sft/``, or the run's top (RPO's generic answers and trajectories)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def of(self, stage_file: StageFile) -> Path:
        return self.path / stage_file.name


_ADAPTER = "adapter"


class JobFolder:
    """One fine-tuning job's folder (``iter_<t>/policy_model/``, …; the planner's run folder):
    ``adapter/``, and once done ``curve.json`` and ``done.json`` (the job's fingerprint and
    result); while it trains ``checkpoints/`` (with the ``fingerprint`` they belong to) and
    ``adapter.partial/``; launched on several processes, ``job.json`` and ``launch.log``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.adapter = self.path / _ADAPTER
        self.done_file = self.path / "done.json"
        self.curve_file = self.path / "curve.json"
        self.checkpoints = self.path / "checkpoints"
        self.checkpoints_fingerprint = self.checkpoints / "fingerprint"
        self.job_file = self.path / "job.json"
        self.launch_log = self.path / "launch.log"


def is_job_adapter(path: str | Path) -> bool:
    """Whether ``path`` is a fine-tuning job's ``adapter/`` (named by the job's folders)."""
    return Path(path).name == _ADAPTER


class RunFolder(StageFolder):
    # --- files ---------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def history_file(self) -> Path:
        return self.path / "history.json"

    @property
    def kind_file(self) -> Path:
        return self.path / "run.json"

    @property
    def log_file(self) -> Path:
        return self.path / "tailor.log"

    @property
    def inference_file(self) -> Path:
        """The method a finished training run kept, as ``tailor.methods.inference.InferenceSpec``."""
        return self.path / "inference.json"

    @property
    def report_markdown(self) -> Path:
        return self.path / "report.md"

    @property
    def report_json(self) -> Path:
        return self.path / "report.json"

    @property
    def curves_plot(self) -> Path:
        """A training run's validation per iteration (and the training signal beside it)."""
        return self.path / "curves.png"

    @property
    def budget_plot(self) -> Path:
        """REST-PG's validation per task against the exploration budget."""
        return self.path / "budget.png"

    @property
    def case_studies(self) -> Path:
        return self.path / "case_studies.md"

    @property
    def scores_plot(self) -> Path:
        """An eval run's scores per method."""
        return self.path / "report.png"

    @property
    def context_plot(self) -> Path:
        """An eval run's quality against the personalization context each method carried."""
        return self.path / "context.png"

    def plots(self) -> list[Path]:
        """Every plot a report of this run may have drawn, in the order they are shown."""
        return [self.curves_plot, self.budget_plot, self.scores_plot, self.context_plot]

    def probe_adapter(self, key: str) -> Path:
        """The probe adapter of shape ``key`` the generation servers were checked with."""
        return self.path / "preflight" / f"probe-{key}"

    @property
    def job(self) -> JobFolder:
        """The run as one fine-tuning job (the PlanPers planner's)."""
        return JobFolder(self.path)

    def iteration(self, t: int) -> StageFolder:
        return StageFolder(self.path / f"iter_{t}")

    @property
    def warmup(self) -> StageFolder:
        """ReST-EM / REST-PG's warm-up SFT, before pi_0."""
        return StageFolder(self.path / "warmup")

    @property
    def sft(self) -> StageFolder:
        """RPO's SFT on the teacher's trajectories, before the RL curriculum."""
        return StageFolder(self.path / "sft")

    def test_answers(self, iteration: int | str | None) -> Path:
        """The held-out test's answers of pi_``iteration``, the untrained policy (None) or a named baseline."""
        name = iteration if isinstance(iteration, str) else "untrained" if iteration is None else f"iter_{iteration}"
        return self.path / "test" / f"{name}.jsonl"

    def seed(self, seed: int) -> "RunFolder":
        """The same recipe's run with another ``seed`` (``tailor train --seed``)."""
        return RunFolder(self.path / f"seed-{seed}")

    def iterations(self) -> list[int]:
        """The t of every ``iter_<t>`` folder, in order."""
        return sorted(int(p.name[5:]) for p in self.path.glob("iter_*") if p.name[5:].isdigit())

    def variant(self, name: str) -> "RunFolder":
        return RunFolder(self.path / name)

    def unit(self, dataset: str, split: str, method: str) -> "UnitFolder":
        return UnitFolder(self.path / dataset / split / method)

    # --- what the run is -----------------------------------------------------------------
    def write_kind(self, kind: str) -> None:
        """Stamp the folder with the run's kind, keeping the attempt's state (a rerun leaves
        the file untouched)."""
        stamp = _read(self.kind_file) or {}
        if stamp.get("kind") != kind:
            atomic_write_json(self.kind_file, stamp | {"kind": kind})

    @contextlib.contextmanager
    def attempt(self, kind: str) -> Iterator[None]:
        """Stamp the folder with its kind and the state of this attempt at the run:
        ``running`` (by this process) while the block runs, then ``finished``, ``failed``
        (with the error) or ``interrupted``. ``tailor runs`` reads it back. A folder
        stamped with another kind is refused, untouched."""
        held = (_read(self.kind_file) or {}).get("kind")
        if held not in (None, kind):
            raise TailorError(f"{self.path} holds a {held} run; use another folder for this {kind} run")
        started = _now()

        def stamp(status: str, error: str | None = None) -> None:
            state = {"status": status, "pid": os.getpid(), "host": socket.gethostname(), "started": started, "updated": _now()}
            atomic_write_json(self.kind_file, {"kind": kind, "state": state | ({"error": error} if error else {})})

        self.path.mkdir(parents=True, exist_ok=True)
        stamp("running")
        try:
            yield
        except KeyboardInterrupt:
            with contextlib.suppress(OSError):  # the interrupt, not a full disk, is what to report
                stamp("interrupted")
            raise
        except BaseException as err:
            with contextlib.suppress(OSError):
                stamp("failed", f"{type(err).__name__}: {err}"[:500])
            raise
        stamp("finished")

    def state(self) -> dict:
        """What the last attempt left in ``run.json`` (empty for runs written before)."""
        state = (_read(self.kind_file) or {}).get("state")
        return state if isinstance(state, dict) else {}

    def kind(self) -> str | None:
        """What made the run: a key of ``tailor.train.TRAINERS``, or ``eval``; None when
        the folder holds no run. Folders written before ``run.json`` are recognised by
        the files and settings they hold."""
        stamp = _read(self.kind_file)
        if stamp and isinstance(stamp.get("kind"), str):
            return stamp["kind"]
        if self.history_file.exists():
            return _legacy_training_kind(self.config())
        report = self.report()
        return EVAL_KIND if report and "tables" in report else None

    def config(self) -> dict:
        return _read(self.config_file) or {}

    def write_config(self, config: dict) -> None:
        atomic_write_json(self.config_file, config)

    def report(self) -> dict | None:
        """``report.json``, or None when the run has written none (or it does not parse)."""
        return _read(self.report_json)

    def history(self) -> History | None:
        """``history.json``, or None when the run has written none (or it does not parse);
        one that does not fit ``History`` is refused, naming the first field at fault."""
        document = _read(self.history_file)
        if document is None:
            return None
        try:
            return History.read(document)
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(map(str, first["loc"])) or "its top"
            raise TailorError(f"{self.history_file} is not a run's history: {field}: {first['msg']}") from err

    def write_history(self, history: History) -> None:
        atomic_write_json(self.history_file, history.document())

    def variants(self) -> list[tuple[str, "RunFolder"]]:
        """The variants of this run's recipe that have started, by name."""
        return [(name, self.variant(name)) for name in self.config().get("variants", {}) if self.variant(name).history_file.exists()]

    # --- what the run kept ---------------------------------------------------------------
    def finished_history(self) -> History:
        history = self.history()
        if history is None or not history.finished:
            raise TailorError(f"{self.path} holds no finished training run; train it first (`tailor train …`)")
        return history

    def validated(self, iteration: int) -> Validated:
        """What a finished run recorded of its round ``iteration`` (pi_t) on the validation split."""
        history = self.finished_history()
        if iteration not in history.validation:
            raise TailorError(f"{self.path} has no policy pi_{iteration}; it validated pi_{', pi_'.join(map(str, history.validation))}")
        return history.validation[iteration]

    def kept_adapter(self, role: str = "policy", iteration: int | None = None) -> str | None:
        """The adapter a finished run kept for ``role``, or its pi_``iteration``, as training
        named it (``tailor.methods.inference.found_adapter`` finds it now); None: the
        untrained base model."""
        if iteration is not None:
            return self.validated(iteration).adapter
        history = self.finished_history()
        if role not in history.kept:
            raise TailorError(f"{self.path} kept no {role} adapter: it is not a run that trains one")
        return history.kept[role]


class TableFolder:
    """A learning table's folder: ``table.md``, ``.json``, ``.png``, and ``baselines/<digest>/`` (their runs)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.markdown, self.json, self.figure = (self.path / f"table.{ext}" for ext in ("md", "json", "png"))

    def baselines(self, digest: str) -> RunFolder:
        return RunFolder(self.path / "baselines" / digest)


class UnitFolder:
    """One dataset × split × method of an eval run."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.responses = self.path / "responses.json"
        self.traces = self.path / "traces.jsonl"
        self.meta = self.path / "meta.json"
        self.scores = self.path / "scores.json"

    def read_meta(self) -> dict | None:
        return _read(self.meta)

    def read_scores(self) -> dict | None:
        return _read(self.scores)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def is_training_run(path: str | Path) -> bool:
    """Whether ``path`` is a training run's folder (rather than an adapter): it holds a
    history or the description of the method it kept."""
    folder = RunFolder(path)
    return folder.history_file.exists() or folder.inference_file.exists()


def find_runs(root: str | Path) -> list[RunFolder]:
    """The run folders directly under ``root``, by name."""
    root = Path(root)
    if not root.is_dir():
        return []
    return [run for child in sorted(root.iterdir()) if child.is_dir() and (run := RunFolder(child)).kind()]


def _legacy_training_kind(config: dict) -> str:
    if "n_feedback" in config:
        return "vac"
    if "reflection_max_tokens" in config:
        return "rpo"
    if "n_summaries" in config:
        return "popi"
    if "samples" in config:
        return "rest-pg" if config.get("warmup") == "reasoning" else "rest-em"
    return "training"
