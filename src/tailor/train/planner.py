"""Train the PlanPers planner: from the question and the retrieved profile items, predict
the example's rubric aspect titles (one per line) with LoRA SFT."""

from pathlib import Path

from tailor.data.schema import Example
from tailor.prompts.plan import planner_request, planner_target
from tailor.retrieval.base import Retriever
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
