"""The run-folder layout, owned here: every other module asks a ``RunFolder`` (a training
run, or an eval run's output folder) or a ``UnitFolder`` (one dataset × split × method of
an eval run) where a file lives, rather than joining names by hand.

A training run folder holds ``run.json`` (its kind), ``config.json`` (the settings it was
started with, for ``--resume``), ``history.json`` (validation per iteration, the kept
adapters, the cost of each stage), one ``iter_<t>/`` per iteration with its stage files
and adapters, its variants in sub-folders, and its report (``report.md``, ``report.json``,
plots). An eval run folder holds ``run.json``, its report and one unit folder per
dataset / split / method with ``responses.json`` (the benchmark's format),
``traces.jsonl``, ``meta.json`` and ``scores.json``."""

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from tailor.errors import TailorError
from tailor.io import atomic_write_json

# What a run's history names each kept adapter, by role: the trained policy (VAC, ReST-EM,
# REST-PG; RPO's reflection model; POPI's generator) and POPI's summarizer.
KEPT = {"policy": "best_adapter", "summarizer": "best_summarizer"}
EVAL_KIND = "eval"


def _read(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

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
    def inference_file(self) -> Path:
        """The method a finished training run kept, as ``tailor.methods.inference.InferenceSpec``."""
        return self.path / "inference.json"

    def file(self, name: str) -> Path:
        """A file at the top of the run: ``report.md``, ``report.json``, ``curves.png``, …"""
        return self.path / name

    def iteration(self, t: int) -> Path:
        return self.path / f"iter_{t}"

    def test_answers(self, name: str) -> Path:
        """The held-out test's answers of ``untrained`` or ``iter_<t>`` (``Run.test``)."""
        return self.path / "test" / f"{name}.jsonl"

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
        report = _read(self.file("report.json"))
        return EVAL_KIND if report and "tables" in report else None

    def config(self) -> dict:
        return _read(self.config_file) or {}

    def write_config(self, config: dict) -> None:
        atomic_write_json(self.config_file, config)

    def report(self) -> dict | None:
        """``report.json``, or None when the run has written none (or it does not parse)."""
        return _read(self.file("report.json"))

    def history(self) -> dict | None:
        return _read(self.history_file)

    def write_history(self, history: dict) -> None:
        atomic_write_json(self.history_file, history)

    def variants(self) -> list[tuple[str, "RunFolder"]]:
        """The variants of this run's recipe that have started, by name."""
        return [(name, self.variant(name)) for name in self.config().get("variants", {}) if self.variant(name).history_file.exists()]

    # --- what the run kept ---------------------------------------------------------------
    def finished_history(self) -> dict:
        history = self.history() or {}
        if "best_iteration" not in history:
            raise TailorError(f"{self.path} holds no finished training run; train it first (`tailor train …`)")
        return history

    def kept_adapter(self, role: str = "policy", iteration: int | None = None) -> str | None:
        """The adapter a finished run kept for ``role``, or its pi_``iteration``; None: the
        untrained base model."""
        history = self.finished_history()
        if iteration is not None:
            if str(iteration) not in history["validation"]:
                raise TailorError(f"{self.path} has no policy pi_{iteration}; it validated pi_{', pi_'.join(history['validation'])}")
            return history["validation"][str(iteration)]["adapter"]
        if KEPT[role] not in history:
            raise TailorError(f"{self.path} kept no {role} adapter: it is not a run that trains one")
        return history[KEPT[role]]


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
    """Whether ``path`` is a training run's folder (rather than an adapter)."""
    return RunFolder(path).history_file.exists()


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
