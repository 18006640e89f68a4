"""What the self-training loops (VAC, ReST-EM) share: their common settings, and a run
whose stages are cached on disk as jsonl, timed and costed in ``history.json``.

A rerun reads finished stages back, ``train_sft`` reuses finished adapters, and a run
folder holding other settings is refused.
"""

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from statistics import mean
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tailor.config import load_yaml_config
from tailor.data import SAMPLE_LAMPQA
from tailor.data.schema import Example, ProfileItem
from tailor.errors import TailorError
from tailor.eval.base import Metric
from tailor.io import atomic_write_json, atomic_write_text
from tailor.llm import LLM, LLMConfig
from tailor.llm.types import ChatRequest, SamplingParams
from tailor.methods.rag import AnswerConfig, RetrievalAugmented
from tailor.prompts.answer import answer_request, parse_answer
from tailor.prompts.retry import ParsedBatch, generate_parsed
from tailor.retrieval.base import Retriever
from tailor.train.sft import SFTResult, SFTSettings

Trainer = Callable[..., SFTResult]


class LoopConfig(BaseModel):
    """Settings every self-training loop has: the policy, the metric (default: aspect
    with a judge, else proxy), the data, T iterations, k profile items, the answer
    sampling (temperature 0.1, as at inference), SFT and the run folder."""

    model_config = ConfigDict(extra="forbid")
    what: ClassVar[str] = "training config"

    policy: LLMConfig = LLMConfig()
    judge: LLMConfig | None = None
    metric: Literal["aspect", "direct", "proxy"] | None = None
    metric_options: dict = Field(default_factory=dict)
    retriever: str = "bm25"
    retriever_options: dict = Field(default_factory=dict)
    data: Path = SAMPLE_LAMPQA
    train_split: str = "train"
    valid_split: str = "validation"
    train_limit: int | None = Field(default=None, ge=1)  # the first N training examples
    valid_limit: int | None = Field(default=None, ge=1)
    iterations: int = Field(default=3, ge=1)
    k: int = Field(default=10, ge=0)
    answer_temperature: float = Field(default=0.1, ge=0.0)
    answer_max_tokens: int = Field(default=512, ge=1)
    max_attempts: int = Field(default=3, ge=1)
    sft: SFTSettings = SFTSettings()
    seed: int = 0
    run_dir: Path = Path("runs/train")

    @model_validator(mode="after")
    def _metric_has_judge(self) -> Self:
        if self.metric is None:
            self.metric = "aspect" if self.judge else "proxy"
        if self.metric != "proxy" and self.judge is None:
            raise ValueError(f"metric {self.metric!r} needs a judge model (set `judge`), or use metric: proxy")
        return self

    @property
    def answer(self) -> AnswerConfig:
        return AnswerConfig(k=self.k, temperature=self.answer_temperature, max_tokens=self.answer_max_tokens, max_attempts=self.max_attempts, seed=self.seed)

    def sample_seed(self, j: int) -> int:
        """Sample j's seed, spaced by max_attempts: a retry's seed+1 never repeats sample j+1's."""
        return self.seed + j * self.max_attempts

    @classmethod
    def from_yaml(cls, path: str | Path) -> Self:
        return load_yaml_config(cls, path, cls.what)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def sft_row(request: ChatRequest, field: str, target: str) -> dict:
    """The request's messages, then the full JSON reply (which starts with the prefill)."""
    reply = {"role": "assistant", "content": json.dumps({field: target}, ensure_ascii=False)}
    return {"messages": [m.model_dump() for m in request.messages] + [reply]}


def dpo_row(request: ChatRequest, field: str, chosen: str, rejected: str) -> dict:
    """A preference pair over the request's prompt, each reply written as in ``sft_row``."""
    *prompt, better = sft_row(request, field, chosen)["messages"]
    return {"prompt": prompt, "chosen": [better], "rejected": sft_row(request, field, rejected)["messages"][-1:]}


def values(batch: ParsedBatch[str]) -> list[str]:
    """Parsed values; unparseable output is kept verbatim (as the answering methods do)."""
    return [p.value if p.ok else p.raw for p in batch.items]


def best_scored(rows: list[dict], examples: list[Example]) -> list[dict]:
    """Per example, its first row with the highest score (rows without a score never win)."""
    best: dict[str, dict] = {}
    for row in rows:
        if row["score"] is not None and (row["id"] not in best or row["score"] > best[row["id"]]["score"]):
            best[row["id"]] = row
    return [best[e.id] for e in examples if e.id in best]


def best_iteration(validation: list[float]) -> int:
    """The earliest iteration with the highest validation score (NaN never wins)."""
    ranked = [(-math.inf if math.isnan(v) else v) for v in validation]
    return max(range(len(ranked)), key=lambda t: (ranked[t], -t))


class Run:
    """The stages of one training run under ``config.run_dir``. ``llms`` names each model
    by role (the first is the policy); one model serving two roles is counted once."""

    def __init__(self, config: LoopConfig, llms: dict[str, LLM | None], metric: Metric, retriever: Retriever, trainer: Trainer):
        self.config, self.metric, self.retriever, self.trainer = config, metric, retriever, trainer
        self.roles = llms
        self.policy_llm = next(iter(llms.values()))
        self.dir = Path(config.run_dir)
        self.history_path = self.dir / "history.json"
        self.history = json.loads(self.history_path.read_text()) if self.history_path.exists() else {"stages": {}, "validation": {}}
        self.llms: dict[str, LLM] = {}
        for role, llm in {**llms, "judge": getattr(metric, "llm", None)}.items():
            if llm is not None and all(llm is not seen for seen in self.llms.values()):
                self.llms[role] = llm

    @classmethod
    def open(cls, config: LoopConfig, llms: dict[str, LLM | None], metric: Metric, retriever: Retriever, trainer: Trainer, name: str) -> "Run":
        """Refuse a run folder holding other settings. A run may be extended or cut
        short: no stage of round t depends on the number of rounds."""
        settings = config.model_dump(mode="json", exclude={"run_dir", "iterations"})
        saved = Path(config.run_dir) / "config.json"
        if saved.exists() and json.loads(saved.read_text()) != settings:
            raise TailorError(f"{config.run_dir} holds a {name} run with other settings; use another run_dir")
        atomic_write_json(saved, settings)
        return cls(config, llms, metric, retriever, trainer)

    def stage(self, name: str, path: Path, compute: Callable[[], list[dict]]) -> list[dict]:
        """``path``'s rows when a previous run finished this stage, else ``compute()``'s."""
        if path.exists():
            return read_jsonl(path)
        started, before = time.perf_counter(), self.usage()
        rows = compute()
        self.record(name, started, before)
        write_jsonl(path, rows)
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

    def train(
        self, name: str, model: str, rows: list[dict], output_dir: Path, init_adapter: str | None,
        trainer: Trainer | None = None, settings: SFTSettings | None = None,
    ) -> str:
        """Training (SFT with the config's settings unless given) without eval rows
        (validation targets would need a round of their own): the per-iteration
        validation score picks the policy instead."""
        started, before = time.perf_counter(), self.usage()
        result = (trainer or self.trainer)(model, rows, None, settings or self.config.sft, output_dir, init_adapter=init_adapter)
        if not result.reused:
            self.record(name, started, before)
        return result.adapter

    def save_history(self) -> None:
        atomic_write_json(self.history_path, self.history)

    def answers(self, examples: list[Example], retrieved: list[list[ProfileItem]], adapter: str | None, temperature: float | None = None, seed: int | None = None) -> list[str]:
        """The policy's answers from the plain answer prompt (at the config's answer
        temperature and seed unless given)."""
        c = self.config
        requests = [answer_request(e.question, items) for e, items in zip(examples, retrieved)]
        params = SamplingParams(
            temperature=c.answer_temperature if temperature is None else temperature, max_tokens=c.answer_max_tokens, seed=c.seed if seed is None else seed
        )
        return values(generate_parsed(self.policy_llm, requests, params, parse_answer, c.max_attempts, adapter=adapter, description="policy answers"))

    def validate(self, t: int, examples: list[Example], adapter: str | None) -> float:
        """pi_t's mean validation score, read back when already measured."""
        path = self.dir / f"iter_{t}" / "validation.jsonl"
        method = RetrievalAugmented(self.policy_llm, self.retriever, self.config.answer, adapter=adapter)

        def answer_and_score() -> list[dict]:
            responses = [a.text for a in method.answer_batch(examples)]
            run = self.metric.score_batch(examples, responses)
            return [{"id": e.id, "response": r, "score": s.value} for e, r, s in zip(examples, responses, run.scores)]

        rows = self.stage(f"iter_{t}/validation", path, answer_and_score)
        scored = [row["score"] for row in rows if row["score"] is not None]
        score = mean(scored) if scored else float("nan")
        self.history["validation"][str(t)] = {"score": score, "adapter": adapter, "scored": len(scored), "examples": len(rows)}
        self.save_history()
        return score

    def finish(self, validation: list[float], adapters: list[str]) -> tuple[int, str | None]:
        """The best iteration and its policy adapter (None when the untrained policy won), recorded."""
        best = best_iteration(validation)
        adapter = adapters[best - 1] if best else None
        self.history.update(best_iteration=best, best_adapter=adapter)
        self.save_history()
        return best, adapter
