"""Which method and adapters a served model name selects: ``METHOD`` or ``METHOD:ADAPTER``
(``vac:runs/vac-sample``), or a name configured at serve time for such a spec.

An adapter given by a client must lie under the runs root, so a request cannot make the
server load an arbitrary path; an adapter may be a training run's folder, which gives the
method that run kept (``inference.json``: its adapters by role, its options and its answer
settings), or, for another method, the adapter it kept for that method's trained role."""

from dataclasses import dataclass, field
from pathlib import Path

from tailor.errors import TailorError
from tailor.methods import AnswerConfig
from tailor.methods.registry import METHODS
from tailor.runs import is_training_run
from tailor.train.kept import kept_method, options_of_runs, trained_adapter


def served_methods() -> list[str]:
    return [name for name, info in METHODS.items() if info.served]


class UnknownModel(LookupError):
    pass


@dataclass(frozen=True)
class ModelChoice:
    method: str
    adapters: dict = field(default_factory=dict)  # trained adapters by role (MethodConfig.adapters)
    options: dict = field(default_factory=dict)  # the method's own settings, a training run's (default: the method's)
    answer: AnswerConfig | None = None  # a training run's answer settings (None: the server's)


class ModelCatalog:
    """``aliases``: name -> spec, trusted (their adapters may lie anywhere, or be a served
    adapter's name); ``defaults``: adapters by role that every method playing the role gets
    unless its spec names one (e.g. the planner); either may be a training run's folder."""

    def __init__(self, runs_root: Path, aliases: dict[str, str] | None = None, defaults: dict[str, str] | None = None):
        self.runs_root, self.aliases, self.defaults = Path(runs_root), dict(aliases or {}), dict(defaults or {})
        self._resolved: dict[str, ModelChoice] = {}

    def names(self) -> list[str]:
        return [*served_methods(), *self.aliases]

    def resolve(self, name: str) -> ModelChoice:
        if name not in self._resolved:
            self._resolved[name] = self._resolve(name)
        return self._resolved[name]

    def _resolve(self, name: str) -> ModelChoice:
        trusted = name in self.aliases
        method, _, adapter = self.aliases.get(name, name).partition(":")
        if method not in served_methods():
            raise UnknownModel(f"model {name!r} is not served; use one of {', '.join(self.names())}, or METHOD:ADAPTER")
        if adapter and not trusted and not (Path(adapter).exists() and Path(adapter).resolve().is_relative_to(self.runs_root.resolve())):
            raise UnknownModel(f"model {name!r} is not served: a requested adapter must be a folder under {self.runs_root}/")
        try:
            return self._choice(method, adapter)
        except TailorError as err:
            raise UnknownModel(f"model {name!r} is not served: {err}") from err

    def _choice(self, method: str, adapter: str) -> ModelChoice:
        """The role defaults, and ``adapter`` for the method's trained role; a run that kept
        this method gives all of it instead, and a run among the others its options."""
        info = METHODS[method]
        given = {role: path for role, path in self.defaults.items() if role in info.roles}
        kept = kept_method(adapter) if adapter and is_training_run(adapter) else None
        if adapter and kept is None and Path(adapter).exists() and not (Path(adapter) / "adapter_config.json").is_file():
            raise TailorError(f"{adapter} holds no LoRA adapter (no adapter_config.json) and is not a training run")
        if adapter and (kept is None or kept.method != method):
            given[info.adapter] = adapter
        adapters = {role: trained_adapter(path, role) for role, path in given.items()}
        if kept is not None and kept.method == method:
            return ModelChoice(method, {**adapters, **kept.adapters}, kept.options, kept.answer)
        return ModelChoice(method, adapters, options_of_runs(method, given))
