"""The units of ``tailor eval``: one (dataset, split, method) each, with the fingerprints
that decide whether the answers and scores saved in its folder are still valid."""

import json
import time
from dataclasses import dataclass

from tailor.data import load_examples
from tailor.data.responses import read_responses
from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.eval.config import DatasetSpec, EvalConfig, MethodSpec
from tailor.eval.results import MethodResult, describe, scores_document
from tailor.io import atomic_write_json, json_digest
from tailor.llm import LLM, LLMConfig
from tailor.llm.base import adapter_fingerprint
from tailor.methods.inference import InferenceSpec
from tailor.methods.registry import POLICY, method_info
from tailor.metrics import metric_info
from tailor.metrics.lamp import task_report
from tailor.pipeline import answer_examples, build_method
from tailor.prompts.retry import TOO_LONG
from tailor.pool import ModelPool
from tailor.runs import RunFolder, UnitFolder

# The helper roles every answer fingerprint named (None where unused) before roles were
# open-ended: still named, so that eval folders made before stay valid.
FINGERPRINTED_ROLES = ("planner", "reflection", "summarizer")


def _llm_identity(config: LLMConfig | None) -> dict | None:
    """What decides a model's outputs (the cache location does not; ``deterministic`` is
    named only when on, so runs made before the switch existed stay valid)."""
    if config is None:
        return None
    return config.model_dump(mode="json", exclude={"cache", "cache_path", *(() if config.deterministic else ("deterministic",))})


class EvalModels:
    """The eval run's models, retrievers and metrics in one ``ModelPool``, with the
    generator and judge calls this invocation made."""

    def __init__(self, config: EvalConfig, pool: ModelPool, judge: LLM | None = None):
        self.config, self.pool, self._judge = config, pool, judge  # a given judge, else the pool's
        self.generator_calls = self.judge_calls = 0

    def release_generators(self) -> None:
        """Let go of the generators (unless one also judges) before the judge is loaded."""
        self.pool.release(keep=[self.config.judge])

    def metric(self, name: str):
        options = self.config.metric_options if name == self.config.metric else {}
        return self.pool.metric(name, self._judge or self.config.judge, options)

    def judge_usage(self) -> int:
        judge = self._judge or self.pool.built(self.config.judge)
        return judge.usage.requests if judge is not None else 0


@dataclass
class Unit:
    """One (dataset, split, method) and its output folder."""

    config: EvalConfig
    source: DatasetSpec
    split: str
    spec: MethodSpec
    method: InferenceSpec  # what the row builds
    examples: list[Example]
    pool: list[Example]
    folder: UnitFolder
    answer_fingerprint: str
    metric: str
    task: str | None
    scoring: str  # digest of the metric settings
    model_calls: int = 0  # generator and helper-model calls this invocation made for the unit

    @property
    def dataset(self) -> str:
        return self.source.key

    def _ids(self) -> set[str]:
        return {e.id for e in self.examples}

    def skipped(self) -> set[str]:
        """The examples answering skipped: a prompt they needed did not fit the model's context."""
        return set((self.folder.read_meta() or {}).get("skipped_for_length", []))

    def responded(self) -> list[Example]:
        """The examples with a response to score (all but the skipped)."""
        skipped = self.skipped()
        return [e for e in self.examples if e.id not in skipped]

    def answered(self) -> bool:
        meta = self.folder.read_meta()
        if not meta or meta.get("fingerprint") != self.answer_fingerprint:
            return False
        try:
            return set(read_responses(self.folder.responses)) | self.skipped() == self._ids()
        except TailorError:
            return False

    def score_fingerprint(self) -> str:
        """The answers' settings, the metric's, and the responses actually on disk."""
        return json_digest([self.answer_fingerprint, self.scoring, read_responses(self.folder.responses)])

    def scored(self) -> bool:
        scores = self.folder.read_scores()
        return bool(scores) and scores.get("fingerprint") == self.score_fingerprint() and set(scores.get("scores", {})) == {e.id for e in self.responded()}

    def answer(self, models: EvalModels) -> None:
        spec = self.spec
        built = build_method(self.method, examples=self.pool, seed=self.config.seed, pool=models.pool)
        used = built.models
        calls_before = sum(m.usage.requests for m in used)
        generation_before = sum(m.usage.generation_seconds for m in used)
        started = time.perf_counter()
        run = answer_examples(built.method, self.examples, self.folder.path)
        wall = time.perf_counter() - started
        # what generating these answers took, also when they were read from the cache
        generation = sum(m.usage.generation_seconds for m in used) - generation_before
        self.model_calls = sum(m.usage.requests for m in used) - calls_before
        models.generator_calls += self.model_calls
        atomic_write_json(self.folder.meta, {
            "fingerprint": self.answer_fingerprint,
            "dataset": self.dataset,
            "data": {"path": str(self.source.path), "format": self.source.format},  # where the questions' text is
            "split": self.split,
            "method": spec.key,
            "examples": len(self.examples),
            "wall_seconds": wall,
            "generation_seconds": generation,
            "seconds_per_query": (generation or wall) / len(self.examples),
            "model_calls": self.model_calls,
            "skipped_for_length": run.skipped,
        })

    def score(self, models: EvalModels) -> None:
        metric = models.metric(self.metric)
        before = models.judge_usage()
        responses = read_responses(self.folder.responses)
        examples = self.responded()
        run = metric.score_batch(examples, [responses[e.id] for e in examples])
        models.judge_calls += models.judge_usage() - before
        atomic_write_json(self.folder.scores, scores_document(run, metric.proxy, self.score_fingerprint()))

    def result(self, resumed: bool) -> MethodResult:
        meta = self.folder.read_meta() or {}
        scores = self.folder.read_scores() or {}
        task_scores = None
        responded = self.responded()
        if self.task:
            responses = read_responses(self.folder.responses)
            task_scores = task_report(self.task, [e.reference or "" for e in responded], [responses[e.id] for e in responded])
        traces = [json.loads(line)["trace"] for line in self.folder.traces.read_text(encoding="utf-8").splitlines() if line.strip()]
        traces = [t for t in traces if TOO_LONG not in t]  # skipped examples carried no prompt
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
            graded_only=scores.get("mean_graded_only"),
            method_name=self.spec.name,
            generator=describe(self.method.generator),
            task=self.task,
            task_scores=task_scores,
            skipped_for_length=len(self.examples) - len(responded),
            **{field: _mean_of(traces, field) for field in ("context_tokens", "context_words", "profile_tokens", "profile_words")},
        )


def _mean_of(traces: list[dict], field: str) -> float | None:
    """The mean of a trace field, or None unless every trace has it."""
    values = [t.get(field) for t in traces]
    return sum(values) / len(values) if values and None not in values else None


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


def _answering(method: InferenceSpec, data_digest: str, pool_digest: str) -> dict:
    """What decides a row's answers: its models, method, retrieval, answer settings, options and data."""
    info = method_info(method.method)
    helpers = {role: [_llm_identity(method.helpers.get(role)), adapter_fingerprint(method.adapters.get(role))] for role in info.roles if role != POLICY}
    return {
        "generator": _llm_identity(method.generator),
        "method": method.method,
        "retriever": [method.retriever, method.retriever_options] if info.retriever else None,
        "answer": method.answer.model_dump(mode="json"),
        "data": data_digest,
        "pool": pool_digest if info.needs_pool else None,
        **dict.fromkeys(FINGERPRINTED_ROLES),
        **helpers,
        "policy": adapter_fingerprint(method.adapters.get(POLICY)),
        **({"options": method.options} if method.options else {}),
    }


def plan(config: EvalConfig) -> list[Unit]:
    """Every (dataset, split, method) with the fingerprints that decide whether its saved
    answers and scores are still valid."""
    out = RunFolder(config.out)
    methods = [config.described(spec) for spec in config.methods]
    units = []
    for dataset in config.datasets:
        metric = dataset.metric_or(config.metric)
        info = metric_info(metric)
        scoring = {
            "metric": metric,
            "options": config.metric_options if metric == config.metric else {},
            "judge": _llm_identity(config.judge) if info.judge else None,
            **({"convention": info.convention} if info.convention is not None else {}),
        }
        for split in dataset.splits:
            pool = _load_split(dataset, split)
            examples = _first_per_category(pool, config.limit)
            data_digest = json_digest([e.model_dump(mode="json") for e in examples])
            pool_digest = json_digest([[e.id, e.user_id, [p.model_dump(mode="json") for p in e.profile]] for e in pool])
            for spec, method in zip(config.methods, methods):
                fingerprint = json_digest(_answering(method, data_digest, pool_digest))
                folder = out.unit(dataset.key, split, spec.key)
                units.append(Unit(config, dataset, split, spec, method, examples, pool, folder, fingerprint, metric, dataset.task, json_digest(scoring)))
    return units
