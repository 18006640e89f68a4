"""ReST-EM self-training with the metric as reward: the VAC paper's Offline-RL baseline
and, with reasoning, REST-PG (Algorithm 1 of the REST-PG paper). One loop, two settings.

Optional warm-up (REST-PG's lines 2-5): pi_0 is trained by SFT on the references, either
as they are (the SFT baseline) or after a reasoning summary that a reasoner model wrote
from the profile, the input and the reference (SFT with reasoning), or that an oracle wrote
from the planted task's hidden facts (``reasoner: oracle``: ``train/oracle.py``, labelled as
such in the run's history and report). Without a warm-up, pi_0 is the untrained policy.
With ``answer_reasoning_max_tokens`` every reply in the reasoning format is asked in two
calls, the reasoning capped and ``Response:`` written after it (``reason_then_respond``).

Each iteration t, with the previous policy pi_{t-1}:
(a) E-step: pi_{t-1} samples m replies per training input from its top-k profile items
(temperature gamma, one seed per sample); the metric scores each reply's answer part
(never the reasoning), all in one batch;
(b) per input, the best replies are kept: the single best (the VAC paper's baseline), or
those with reward >= tau, at most ``max_per_input`` (REST-PG: 10); in a control run
(``reward_control: permuted``) the rewards are first shuffled across the inputs;
(c) M-step: pi_t is fine-tuned on them, each row's loss scaled by its reward when
``reward_weighted``, from the base model (``from_base``, REST-PG's default) or from
pi_{t-1}; then scored on the validation split.
The best of pi_0 .. pi_T is the result. Only the metric sees references and narratives.

Everything lands under ``run_dir/``; a rerun reads finished stages back.
"""

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.llm import LLM, LLMConfig
from tailor.methods.rag import AnswerConfig
from tailor.llm.types import SamplingParams
from tailor.prompts.fit import fit_items
from tailor.prompts.longform import compose, parse_reasoning, reasoning_request
from tailor.prompts.retry import generate_parsed
from tailor.runs import KEPT_SAMPLES, POLICY_MODEL, POLICY_SFT, REASONING, SAMPLES
from tailor.train.controls import CONTROL_NAMES, RewardControl, controlled_rewards
from tailor.train.sft import train_sft
from tailor.train.loop import LoopInputs, LoopTrainer
from tailor.train.oracle import ORACLE, Oracle, oracle_reasoning
from tailor.train.rest_em_views import EXPLORATION_BUDGET, SAMPLED_ANSWERS, SELF_TRAINING
from tailor.train.stages import LoopConfig, Run, Trainer, check_inputs
from tailor.train.views import VALIDATION_ANSWERS
from tailor.train.rows import sft_row, top_scored, unparsed_scored, write_jsonl


class RestEMConfig(LoopConfig):
    """The VAC paper's baseline by default: T=3, m=16 samples per question at temperature
    1.0, the best one per question as the target, each round from the previous policy.
    REST-PG (configs/restpg-paper.yaml): ``threshold`` tau, ``max_per_input`` 10,
    ``reward_weighted``, ``from_base`` and a ``warmup`` on reasoning data."""

    what = "ReST-EM config"
    described_by: ClassVar[tuple[str, ...]] = ("format", "warmup", "answer_reasoning_max_tokens")

    samples: int = Field(default=16, ge=1, description="m: replies sampled per input")
    sample_temperature: float = Field(default=1.0, ge=0.0, description="gamma: the samples' temperature")
    threshold: float | None = Field(default=None, description="tau: keep replies rewarded at least this (none: the best per input)")
    max_per_input: int = Field(default=1, ge=1, description="the most kept replies per input")
    reward_weighted: bool = Field(default=False, description="scale each kept reply's loss by its reward")
    from_base: bool = Field(default=False, description="train each round from the base model (false: from the previous policy)")
    warmup: Literal["none", "reference", "reasoning"] = Field(default="none", description="none, reference (SFT on the users' texts) or reasoning (REST-PG)")
    reasoner: LLMConfig | Oracle | None = Field(
        default=None,
        description="writes the reasoning data: a model (default: the policy's model), or oracle: bullets stating the planted facts the "
        "question needs (planted task, data v2), an oracle reading hidden data, to show the loop where the model is not the limit; not REST-PG's result",
    )
    reasoning_max_tokens: int = Field(default=512, ge=1, description="the longest reasoning summary, in tokens")
    answer_reasoning_max_tokens: int | None = Field(
        default=None, ge=1,
        description="format longform-reasoning: the longest reasoning part of a policy reply; each reply is then asked in two calls, the reasoning "
        "until 'Response:' or this many tokens, then 'Response:' is written after it and the response asked within answer_max_tokens (none: one call)",
    )
    reward_control: RewardControl = Field(
        default="none",
        description="a control run, never a result: permuted shuffles the sampled rewards across the training examples (seeded) "
        "before selection, so the kept replies carry no reward signal (make learn-check compares a run against it)",
    )
    run_dir: Path = Field(default=Path("runs/rest-em"), description="the run folder (a rerun there resumes)")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.warmup == "reasoning") != (self.format == "longform-reasoning"):
            raise ValueError("warmup: reasoning and format: longform-reasoning go together (the policy learns to reason, then writes reasoning)")
        if self.warmup != "none" and self.format == "answer":
            raise ValueError("a warm-up trains on references, which LaMP-QA answers do not have; use format: longform")
        if self.reasoner == ORACLE and self.warmup != "reasoning":
            raise ValueError("reasoner: oracle writes the reasoning warm-up's data; it needs warmup: reasoning")
        cap = self.answer_reasoning_max_tokens
        if cap is not None and self.format != "longform-reasoning":
            raise ValueError(f"answer_reasoning_max_tokens caps the reasoning of format longform-reasoning; format {self.format!r} has none")
        if cap is not None and cap >= self.answer_max_tokens:
            raise ValueError(f"answer_reasoning_max_tokens {cap} leaves no room for the response within answer_max_tokens {self.answer_max_tokens}")
        return self

    @property
    def reasoner_llm(self) -> LLMConfig | Oracle:
        return self.reasoner or self.policy

    @property
    def answer(self) -> AnswerConfig:
        return AnswerConfig.model_validate(super().answer.model_dump() | {"reasoning_max_tokens": self.answer_reasoning_max_tokens})


@dataclass
class RestEMResult:
    validation: list[float]  # validation score of pi_t, index t (0: the warm-up model, or the untrained policy)
    best_iteration: int
    best_adapter: str | None  # None when the untrained policy scored best
    policy_adapters: list[str | None]  # pi_0 .. pi_T


class _RestEMRun(Run):
    config: RestEMConfig

    def reasoning(self, examples: list[Example], retrieved, reasoner: LLM | None) -> list[dict]:
        """Reasoning summaries of the references (their quotations dropped), one per input,
        each from as many of its items as fit the reasoner's context; without a reasoner, the
        oracle's, through the same quotation filter."""
        c = self.config
        if reasoner is None:
            return [oracle_row(e) for e in examples]
        requests = [
            fit_items(reasoner, c.reasoning_max_tokens, items, lambda kept, e=e: reasoning_request(e.question, kept, e.reference)).request
            for e, items in zip(examples, retrieved)
        ]
        params = SamplingParams(temperature=0.0, max_tokens=c.reasoning_max_tokens, seed=c.seed)
        parsers = [partial(parse_reasoning, expected=e.reference) for e in examples]
        batch = generate_parsed(reasoner, requests, params, parsers, c.max_attempts, description="reasoning data")
        return [{"id": e.id, "reasoning": p.value, "parsed": p.ok} for e, p in zip(examples, batch.items)]


def oracle_row(example: Example) -> dict:
    """The oracle's reasoning for ``example``, read as a reasoner's reply is."""
    try:
        return {"id": example.id, "reasoning": parse_reasoning(oracle_reasoning(example), example.reference), "parsed": True}
    except ValueError as error:
        return {"id": example.id, "reasoning": None, "parsed": False, "error": str(error)}


def train_rest_em(config: RestEMConfig, inputs: LoopInputs, trainer: Trainer = train_sft) -> RestEMResult:
    """Warm up (if configured), then run ``config.iterations`` rounds of sample, score,
    keep and fine-tune, validating pi_0 .. pi_T; the best-scoring policy is the result."""
    c = config
    train_examples, valid_examples, metric = inputs.train, inputs.valid, inputs.metric
    check_inputs("ReST-EM", train_examples, valid_examples, "reference" if c.warmup != "none" else None, "the warm-up trains on the users' own outputs")
    reasoner_llm = inputs.pool.llm(c.reasoner_llm) if c.warmup == "reasoning" and c.reasoner_llm != ORACLE else None
    run = _RestEMRun.open(c, inputs, trainer, {"reasoner": reasoner_llm})
    retrieved = run.retrieve(train_examples)
    fmt = c.reply

    policy: str | None = None
    if c.warmup != "none":
        out = run.folder.warmup
        targets = {e.id: e.reference for e in train_examples}
        if c.warmup == "reasoning":
            rows = run.stage("warmup/reasoning", out.of(REASONING), lambda: run.reasoning(train_examples, retrieved, reasoner_llm))
            targets = {row["id"]: compose(row["reasoning"], targets[row["id"]]) for row in rows if row["parsed"]}
        warm_rows = [sft_row(fmt.request(e.question, items), fmt.target(targets[e.id])) for e, items in zip(train_examples, retrieved) if e.id in targets]
        write_jsonl(out.of(POLICY_SFT), warm_rows)
        if not warm_rows:
            raise TailorError("no reasoning summary could be read, so there is nothing to warm the policy up on")
        policy = run.train("warmup/train_policy", c.policy.model, warm_rows, out.of(POLICY_MODEL), None)
    validation = [run.validate(0, valid_examples, policy)]
    adapters: list[str | None] = [policy]
    for t in range(1, c.iterations + 1):
        out = run.folder.iteration(t)

        # (a) E-step: m replies per input from pi_{t-1}, their answers scored in one batch.
        def sample_and_score() -> list[dict]:
            rows = []
            for j in range(c.samples):
                seed = c.sample_seed(j)
                replies = run.answers(train_examples, retrieved, policy, c.sample_temperature, seed)
                rows += [{"id": e.id, "j": j, "seed": seed, "reply": r, "parsed": ok} for e, r, ok in zip(train_examples, replies.texts, replies.parsed)]
            scored = metric.score_batch(train_examples * c.samples, [fmt.answer(row["reply"]) for row in rows])  # sample-major rows
            for row, score in zip(rows, scored.scores):
                row["score"] = unparsed_scored(score.value, row["parsed"])  # a reply that did not parse is never kept
            return rows

        sampled = run.stage(f"iter_{t}/samples", out.of(SAMPLES), sample_and_score)

        # (b) the kept replies: the best per input, or those rewarded >= tau (at most max_per_input),
        # by the metric's rewards or, in a control run, by rewards permuted across the inputs.
        rewarded = controlled_rewards(sampled, c.reward_control, f"{c.seed}/{t}")
        kept = run.stage(f"iter_{t}/kept", out.of(KEPT_SAMPLES), lambda: top_scored(rewarded, train_examples, c.max_per_input, c.threshold))
        items_of = {e.id: (e, items) for e, items in zip(train_examples, retrieved)}
        policy_rows = [
            sft_row(fmt.request(items_of[row["id"]][0].question, items_of[row["id"]][1]), fmt.target(row["reply"]), row["score"] if c.reward_weighted else None)
            for row in kept
        ]
        write_jsonl(out.of(POLICY_SFT), policy_rows)
        if not policy_rows:
            raise TailorError(f"iteration {t}: no sampled reply reached the reward threshold {c.threshold}, so there is nothing to train on")

        # (c) M-step: pi_t from the base model (from_base) or from pi_{t-1}, then validated.
        policy = run.train(f"iter_{t}/train_policy", c.policy.model, policy_rows, out.of(POLICY_MODEL), None if c.from_base else policy)
        adapters.append(policy)
        validation.append(run.validate(t, valid_examples, policy))

    best, best_adapter = run.finish(validation, adapters)
    return RestEMResult(validation, best, best_adapter, adapters)


class RestEMTrainer(LoopTrainer):
    """ReST-EM (the VAC paper's Offline-RL baseline), or REST-PG with a reasoning warm-up
    (its own entry in TRAINERS, which ``when`` selects): a policy trained on its own
    best-rewarded samples, and the recipe's variants (e.g. ReST-EM without reasoning);
    reports each round's validation score and the run report."""

    config_class = RestEMConfig
    report_sections = (SELF_TRAINING, EXPLORATION_BUDGET)
    example_views = (SAMPLED_ANSWERS, VALIDATION_ANSWERS)

    @classmethod
    def report_label(cls, config: dict) -> str:
        control = config.get("reward_control", "none")
        return "main" if control == "none" else f"main (rewards {CONTROL_NAMES[control]})"

    def title(self, config: RestEMConfig) -> str:
        label = super().title(config)
        return label if config.reward_control == "none" else f"{label}, rewards {CONTROL_NAMES[config.reward_control]}"

    def train_one(self, config: RestEMConfig, inputs: LoopInputs) -> RestEMResult:
        return train_rest_em(config, inputs)
