"""RPO training (``tailor train rpo``): a reflection model learns to rewrite a black-box
base model's generic answer for the user.

(a) The base model answers every training input without personalization; the user's top
item is retrieved with the question and that generic answer.
(b) A teacher, also shown the user's true output, writes a rewriting trajectory from the
generic answer to it; its reasoning, followed by the true output as the personalized
part, is the SFT target (only the reasoning must be usable: the personalized part is
replaced by the true output; lines of reasoning that quote it are dropped, and, as the
paper's brevity and consistency checks, a trajectory whose reasoning is left empty, was
cut off by the token budget or repeats a line is dropped). ``teacher: oracle`` writes them
from the planted task's hidden facts instead (``train/oracle.py``; labelled as such in the
run's history and report), and they are read and checked as a model's are.
(c) SFT of the reflection model on one-item prompts: pi_0.
(d) RL, one epoch over the training inputs in T stages, stage e = 1..T on its own slice:
GRPO (a REINFORCE estimator with the group's mean reward as baseline, and a KL penalty
to pi_0) on prompts holding k = min(6, 2 + floor((e - 1) / E_step)) retrieved items,
rewarded by the task metric on the personalized part (0 when the reply cannot be read),
continuing the previous stage.
Each pi_t is validated end to end (base answer, retrieval, reflection); the best is kept.
"""

import logging
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pydantic import Field

from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.llm import LLMConfig
from tailor.llm.types import SamplingParams
from tailor.methods.inference import InferenceSpec
from tailor.methods.rag import RetrievalAugmented
from tailor.methods.rpo import RPOOptions
from tailor.prompts.formats import FormatName
from tailor.prompts.quotes import without_quotes
from tailor.prompts.retry import TOO_LONG, Parsed, generate_parsed
from tailor.prompts.rpo import THINK_PREFILL, parse_reflection, parse_trajectory, reflection_request, retrieval_query, trajectory_request
from tailor.runs import GENERIC, POLICY_MODEL, REFLECTION_SFT, RL_PROMPTS, TRAJECTORIES
from tailor.train.curriculum import shots, stage_slices
from tailor.train.grpo import GRPOSettings, train_grpo
from tailor.train.sft import train_sft
from tailor.train.loop import LoopInputs, LoopTrainer
from tailor.train.oracle import ORACLE, Oracle, oracle_reasoning
from tailor.train.stages import LoopConfig, Run, Trainer, check_inputs
from tailor.train.rows import sft_row, write_jsonl

log = logging.getLogger(__name__)


class RPOConfig(LoopConfig):
    """``policy`` is the reflection model trained here; ``base`` the black-box answerer
    (default: the policy's model, without adapter); ``teacher`` writes the trajectories
    (default: the policy's model). T = ``iterations`` RL stages, together one epoch over the
    training inputs; ``epochs_per_step`` is the curriculum's E_step (stages per step). ``k``
    is the number of items at inference."""

    what = "RPO config"

    base: LLMConfig | None = Field(default=None, description="the black-box answerer (default: the policy's model, without adapter)")
    teacher: LLMConfig | Oracle | None = Field(
        default=None,
        description="writes the rewriting trajectories: a model (default: the policy's model), or oracle: reasoning stating the planted facts the "
        "question needs, then the gold answer (planted task, data v2), an oracle reading hidden data, to show the loop where the model is not the limit; not RPO's result",
    )
    trajectory_max_tokens: int = Field(default=512, ge=1, description="the longest trajectory, in tokens")
    trajectory_checks: bool = Field(
        default=True,
        description="keep only trajectories whose reasoning ends within trajectory_max_tokens and repeats no line (the paper's "
        "brevity and consistency checks); false trains on whatever reasoning the teacher wrote",
    )
    reflection_max_tokens: int = Field(default=RPOOptions().reflection_max_tokens, ge=1, description="the longest reflection, in tokens")
    epochs_per_step: int = Field(default=1, ge=1, description="E_step: RL epochs per curriculum step (k grows from 2 to 6)")
    rl: GRPOSettings = Field(default=GRPOSettings(), description="GRPO settings of the RL stages")
    k: int = Field(default=6, ge=1, description="profile items at inference")
    format: FormatName = Field(default="longform", description="the task shape (longform for LaMP's generation tasks)")
    run_dir: Path = Field(default=Path("runs/rpo"), description="the run folder (a rerun there resumes)")

    @property
    def base_llm(self) -> LLMConfig:
        return self.base or self.policy

    @property
    def teacher_llm(self) -> LLMConfig | Oracle:
        return self.teacher or self.policy

    def inference(self, adapters: dict[str, str | None]) -> InferenceSpec:
        """The base model answers; the policy, as the reflection model, rewrites."""
        options = RPOOptions(reflection_max_tokens=self.reflection_max_tokens).model_dump()
        return self.described("rpo", {"reflection": adapters.get("policy")}, self.base_llm, {"reflection": self.policy}, options)


@dataclass
class RPOResult:
    validation: list[float]  # index t: pi_t (0: after SFT)
    best_iteration: int
    best_adapter: str | None
    adapters: list[str]  # pi_0 (SFT) .. pi_T


def reasoning_without(raw: str, truth: str, checked: bool = True) -> str:
    """The teacher's reasoning (``parse_trajectory``), without the lines that quote the true
    output (the reflection model will not know it); ValueError when nothing is left."""
    think = without_quotes(parse_trajectory(raw, checked), truth)
    if not think:
        raise ValueError("the reasoning only quotes the true output")
    return think


def reflection_target(think: str, truth: str) -> str:
    """The reply the reflection model learns: the reasoning, then the true output."""
    return f"{THINK_PREFILL}{think.strip()}</think>\n<personalized>{truth.strip()}</personalized>"


class _RPORun(Run):
    config: RPOConfig

    def trajectories(self, examples: list[Example], generic: list[str], top: list) -> list[dict]:
        c = self.config
        parsers = [partial(reasoning_without, truth=e.reference, checked=c.trajectory_checks) for e in examples]
        if self.roles["teacher"] is None:
            parsed = [self.oracle_trajectory(e, parse) for e, parse in zip(examples, parsers)]
        else:
            requests = [trajectory_request(e.question, g, items[0], e.reference) for e, g, items in zip(examples, generic, top)]
            params = SamplingParams(temperature=0.0, max_tokens=c.trajectory_max_tokens, seed=c.seed)
            parsed = generate_parsed(self.roles["teacher"], requests, params, parsers, c.max_attempts, description="rpo trajectories").items
        return [
            {"id": e.id, "item": items[0].id, "think": p.value, "parsed": p.ok, "raw": p.raw, **({} if p.ok else {"error": p.error})}
            for e, items, p in zip(examples, top, parsed)
        ]

    def oracle_trajectory(self, example: Example, parse) -> Parsed[str]:
        """The oracle's trajectory, as a teacher's reply after the prefill, read by ``parse``;
        cut off, as a model's would be, when its reasoning takes more than
        ``trajectory_max_tokens`` (counted by the policy's tokenizer, where it has one)."""
        reasoning = oracle_reasoning(example)
        tokens = self.policy_llm.count_tokens(f"{reasoning}</think>")
        ended = tokens is None or tokens <= self.config.trajectory_max_tokens
        raw = THINK_PREFILL + (f"{reasoning}</think>\n<personalized>{example.reference}</personalized>" if ended else reasoning)
        try:
            return Parsed(parse(raw), raw, 1)
        except ValueError as error:
            return Parsed(None, raw, 1, str(error))

    def reward(self, examples: dict[str, Example]):
        """The task metric on each completion's personalized part; 0 when it cannot be read."""

        def reward(completions: list[str], id: list[str], **_) -> list[float]:
            parsed = []
            for text in completions:
                try:
                    parsed.append(parse_reflection(text).personalized)
                except ValueError:
                    parsed.append(None)
            readable = [i for i, p in enumerate(parsed) if p is not None]
            scores = self.metric.score_batch([examples[id[i]] for i in readable], [parsed[i] for i in readable]).scores
            rewards = [0.0] * len(completions)
            for i, score in zip(readable, scores):
                rewards[i] = score.value or 0.0
            return rewards

        return reward


def train_rpo(config: RPOConfig, inputs: LoopInputs, trainer: Trainer = train_sft, rl_trainer=train_grpo) -> RPOResult:
    """Trajectories, SFT, then the RL curriculum; validates pi_0 .. pi_T and keeps the best."""
    train_examples, valid_examples, metric, retriever = inputs.train, inputs.valid, inputs.metric, inputs.retriever
    check_inputs("RPO", train_examples, valid_examples, "reference", "its trajectories rewrite the generic answer towards the user's true output")
    c = config
    base = inputs.pool.llm(c.base_llm)
    teacher = None if c.teacher_llm == ORACLE else inputs.pool.llm(c.teacher_llm)
    run = _RPORun.open(c, inputs, trainer, {"base": base, "teacher": teacher})

    # (a) generic answers, and the top item retrieved with question + generic answer.
    def answer() -> list[dict]:
        answers = RetrievalAugmented(base, None, c.answer).answer_batch(train_examples)
        return [{"id": e.id, "generic": a.text, **({TOO_LONG: a.skipped} if a.skipped else {})} for e, a in zip(train_examples, answers)]

    generic_rows = run.stage("generic", run.folder.of(GENERIC), answer)
    # an example whose question did not fit the base model's context has no generic answer to rewrite: it leaves the run
    skipped = {row["id"] for row in generic_rows if row.get(TOO_LONG)}
    if skipped:
        log.warning("RPO: %d training example(s) left out, their question too long for %s: %s", len(skipped), base.model, ", ".join(sorted(skipped)))
    train_examples = [e for e in train_examples if e.id not in skipped]
    generic = [row["generic"] for row in generic_rows if row["id"] not in skipped]
    queries = [retrieval_query(e.question, g) for e, g in zip(train_examples, generic)]

    def top(k: int) -> list[list]:
        return [retriever.retrieve(e, k, query=q) for e, q in zip(train_examples, queries)]

    # (b) the teacher's trajectories; (c) SFT on them.
    rows = run.stage("trajectories", run.folder.of(TRAJECTORIES), lambda: run.trajectories(train_examples, generic, top(1)))
    by_id = {e.id: (e, g, items) for e, g, items in zip(train_examples, generic, top(1))}
    sft_rows = [
        sft_row(reflection_request(by_id[r["id"]][0].question, by_id[r["id"]][1], by_id[r["id"]][2]), reflection_target(r["think"], by_id[r["id"]][0].reference))
        for r in rows if r["parsed"]
    ]
    write_jsonl(run.folder.of(REFLECTION_SFT), sft_rows)
    if not sft_rows:
        reasons = Counter(r.get("error") for r in rows)
        raise TailorError(
            f"the teacher ({teacher.model if teacher else ORACLE}) wrote no usable trajectory, so there is nothing to fine-tune the reflection model on: "
            f"{len(rows)} refused ({', '.join(f'{n}: {why}' for why, n in reasons.most_common())}; each is in {run.folder.of(TRAJECTORIES)}). "
            "Give it more trajectory_max_tokens or a stronger teacher (the paper's is gpt-4.1-mini); trajectory_checks: false trains on them anyway"
        )
    policy = run.train("train_sft", c.policy.model, sft_rows, run.folder.sft.of(POLICY_MODEL), None)
    reference = policy
    adapters = [policy]
    validation = [run.validate(0, valid_examples, policy)]

    # (d) the RL curriculum: stage e with k(e) items, anchored to the SFT policy.
    examples = {e.id: e for e in train_examples}
    slices = stage_slices(len(train_examples), c.iterations)
    for t in range(1, c.iterations + 1):
        k = shots(t, c.epochs_per_step)
        prompts = [
            {"prompt": [m.model_dump() for m in reflection_request(e.question, g, items).messages], "id": e.id}
            for i, (e, g, items) in enumerate(zip(train_examples, generic, top(k))) if i in slices[t - 1]
        ]
        write_jsonl(run.folder.iteration(t).of(RL_PROMPTS), prompts)
        policy = run.timed(f"iter_{t}/train_policy", lambda: rl_trainer(
            c.policy.model, prompts, c.rl, run.folder.iteration(t).of(POLICY_MODEL), run.reward(examples), metric.name,
            init_adapter=policy, reference_adapter=reference,
        ), release=False)
        adapters.append(policy)
        validation.append(run.validate(t, valid_examples, policy))

    best, best_adapter = run.finish(validation, adapters)
    return RPOResult(validation, best, best_adapter, adapters)


class RPOTrainer(LoopTrainer):
    """RPO: a reflection model learns to rewrite a black-box model's generic answer for the
    user (teacher trajectories, SFT, then GRPO with the 2-to-6-shot curriculum)."""

    config_class = RPOConfig

    def train_one(self, config: RPOConfig, inputs: LoopInputs) -> RPOResult:
        return train_rpo(config, inputs)
