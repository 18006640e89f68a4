"""Train the PlanPers planner: from the question and the retrieved profile items, predict
the example's rubric aspect titles (one per line) with LoRA SFT."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tailor import logs
from tailor.data import SAMPLE_LAMPQA, load_examples
from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.llm import LLMConfig
from tailor.pool import ModelPool
from tailor.prompts.plan import planner_request, planner_target
from tailor.retrieval.base import Retriever
from tailor.runs import RunFolder
from tailor.train.loop import LoopResult
from tailor.train.sft import SFTResult, SFTSettings, train_sft


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


def train_planner(
    model: str,
    train_examples: list[Example],
    valid_examples: list[Example] | None,
    retriever: Retriever,
    k: int,
    settings: SFTSettings,
    output_dir: str | Path,
) -> SFTResult:
    eval_rows = planner_rows(valid_examples, retriever, k) if valid_examples else None
    return train_sft(model, planner_rows(train_examples, retriever, k), eval_rows or None, settings, output_dir)


class PlannerConfig(BaseModel):
    """The PlanPers planner's training: ``recipe`` picks the SFT settings (``cpu``: a few
    steps for the sample; ``paper``: LaMP-QA's lr 5e-5, batch 32, 2000 steps, eval every 250)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(default="smollm2-135m-instruct", description="the planner's base model")
    data: Path = Field(default=SAMPLE_LAMPQA, description="LaMP-QA data with train and validation splits")
    retriever: str = Field(default="bm25", description="bm25, dense or dense:<model>")
    k: int = Field(default=3, ge=0, description="profile items in the planner's input")
    recipe: Literal["cpu", "paper"] = Field(default="cpu", description="cpu (tiny, for the sample) or paper")
    run_dir: Path = Field(default=Path("runs/planner-sample"), description="run folder; the adapter lands in RUN_DIR/adapter")

    @property
    def sft(self) -> SFTSettings:
        return SFTSettings.cpu_sample() if self.recipe == "cpu" else SFTSettings()


class PlannerTrainer:
    """Train the PlanPers planner: predict the rubric aspect titles from question + profile.
    It validates by loss, so its result has no per-iteration scores."""

    kind = "planner"
    config_class = PlannerConfig

    def __init__(self, config: PlannerConfig, pool: ModelPool | None = None):
        self.config, self.pool = config, pool or ModelPool(LLMConfig(model=config.model))

    def title(self, config: PlannerConfig) -> str:
        return "PlanPers planner"

    def run(self, run_dir: str | Path | None = None, resume: bool = False) -> LoopResult:
        c = self.config
        folder = RunFolder(run_dir or c.run_dir)
        if resume and not folder.job.adapter.exists():
            raise TailorError(f"{folder.path} holds no planner run to resume")
        with folder.attempt(self.kind), logs.into(folder.path):
            retriever = self.pool.retriever(c.retriever)
            result = train_planner(
                c.model, load_examples(c.data, split="train"), load_examples(c.data, split="validation"), retriever, c.k, c.sft, folder.path,
            )
        state = "reused (already trained with these inputs)" if result.reused else f"trained {result.steps} steps in {result.seconds:.0f}s"
        summary = f"planner adapter: {result.adapter} — {state}; best validation loss {result.best_eval_loss}"
        return LoopResult(self.kind, folder.path, [], None, result.adapter, summary=summary)
