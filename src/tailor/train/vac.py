"""VAC: train a policy with natural-language feedback (Algorithm 1 of the VAC paper).

Each iteration t, with the previous policy pi_{t-1} and feedback model phi_{t-1}:
(a) pi_{t-1} answers every training question from its top-k profile items;
(b) phi_{t-1} samples N feedbacks per answer (temperature 1, one seed per sample);
(c) pi_{t-1} revises its answer once per feedback; (d) the metric scores every revision;
(e) the feedback whose revision scored best is phi_t's SFT target;
(f) phi_t gives one greedy feedback per answer, pi_{t-1} revises, and pi_t learns to write
that revision from the plain answer prompt. pi_t is then scored on the validation split.

Only the feedback model's prompt holds the narrative; the policy's inputs never do.
Everything lands under ``run_dir/iter_<t>/``; a rerun reads finished stages back, and
``train_sft`` reuses finished adapters.
"""

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tailor.data import SAMPLE_LAMPQA
from tailor.data.schema import Example, ProfileItem
from tailor.config import load_yaml_config
from tailor.errors import TailorError
from tailor.eval.base import Metric
from tailor.io import atomic_write_json, atomic_write_text
from tailor.llm import LLM, LLMConfig
from tailor.llm.types import ChatRequest, SamplingParams
from tailor.methods.rag import AnswerConfig, RetrievalAugmented
from tailor.prompts.answer import ANSWER_FIELD, answer_request, parse_answer
from tailor.prompts.feedback import FEEDBACK_FIELD, feedback_request, parse_feedback, revision_request
from tailor.prompts.retry import ParsedBatch, generate_parsed
from tailor.retrieval.base import Retriever
from tailor.train.sft import SFTResult, SFTSettings, train_sft

Trainer = Callable[..., SFTResult]


class VACConfig(BaseModel):
    """The paper's setting by default (T=3, N=16, k=10); ``feedback`` defaults to the
    policy's model. ``train_feedback=False`` is the frozen-feedback ablation: phi stays the
    base model, so no feedback is sampled or trained."""

    model_config = ConfigDict(extra="forbid")

    policy: LLMConfig = LLMConfig()
    feedback: LLMConfig | None = None
    judge: LLMConfig | None = None
    metric: Literal["aspect", "direct", "proxy"] | None = None  # default: aspect with a judge, else proxy
    metric_options: dict = Field(default_factory=dict)
    retriever: str = "bm25"
    retriever_options: dict = Field(default_factory=dict)
    data: Path = SAMPLE_LAMPQA
    train_split: str = "train"
    valid_split: str = "validation"
    train_limit: int | None = Field(default=None, ge=1)  # the first N training examples
    valid_limit: int | None = Field(default=None, ge=1)
    iterations: int = Field(default=3, ge=1)
    n_feedback: int = Field(default=16, ge=1)
    k: int = Field(default=10, ge=0)
    feedback_temperature: float = Field(default=1.0, ge=0.0)
    feedback_max_tokens: int = Field(default=512, ge=1)
    answer_temperature: float = Field(default=0.1, ge=0.0)
    answer_max_tokens: int = Field(default=512, ge=1)
    max_attempts: int = Field(default=3, ge=1)
    train_feedback: bool = True
    sft: SFTSettings = SFTSettings()
    seed: int = 0
    run_dir: Path = Path("runs/vac")

    @model_validator(mode="after")
    def _consistent(self) -> "VACConfig":
        if self.metric is None:
            self.metric = "aspect" if self.judge else "proxy"
        if self.metric != "proxy" and self.judge is None:
            raise ValueError(f"metric {self.metric!r} needs a judge model (set `judge`), or use metric: proxy")
        return self

    @property
    def feedback_llm(self) -> LLMConfig:
        return self.feedback or self.policy

    @property
    def answer(self) -> AnswerConfig:
        return AnswerConfig(k=self.k, temperature=self.answer_temperature, max_tokens=self.answer_max_tokens, max_attempts=self.max_attempts, seed=self.seed)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "VACConfig":
        return load_yaml_config(cls, path, "VAC config")


@dataclass
class VACResult:
    validation: list[float]  # validation score of pi_t, index t (0 = the untrained policy)
    best_iteration: int
    best_adapter: str | None  # None when the untrained policy scored best
    policy_adapters: list[str]  # pi_1 .. pi_T
    feedback_adapters: list[str | None]  # phi_1 .. phi_T (None: the frozen base model)


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def _sft_row(request: ChatRequest, field: str, target: str) -> dict:
    """The request's messages, then the full JSON reply (which starts with the prefill)."""
    reply = {"role": "assistant", "content": json.dumps({field: target}, ensure_ascii=False)}
    return {"messages": [m.model_dump() for m in request.messages] + [reply]}


def _value(batch: ParsedBatch[str]) -> list[str]:
    """Parsed values; unparseable output is kept verbatim (as the answering methods do)."""
    return [p.value if p.ok else p.raw for p in batch.items]


class _Run:
    """The stages of one VAC run: cached on disk, timed and costed in ``history.json``."""

    def __init__(self, config: VACConfig, policy_llm: LLM, feedback_llm: LLM, metric: Metric, retriever: Retriever, trainer: Trainer):
        self.config, self.policy_llm, self.feedback_llm, self.metric, self.retriever, self.trainer = config, policy_llm, feedback_llm, metric, retriever, trainer
        self.dir = Path(config.run_dir)
        self.history_path = self.dir / "history.json"
        self.history = json.loads(self.history_path.read_text()) if self.history_path.exists() else {"stages": {}, "validation": {}}
        llms = {"policy": policy_llm, "feedback": feedback_llm, "judge": getattr(metric, "llm", None)}
        self.llms: dict[str, LLM] = {}
        for role, llm in llms.items():  # one model serving two roles is counted once
            if llm is not None and all(llm is not seen for seen in self.llms.values()):
                self.llms[role] = llm

    def stage(self, name: str, path: Path, compute: Callable[[], list[dict]]) -> list[dict]:
        """``path``'s rows when a previous run finished this stage, else ``compute()``'s."""
        if path.exists():
            return _read_jsonl(path)
        started, before = time.perf_counter(), self.usage()
        rows = compute()
        self.record(name, started, before)
        _write_jsonl(path, rows)
        return rows

    def record(self, name: str, started: float, before: dict) -> None:
        self.history["stages"][name] = {
            "seconds": round(time.perf_counter() - started, 3),
            "calls": {role: llm.usage.requests - before[role][0] for role, llm in self.llms.items()},
            "tokens": {role: llm.usage.prompt_tokens + llm.usage.completion_tokens - before[role][1] for role, llm in self.llms.items()},
        }
        self.save_history()

    def usage(self) -> dict:
        return {role: (llm.usage.requests, llm.usage.prompt_tokens + llm.usage.completion_tokens) for role, llm in self.llms.items()}

    def train(self, name: str, model: str, rows: list[dict], output_dir: Path, init_adapter: str | None) -> str:
        """SFT without eval rows (validation targets would need a VAC round of their own):
        the per-iteration validation score picks the policy instead."""
        started, before = time.perf_counter(), self.usage()
        result = self.trainer(model, rows, None, self.config.sft, output_dir, init_adapter=init_adapter)
        if not result.reused:
            self.record(name, started, before)
        return result.adapter

    def save_history(self) -> None:
        atomic_write_json(self.history_path, self.history)

    def answers(self, examples: list[Example], retrieved: list[list[ProfileItem]], adapter: str | None) -> list[str]:
        requests = [answer_request(e.question, items) for e, items in zip(examples, retrieved)]
        c = self.config
        params = SamplingParams(temperature=c.answer_temperature, max_tokens=c.answer_max_tokens, seed=c.seed)
        return _value(generate_parsed(self.policy_llm, requests, params, parse_answer, c.max_attempts, adapter=adapter, description="vac answers"))

    def feedbacks(self, examples, retrieved, answers, adapter: str | None, temperature: float, seed: int) -> list[str]:
        requests = [feedback_request(e.question, items, a, e.narrative) for e, items, a in zip(examples, retrieved, answers)]
        c = self.config
        params = SamplingParams(temperature=temperature, max_tokens=c.feedback_max_tokens, seed=seed)
        batch = generate_parsed(self.feedback_llm, requests, params, parse_feedback, c.max_attempts, adapter=adapter, description="vac feedback")
        return _value(batch)

    def revisions(self, examples, retrieved, answers, feedbacks, adapter: str | None) -> list[str]:
        requests = [revision_request(e.question, items, a, f) for e, items, a, f in zip(examples, retrieved, answers, feedbacks)]
        c = self.config
        params = SamplingParams(temperature=c.answer_temperature, max_tokens=c.answer_max_tokens, seed=c.seed)
        return _value(generate_parsed(self.policy_llm, requests, params, parse_answer, c.max_attempts, adapter=adapter, description="vac revisions"))

    def validate(self, t: int, examples: list[Example], adapter: str | None) -> float:
        """pi_t's mean validation score, read back when already measured."""
        path = self.dir / f"iter_{t}" / "validation.jsonl"
        method = RetrievalAugmented(self.policy_llm, self.retriever, self.config.answer, adapter=adapter)

        def answer_and_score() -> list[dict]:
            responses = [a.text for a in method.answer_batch(examples)]
            run = self.metric.score_batch(examples, responses)
            return [{"id": e.id, "response": r, "score": s.value} for e, r, s in zip(examples, responses, run.scores)]

        rows = self.stage(f"iter_{t}/validation", path, answer_and_score)
        values = [row["score"] for row in rows if row["score"] is not None]
        score = mean(values) if values else float("nan")
        self.history["validation"][str(t)] = {"score": score, "adapter": adapter, "scored": len(values), "examples": len(rows)}
        self.save_history()
        return score


def train_vac(
    config: VACConfig,
    train_examples: list[Example],
    valid_examples: list[Example],
    policy_llm: LLM,
    feedback_llm: LLM,
    metric: Metric,
    retriever: Retriever,
    trainer: Trainer = train_sft,
) -> VACResult:
    """Run Algorithm 1 for ``config.iterations`` rounds, validating pi_0 .. pi_T; the
    policy adapter of the best-scoring round is the result."""
    if not train_examples or not valid_examples:
        raise TailorError("VAC needs training and validation examples")
    missing = [e.id for e in train_examples if not e.narrative]
    if missing:
        raise TailorError(f"VAC's feedback model needs each training question's narrative; {len(missing)} have none, e.g. {missing[0]!r}")
    c = config
    run_dir = Path(c.run_dir)
    # A run may be extended or cut short: no stage of round t depends on the number of rounds.
    settings = c.model_dump(mode="json", exclude={"run_dir", "iterations"})
    saved = run_dir / "config.json"
    if saved.exists() and json.loads(saved.read_text()) != settings:
        raise TailorError(f"{run_dir} holds a VAC run with other settings; use another run_dir")
    atomic_write_json(saved, settings)

    run = _Run(c, policy_llm, feedback_llm, metric, retriever, trainer)
    retrieved = [retriever.retrieve(e, c.k) for e in train_examples]
    validation = [run.validate(0, valid_examples, None)]
    policy: str | None = None
    feedback: str | None = None
    policy_adapters: list[str] = []
    feedback_adapters: list[str | None] = []
    for t in range(1, c.iterations + 1):
        out = run_dir / f"iter_{t}"

        # (a) pi_{t-1} answers every training question.
        initial_rows = run.stage(
            f"iter_{t}/initial", out / "initial.jsonl",
            lambda: [{"id": e.id, "answer": a} for e, a in zip(train_examples, run.answers(train_examples, retrieved, policy))],
        )
        initial = [row["answer"] for row in initial_rows]

        if c.train_feedback:
            # (b)-(d) N feedbacks per answer, each applied by pi_{t-1} and the revision scored.
            def sample_and_score() -> list[dict]:
                rows = []
                for j in range(c.n_feedback):
                    # seeds spaced by max_attempts: a retry's seed+1 never repeats sample j+1's seed
                    seed = c.seed + j * c.max_attempts
                    notes = run.feedbacks(train_examples, retrieved, initial, feedback, c.feedback_temperature, seed)
                    rows += [{"id": e.id, "j": j, "seed": seed, "feedback": f} for e, f in zip(train_examples, notes)]
                repeated = train_examples * c.n_feedback  # rows are sample-major: row j*len + i is example i
                revised = run.revisions(repeated, retrieved * c.n_feedback, initial * c.n_feedback, [r["feedback"] for r in rows], policy)
                scored = metric.score_batch(repeated, revised)
                for row, revision, score in zip(rows, revised, scored.scores):
                    row.update(revision=revision, score=score.value)
                return rows

            sampled = run.stage(f"iter_{t}/feedbacks", out / "feedbacks.jsonl", sample_and_score)

            # (e) the feedback whose revision scored highest is phi_t's target.
            def choose() -> list[dict]:
                best: dict[str, dict] = {}
                for row in sampled:
                    if row["score"] is not None and (row["id"] not in best or row["score"] > best[row["id"]]["score"]):
                        best[row["id"]] = row
                return [best[e.id] for e in train_examples if e.id in best]

            chosen = run.stage(f"iter_{t}/chosen", out / "chosen_feedback.jsonl", choose)
            picked = {row["id"]: row["feedback"] for row in chosen}
            feedback_rows = [
                _sft_row(feedback_request(e.question, items, a, e.narrative), FEEDBACK_FIELD, picked[e.id])
                for e, items, a in zip(train_examples, retrieved, initial) if e.id in picked
            ]
            _write_jsonl(out / "feedback_sft.jsonl", feedback_rows)
            if not feedback_rows:
                raise TailorError(f"iteration {t}: no revision could be scored, so there is nothing to train the feedback model on")
            feedback = run.train(f"iter_{t}/train_feedback", c.feedback_llm.model, feedback_rows, out / "feedback_model", feedback)
        feedback_adapters.append(feedback)

        # (f) phi_t's greedy feedback, applied by pi_{t-1}, gives pi_t's targets.
        def revise() -> list[dict]:
            notes = run.feedbacks(train_examples, retrieved, initial, feedback, 0.0, c.seed)
            revised = run.revisions(train_examples, retrieved, initial, notes, policy)
            return [{"id": e.id, "feedback": f, "revision": r} for e, f, r in zip(train_examples, notes, revised)]

        revisions = run.stage(f"iter_{t}/revised", out / "revised.jsonl", revise)
        policy_rows = [_sft_row(answer_request(e.question, items), ANSWER_FIELD, r["revision"]) for e, items, r in zip(train_examples, retrieved, revisions)]
        _write_jsonl(out / "policy_sft.jsonl", policy_rows)
        policy = run.train(f"iter_{t}/train_policy", c.policy.model, policy_rows, out / "policy_model", policy)
        policy_adapters.append(policy)
        validation.append(run.validate(t, valid_examples, policy))

    ranked = [(-math.inf if math.isnan(v) else v) for v in validation]
    best = max(range(len(ranked)), key=lambda t: (ranked[t], -t))
    result = VACResult(validation, best, policy_adapters[best - 1] if best else None, policy_adapters, feedback_adapters)
    run.history.update(best_iteration=best, best_adapter=result.best_adapter)
    run.save_history()
    return result
