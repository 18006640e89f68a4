"""Which method and adapters a served model name selects: ``METHOD`` or ``METHOD:ADAPTER``
(``vac:runs/vac-sample``), or a name configured at serve time for such a spec.

An adapter given by a client must lie under the runs root, so a request cannot make the
server load an arbitrary path; an adapter may be a training run's folder, which gives
the adapter that run kept (and, for POPI, its summarizer)."""

from dataclasses import dataclass, field
from pathlib import Path

from tailor.errors import TailorError
from tailor.methods.registry import METHODS
from tailor.methods.trained import trained_adapter
from tailor.runs import RunFolder, is_training_run
from tailor.train.trainers import TRAINERS


def served_methods() -> list[str]:
    return [name for name, info in METHODS.items() if info.served]


class UnknownModel(LookupError):
    pass


@dataclass(frozen=True)
class ModelChoice:
    method: str
    adapters: dict = field(default_factory=dict)  # trained adapters by role (MethodConfig.adapters)


class ModelCatalog:
    """``aliases``: name -> spec, trusted (their adapters may lie anywhere, or be a served
    adapter's name); ``defaults``: adapters by role that every method gets unless its spec
    names one (e.g. the planner), each an adapter or the training run that kept it."""

    def __init__(self, runs_root: Path, aliases: dict[str, str] | None = None, defaults: dict[str, str] | None = None):
        self.runs_root, self.aliases = Path(runs_root), dict(aliases or {})
        self.defaults = {role: trained_adapter(adapter) for role, adapter in (defaults or {}).items()}
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
        adapters = dict(self.defaults)
        if adapter:
            if not trusted and not (Path(adapter).exists() and Path(adapter).resolve().is_relative_to(self.runs_root.resolve())):
                raise UnknownModel(f"model {name!r} is not served: a requested adapter must be a folder under {self.runs_root}/")
            try:
                adapters.update(self._adapters(METHODS[method].adapter, adapter))
            except TailorError as err:
                raise UnknownModel(f"model {name!r} is not served: {err}") from err
        return ModelChoice(method, adapters)

    @staticmethod
    def _adapters(role: str, adapter: str) -> dict[str, str | None]:
        """An adapter folder plays ``role``; a training run gives the policy it kept in that
        role, and every other adapter its kind of run keeps (POPI: the summarizer)."""
        if not is_training_run(adapter):
            if Path(adapter).exists() and not (Path(adapter) / "adapter_config.json").is_file():
                raise TailorError(f"{adapter} holds no LoRA adapter (no adapter_config.json) and is not a training run")
            return {role: adapter}
        run = RunFolder(adapter)
        entry = TRAINERS.get(run.kind() or "")
        others = [r for r in (entry.keeps if entry else ()) if r != "policy"]
        return {role: run.kept_adapter("policy"), **{r: run.kept_adapter(r) for r in others}}
