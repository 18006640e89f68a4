"""The adapters a training run kept, for evaluation and serving (the run folder's layout
is ``tailor.runs``'s)."""

from pathlib import Path

from tailor.runs import RunFolder, is_training_run


def kept_policy(run_dir: str | Path, iteration: int | None = None) -> str | None:
    """The policy adapter a finished training run kept, or its pi_``iteration``; None: the
    untrained base model."""
    return RunFolder(run_dir).kept_adapter("policy", iteration)


def trained_adapter(path: str | None, role: str = "policy") -> str | None:
    """``path`` when it is an adapter (or a served adapter's name); when it is a training
    run's folder, the adapter that run kept for ``role``."""
    if path is None or not is_training_run(path):
        return path
    return RunFolder(path).kept_adapter(role)
