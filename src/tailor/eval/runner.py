"""``tailor eval``: answer each dataset split with each configured method, score every
response set with its dataset's metric, and keep it all on disk so that a rerun resumes.

Under ``out/<dataset>/<split>/<method>/``: ``responses.json`` (the benchmark's format),
``traces.jsonl``, ``meta.json`` (answer fingerprint and timing) and ``scores.json``.
A dataset that names its LaMP ``task`` is scored with that task's metric, and its
results also carry the numbers the LaMP benchmark reports (accuracy and macro-F1,
MAE and RMSE, or ROUGE-1 and ROUGE-L).
All units are answered before any is judged, so the generator can be let go before a
large judge is loaded on the same accelerator."""

import gc
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tailor import progress
from tailor.data import load_examples
from tailor.data.responses import read_responses
from tailor.data.schema import Example
from tailor.config import load_yaml_config
from tailor.errors import TailorError
from tailor.eval.base import Metric, MetricRun
from tailor.eval.lamp import LAMP_TASK_METRIC, LampTask, task_report
from tailor.eval.metrics import JUDGELESS, MetricName, check_judge
from tailor.io import atomic_write_json
from tailor.llm import LLM, LLMConfig, make_llm
from tailor.llm.base import adapter_fingerprint
from tailor.methods import AnswerConfig
from tailor.methods.trained import kept_policy, trained_adapter
from tailor.prompts.formats import FormatName
from tailor.paths import default_cache_path
from tailor.pipeline import METHODS, answer_examples, make_method, uses_retriever
from tailor.retrieval import RankingCache, Retriever, make_retriever

LOCAL_BACKENDS = ("hf", "vllm", "llamacpp")  # these load a planner adapter from a path


def folder_name(name: str) -> str:
    """A label that names a results folder: no path separators, not "." or ".."."""
    if not name.strip() or any(c in name for c in "/\\") or name in (".", ".."):
        raise ValueError(f"{name!r} names a results folder: use no '/' or '\\', and not '.' or '..'")
    return name


class MethodSpec(BaseModel):
    """One row of the results table. Unset fields take the run-wide value."""

    model_config = ConfigDict(extra="forbid")

    name: str
    label: str | None = None  # to run one method twice with different settings
    retriever: str | None = None
    retriever_options: dict | None = None
    k: int | None = Field(default=None, ge=0)
    planner_adapter: str | None = None  # planpers: LoRA adapter path, or a served model name
    planner: LLMConfig | None = None  # planpers: a separate planner model (default: the generator)
    # rpo / popi: an adapter, or the folder of the `tailor train rpo|popi` run that kept it
    reflection_adapter: str | None = None  # rpo: the reflection model's LoRA adapter (none: prompted only)
    reflection: LLMConfig | None = None  # rpo: a separate reflection model (default: the generator, the black-box base)
    summarizer_adapter: str | None = None  # popi: the preference-inference model's LoRA adapter
    summarizer: LLMConfig | None = None  # popi: a separate preference-inference model (default: the generator)
    generator: LLMConfig | None = None  # this row's own generator (the base model for rpo), replacing the run-wide one
    # The generator's trained adapter (required for vac): given, or kept by a training run
    # (`tailor train vac|rest-em|rest-pg`): its best policy, or pi_<policy_iteration>.
    policy_adapter: str | None = None
    policy_run: Path | None = None
    policy_iteration: int | None = Field(default=None, ge=0)
    format: FormatName | None = None  # the reply format, replacing answer.format

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
        if self.policy_adapter is not None and self.policy_run is not None:
            raise ValueError("give one of policy_adapter (an adapter) or policy_run (a training run folder), not both")
        if self.name == "vac" and self.policy_adapter is None and self.policy_run is None:
            raise ValueError("vac needs one of policy_adapter (an adapter) or policy_run (a `tailor train vac` run folder)")
        if self.name in ("planpers", "rpo") and (self.policy_adapter or self.policy_run):
            raise ValueError(f"{self.name} trains a second model ({'planner' if self.name == 'planpers' else 'reflection'}_adapter); its generator is not a trained policy")
        if self.policy_iteration is not None and self.policy_run is None:
            raise ValueError("policy_iteration picks a policy of policy_run; set policy_run too")
        return self

    @property
    def key(self) -> str:
        return self.label or self.name

    def policy(self) -> str | None:
        """The generator's adapter: the given one, or the one its run kept (None: the base model)."""
        return kept_policy(self.policy_run, self.policy_iteration) if self.policy_run else self.policy_adapter

    def reflection_model(self) -> str | None:
        return trained_adapter(self.reflection_adapter)

    def summarizer_model(self) -> str | None:
        return trained_adapter(self.summarizer_adapter, "summarizer")


class DatasetSpec(BaseModel):
    """A dataset in any loadable format. For a single file, the split only names the
    output folder; for a directory it selects ``<Category>/<split>.json``."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    format: str = "auto"
    splits: list[str] = Field(default_factory=lambda: ["test"], min_length=1)
    name: str | None = None
    task: LampTask | None = None  # a LaMP task: its metric, and the benchmark's numbers in the report
    metric: MetricName | None = None  # replaces the run-wide metric (default with a task: the task's)

    def metric_or(self, default: str) -> str:
        return self.metric or (LAMP_TASK_METRIC[self.task] if self.task else default)

    @field_validator("name")
    @classmethod
    def _folder_name(cls, name: str | None) -> str | None:
        return name if name is None else folder_name(name)

    @property
    def key(self) -> str:
        return self.name or self.path.stem


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    generator: LLMConfig
    judge: LLMConfig | None = None
    metric: MetricName | None = None  # default: aspect with a judge, else proxy
    metric_options: dict = Field(default_factory=dict)
    retriever: str = "bm25"
    retriever_options: dict = Field(default_factory=dict)
    methods: list[MethodSpec] = Field(min_length=1)
    datasets: list[DatasetSpec] = Field(min_length=1)
    answer: AnswerConfig = AnswerConfig()
    baseline: str = "nopers"  # the method key the paired t-tests compare against
    limit: int | None = Field(default=None, ge=1)  # at most this many examples per category
    out: Path = Path("runs/eval")
    seed: int = 0  # seeds generation (replaces answer.seed) and the random-profile draw

    @field_validator("methods", mode="before")
    @classmethod
    def _names_as_specs(cls, methods):
        return [{"name": m} if isinstance(m, str) else m for m in methods] if isinstance(methods, list) else methods

    @model_validator(mode="after")
    def _consistent(self) -> "EvalConfig":
        self.metric = check_judge(self.metric, self.judge is not None)
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


@dataclass
class MethodResult:
    """One (dataset, split, method): per-example scores and what the run cost."""

    dataset: str
    split: str
    method: str
    values: dict[str, float | None]  # example id -> score (None: the judge could not be read)
    categories: dict[str, str | None]  # example id -> category
    failed_examples: int
    failed_judgments: int
    judgments: int
    wall_seconds: float  # answering only
    seconds_per_query: float
    model_calls: int  # generator calls made when this unit was answered (0: all cached)
    resumed: bool  # answers and scores were both read back from an earlier run
    metric: str = ""
    proxy: bool = False
    method_name: str = ""  # the method the row runs (``method`` is its label)
    generator: str | None = None
    task: str | None = None  # the LaMP task, when the dataset is one
    task_scores: dict[str, float] | None = None  # the numbers that task reports (tailor.eval.lamp.task_report)
    # From the traces, means per prompt: the personalization context it carried (retrieved
    # items, or a preference summary) and the user's whole profile; tokens are None where
    # the generator's tokenizer was not at hand.
    context_tokens: float | None = None
    context_words: float | None = None
    profile_tokens: float | None = None
    profile_words: float | None = None


@dataclass
class EvalResult:
    out: Path
    metric: str  # the metrics the runs were scored with, comma-separated
    proxy: bool  # some run was scored with a proxy metric
    baseline: str
    generator: str
    judge: str | None
    runs: list[MethodResult]
    generator_calls: int = 0  # model calls made by this invocation
    judge_calls: int = 0


def run_eval(config: EvalConfig, generator: LLM | None = None, judge: LLM | None = None, metric: Metric | None = None) -> EvalResult:
    """Answer, then score, every (dataset, split, method). Models are built only when some
    unit needs them; pass ``generator`` / ``judge`` / ``metric`` to supply your own."""
    models = _Models(config, generator, judge, metric)
    units = _plan(config)
    answered = [unit.answered() for unit in units]
    pending = [unit for unit, done in zip(units, answered) if not done]
    _check_planner_adapters(config, pending)
    for unit in progress.track(pending, f"answering ({len(pending)} of {len(units)} method × split runs)", total=len(pending)):
        unit.answer(models)
    models.release_generators()
    results = []
    metrics = list(dict.fromkeys(unit.metric for unit in units))
    for unit, was_answered in zip(progress.track(units, f"scoring with {', '.join(metrics)}", total=len(units)), answered):
        was_scored = unit.scored()
        if not was_scored:
            unit.score(models)
        results.append(unit.result(was_answered and was_scored))
    return EvalResult(
        out=config.out,
        metric=", ".join(dict.fromkeys(r.metric for r in results)),
        proxy=any(r.proxy for r in results),
        baseline=config.baseline,
        generator=_describe(config.generator),
        judge=_describe(config.judge) if any(m not in JUDGELESS for m in metrics) else None,
        runs=results,
        generator_calls=models.generator_calls,
        judge_calls=models.judge_calls,
    )


def scores_document(run: MetricRun, proxy: bool, fingerprint: str | None = None) -> dict:
    """What ``scores.json`` holds: totals, then every example's value and details."""
    return {
        "fingerprint": fingerprint,
        "metric": run.metric,
        "proxy": proxy,
        "mean": _finite(run.mean),
        "examples": len(run.scores),
        "failed_examples": run.failed_examples,
        "failed_judgments": run.failed_judgments,
        "judgments": run.judgments,
        "scores": {qid: {"value": s.value, "details": s.details} for qid, s in run.by_id().items()},
    }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _describe(config: LLMConfig | None) -> str | None:
    return None if config is None else f"{config.backend}:{config.model}"


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _llm_identity(config: LLMConfig | None) -> dict | None:
    """What decides a model's outputs (the cache location does not)."""
    return None if config is None else config.model_dump(mode="json", exclude={"cache", "cache_path"})


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


class _Models:
    """Builds models and retrievers on first use and shares them across units."""

    def __init__(self, config: EvalConfig, generator: LLM | None, judge: LLM | None, metric: Metric | None):
        self.config = config
        self._generator, self._judge = generator, judge
        self._metrics: dict[str, Metric] = {metric.name: metric} if metric is not None else {}
        self._helpers: dict[str, LLM] = {}
        self._retrievers: dict[str, Retriever] = {}
        self._ranking_cache: RankingCache | None = None
        self.generator_calls = self.judge_calls = 0

    def generator(self) -> LLM:
        if self._generator is None:
            self._generator = make_llm(self.config.generator)
        return self._generator

    def helper(self, config: LLMConfig | None) -> LLM | None:
        """A method's second model (PlanPers' planner, RPO's reflection model), built once."""
        if config is None:
            return None
        if config == self.config.generator:
            return self.generator()
        key = _digest(_llm_identity(config))
        if key not in self._helpers:
            self._helpers[key] = make_llm(config)
        return self._helpers[key]

    def retriever(self, name: str, options: dict) -> Retriever:
        key = _digest([name, options])
        if key not in self._retrievers:
            generator = self.config.generator
            if self._ranking_cache is None and generator.cache:
                self._ranking_cache = RankingCache(generator.cache_path or default_cache_path())
            self._retrievers[key] = make_retriever(name, self._ranking_cache, **options)
        return self._retrievers[key]

    def release_generators(self) -> None:
        """Let go of the generator (unless it also judges) before the judge is loaded."""
        if self.config.judge is not None and self.config.judge == self.config.generator and self._judge is None:
            self._judge = self._generator
        self._generator, self._helpers, self._retrievers = None, {}, {}
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def metric(self, name: str) -> Metric:
        if name not in self._metrics:
            from tailor.eval.metrics import make_metric

            judge = None
            if name not in JUDGELESS:
                if self._judge is None:
                    self._judge = make_llm(self.config.judge)
                judge = self._judge
            options = self.config.metric_options if name == self.config.metric else {}
            self._metrics[name] = make_metric(name, judge, **options)
        return self._metrics[name]

    def judge_usage(self) -> int:
        return self._judge.usage.requests if self._judge is not None else 0


@dataclass
class _Unit:
    """One (dataset, split, method) and its output folder."""

    config: EvalConfig
    source: DatasetSpec
    split: str
    spec: MethodSpec
    examples: list[Example]
    pool: list[Example]
    folder: Path
    answer_fingerprint: str
    metric: str
    task: str | None
    scoring: str  # digest of the metric settings
    model_calls: int = 0  # generator and planner calls this invocation made for the unit

    @property
    def dataset(self) -> str:
        return self.source.key

    def _ids(self) -> set[str]:
        return {e.id for e in self.examples}

    def answered(self) -> bool:
        meta = _read_json(self.folder / "meta.json")
        if not meta or meta.get("fingerprint") != self.answer_fingerprint:
            return False
        try:
            return set(read_responses(self.folder / "responses.json")) == self._ids()
        except TailorError:
            return False

    def score_fingerprint(self) -> str:
        """The answers' settings, the metric's, and the responses actually on disk."""
        responses = read_responses(self.folder / "responses.json")
        return _digest([self.answer_fingerprint, self.scoring, responses])

    def scored(self) -> bool:
        scores = _read_json(self.folder / "scores.json")
        return bool(scores) and scores.get("fingerprint") == self.score_fingerprint() and set(scores.get("scores", {})) == self._ids()

    def answer(self, models: _Models) -> None:
        spec, config = self.spec, self.config
        llm = models.helper(spec.generator) or models.generator()
        retriever = models.retriever(spec.retriever or config.retriever, _retriever_options(config, spec)) if uses_retriever(spec.name) else None
        method = make_method(
            spec.name, llm, retriever, _answer_config(config, spec),
            pool=self.pool, seed=config.seed, planner_adapter=spec.planner_adapter, planner_llm=models.helper(spec.planner),
            policy_adapter=spec.policy(), reflection_adapter=spec.reflection_model(), reflection_llm=models.helper(spec.reflection),
            summarizer_adapter=spec.summarizer_model(), summarizer_llm=models.helper(spec.summarizer),
        )
        used = list({id(m): m for m in [llm] + [models.helper(c) for c in (spec.planner, spec.reflection, spec.summarizer) if c]}.values())
        calls_before = sum(m.usage.requests for m in used)
        started = time.perf_counter()
        answer_examples(method, self.examples, self.folder)
        wall = time.perf_counter() - started
        self.model_calls = sum(m.usage.requests for m in used) - calls_before
        models.generator_calls += self.model_calls
        atomic_write_json(self.folder / "meta.json", {
            "fingerprint": self.answer_fingerprint,
            "dataset": self.dataset,
            "data": {"path": str(self.source.path), "format": self.source.format},  # where the questions' text is
            "split": self.split,
            "method": spec.key,
            "examples": len(self.examples),
            "wall_seconds": wall,
            "seconds_per_query": wall / len(self.examples),
            "model_calls": self.model_calls,
        })

    def score(self, models: _Models) -> None:
        metric = models.metric(self.metric)
        before = models.judge_usage()
        responses = read_responses(self.folder / "responses.json")
        run = metric.score_batch(self.examples, [responses[e.id] for e in self.examples])
        models.judge_calls += models.judge_usage() - before
        atomic_write_json(self.folder / "scores.json", scores_document(run, metric.proxy, self.score_fingerprint()))

    def result(self, resumed: bool) -> MethodResult:
        meta = _read_json(self.folder / "meta.json") or {}
        scores = _read_json(self.folder / "scores.json") or {}
        task_scores = None
        if self.task:
            responses = read_responses(self.folder / "responses.json")
            task_scores = task_report(self.task, [e.reference or "" for e in self.examples], [responses[e.id] for e in self.examples])
        traces = [json.loads(line)["trace"] for line in (self.folder / "traces.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
        return MethodResult(
            dataset=self.dataset,
            split=self.split,
            method=self.spec.key,
            values={qid: entry["value"] for qid, entry in scores["scores"].items()},
            categories={e.id: e.category for e in self.examples},
            failed_examples=scores["failed_examples"],
            failed_judgments=scores["failed_judgments"],
            judgments=scores["judgments"],
            wall_seconds=meta.get("wall_seconds", 0.0),
            seconds_per_query=meta.get("seconds_per_query", 0.0),
            model_calls=self.model_calls,
            resumed=resumed,
            metric=scores["metric"],
            proxy=bool(scores["proxy"]),
            method_name=self.spec.name,
            generator=_describe(self.spec.generator or self.config.generator),
            task=self.task,
            task_scores=task_scores,
            **{field: _mean_of(traces, field) for field in ("context_tokens", "context_words", "profile_tokens", "profile_words")},
        )


def _mean_of(traces: list[dict], field: str) -> float | None:
    """The mean of a trace field, or None unless every trace has it."""
    values = [t.get(field) for t in traces]
    return sum(values) / len(values) if values and None not in values else None


def _answer_config(config: EvalConfig, spec: MethodSpec) -> AnswerConfig:
    return config.answer.model_copy(
        update={"seed": config.seed, "k": config.answer.k if spec.k is None else spec.k, "format": spec.format or config.answer.format}
    )


def _retriever_options(config: EvalConfig, spec: MethodSpec) -> dict:
    return config.retriever_options if spec.retriever_options is None else spec.retriever_options


def _first_per_category(examples: list[Example], limit: int | None) -> list[Example]:
    if limit is None:
        return examples
    taken: dict[str | None, int] = {}
    kept = []
    for example in examples:
        if taken.get(example.category, 0) < limit:
            taken[example.category] = taken.get(example.category, 0) + 1
            kept.append(example)
    return kept


def _load_split(dataset: DatasetSpec, split: str) -> list[Example]:
    if dataset.path.is_file():
        return load_examples(dataset.path, dataset.format)
    return load_examples(dataset.path, dataset.format, split)


def _plan(config: EvalConfig) -> list[_Unit]:
    """Every (dataset, split, method) with the fingerprints that decide whether its saved
    answers and scores are still valid."""
    units = []
    for dataset in config.datasets:
        metric = dataset.metric_or(config.metric)
        scoring = {
            "metric": metric,
            "options": config.metric_options if metric == config.metric else {},
            "judge": _llm_identity(config.judge) if metric not in JUDGELESS else None,
        }
        for split in dataset.splits:
            pool = _load_split(dataset, split)
            examples = _first_per_category(pool, config.limit)
            data_digest = _digest([e.model_dump(mode="json") for e in examples])
            pool_digest = _digest([[e.id, e.user_id, [p.model_dump(mode="json") for p in e.profile]] for e in pool])
            for spec in config.methods:
                answering = {
                    "generator": _llm_identity(spec.generator or config.generator),
                    "method": spec.name,
                    "retriever": [spec.retriever or config.retriever, _retriever_options(config, spec)] if uses_retriever(spec.name) else None,
                    "answer": _answer_config(config, spec).model_dump(mode="json"),
                    "data": data_digest,
                    "pool": pool_digest if spec.name == "rag_random" else None,
                    "planner": [_llm_identity(spec.planner), adapter_fingerprint(spec.planner_adapter)] if spec.name == "planpers" else None,
                    "reflection": [_llm_identity(spec.reflection), adapter_fingerprint(spec.reflection_model())] if spec.name == "rpo" else None,
                    "summarizer": [_llm_identity(spec.summarizer), adapter_fingerprint(spec.summarizer_model())] if spec.name == "popi" else None,
                    "policy": adapter_fingerprint(spec.policy()),
                }
                folder = config.out / dataset.key / split / spec.key
                units.append(_Unit(config, dataset, split, spec, examples, pool, folder, _digest(answering), metric, dataset.task, _digest(scoring)))
    return units


def _check_planner_adapters(config: EvalConfig, pending: list[_Unit]) -> None:
    """Fail before any model time is spent when a local planner or policy adapter is missing."""
    for unit in pending:
        spec = unit.spec
        generator = spec.generator or config.generator
        if spec.name == "planpers":
            adapter, backend, trainer = spec.planner_adapter, (spec.planner or generator).backend, "tailor train planner"
        elif spec.name == "rpo":
            adapter, backend, trainer = spec.reflection_model(), (spec.reflection or generator).backend, "tailor train rpo"
        elif spec.name == "popi" and spec.summarizer_adapter:
            adapter, backend, trainer = spec.summarizer_model(), (spec.summarizer or generator).backend, "tailor train popi"
        elif spec.policy_adapter or spec.policy_run:
            adapter, backend, trainer = spec.policy(), generator.backend, "tailor train …"
        else:
            continue
        if adapter and backend in LOCAL_BACKENDS and not Path(adapter).exists():
            raise TailorError(
                f"method {spec.key!r}: adapter {adapter} does not exist; train it first "
                f"(`{trainer}`) or leave the method out with --methods"
            )
