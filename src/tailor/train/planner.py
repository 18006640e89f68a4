"""Train the PlanPers planner: from the question and the retrieved profile items, predict
the example's rubric aspect titles (one per line) with LoRA SFT.

A training loop like the others (``LoopTrainer``), with one stage: the planner (the
config's ``policy``) is fine-tuned on the training split's rows, every checkpoint is
evaluated on the validation split's rows, and the one with the lowest loss is kept. It
validates by that loss alone: no metric scores it, so its history has no per-iteration
score and no kept iteration, only the adapter and the stage's best held-out loss; its
``inference.json`` describes PlanPers with that planner. The adapter lands in
``run_dir/adapter``; a rerun with the same inputs reuses it.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from tailor.data.schema import Example
from tailor.methods.inference import InferenceSpec
from tailor.prompts.plan import planner_request, planner_target
from tailor.retrieval.base import Retriever
from tailor.train.loop import LoopInputs, LoopTrainer
from tailor.train.sft import SFTResult, train_sft
from tailor.train.stages import LoopConfig, Run, Trainer

UNSCORED = "the planner is validated by its loss on the validation split's rows, not scored by a metric"
UNANSWERED = "the planner answers nothing while it trains; PlanPers built from its run answers with the default answer settings"


def planner_rows(examples: list[Example], retriever: Retriever, k: int) -> list[dict]:
    """SFT conversations; examples without rubric aspects have no target and are skipped."""
    rows = []
    for example in examples:
        if not example.rubric_aspects:
            continue
        request = planner_request(example.question, retriever.retrieve(example, k))
        target = {"role": "assistant", "content": planner_target(example)}
        rows.append({"messages": [m.model_dump() for m in request.messages] + [target]})
    return rows


class PlannerConfig(LoopConfig):
    """The PlanPers planner's training; ``policy`` is the planner. LaMP-QA's SFT recipe by
    default (lr 5e-5, batch 32, 2000 steps, eval every 250: configs/planner-paper.yaml);
    configs/planner-sample-cpu.yaml takes a few steps on the bundled sample."""

    what = "planner config"
    unread: ClassVar[dict[str, str]] = {
        **dict.fromkeys(("judge", "metric", "metric_options", "test_split", "test_limit", "iterations"), UNSCORED),
        **dict.fromkeys(("format", "answer_temperature", "answer_max_tokens", "max_attempts"), UNANSWERED),
        "seed": "the planner samples nothing; sft.seed seeds its training",
        "holdout": "the planner's held-out rows are the validation split's",
    }

    k: int = Field(default=3, ge=0, description="profile items in the planner's input")
    run_dir: Path = Field(default=Path("runs/planner"), description="the run folder; the adapter lands in RUN_DIR/adapter (a rerun there reuses it)")

    def inference(self, adapters: dict[str, str | None]) -> InferenceSpec:
        """PlanPers, the trained planner (this loop's policy) planning on its base model, which
        also answers unless whoever builds it gives another generator."""
        return self.described("planpers", {"planner": adapters.get("policy")}, helpers={"planner": self.policy})


@dataclass
class PlannerResult:
    """The trained planner, validated by its held-out loss alone: no per-iteration score
    (``validation`` empty) and no kept iteration."""

    sft: SFTResult
    validation: list[float] = field(default_factory=list)
    best_iteration: int | None = None

    @property
    def best_adapter(self) -> str:
        return self.sft.adapter

    @property
    def summary(self) -> str:
        """What the run kept, in place of per-iteration validation."""
        r = self.sft
        state = "reused (already trained with these inputs)" if r.reused else f"trained {r.steps} steps in {r.seconds:.0f}s"
        return f"planner adapter: {r.adapter} — {state}; best validation loss {r.best_eval_loss}"


def train_planner(config: PlannerConfig, inputs: LoopInputs, trainer: Trainer = train_sft) -> PlannerResult:
    """The one SFT stage, recorded in the run's history as every loop's stages are, and the
    adapter it kept."""
    c = config
    run = Run.open(c, inputs, trainer)
    rows, held = planner_rows(inputs.train, inputs.retriever, c.k), planner_rows(inputs.valid, inputs.retriever, c.k)
    trained: list[SFTResult] = []

    def job() -> SFTResult:
        trained.append(trainer(c.policy.model, rows, held or None, c.sft, run.folder.path))
        return trained[-1]

    run.timed("train_planner", job, len(held))
    run.finish([], [trained[-1].adapter])
    return PlannerResult(trained[-1])


class PlannerTrainer(LoopTrainer):
    """Train the PlanPers planner: predict the rubric aspect titles from question + profile.
    Its runs answer no example while they train, so the run browser has none to show."""

    config_class = PlannerConfig
    example_views = ()

    def train_one(self, config: PlannerConfig, inputs: LoopInputs) -> PlannerResult:
        return train_planner(config, inputs)
