"""The ``tailor eval`` recipe: generator, judge and metric, the methods (one row each of the
results table) and the datasets with their splits."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tailor.config import load_yaml_config
from tailor.errors import TailorError
from tailor.llm import LLMConfig
from tailor.methods.rag import AnswerConfig
from tailor.methods.registry import ADAPTER_ROLES, METHODS, method_info
from tailor.methods.trained import kept_policy, trained_adapter
from tailor.metrics.lamp import LampTask
from tailor.metrics import MetricName, check_judge, check_options, task_metric
from tailor.prompts.formats import FormatName


def folder_name(name: str) -> str:
    """A label that names a results folder: no path separators, not "." or ".."."""
    if not name.strip() or any(c in name for c in "/\\") or name in (".", ".."):
        raise ValueError(f"{name!r} names a results folder: use no '/' or '\\', and not '.' or '..'")
    return name


class MethodSpec(BaseModel):
    """One row of the results table. Unset fields take the run-wide value."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="the method: " + ", ".join(METHODS))
    label: str | None = Field(default=None, description="the row's name, to run one method twice with different settings")
    retriever: str | None = Field(default=None, description="bm25, dense or dense:<model>, replacing the run-wide one")
    retriever_options: dict | None = Field(default=None, description="the retriever's settings, replacing the run-wide ones")
    k: int | None = Field(default=None, ge=0, description="profile items retrieved, replacing answer.k")
    planner_adapter: str | None = Field(default=None, description="planpers: the planner's LoRA adapter path, the `tailor train planner` run that kept it, or a served model name")
    planner: LLMConfig | None = Field(default=None, description="planpers: a separate planner model (default: the generator)")
    reflection_adapter: str | None = Field(default=None, description="rpo: the reflection model's adapter, or the `tailor train rpo` run that kept it (none: prompted only)")
    reflection: LLMConfig | None = Field(default=None, description="rpo: a separate reflection model (default: the generator, the black-box base)")
    summarizer_adapter: str | None = Field(default=None, description="popi: the preference-inference model's adapter, or the `tailor train popi` run that kept it")
    summarizer: LLMConfig | None = Field(default=None, description="popi: a separate preference-inference model (default: the generator)")
    generator: LLMConfig | None = Field(default=None, description="this row's own generator (the base model for rpo), replacing the run-wide one")
    policy_adapter: str | None = Field(default=None, description="the generator's trained adapter (vac needs it, or policy_run)")
    policy_run: Path | None = Field(default=None, description="a training run (`tailor train vac|rest-em|rest-pg|popi`) whose kept policy the generator uses")
    policy_iteration: int | None = Field(default=None, ge=0, description="with policy_run: use its pi_t instead of the kept policy")
    format: FormatName | None = Field(default=None, description="the reply format, replacing answer.format")

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in METHODS:
            raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
        return name

    @field_validator("label")
    @classmethod
    def _folder_name(cls, label: str | None) -> str | None:
        return label if label is None else folder_name(label)

    @model_validator(mode="after")
    def _one_policy(self) -> "MethodSpec":
        info = method_info(self.name)
        if self.policy_adapter is not None and self.policy_run is not None:
            raise ValueError("give one of policy_adapter (an adapter) or policy_run (a training run folder), not both")
        if info.needs_policy and self.policy_adapter is None and self.policy_run is None:
            raise ValueError(f"{self.name} needs one of policy_adapter (an adapter) or policy_run (a `tailor train {info.trainer}` run folder)")
        if info.adapter != "policy" and (self.policy_adapter or self.policy_run):
            raise ValueError(f"{self.name} trains a second model ({info.adapter}_adapter); its generator is not a trained policy")
        if self.policy_iteration is not None and self.policy_run is None:
            raise ValueError("policy_iteration picks a policy of policy_run; set policy_run too")
        return self

    @property
    def key(self) -> str:
        return self.label or self.name

    def policy(self) -> str | None:
        """The generator's adapter: the given one, or the one its run kept (None: the base model)."""
        return kept_policy(self.policy_run, self.policy_iteration) if self.policy_run else self.policy_adapter

    def adapters(self) -> dict[str, str | None]:
        """Every trained adapter of the row, by role (a run folder gives the adapter it kept)."""
        return {
            "policy": self.policy(),
            "planner": trained_adapter(self.planner_adapter),
            "reflection": trained_adapter(self.reflection_adapter),
            "summarizer": trained_adapter(self.summarizer_adapter, "summarizer"),
        }

    def model(self, role: str) -> LLMConfig | None:
        """The separate model configured for a helper role (None: the generator plays it)."""
        return getattr(self, role) if role in ADAPTER_ROLES[1:] else None


class DatasetSpec(BaseModel):
    """A dataset in any loadable format. For a single file, the split only names the
    output folder; for a directory it selects ``<Category>/<split>.json``."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(description="a dataset file or folder in any loadable format")
    format: str = Field(default="auto", description="auto, lampqa, lamp, longlamp or jsonl")
    splits: list[str] = Field(default_factory=lambda: ["test"], min_length=1, description="the splits to answer")
    name: str | None = Field(default=None, description="the dataset's results folder (default: the path's stem)")
    task: LampTask | None = Field(default=None, description="a LaMP task (its metric, and the benchmark's numbers in the report), or LongLaMP (its numbers in the report)")
    metric: MetricName | None = Field(default=None, description="replaces the run-wide metric (default with a task: the task's)")

    def metric_or(self, default: str) -> str:
        return self.metric or task_metric(self.task) or default

    @field_validator("name")
    @classmethod
    def _folder_name(cls, name: str | None) -> str | None:
        return name if name is None else folder_name(name)

    @property
    def key(self) -> str:
        return self.name or self.path.stem


class EvalConfig(BaseModel):
    """A ``tailor eval`` recipe: every method answers every dataset split, then each
    response set is scored with its dataset's metric."""

    model_config = ConfigDict(extra="forbid")

    generator: LLMConfig = Field(description="the model every method answers with, unless a row sets its own")
    judge: LLMConfig | None = Field(default=None, description="the judge model of the judge metrics (aspect, direct, similarity)")
    metric: MetricName | None = Field(default=None, description="default: aspect with a judge, else proxy")
    metric_options: dict = Field(default_factory=dict, description="the metric's own settings")
    retriever: str = Field(default="bm25", description="bm25, dense or dense:<model>")
    retriever_options: dict = Field(default_factory=dict, description="the retriever's settings")
    methods: list[MethodSpec] = Field(min_length=1, description="the rows of the table: method names, or specs")
    datasets: list[DatasetSpec] = Field(min_length=1, description="the datasets and their splits")
    answer: AnswerConfig = Field(default=AnswerConfig(), description="k, sampling and the reply format")
    baseline: str = Field(default="nopers", description="the baseline row (its key): with significance: baseline, † marks rows that differ from it")
    baselines: list[str] = Field(default_factory=list, description="the baseline rows; with significance: best-baseline (the default, as the papers' tables), † marks a row significantly better than the best of them in each column (default: [baseline])")
    significance: Literal["best-baseline", "baseline"] = Field(default="best-baseline", description="best-baseline: better than the best baseline (paired t-test, one row at a time); baseline: differs from the one baseline row (two-sided)")
    limit: int | None = Field(default=None, ge=1, description="at most this many examples per category")
    out: Path = Field(default=Path("runs/eval"), description="the run folder")
    seed: int = Field(default=0, description="seeds generation (replaces answer.seed) and the random-profile draw")

    @field_validator("methods", mode="before")
    @classmethod
    def _names_as_specs(cls, methods):
        return [{"name": m} if isinstance(m, str) else m for m in methods] if isinstance(methods, list) else methods

    @model_validator(mode="after")
    def _consistent(self) -> "EvalConfig":
        self.metric = check_judge(self.metric, self.judge is not None)
        check_options(self.metric, self.metric_options)
        if self.answer.seed != AnswerConfig().seed:
            raise ValueError("answer.seed: not read by tailor eval; the run-wide `seed` seeds generation and the random-profile draw")
        for dataset in self.datasets:
            check_judge(dataset.metric_or(self.metric), self.judge is not None)
        for what, keys in (("method", [m.key for m in self.methods]), ("dataset", [d.key for d in self.datasets])):
            repeated = sorted({k for k in keys if keys.count(k) > 1})
            if repeated:
                raise ValueError(f"{what} names must be unique (set `label` / `name`): {', '.join(repeated)}")
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> "EvalConfig":
        return load_yaml_config(cls, path, "eval config")

    def with_overrides(
        self, methods: list[str] | None = None, splits: list[str] | None = None, limit: int | None = None, out: Path | None = None
    ) -> "EvalConfig":
        """The command line's overrides: keep only ``methods`` (by key), replace every
        dataset's splits, cap examples per category, write elsewhere."""
        update: dict = {}
        if methods:
            known = {m.key: m for m in self.methods}
            unknown = [m for m in methods if m not in known]
            if unknown:
                raise TailorError(f"unknown method(s) {', '.join(unknown)}; this config has {', '.join(known)}")
            update["methods"] = [known[m] for m in methods]
        if splits:
            update["datasets"] = [d.model_copy(update={"splits": list(splits)}) for d in self.datasets]
        if limit is not None:
            update["limit"] = limit
        if out is not None:
            update["out"] = out
        return self.model_copy(update=update)

    @property
    def baseline_rows(self) -> list[str]:
        return self.baselines or [self.baseline]

    def answer_for(self, spec: MethodSpec) -> AnswerConfig:
        """The answer settings of one row: the run's seed, the row's k and format."""
        return self.answer.model_copy(update={"seed": self.seed, "k": self.answer.k if spec.k is None else spec.k, "format": spec.format or self.answer.format})

    def retriever_options_for(self, spec: MethodSpec) -> dict:
        return self.retriever_options if spec.retriever_options is None else spec.retriever_options
