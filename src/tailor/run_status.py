"""What ``tailor runs`` shows of each run folder: its kind, its status, when it last
changed and its headline number."""

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tailor.errors import TailorError
from tailor.metrics import METRICS
from tailor.runs import EVAL_KIND, RunFolder, find_runs

STATUSES = ("running", "finished", "resumable", "failed", "unreadable")


@dataclass
class RunSummary:
    name: str
    path: Path
    kind: str
    status: str  # one of STATUSES
    updated: datetime
    headline: str  # the run's main number with what it measures, or "–"
    error: str | None = None  # why the last attempt failed, or why the run cannot be read


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _finished(run: RunFolder, kind: str) -> bool:
    """Whether the run's outputs are complete, for folders that predate the attempt stamp."""
    if kind == EVAL_KIND:
        return run.report_json.exists()
    history = run.history()
    return history is not None and history.finished


def status(run: RunFolder, kind: str) -> str:
    """``running`` only while the process that stamped the attempt lives (on this host);
    an attempt that was killed or interrupted can be resumed by running it again."""
    state = run.state()
    match state.get("status"):
        case "running" if state.get("host") == socket.gethostname() and _alive(int(state.get("pid", 0))):
            return "running"
        case "failed":
            return "failed"
        case "finished":
            return "finished"
        case None:
            return "finished" if _finished(run, kind) else "resumable"
    return "resumable"


def _updated(path: Path) -> datetime:
    """The newest modification time of the run's files (its stage files included)."""
    newest = path.stat().st_mtime
    for child in path.rglob("*"):
        try:
            newest = max(newest, child.stat().st_mtime)
        except OSError:  # a file replaced while we looked
            continue
    return datetime.fromtimestamp(newest, timezone.utc)


def _metric(name: str, proxy: bool) -> str:
    return f"{name} (proxy)" if proxy else name


def headline(run: RunFolder, kind: str) -> str:
    """Training: the kept policy's validation score; eval: the best method of the first
    table by its macro mean (lower first where the metric is an error)."""
    if kind == EVAL_KIND:
        tables = (run.report() or {}).get("tables") or []
        rows = [r for r in tables[0]["rows"] if r.get("macro", {}).get("mean") is not None] if tables else []
        if not rows:
            return "–"
        table = tables[0]
        info = METRICS.get(table["metric"])  # None: not a table name (proxy-coverage), or one since removed
        best = (max if info is None or info.higher_is_better else min)(rows, key=lambda r: r["macro"]["mean"])
        return f"{best['method']} {best['macro']['mean']:.4f} {table['metric']} ({table['dataset']}/{table['split']})"
    history = run.history()
    summary = history.summary() if history else None
    if summary is not None and summary.held_out_loss is not None:  # validated by held-out loss alone (the planner)
        return f"held-out loss {summary.held_out_loss:.4f}"
    if summary is None or summary.best_score is None:
        return "–"
    return f"π_{summary.best_iteration} {summary.best_score:.4f} {_metric(summary.metric.name, summary.metric.proxy)}"


def summarize(run: RunFolder) -> RunSummary:
    """The run's line; one whose files cannot be read is ``unreadable``, with why."""
    kind = run.kind() or "unknown"
    try:
        return RunSummary(run.path.name, run.path, kind, status(run, kind), _updated(run.path), headline(run, kind), run.state().get("error"))
    except TailorError as err:
        return RunSummary(run.path.name, run.path, kind, "unreadable", _updated(run.path), "–", str(err))


def list_runs(root: str | Path) -> list[RunSummary]:
    """Every run folder directly under ``root``, the most recently changed first."""
    return sorted((summarize(run) for run in find_runs(root)), key=lambda s: s.updated, reverse=True)
