"""Offline RL RAG-Personalization: ReST-EM with the metric as a scalar reward, the VAC
paper's baseline for learning from a score instead of natural-language feedback.

Each iteration t, with the previous policy pi_{t-1}:
(a) pi_{t-1} samples m answers per training question from its top-k profile items with
the plain answer prompt (temperature 1.0, one seed per sample);
(b) the metric scores all of them in one batch;
(c) each question's best-scored answer is the SFT target for that same prompt;
(d) pi_t is trained from pi_{t-1} on those targets and scored on the validation split.
The best of pi_0 .. pi_T is the result. The narrative reaches only the metric.

Everything lands under ``run_dir/iter_<t>/``; a rerun reads finished stages back, and
``train_sft`` reuses finished adapters.
"""

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.eval.base import Metric
from tailor.llm import LLM
from tailor.prompts.answer import ANSWER_FIELD, answer_request
from tailor.retrieval.base import Retriever
from tailor.train.sft import train_sft
from tailor.train.stages import LoopConfig, Run, Trainer, best_scored, sft_row, write_jsonl


class RestEMConfig(LoopConfig):
    """The paper's baseline by default: T=3 iterations, m=16 samples per question at
    temperature 1.0, k=10, the same SFT settings as VAC."""

    what = "ReST-EM config"

    samples: int = Field(default=16, ge=1)  # m: answers sampled per question
    sample_temperature: float = Field(default=1.0, ge=0.0)
    run_dir: Path = Path("runs/rest-em")


@dataclass
class RestEMResult:
    validation: list[float]  # validation score of pi_t, index t (0 = the untrained policy)
    best_iteration: int
    best_adapter: str | None  # None when the untrained policy scored best
    policy_adapters: list[str]  # pi_1 .. pi_T


def train_rest_em(
    config: RestEMConfig,
    train_examples: list[Example],
    valid_examples: list[Example],
    policy_llm: LLM,
    metric: Metric,
    retriever: Retriever,
    trainer: Trainer = train_sft,
) -> RestEMResult:
    """Run ``config.iterations`` rounds of sample, score, keep the best and fine-tune,
    validating pi_0 .. pi_T; the policy adapter of the best-scoring round is the result."""
    if not train_examples or not valid_examples:
        raise TailorError("ReST-EM needs training and validation examples")
    c = config
    run_dir = Path(c.run_dir)
    run = Run.open(c, {"policy": policy_llm}, metric, retriever, trainer, "ReST-EM")
    retrieved = [retriever.retrieve(e, c.k) for e in train_examples]
    validation = [run.validate(0, valid_examples, None)]
    policy: str | None = None
    policy_adapters: list[str] = []
    for t in range(1, c.iterations + 1):
        out = run_dir / f"iter_{t}"

        # (a)-(b) m answers per question from pi_{t-1}, all scored in one batch.
        def sample_and_score() -> list[dict]:
            rows = []
            for j in range(c.samples):
                seed = c.sample_seed(j)
                answers = run.answers(train_examples, retrieved, policy, c.sample_temperature, seed)
                rows += [{"id": e.id, "j": j, "seed": seed, "answer": a} for e, a in zip(train_examples, answers)]
            scored = metric.score_batch(train_examples * c.samples, [row["answer"] for row in rows])  # sample-major rows
            for row, score in zip(rows, scored.scores):
                row["score"] = score.value
            return rows

        sampled = run.stage(f"iter_{t}/samples", out / "samples.jsonl", sample_and_score)

        # (c) the best-scored answer per question is its target.
        chosen = run.stage(f"iter_{t}/chosen", out / "chosen.jsonl", lambda: best_scored(sampled, train_examples))
        picked = {row["id"]: row["answer"] for row in chosen}
        policy_rows = [
            sft_row(answer_request(e.question, items), ANSWER_FIELD, picked[e.id])
            for e, items in zip(train_examples, retrieved) if e.id in picked
        ]
        write_jsonl(out / "policy_sft.jsonl", policy_rows)
        if not policy_rows:
            raise TailorError(f"iteration {t}: no sampled answer could be scored, so there is nothing to train the policy on")

        # (d) pi_t from pi_{t-1}, then validated.
        policy = run.train(f"iter_{t}/train_policy", c.policy.model, policy_rows, out / "policy_model", policy)
        policy_adapters.append(policy)
        validation.append(run.validate(t, valid_examples, policy))

    best, best_adapter = run.finish(validation, policy_adapters)
    return RestEMResult(validation, best, best_adapter, policy_adapters)
