"""What the self-training loops (VAC, ReST-EM) share: their common settings, and a run
whose stages are cached on disk as jsonl, timed and costed in ``history.json``.

A rerun reads finished stages back, ``train_sft`` reuses finished adapters, and a run
folder holding other settings is refused. A prompt too long for its model's context never
stops a stage: its retrieved items are trimmed to fit, and a request that does not fit even
so is never sent; its row is unparsed (never a target) and the stage counts it as skipped
for length.
"""

import contextlib
import logging
import math
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tailor.config import load_yaml_config
from tailor.data import SAMPLE_LAMPQA
from tailor.data.schema import Example, ProfileItem
from tailor.errors import TailorError
from tailor.metrics import MetricName, check_judge, check_options
from tailor.llm import LLM, LLMConfig
from tailor.llm.types import SamplingParams
from tailor.methods.base import Method
from tailor.methods.inference import InferenceSpec
from tailor.methods.rag import AnswerConfig
from tailor.prompts.fit import fit_items
from tailor.prompts.formats import FormatName, ReplyFormat
from tailor.prompts.retry import TOO_LONG, ParsedBatch, generate_parsed
from tailor.run_history import HeldOutTest, History, MetricIdentity, StageCost, Trimmed, Validated
from tailor.runs import VALIDATION, RunFolder
from tailor.train.oracle import oracle_parts
from tailor.train.rows import holdout_split, mean_scored, parsed, read_jsonl, write_jsonl
from tailor.train.sft import SFTResult, SFTSettings

if TYPE_CHECKING:
    from tailor.train.loop import LoopInputs

Trainer = Callable[..., SFTResult]
log = logging.getLogger(__name__)


class LoopConfig(BaseModel):
    """Settings every self-training loop has: the policy, the metric (default: aspect
    with a judge, else proxy), the data, T iterations, k profile items, the answer
    sampling (temperature 0.1, as at inference), SFT and the run folder."""

    model_config = ConfigDict(extra="forbid")
    what: ClassVar[str] = "training config"
    # Settings no stage depends on: a run may be extended, cut short or moved.
    unstaged: ClassVar[frozenset[str]] = frozenset({"run_dir", "iterations", "variants"})
    # Shared settings this loop never reads: setting one is an error, not a silent no-op.
    unread: ClassVar[dict[str, str]] = {}
    # The models a finished run's history names as kept, by role (``RunFolder.kept_adapter``).
    kept_roles: ClassVar[tuple[str, ...]] = ("policy",)
    # The settings that say what a run of this loop is, where tables name it (the learning table's rows).
    described_by: ClassVar[tuple[str, ...]] = ("format",)

    policy: LLMConfig = Field(default=LLMConfig(), description="the policy: the model the loop trains (backend and model)")
    judge: LLMConfig | None = Field(default=None, description="the judge model of the judge metrics (aspect, direct, similarity)")
    metric: MetricName | None = Field(default=None, description="the reward and validation metric (default: aspect with a judge, else proxy)")
    metric_options: dict = Field(default_factory=dict, description="the metric's own settings")
    retriever: str = Field(default="bm25", description="bm25, dense or dense:<model>")
    retriever_options: dict = Field(default_factory=dict, description="the retriever's settings")
    data: Path = Field(default=SAMPLE_LAMPQA, description="the dataset (any loadable format) with the training and validation splits")
    train_split: str = Field(default="train", description="the split the loop trains on")
    valid_split: str = Field(default="validation", description="the split each policy is validated on")
    train_limit: int | None = Field(default=None, ge=1, description="the first N training examples only")
    valid_limit: int | None = Field(default=None, ge=1, description="the first N validation examples only")
    test_split: str | None = Field(
        default=None, description="a held-out split on which the untrained and the kept policy are scored at the end, with a paired t-test (none: no test)",
    )
    test_limit: int | None = Field(default=None, ge=1, description="the first N test examples only")
    iterations: int = Field(default=3, ge=1, description="T: rounds of the loop (a run may be extended)")
    k: int = Field(default=10, ge=0, description="profile items retrieved for each prompt")
    format: FormatName = Field(default="answer", description="the task shape: answer (LaMP-QA), longform, longform-reasoning, …")
    answer_temperature: float = Field(default=0.1, ge=0.0, description="sampling temperature of the policy's answers (as at inference)")
    answer_max_tokens: int = Field(default=512, ge=1, description="the longest answer, in tokens")
    max_attempts: int = Field(default=3, ge=1, description="tries per request when a reply does not parse (temperature rising)")
    sft: SFTSettings = Field(default=SFTSettings(), description="LoRA and optimizer settings of every fine-tuning stage")
    holdout: float = Field(
        default=0.1, ge=0.0, lt=1.0,
        description="share of each fine-tuning stage's rows held out to validate it: the checkpoint with the lowest loss on them "
        "(evaluated every sft.eval_steps) is kept; none are held out while that share is under one row",
    )
    seed: int = Field(default=0, description="seeds sampling and training")
    run_dir: Path = Field(default=Path("runs/train"), description="the run folder (a rerun there resumes)")
    variants: dict[str, dict] = Field(default_factory=dict, description="more runs of this recipe, each with these settings changed, in run_dir/<name> (e.g. VAC's frozen feedback)")

    @model_validator(mode="after")
    def _metric_has_judge(self) -> Self:
        unread = sorted(key for key in self.unread if getattr(self, key) != type(self).model_fields[key].get_default(call_default_factory=True))
        if unread:
            raise ValueError(f"{unread[0]}: not a setting of this loop ({self.unread[unread[0]]})")
        if "metric" not in self.unread:  # a loop that reads no metric (the planner's validates by held-out loss) has none
            self.metric = check_judge(self.metric, self.judge is not None)
            check_options(self.metric, self.metric_options)
        return self

    @property
    def answer(self) -> AnswerConfig:
        return AnswerConfig(
            k=self.k, temperature=self.answer_temperature, max_tokens=self.answer_max_tokens, max_attempts=self.max_attempts, seed=self.seed, format=self.format
        )

    @property
    def reply(self) -> ReplyFormat:
        return self.answer.reply

    def sample_seed(self, j: int) -> int:
        """Sample j's seed, spaced by max_attempts: a retry's seed+1 never repeats sample j+1's."""
        return self.seed + j * self.max_attempts

    @classmethod
    def from_yaml(cls, path: str | Path) -> Self:
        return load_yaml_config(cls, path, cls.what)

    @classmethod
    def resume(cls, run_dir: str | Path) -> Self:
        """The config a run in ``run_dir`` was started with."""
        folder = RunFolder(run_dir)
        if not folder.config_file.exists():
            raise TailorError(f"{run_dir} holds no run to resume (no config.json)")
        return cls.model_validate({**folder.config(), "run_dir": run_dir})

    def runs(self) -> list[tuple[str, Self]]:
        """This run and its variants: (name, config), the main run named ``main``."""
        base = self.model_dump(exclude={"variants"})
        out = [("main", self)]
        for name, changes in self.variants.items():
            if not name.replace("-", "").replace("_", "").isalnum() or name == "main":
                raise TailorError(f"variant name {name!r} must be a plain folder name (letters, digits, - and _) other than 'main'")
            try:
                out.append((name, self.model_validate({**base, **changes, "run_dir": Path(self.run_dir) / name})))
            except ValueError as err:
                raise TailorError(f"variant {name!r}: {err}") from err
        return out

    def models(self) -> dict[str, LLMConfig]:
        """The models the recipe names, by setting (a model left unset is the policy's)."""
        return {name: value for name in type(self).model_fields if isinstance(value := getattr(self, name), LLMConfig)}

    def adapter_models(self) -> list[LLMConfig]:
        """The models that generate with the LoRA adapters the run trains (shaped as ``sft``)."""
        return [self.policy]

    def staged(self) -> dict:
        """The settings the run's stages depend on."""
        return self.model_dump(mode="json", exclude=set(self.unstaged))

    def inference(self, adapters: dict[str, str | None]) -> InferenceSpec:
        """The method a run of this config makes at inference, with ``adapters`` (the models
        it trains, by their role in ``kept_roles``; missing or None: the base model): here
        RAG with the policy. Validation builds it, and a finished run writes the one it
        kept to ``inference.json``."""
        return self.described("rag", {"policy": adapters.get("policy")})

    def described(self, method: str, adapters: dict[str, str | None], generator: LLMConfig | None = None,
                  helpers: dict[str, LLMConfig] | None = None, options: dict | None = None) -> InferenceSpec:
        """``method`` with these adapters, models (default: the policy) and options, and this
        config's answer settings and retriever. A helper that is the generator is left out."""
        generator = generator or self.policy
        helpers = {role: model for role, model in (helpers or {}).items() if model != generator}
        return InferenceSpec(method=method, generator=generator, helpers=helpers, adapters=adapters, answer=self.answer, options=options or {},
                             retriever=self.retriever, retriever_options=self.retriever_options)


def check_inputs(method: str, train: list[Example], valid: list[Example], field: str | None = None, why: str = "") -> None:
    """Fail before any model time when a split is empty, or when training inputs lack
    ``field`` (``why`` says what needs it)."""
    if not train or not valid:
        raise TailorError(f"{method} needs training and validation examples")
    missing = [e.id for e in train if field and not getattr(e, field)]
    if missing:
        raise TailorError(f"{method}: {why}; {len(missing)} training inputs have no {field}, e.g. {missing[0]!r}")


def best_iteration(validation: list[float]) -> int:
    """The earliest iteration with the highest validation score (NaN never wins)."""
    ranked = [(-math.inf if math.isnan(v) else v) for v in validation]
    return max(range(len(ranked)), key=lambda t: (ranked[t], -t))


class Run:
    """The stages of one training run under ``config.run_dir``, on ``inputs``' models,
    metric and retriever. ``llms`` names the run's other models by role (the policy is
    ``inputs.policy``); one model serving two roles is counted once. A loop that validates
    by held-out loss alone (the planner) has no metric."""

    def __init__(self, config: LoopConfig, inputs: "LoopInputs", trainer: Trainer, llms: dict[str, LLM | None] | None = None):
        self.config, self.inputs, self.trainer = config, inputs, trainer
        self.metric, self.retriever = inputs.metric, inputs.retriever
        self.roles = {"policy": inputs.policy, **(llms or {})}
        self.policy_llm = inputs.policy
        self.folder = RunFolder(config.run_dir)
        self.history = self.folder.history() or History()
        self.llms: dict[str, LLM] = {}
        for role, llm in {**self.roles, "judge": getattr(self.metric, "llm", None)}.items():
            if llm is not None and all(llm is not seen for seen in self.llms.values()):
                self.llms[role] = llm

    @classmethod
    def open(cls, config: LoopConfig, inputs: "LoopInputs", trainer: Trainer, llms: dict[str, LLM | None] | None = None) -> "Run":
        """Refuse a run folder holding other staged settings; save the run's kind (its
        entry's in ``TRAINERS``), its config (for ``--resume``) and the metric's identity
        (for the report)."""
        from tailor.train.trainers import kind_of

        folder, kind = RunFolder(config.run_dir), kind_of(config)
        if folder.config_file.exists():
            previous = config.model_validate({**folder.config(), "run_dir": config.run_dir})
            if previous.staged() != config.staged():
                raise TailorError(f"{config.run_dir} holds a {folder.kind() or kind} run with other settings; use another run_dir")
        folder.write_kind(kind)
        folder.write_config(config.model_dump(mode="json", exclude={"run_dir"}))
        run = cls(config, inputs, trainer, llms)
        run.history.oracle = oracle_parts(config) or None
        if inputs.metric is not None:
            run.history.metric = MetricIdentity(name=inputs.metric.name, proxy=inputs.metric.proxy)
        return run

    def stage(self, name: str, path: Path, compute: Callable[[], list[dict]]) -> list[dict]:
        """``path``'s rows when a previous run finished this stage, else ``compute()``'s."""
        if path.exists():
            return read_jsonl(path)
        started, before = time.perf_counter(), self.usage()
        rows = compute()
        self.record(name, started, before, unparsed=sum(not parsed(row) for row in rows))
        write_jsonl(path, rows)
        return rows

    def record(self, name: str, started: float, before: dict, unparsed: int = 0) -> None:
        """A stage's cost, how many of its rows hold output that did not parse (left out of
        every training set and selection), and how many of its requests were never sent
        because they did not fit their model's context (their rows are among the unparsed)."""
        self.history.stages[name] = StageCost(
            seconds=round(time.perf_counter() - started, 3),
            calls={role: llm.usage.requests - before[role][0] for role, llm in self.llms.items()},
            tokens={role: llm.usage.prompt_tokens + llm.usage.completion_tokens - before[role][1] for role, llm in self.llms.items()},
            unparsed=unparsed,
            skipped_for_length=sum(llm.usage.too_long - before[role][2] for role, llm in self.llms.items()),
        )
        self.save_history()

    def usage(self) -> dict:
        return {role: (llm.usage.requests, llm.usage.prompt_tokens + llm.usage.completion_tokens, llm.usage.too_long) for role, llm in self.llms.items()}

    def train(
        self, name: str, model: str, rows: list[dict], output_dir: Path, init_adapter: str | None,
        trainer: Trainer | None = None, settings: SFTSettings | None = None,
    ) -> str:
        """Training (SFT with the config's settings unless given) on the stage's rows but a
        held-out share (``holdout``), on whose loss the best checkpoint is kept, as the
        paper validates every ``eval_steps``; the per-iteration validation score then
        picks among the policies."""
        kept, held = holdout_split(rows, self.config.holdout)

        def job() -> SFTResult:
            return (trainer or self.trainer)(model, kept, held or None, settings or self.config.sft, output_dir, init_adapter=init_adapter)

        return self.timed(name, job, len(held))

    def timed(self, name: str, job: Callable[[], SFTResult], eval_rows: int = 0, release: bool = True) -> str:
        """Run a training job, recording its cost (and its best held-out loss) unless it
        was reused; its adapter. With ``release``, the run's models give back their
        accelerator memory meanwhile (``LLM.released``: an in-process vLLM engine sleeps);
        a job whose reward calls them (GRPO) keeps them awake."""
        started, before = time.perf_counter(), self.usage()
        with contextlib.ExitStack() as released:
            for llm in self.llms.values() if release else ():
                released.enter_context(llm.released())
            result = job()
        if not result.reused:
            self.record(name, started, before)
            cost = self.history.stages[name]
            cost.eval_rows, cost.best_eval_loss = eval_rows, result.best_eval_loss
            self.save_history()
        return result.adapter

    def save_history(self) -> None:
        self.folder.write_history(self.history)

    def retrieve(self, examples: list[Example]) -> list[list[ProfileItem]]:
        """Each example's top-k profile items, as many as fit the policy's answer prompt
        (the lowest-ranked dropped first), so that the prompts the policy answers are the
        prompts it learns from; the items dropped are counted in the history."""
        c = self.config
        fitted = [fit_items(self.policy_llm, c.answer_max_tokens, self.retriever.retrieve(e, c.k), partial(c.reply.request, e.question)) for e in examples]
        trimmed = [f.trimmed for f in fitted if f.trimmed]
        if trimmed:
            log.warning("%d of %d training prompts dropped their %d lowest-ranked items to fit the policy's context", len(trimmed), len(fitted), sum(trimmed))
        self.history.trimmed = Trimmed(inputs=len(trimmed), items=sum(trimmed))
        self.save_history()
        return [f.items for f in fitted]

    def answers(
        self, examples: list[Example], retrieved: list[list[ProfileItem]], adapter: str | None, temperature: float | None = None, seed: int | None = None,
    ) -> ParsedBatch[str]:
        """The policy's replies to the plain prompt of the config's format (at the config's
        answer temperature and seed unless given), from items ``retrieve`` fitted."""
        c = self.config
        requests = [c.reply.request(e.question, items) for e, items in zip(examples, retrieved)]
        params = SamplingParams(
            temperature=c.answer_temperature if temperature is None else temperature, max_tokens=c.answer_max_tokens, seed=c.seed if seed is None else seed
        )
        reply = c.reply
        return generate_parsed(self.policy_llm, requests, params, reply.parse, c.max_attempts, adapter=adapter, description="policy answers", generate=partial(reply.generate, self.policy_llm))

    def adapters_at(self, t: int, adapter: str | None) -> dict[str, str | None]:
        """Round t's trained models by role, pi_t's ``adapter`` the policy; a loop that
        trains more than the policy adds round t's other parts."""
        return {"policy": adapter}

    def method_at(self, t: int, adapter: str | None) -> Method:
        """pi_t at inference, as eval and the service build the method the run keeps."""
        return self.built(self.config.inference(self.adapters_at(t, adapter)))

    def untrained(self) -> Method:
        """The method before any training: every part its base model."""
        return self.built(self.config.inference({}))

    def built(self, spec: InferenceSpec) -> Method:
        """``spec`` on the run's models (``make_method``, through ``InferenceSpec.build``)."""
        pool = self.inputs.pool
        return spec.build(pool.llm(spec.generator), spec.helper and pool.llm(spec.helper), self.retriever, seed=self.config.seed)

    def scored_answers(self, name: str, path: Path, method: Method, examples: list[Example]) -> list[dict]:
        """``method``'s answers to ``examples``, each with its score (None: unscored) and
        whether the model's reply parsed (an answer that fell back, as RPO's generic one when
        the reflection cannot be read, is flagged and counted), as the stage ``name``: read
        back when already measured."""

        def answer_and_score() -> list[dict]:
            answers = method.answer_batch(examples)
            answered = [(e, a) for e, a in zip(examples, answers) if not a.skipped]  # a skipped example has nothing to score
            run = self.metric.score_batch([e for e, _ in answered], [a.text for _, a in answered])
            scores = {e.id: s.value for (e, _), s in zip(answered, run.scores)}
            return [
                {"id": e.id, "response": a.text, "score": scores.get(e.id), "parsed": a.trace.get("parsed", True), **({TOO_LONG: a.skipped} if a.skipped else {})}
                for e, a in zip(examples, answers)
            ]

        return self.stage(name, path, answer_and_score)

    def validate(self, t: int, examples: list[Example], adapter: str | None) -> float:
        """pi_t's mean validation score."""
        spec = self.config.inference(self.adapters_at(t, adapter))
        rows = self.scored_answers(f"iter_{t}/validation", self.folder.iteration(t).of(VALIDATION), self.built(spec), examples)
        score = mean_scored(rows)
        self.history.validation[t] = Validated(
            score=score, adapter=adapter, adapters=spec.adapters_in(self.folder), scored=sum(row["score"] is not None for row in rows), examples=len(rows),
            unparsed=sum(not parsed(row) for row in rows), skipped_for_length=sum(TOO_LONG in row for row in rows),
        )
        self.save_history()
        return score

    def finish(self, validation: list[float], adapters: list[str | None]) -> tuple[int | None, str | None]:
        """The best iteration and its policy adapter (``adapters[t]`` is pi_t's; None: the
        base model), recorded, and the method it makes described in ``inference.json``; then,
        with a ``test_split``, the untrained policy against it on that split. A loop that
        validates by held-out loss alone (no ``validation`` scores) keeps its one adapter, at
        no iteration."""
        best = best_iteration(validation) if validation else None
        adapter = adapters[-1] if best is None else adapters[best]
        self.history.best_iteration, self.history.kept["policy"] = best, adapter
        self.save_history()
        self.config.inference(self.adapters_at(best, adapter)).write(self.folder)
        if self.config.test_split:
            self.test(best, adapter)
        return best, adapter

    def test(self, best: int, adapter: str | None) -> dict:
        """The untrained policy (every part without adapter: where pi_0 is itself trained, as after
        a warm-up, the loop starts before it) and the kept pi_best answer the held-out test split as
        at inference; their means, a two-sided paired t-test between them (the loop learned when the
        kept policy wins with p < 0.05) and the commit of the code that answered go to the history's ``test``."""
        from tailor.data import load_examples
        from tailor.metrics.significance import paired_p_value
        from tailor.source import source_version

        c = self.config
        examples = load_examples(c.data, split=c.test_split)[: c.test_limit]
        start = self.scored_answers("test/untrained", self.folder.test_answers(None), self.untrained(), examples)
        kept = self.method_at(best, adapter)
        end = start if adapter is None and best == 0 else self.scored_answers(f"test/iter_{best}", self.folder.test_answers(best), kept, examples)
        scores = [{row["id"]: row["score"] for row in rows} for rows in (start, end)]
        result = {
            "split": c.test_split, "examples": len(examples), "end_iteration": best, "start": mean_scored(start), "end": mean_scored(end),
            "p_value": paired_p_value(scores[1], scores[0], [e.id for e in examples]), "scored": [sum(v is not None for v in s.values()) for s in scores],
            "unparsed": [sum(not parsed(row) for row in rows) for rows in (start, end)], "skipped_for_length": [sum(TOO_LONG in row for row in rows) for rows in (start, end)],
            "commit": self.history.test.commit if self.history.test and self.history.test.end_iteration == best else source_version(),  # read back: as first run
        }
        self.history.test = HeldOutTest.model_validate(result)
        self.save_history()
        return result
