"""The adapters a training run kept, read from its ``history.json``, for evaluation and serving."""

import json
from pathlib import Path

from tailor.errors import TailorError

# What a run's history names each kept adapter: the trained policy (VAC, ReST-EM, REST-PG;
# RPO's reflection model; POPI's generator) and POPI's summarizer.
KEPT = {"policy": "best_adapter", "summarizer": "best_summarizer"}


def _history(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "history.json"
    history = json.loads(path.read_text()) if path.exists() else {}
    if "best_iteration" not in history:
        raise TailorError(f"{run_dir} holds no finished training run; train it first (`tailor train …`)")
    return history


def kept_policy(run_dir: str | Path, iteration: int | None = None) -> str | None:
    """The policy adapter a finished training run kept, or its pi_``iteration``; None: the
    untrained base model."""
    history = _history(run_dir)
    if iteration is None:
        return history["best_adapter"]
    if str(iteration) not in history["validation"]:
        raise TailorError(f"{run_dir} has no policy pi_{iteration}; it validated pi_{', pi_'.join(history['validation'])}")
    return history["validation"][str(iteration)]["adapter"]


def trained_adapter(path: str | None, role: str = "policy") -> str | None:
    """``path`` when it is an adapter (or a served adapter's name); when it is a training
    run's folder, the adapter that run kept for ``role``."""
    if path is None or not (Path(path) / "history.json").exists():
        return path
    history = _history(path)
    if KEPT[role] not in history:
        raise TailorError(f"{path} kept no {role} adapter: it is not a run that trains one")
    return history[KEPT[role]]
