"""What a training run kept, as the one description its readers build from (eval rows,
``tailor answer``, ``tailor serve``, ``serve-llm``): its ``inference.json``, or, for a run
made before that file, the description its trainer's config gives with the adapters its
history kept."""

from pathlib import Path

from tailor.errors import TailorError
from tailor.methods.inference import InferenceSpec, found_adapter
from tailor.methods.registry import method_info
from tailor.runs import RunFolder, is_training_run
from tailor.train.trainers import TRAINERS


def kept_method(run_dir: str | Path, iteration: int | None = None) -> InferenceSpec:
    """The method the run in ``run_dir`` kept; with ``iteration``, with its pi_t instead."""
    folder = RunFolder(run_dir)
    spec = InferenceSpec.read(folder) or _from_config(folder)
    return spec if iteration is None else spec.at_iteration(folder, iteration)


def trained_adapter(path: str | None, role: str, iteration: int | None = None) -> str | None:
    """``path`` when it is an adapter (or a served adapter's name); when it is a training
    run's folder, the adapter that run kept for ``role`` (its pi_``iteration``'s, if given)."""
    if path is None or not is_training_run(path):
        return path
    spec = kept_method(path, iteration)
    if role not in spec.adapters:
        raise TailorError(f"{path} kept no {role} adapter: its {spec.method} method has {', '.join(spec.adapters) or 'none'}")
    return spec.adapters[role]


def options_of_runs(method: str, adapters: dict[str, str | None]) -> dict:
    """The options ``method`` takes from the training runs among ``adapters`` (by role, each
    an adapter or a run's folder): those of the run given for its helper role, else for its
    trained role, when that run kept ``method`` (an eval row's ``adapters: {ROLE: RUN}``,
    ``tailor serve --adapter ROLE=RUN``); none: {} (the method's defaults)."""
    info = method_info(method)
    for role in dict.fromkeys(r for r in (info.helper, info.adapter) if r):
        path = adapters.get(role)
        if path and is_training_run(path) and (kept := kept_method(path)).method == method:
            return kept.options
    return {}


def served_adapter(path: str) -> str:
    """``path`` when it is an adapter; when it is a training run's folder, the adapter of the
    model it trained and kept (``serve-llm`` serves it)."""
    if not is_training_run(path):
        return path
    spec = kept_method(path)
    adapter = spec.adapters.get(spec.trained_role)
    if adapter is None:
        raise TailorError(f"{path} kept its untrained {spec.trained_role} model, which has no adapter to serve: serve the base model itself")
    return adapter


def _from_config(folder: RunFolder) -> InferenceSpec:
    """A run made before ``inference.json``: its config's description, with its history's kept adapters."""
    kind = folder.kind()
    if kind not in TRAINERS:
        raise TailorError(f"{folder.path} holds no finished training run; train it first (`tailor train …`)")
    config_class = TRAINERS[kind].trainer.config_class
    try:
        config = config_class.model_validate({**folder.config(), "run_dir": folder.path})
    except ValueError as err:
        raise TailorError(f"{folder.config_file} is not a {kind} config: {err}") from err
    return config.inference({role: found_adapter(folder.kept_adapter(role), folder, in_folder=False) for role in config.kept_roles})
