"""One description of a method as it is built: the method, its models, its trained
adapters by role, its answer settings and its own options. A training run writes the
description of the method it kept to ``inference.json`` (``RunFolder.inference_file``);
its validation, ``tailor eval``, ``tailor answer``, ``tailor serve`` and ``serve-llm`` all
build from it through ``make_method``, so the kept method is served as it was selected.

Adapters inside the run folder are written relative to it, so a moved run still works."""

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.io import atomic_write_text
from tailor.llm import LLM, LLMConfig
from tailor.methods.base import Method
from tailor.methods.popi import SummaryCache
from tailor.methods.rag import AnswerConfig
from tailor.methods.registry import POLICY, MethodConfig, make_method, method_info, method_options
from tailor.retrieval.base import Retriever
from tailor.runs import RunFolder


class InferenceSpec(BaseModel):
    """A method ready to build: ``helpers`` name the method's second model where it is not
    the generator, ``adapters`` the trained models by role (None: the base model), and
    ``options`` hold every one of the method's own settings."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(description="the method (tailor.methods.registry.METHODS)")
    generator: LLMConfig = Field(description="the model that answers (RPO: the black-box base model)")
    helpers: dict[str, LLMConfig] = Field(default_factory=dict, description="the method's second model, by role, where it is not the generator")
    adapters: dict[str, str | None] = Field(default_factory=dict, description="trained adapters by role (None: the base model)")
    answer: AnswerConfig = Field(default_factory=AnswerConfig, description="k, sampling and the reply format")
    options: dict = Field(default_factory=dict, description="the method's own settings (its MethodInfo.options)")
    retriever: str = Field(default="bm25", description="bm25, dense or dense:<model>")
    retriever_options: dict = Field(default_factory=dict, description="the retriever's settings")

    @model_validator(mode="after")
    def _fits_the_method(self) -> Self:
        try:
            info = method_info(self.method)
            self.options = method_options(self.method, self.options).model_dump(mode="json")
        except TailorError as err:
            raise ValueError(str(err)) from err
        stray = sorted(set(self.adapters) - set(info.roles)) or sorted(set(self.helpers) - {info.helper})
        if stray:
            raise ValueError(f"method {self.method!r} has no {stray[0]!r} role; its roles are {', '.join(info.roles)}")
        return self

    @property
    def helper(self) -> LLMConfig | None:
        """The model of the method's helper role, where it is not the generator."""
        return self.helpers.get(method_info(self.method).helper or "")

    @property
    def trained_role(self) -> str:
        """The role of the model the method's trainer trains (``MethodInfo.adapter``)."""
        return method_info(self.method).adapter

    def build(self, llm: LLM, helper: LLM | None = None, retriever: Retriever | None = None, *, pool: list[Example] | None = None,
              seed: int = 0, summary_store: SummaryCache | None = None) -> Method:
        """The method on models built for ``generator`` and ``helper`` (the caller's: a pool's,
        a training run's, the service's)."""
        config = MethodConfig(
            self.method, llm, retriever if method_info(self.method).retriever else None, self.answer, adapters=dict(self.adapters),
            helper=helper, options=self.options, pool=pool, seed=seed, summary_store=summary_store,
        )
        return make_method(config)

    def at_iteration(self, folder: RunFolder, t: int) -> "InferenceSpec":
        """The method with the trained model of ``folder``'s round ``t`` (pi_t) in its place."""
        return self.model_copy(update={"adapters": {**self.adapters, self.trained_role: folder.kept_adapter(POLICY, t)}})

    def write(self, folder: RunFolder) -> None:
        relative = {role: _inside(adapter, folder.path) for role, adapter in self.adapters.items()}
        atomic_write_text(folder.inference_file, self.model_copy(update={"adapters": relative}).model_dump_json(indent=2) + "\n")

    @classmethod
    def read(cls, folder: RunFolder) -> "InferenceSpec | None":
        """``folder``'s description, its adapters found from where the folder is now; None
        when it has none (a run made before ``inference.json``, or no training run)."""
        if not folder.inference_file.exists():
            return None
        try:
            spec = cls.model_validate_json(folder.inference_file.read_text(encoding="utf-8"))
        except ValueError as err:
            raise TailorError(f"{folder.inference_file} does not describe a method: {err}") from err
        found = {role: None if adapter is None else str(folder.path / adapter) for role, adapter in spec.adapters.items()}
        return spec.model_copy(update={"adapters": found})


def _inside(adapter: str | None, root: Path) -> str | None:
    """An adapter inside ``root`` as a path relative to it; any other as an absolute path."""
    if adapter is None:
        return None
    path, root = Path(adapter).resolve(), root.resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
