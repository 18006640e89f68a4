"""Which method and adapters a served model name selects: ``METHOD`` or ``METHOD:ADAPTER``
(``vac:runs/vac-sample``), or a name configured at serve time for such a spec.

An adapter given by a client must lie under the runs root, so a request cannot make the
server load an arbitrary path; an adapter may be a training run's folder, which gives
the adapter that run kept (and, for POPI, its summarizer)."""

from dataclasses import dataclass, field
from pathlib import Path

from tailor.errors import TailorError
from tailor.methods.trained import trained_adapter

SERVED_METHODS = ("nopers", "rag", "planpers", "vac", "rpo", "popi")
# The trained model that ``METHOD:ADAPTER`` swaps in, as make_method names it.
ADAPTER_OPTION = {
    "nopers": "policy_adapter", "rag": "policy_adapter", "vac": "policy_adapter", "popi": "policy_adapter",
    "planpers": "planner_adapter", "rpo": "reflection_adapter",
}


class UnknownModel(LookupError):
    pass


@dataclass(frozen=True)
class ModelChoice:
    method: str
    options: dict = field(default_factory=dict)  # make_method's adapter arguments


class ModelCatalog:
    """``aliases``: name -> spec, trusted (their adapters may lie anywhere, or be a served
    adapter's name); ``defaults``: adapter arguments every method gets unless its spec
    names one (e.g. the planner adapter)."""

    def __init__(self, runs_root: Path, aliases: dict[str, str] | None = None, defaults: dict[str, str] | None = None):
        self.runs_root, self.aliases, self.defaults = Path(runs_root), dict(aliases or {}), dict(defaults or {})
        self._resolved: dict[str, ModelChoice] = {}

    def names(self) -> list[str]:
        return [*SERVED_METHODS, *self.aliases]

    def resolve(self, name: str) -> ModelChoice:
        if name not in self._resolved:
            self._resolved[name] = self._resolve(name)
        return self._resolved[name]

    def _resolve(self, name: str) -> ModelChoice:
        trusted = name in self.aliases
        method, _, adapter = self.aliases.get(name, name).partition(":")
        if method not in SERVED_METHODS:
            raise UnknownModel(f"model {name!r} is not served; use one of {', '.join(self.names())}, or METHOD:ADAPTER")
        options = dict(self.defaults)
        if adapter:
            if not trusted and not (Path(adapter).exists() and Path(adapter).resolve().is_relative_to(self.runs_root.resolve())):
                raise UnknownModel(f"model {name!r} is not served: a requested adapter must be a folder under {self.runs_root}/")
            try:
                options[ADAPTER_OPTION[method]] = trained_adapter(adapter, "policy")
                if method == "popi" and (Path(adapter) / "history.json").exists():
                    options["summarizer_adapter"] = trained_adapter(adapter, "summarizer")
            except TailorError as err:
                raise UnknownModel(f"model {name!r} is not served: {err}") from err
        return ModelChoice(method, options)
