"""The policy a training run kept, read from its ``history.json``, for evaluation and serving."""

import json
from pathlib import Path

from tailor.errors import TailorError


def kept_policy(run_dir: str | Path, iteration: int | None = None) -> str | None:
    """The policy adapter a finished training run (VAC, ReST-EM, REST-PG) kept, or its
    pi_``iteration``; None: the untrained base model."""
    path = Path(run_dir) / "history.json"
    history = json.loads(path.read_text()) if path.exists() else {}
    if "best_iteration" not in history:
        raise TailorError(f"{run_dir} holds no finished training run; train it first (`tailor train …`)")
    if iteration is None:
        return history["best_adapter"]
    if str(iteration) not in history["validation"]:
        raise TailorError(f"{run_dir} has no policy pi_{iteration}; it validated pi_{', pi_'.join(history['validation'])}")
    return history["validation"][str(iteration)]["adapter"]
