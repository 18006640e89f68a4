"""Reinforcement learning of a LoRA adapter with TRL's ``GRPOTrainer``, on the LoRA run
every trainer here shares (``fit_lora``).

GRPO is a REINFORCE-style estimator whose baseline is the mean reward of a group of
completions sampled for the same prompt (RPO's "REINFORCE with a baseline"), with a KL
penalty (``beta``) towards a reference policy. Continuing ``init_adapter``, TRL keeps a
frozen copy of it as that reference; ``reference_adapter`` replaces the copy, so every
stage of a curriculum stays anchored to the same policy (RPO: the SFT model).

Rows are ``{"prompt": [messages], ...}``; every other column reaches ``reward`` as a list,
one value per completion, beside the completion texts.
"""

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from tailor.errors import TailorError
from tailor.llm.base import adapter_fingerprint
from tailor.train.lora import SFTResult, SFTSettings, fingerprint_job, fit_lora, reused_result

log = logging.getLogger(__name__)
Reward = Callable[..., list[float]]  # (completions: list[str], **columns) -> one reward each


class GRPOSettings(SFTSettings):
    """The SFT recipe plus GRPO's: ``num_generations`` completions per prompt (the group
    whose mean reward is the baseline), the KL weight ``beta``, and how completions are
    sampled. ``batch_size`` counts completions and must be a multiple of the group."""

    beta: float = Field(default=0.04, ge=0.0, description="the KL penalty's weight")
    num_generations: int = Field(default=4, ge=2, description="completions per prompt (the group whose mean reward is the baseline)")
    temperature: float = Field(default=1.0, gt=0.0, description="sampling temperature of the completions")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, description="nucleus sampling of the completions")
    max_completion_length: int = Field(default=256, ge=1, description="the longest completion, in tokens")
    scale_rewards: Literal["group", "batch", "none"] = Field(default="batch", description="batch: rewards minus the group mean over the batch's std (REINFORCE++, as RPO trains); group: GRPO's per-group std; none")

    def trainer_arguments(self) -> dict:
        return self.model_dump(include={"beta", "num_generations", "temperature", "top_p", "max_completion_length", "scale_rewards"})

    @model_validator(mode="after")
    def _whole_groups(self) -> "GRPOSettings":
        if self.batch_size % self.num_generations:
            raise ValueError(f"batch_size {self.batch_size} must hold whole groups of num_generations {self.num_generations}")
        if self.num_processes > 1:
            raise ValueError("GRPO stages train in the loop's process (their reward calls tailor's metrics): num_processes must be 1")
        if self.max_length <= self.max_completion_length:
            raise ValueError(f"max_length {self.max_length} leaves no room for a prompt beside max_completion_length {self.max_completion_length}")
        return self


def fitting_prompts(rows: list[dict], tokenizer, settings: GRPOSettings) -> list[dict]:
    """Rows whose prompt leaves room for a whole completion within ``max_length`` (TRL's
    GRPO does not cap prompts): the others are left out, as SFT leaves out its long rows."""
    budget = settings.max_length - settings.max_completion_length

    def length(row: dict) -> int:
        text = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    kept = [row for row in rows if length(row) <= budget]
    if not kept:
        raise TailorError(f"every GRPO prompt is longer than max_length - max_completion_length = {budget} tokens")
    if len(kept) < len(rows):
        log.warning("%d of %d GRPO prompts exceed %d tokens (max_length - max_completion_length) and are left out", len(rows) - len(kept), len(rows), budget)
    return kept


def train_grpo(
    model: str,
    train_rows: list[dict],
    settings: GRPOSettings,
    output_dir: str | Path,
    reward: Reward,
    reward_name: str,
    init_adapter: str | None = None,
    reference_adapter: str | None = None,
) -> SFTResult:
    """Train a LoRA adapter on ``model`` (a fresh one, or ``init_adapter`` continued) to
    raise ``reward``; ``reward_name`` identifies the reward in the run's fingerprint."""
    if not train_rows:
        raise TailorError("no training rows: GRPO needs at least one prompt")
    if any(not row.get("prompt") for row in train_rows):
        raise TailorError("each GRPO row needs a 'prompt' (messages)")
    if reference_adapter and not init_adapter:
        raise TailorError("a reference adapter replaces the frozen copy of init_adapter; give init_adapter too")
    output_dir = Path(output_dir)
    anchored = [*train_rows, {"reward": reward_name, "reference_adapter": adapter_fingerprint(reference_adapter)}]
    fingerprint = fingerprint_job(model, anchored, None, settings, init_adapter)
    reused = reused_result(output_dir, fingerprint)
    if reused is not None:
        return reused

    from trl import GRPOConfig, GRPOTrainer

    def scored(prompts, completions, **columns) -> list[float]:
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [float(r) for r in reward(texts, **columns)]

    def configure(args: dict) -> GRPOConfig:
        args.pop("max_length")  # applied to the prompts above; GRPOConfig has no such cap
        return GRPOConfig(**args)

    def build(**parts) -> GRPOTrainer:
        trainer = GRPOTrainer(reward_funcs=scored, **parts)
        if reference_adapter and settings.beta > 0:  # without a KL term there is no reference to replace
            load_reference(trainer.model, reference_adapter)
        return trainer

    return fit_lora(model, settings, output_dir, fingerprint, init_adapter, lambda tokenizer: (fitting_prompts(train_rows, tokenizer, settings), []), configure, build)


def load_reference(model, adapter: str) -> None:
    """Overwrite the trainer's frozen ``ref`` adapter with ``adapter``'s weights, strictly:
    a key of the file the model lacks, or a ``ref`` weight the file lacks, is an error."""
    from peft import load_peft_weights, set_peft_model_state_dict

    loaded = set_peft_model_state_dict(model, load_peft_weights(adapter), adapter_name="ref")
    missing = [key for key in loaded.missing_keys if ".ref." in key and "lora_" in key]
    if loaded.unexpected_keys or missing:
        problem = f"unexpected keys, e.g. {loaded.unexpected_keys[0]}" if loaded.unexpected_keys else f"missing keys, e.g. {missing[0]}"
        raise TailorError(f"reference adapter {adapter} does not fit the policy's LoRA layout: {problem}")
