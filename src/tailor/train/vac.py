"""VAC: train a policy with natural-language feedback (Algorithm 1 of the VAC paper).

Each iteration t, with the previous policy pi_{t-1} and feedback model phi_{t-1}:
(a) pi_{t-1} answers every training question from its top-k profile items;
(b) phi_{t-1} samples N feedbacks per answer (temperature 1, one seed per sample);
(c) pi_{t-1} revises its answer once per feedback; (d) the metric scores every revision;
(e) the feedback whose revision scored best is phi_t's SFT target;
(f) phi_t gives one greedy feedback per answer, pi_{t-1} revises, and pi_t learns to write
that revision from the plain answer prompt. pi_t is then scored on the validation split.
The initial answers and the revisions of (f) are scored too: the loop's own signal.
With ``policy_objective: dpo`` (an ablation), pi_t is instead trained by DPO to prefer
that revision over pi_{t-1}'s initial answer to the same prompt. With ``targets:
improved``, (e) and (f) keep only a feedback or revision that scores above the initial
answer: a small model's N revisions often all score zero, and the paper's argmax then
trains on whichever came first. A round left without targets keeps the previous model.

Only the feedback model's prompt holds the narrative (and, with ``feedback_sees_aspects``,
the rubric aspects); the policy's inputs never do.
Everything lands under ``run_dir/iter_<t>/``; a rerun reads finished stages back, and
``train_sft`` reuses finished adapters.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from tailor.llm import LLMConfig
from tailor.llm.types import ChatRequest, SamplingParams
from tailor.methods.inference import InferenceSpec
from tailor.prompts.answer import answer_request, parse_answer
from tailor.prompts.feedback import FEEDBACK_FIELD, feedback_request, parse_feedback, revision_request
from tailor.prompts.fit import fit_items
from tailor.prompts.retry import ParsedBatch, generate_parsed
from tailor.runs import CHOSEN_FEEDBACK, FEEDBACK_MODEL, FEEDBACK_SFT, FEEDBACKS, INITIAL, INITIAL_SCORES, POLICY_DPO, POLICY_MODEL, POLICY_SFT, REVISED, TRAIN_SCORES
from tailor.train.dpo import DPOSettings, train_dpo
from tailor.train.sft import train_sft
from tailor.train.loop import LoopInputs, LoopTrainer
from tailor.train.stages import LoopConfig, Run, Trainer, check_inputs
from tailor.train.vac_views import CASE_STUDIES, FEEDBACK_ROUNDS, TRAINING_SIGNAL
from tailor.train.views import VALIDATION_ANSWERS
from tailor.train.rows import dpo_row, json_reply, parsed, sft_row, top_scored, unparsed_scored, write_jsonl

log = logging.getLogger(__name__)


class VACConfig(LoopConfig):
    """The paper's setting by default (T=3, N=16, k=10); ``feedback`` defaults to the
    policy's model. ``train_feedback=False`` is the frozen-feedback ablation: phi stays the
    base model, so no feedback is sampled or trained (as a variant, ``variants: {frozen:
    {train_feedback: false}}``, it is the paper's Figure 5 comparison)."""

    what = "VAC config"
    described_by: ClassVar[tuple[str, ...]] = ("train_feedback", "targets", "policy_objective", "feedback_sees_aspects")

    feedback: LLMConfig | None = Field(default=None, description="the feedback model phi (default: the policy's model)")
    n_feedback: int = Field(default=16, ge=1, description="N: feedbacks sampled per answer")
    feedback_temperature: float = Field(default=1.0, ge=0.0, description="sampling temperature of the N feedbacks")
    feedback_max_tokens: int = Field(default=512, ge=1, description="the longest feedback, in tokens")
    feedback_sees_aspects: bool = Field(
        default=False,
        description="the feedback model also reads the question's rubric aspects (its instruction in the paper speaks of them; its input is the narrative alone)",
    )
    train_feedback: bool = Field(default=True, description="train phi on the best feedbacks (false: the frozen-feedback ablation)")
    targets: Literal["best", "improved"] = Field(
        default="best",
        description="best: each answer's best-scored feedback trains phi and every greedy revision trains pi, as in the paper; "
        "improved: only a feedback or revision that scores above the initial answer does (where ties at zero are common, as with small models)",
    )
    policy_objective: Literal["sft", "dpo"] = Field(default="sft", description="sft on the revisions, or dpo (revision chosen, initial answer rejected)")
    dpo_beta: float = Field(default=0.1, gt=0.0, description="DPO's beta, with policy_objective: dpo")
    run_dir: Path = Field(default=Path("runs/vac"), description="the run folder (a rerun there resumes)")

    @model_validator(mode="after")
    def _answers_questions(self) -> Self:
        if self.format != "answer":
            raise ValueError(f"VAC's feedback and revision prompts are written for LaMP-QA answers (format: answer), not {self.format!r}")
        return self

    @property
    def feedback_llm(self) -> LLMConfig:
        return self.feedback or self.policy

    def adapter_models(self) -> list[LLMConfig]:
        return [self.policy, self.feedback_llm] if self.train_feedback else [self.policy]

    def inference(self, adapters: dict[str, str | None]) -> InferenceSpec:
        """The policy answering alone: the feedback model is a training-time tool."""
        return self.described("vac", {"policy": adapters.get("policy")})


@dataclass
class VACResult:
    validation: list[float]  # validation score of pi_t, index t (0 = the untrained policy)
    best_iteration: int
    best_adapter: str | None  # None when the untrained policy scored best
    policy_adapters: list[str | None]  # pi_1 .. pi_T (a round without targets keeps the previous one)
    feedback_adapters: list[str | None]  # phi_1 .. phi_T (None: the frozen base model)


class _VACRun(Run):
    """A run with the feedback model's stages: sampling feedback and applying it. Each
    prompt keeps as many of the retrieved items as fit its model's context."""

    config: VACConfig

    def feedback_requests(self, examples, retrieved, answers) -> list[ChatRequest]:
        """phi's request for each answer: what it is sampled from and what it learns from."""
        c = self.config
        return [
            fit_items(self.roles["feedback"], c.feedback_max_tokens, items, lambda kept, e=e, a=a: feedback_request(e.question, kept, a, e.narrative, self.aspects(e))).request
            for e, items, a in zip(examples, retrieved, answers)
        ]

    def aspects(self, example) -> list[str] | None:
        return [a.aspect for a in example.rubric_aspects] if self.config.feedback_sees_aspects else None

    def feedbacks(self, requests: list[ChatRequest], adapter: str | None, temperature: float, seed: int) -> ParsedBatch[str]:
        c = self.config
        params = SamplingParams(temperature=temperature, max_tokens=c.feedback_max_tokens, seed=seed)
        return generate_parsed(self.roles["feedback"], requests, params, parse_feedback, c.max_attempts, adapter=adapter, description="vac feedback")

    def revisions(self, examples, retrieved, answers, feedbacks, adapter: str | None) -> ParsedBatch[str]:
        c = self.config
        requests = [
            fit_items(self.policy_llm, c.answer_max_tokens, items, lambda kept, e=e, a=a, f=f: revision_request(e.question, kept, a, f)).request
            for e, items, a, f in zip(examples, retrieved, answers, feedbacks)
        ]
        params = SamplingParams(temperature=c.answer_temperature, max_tokens=c.answer_max_tokens, seed=c.seed)
        return generate_parsed(self.policy_llm, requests, params, parse_answer, c.max_attempts, adapter=adapter, description="vac revisions")

    def signal(self, examples, initial: list[str], revised: list[str], initial_scores: dict[str, float | None] | None = None) -> list[dict]:
        """The loop's own signal: the initial answers and their revisions, scored in one
        batch (the initial answers only when their scores are not given)."""
        if initial_scores is None:
            scores = self.metric.score_batch(examples * 2, initial + revised).scores
            n = len(examples)
            return [{"id": e.id, "initial": a.value, "revised": b.value} for e, a, b in zip(examples, scores[:n], scores[n:])]
        scores = self.metric.score_batch(examples, revised).scores
        return [{"id": e.id, "initial": initial_scores[e.id], "revised": b.value} for e, b in zip(examples, scores)]


def train_vac(config: VACConfig, inputs: LoopInputs, trainer: Trainer = train_sft, dpo_trainer: Trainer = train_dpo) -> VACResult:
    """Run Algorithm 1 for ``config.iterations`` rounds, validating pi_0 .. pi_T; the
    policy adapter of the best-scoring round is the result."""
    train_examples, valid_examples, metric = inputs.train, inputs.valid, inputs.metric
    check_inputs("VAC", train_examples, valid_examples, "narrative", "the feedback model reads each training question's narrative")
    c = config
    run = _VACRun.open(c, inputs, trainer, {"feedback": inputs.pool.llm(c.feedback_llm)})
    retrieved = run.retrieve(train_examples)
    validation = [run.validate(0, valid_examples, None)]
    policy: str | None = None
    feedback: str | None = None
    policy_adapters: list[str | None] = []
    feedback_adapters: list[str | None] = []
    for t in range(1, c.iterations + 1):
        out = run.folder.iteration(t)

        # (a) pi_{t-1} answers every training question; a question whose answer did not
        # parse is left out of this iteration's training sets.
        def answer() -> list[dict]:
            batch = run.answers(train_examples, retrieved, policy)
            return [{"id": e.id, "answer": a, "parsed": ok} for e, a, ok in zip(train_examples, batch.texts, batch.parsed)]

        initial_rows = run.stage(f"iter_{t}/initial", out.of(INITIAL), answer)
        initial = [row["answer"] for row in initial_rows]
        answered = {row["id"] for row in initial_rows if parsed(row)}

        def score_initial() -> list[dict]:
            return [{"id": e.id, "initial": s.value} for e, s in zip(train_examples, metric.score_batch(train_examples, initial).scores)]

        improved = c.targets == "improved"
        initial_score = {row["id"]: row["initial"] for row in run.stage(f"iter_{t}/initial_scores", out.of(INITIAL_SCORES), score_initial)} if improved else {}
        above = " above its initial answer" if improved else ""
        asked = run.feedback_requests(train_examples, retrieved, initial)

        def improves(score: float | None, example_id: str) -> bool:
            """Whether a revision scoring ``score`` may be a target: always, or (targets: improved) when it beats the initial answer."""
            return not improved or (score is not None and initial_score[example_id] is not None and score > initial_score[example_id])

        if c.train_feedback:
            # (b)-(d) N feedbacks per answer, each applied by pi_{t-1} and the revision scored;
            # a feedback or revision that did not parse gets no score, so it is never chosen.
            def sample_and_score() -> list[dict]:
                rows = []
                for j in range(c.n_feedback):
                    seed = c.sample_seed(j)
                    notes = run.feedbacks(asked, feedback, c.feedback_temperature, seed)
                    rows += [{"id": e.id, "j": j, "seed": seed, "feedback": f, "parsed": ok and e.id in answered}
                             for e, f, ok in zip(train_examples, notes.texts, notes.parsed)]
                repeated = train_examples * c.n_feedback  # rows are sample-major: row j*len + i is example i
                revised = run.revisions(repeated, retrieved * c.n_feedback, initial * c.n_feedback, [r["feedback"] for r in rows], policy)
                scored = metric.score_batch(repeated, revised.texts)
                for row, revision, ok, score in zip(rows, revised.texts, revised.parsed, scored.scores):
                    row.update(revision=revision, parsed=row["parsed"] and ok, score=unparsed_scored(score.value, row["parsed"] and ok))
                return rows

            sampled = run.stage(f"iter_{t}/feedbacks", out.of(FEEDBACKS), sample_and_score)

            # (e) the feedback whose revision scored highest is phi_t's target.
            chosen = run.stage(f"iter_{t}/chosen", out.of(CHOSEN_FEEDBACK), lambda: [row for row in top_scored(sampled, train_examples) if improves(row["score"], row["id"])])
            picked = {row["id"]: row["feedback"] for row in chosen}
            feedback_rows = [sft_row(request, json_reply(FEEDBACK_FIELD, picked[e.id])) for e, request in zip(train_examples, asked) if e.id in picked]
            write_jsonl(out.of(FEEDBACK_SFT), feedback_rows)
            if feedback_rows:
                feedback = run.train(f"iter_{t}/train_feedback", c.feedback_llm.model, feedback_rows, out.of(FEEDBACK_MODEL), feedback)
            else:
                log.warning("iteration %d: no revision could be scored%s, so phi_%d is phi_%d", t, above, t, t - 1)
        feedback_adapters.append(feedback)

        # (f) phi_t's greedy feedback, applied by pi_{t-1}, gives pi_t's targets (those that parsed).
        def revise() -> list[dict]:
            notes = run.feedbacks(asked, feedback, 0.0, c.seed)
            revised = run.revisions(train_examples, retrieved, initial, notes.texts, policy)
            return [
                {"id": e.id, "feedback": f, "revision": r, "parsed": e.id in answered and f_ok and r_ok}
                for e, f, r, f_ok, r_ok in zip(train_examples, notes.texts, revised.texts, notes.parsed, revised.parsed)
            ]

        revisions = run.stage(f"iter_{t}/revised", out.of(REVISED), revise)
        scores = run.stage(f"iter_{t}/train_scores", out.of(TRAIN_SCORES), lambda: run.signal(train_examples, initial, [r["revision"] for r in revisions], initial_score or None))
        learned = [(e, items, a, r) for e, items, a, r, score in zip(train_examples, retrieved, initial, revisions, scores) if parsed(r) and improves(score["revised"], e.id)]
        if not learned:
            log.warning("iteration %d: no answer, feedback and revision parsed%s for any training question, so pi_%d is pi_%d", t, above, t, t - 1)
        elif c.policy_objective == "dpo":
            pairs = [dpo_row(answer_request(e.question, items), c.reply.target(r["revision"]), c.reply.target(a)) for e, items, a, r in learned]
            write_jsonl(out.of(POLICY_DPO), pairs)
            dpo = DPOSettings(**c.sft.model_dump(), beta=c.dpo_beta)
            policy = run.train(f"iter_{t}/train_policy", c.policy.model, pairs, out.of(POLICY_MODEL), policy, dpo_trainer, dpo)
        else:
            policy_rows = [sft_row(answer_request(e.question, items), c.reply.target(r["revision"])) for e, items, _, r in learned]
            write_jsonl(out.of(POLICY_SFT), policy_rows)
            policy = run.train(f"iter_{t}/train_policy", c.policy.model, policy_rows, out.of(POLICY_MODEL), policy)
        policy_adapters.append(policy)
        validation.append(run.validate(t, valid_examples, policy))

    best, best_adapter = run.finish(validation, [None, *policy_adapters])
    return VACResult(validation, best, best_adapter, policy_adapters, feedback_adapters)


class VACTrainer(LoopTrainer):
    """Train a policy with natural-language feedback (VAC), and the recipe's variants (e.g. a
    frozen feedback model); reports each round's validation score and writes the run report."""

    config_class = VACConfig
    report_sections = (TRAINING_SIGNAL, CASE_STUDIES)
    example_views = (FEEDBACK_ROUNDS, VALIDATION_ANSWERS)

    @classmethod
    def report_label(cls, config: dict) -> str:
        return "trained" if config["train_feedback"] else "frozen"

    def title(self, config: VACConfig) -> str:
        return f"VAC, {'trained' if config.train_feedback else 'frozen'} feedback model"

    def train_one(self, config: VACConfig, inputs: LoopInputs) -> VACResult:
        return train_vac(config, inputs)
