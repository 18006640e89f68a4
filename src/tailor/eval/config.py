"""The ``tailor eval`` recipe: generator, judge and metric, the methods (one row each of the
results table) and the datasets with their splits."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tailor.config import load_yaml_config
from tailor.errors import TailorError
from tailor.llm import LLMConfig
from tailor.methods.inference import InferenceSpec
from tailor.methods.rag import AnswerConfig
from tailor.methods.registry import METHODS, method_info, method_options
from tailor.metrics.lamp import LampTask
from tailor.metrics import MetricName, check_judge, check_options, task_metric
from tailor.prompts.formats import FormatName
from tailor.train.kept import is_run, kept_method, trained_adapter


def folder_name(name: str) -> str:
    """A label that names a results folder: no path separators, not "." or ".."."""
    if not name.strip() or any(c in name for c in "/\\") or name in (".", ".."):
        raise ValueError(f"{name!r} names a results folder: use no '/' or '\\', and not '.' or '..'")
    return name


# The keys rows had before adapters and helper models were named by role, and the roles they name.
OLD_ADAPTER_KEYS = {"policy_adapter": "policy", "policy_run": "policy", "planner_adapter": "planner", "reflection_adapter": "reflection",
                    "summarizer_adapter": "summarizer"}
OLD_HELPER_KEYS = ("planner", "reflection", "summarizer")


class MethodSpec(BaseModel):
    """One row of the results table. Each setting is the first given of: the row's own;
    ``run``'s (the method a training run kept, as its ``inference.json`` describes it:
    models, adapters, options and answer settings); for an adapter given as a training
    run's folder, the adapter that run kept for the role, and its options; the eval-wide
    one; the method's default. The seed is always the eval's."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="the method: " + ", ".join(METHODS))
    label: str | None = Field(default=None, description="the row's name, to run one method twice with different settings")
    run: Path | None = Field(default=None, description="a training run (`tailor train …`) whose kept method this row is: its models, adapters, options and answer settings")
    iteration: int | None = Field(default=None, ge=0, description="pick pi_t, not the kept model, of every training run the row names")
    adapters: dict[str, str | None] = Field(
        default_factory=dict,
        description="trained adapters by role (policy: the generator's; planner, reflection, summarizer, …: the method's second model's): a LoRA "
        "adapter, a served adapter's name, or a training run's folder (the adapter it kept for that role)",
    )
    helpers: dict[str, LLMConfig] = Field(default_factory=dict, description="the method's second model by role (planner, reflection, summarizer, …; default: the generator)")
    options: dict = Field(default_factory=dict, description="the method's own settings (e.g. rpo: reflection_max_tokens; popi: summary_words), replacing a run's")
    generator: LLMConfig | None = Field(default=None, description="this row's own generator (the base model for rpo), replacing the run-wide one")
    retriever: str | None = Field(default=None, description="bm25, dense or dense:<model>, replacing the run-wide one")
    retriever_options: dict | None = Field(default=None, description="the retriever's settings, replacing the run-wide ones")
    k: int | None = Field(default=None, ge=0, description="profile items retrieved, replacing answer.k")
    format: FormatName | None = Field(default=None, description="the reply format, replacing answer.format")

    @model_validator(mode="before")
    @classmethod
    def _old_keys(cls, data):
        """Rows written with ``policy_run``, ``planner_adapter``, ``reflection``, … keep working."""
        if not isinstance(data, dict):
            return data
        data, adapters, helpers = dict(data), dict(data.get("adapters") or {}), dict(data.get("helpers") or {})
        for key, role in OLD_ADAPTER_KEYS.items():
            if key in data:
                if role in adapters:
                    raise ValueError(f"{key} names the {role} adapter a second time; give it once (adapters: {{{role}: …}})")
                value = data.pop(key)
                adapters[role] = None if value is None else str(value)
        for role in OLD_HELPER_KEYS:
            if (model := data.pop(role, None)) is not None:
                helpers[role] = model
        if "policy_iteration" in data:
            data["iteration"] = data.pop("policy_iteration")
        return {**data, **({"adapters": adapters} if adapters else {}), **({"helpers": helpers} if helpers else {})}

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
    def _fits_the_method(self) -> "MethodSpec":
        info = method_info(self.name)
        stray = sorted(set(self.adapters) - set(info.roles))
        if stray:
            why = "; its generator is not a trained policy" if stray[0] == "policy" else ""
            raise ValueError(f"{self.name} has no {stray[0]} adapter (its roles: {', '.join(info.roles)}){why}")
        if set(self.helpers) - {info.helper}:
            raise ValueError(f"{self.name} has no {sorted(set(self.helpers) - {info.helper})[0]} model" + (f" (its second model: {info.helper})" if info.helper else ""))
        if info.needs_policy and self.run is None and self.adapters.get(info.adapter) is None:
            raise ValueError(f"{self.name} needs its trained {info.adapter}: set run (a `tailor train {info.trainer}` run folder) or adapters: {{{info.adapter}: …}}")
        if self.iteration is not None and self.run is None and not any(self.adapters.values()):
            raise ValueError("iteration picks a model of a training run; set run (or a run folder among adapters) too")
        try:
            method_options(self.name, self.options)
        except TailorError as err:
            raise ValueError(str(err)) from err
        return self

    @property
    def key(self) -> str:
        return self.label or self.name

    def described(self, generator: LLMConfig, retriever: str, retriever_options: dict, answer: AnswerConfig, seed: int) -> InferenceSpec:
        """The method this row builds; ``generator``, ``retriever``, ``retriever_options`` and
        ``answer``: the settings it takes where neither it nor its run says (eval's)."""
        info = method_info(self.name)
        kept = kept_method(self.run, self.iteration) if self.run else None
        if kept is not None and kept.method != self.name:
            raise TailorError(f"method {self.key!r}: {self.run} kept a {kept.method} method, not {self.name}; name it {kept.method}, "
                              f"or take only the adapter it kept with adapters: {{{info.adapter}: {self.run}}}")
        adapters = {role: trained_adapter(path, role, self.iteration) for role, path in self.adapters.items()}
        answer = kept.answer if kept else answer
        generator = self.generator or (kept.generator if kept else generator)
        pinned = {info.helper: kept.helper or kept.generator} if kept and info.helper else {}  # a trained helper stays on its model
        helpers = {role: model for role, model in {**pinned, **self.helpers}.items() if model != generator}
        return InferenceSpec(
            method=self.name, generator=generator, helpers=helpers,
            adapters={**(kept.adapters if kept else {}), **adapters},
            answer=answer.model_copy(update={"seed": seed, "k": answer.k if self.k is None else self.k, "format": self.format or answer.format}),
            options={**(kept.options if kept else self._options_of_adapter_runs()), **self.options},
            retriever=self.retriever or (kept.retriever if kept else retriever),
            retriever_options=self.retriever_options if self.retriever_options is not None else kept.retriever_options if kept else retriever_options,
        )

    def _options_of_adapter_runs(self) -> dict:
        """The options of the run that trained the row's helper (else its trained model), when it ran this method."""
        info = method_info(self.name)
        for role in dict.fromkeys(r for r in (info.helper, info.adapter) if r):
            path = self.adapters.get(role)
            if path and is_run(path) and (kept := kept_method(path)).method == self.name:
                return kept.options
        return {}


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

    def described(self, spec: MethodSpec) -> InferenceSpec:
        """The method one row builds, with this run's seed (``MethodSpec.described``)."""
        return spec.described(self.generator, self.retriever, self.retriever_options, self.answer, self.seed)
