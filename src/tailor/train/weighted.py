"""Reward-weighted SFT (REST-PG's maximisation step): TRL's ``SFTTrainer`` with each
row's loss scaled by its weight."""

from dataclasses import replace
from functools import cache
from typing import Any


@cache
def weighted_sft_trainer() -> type:
    """TRL's ``SFTTrainer`` for rows with a ``weight`` column: the loss of a batch of B
    sequences is ``sum_i w_i * L_i / B``, where ``L_i`` is sequence i's negative
    log-likelihood averaged over its completion tokens. TRL's own loss averages over every
    completion token of the batch, ``sum_i n_i * L_i / sum_i n_i`` with ``n_i`` the
    completion tokens of sequence i: it weighs a sequence by its length, this loss by its
    weight alone, so with every weight 1 the two agree only when all ``n_i`` are equal.
    It is REST-PG's maximisation step (reward x log-likelihood, Algorithm 1 line 11), the
    log-likelihood taken per token. Under gradient accumulation each micro-batch gives
    its mean and the Trainer divides by the number of micro-batches. TRL's entropy and
    token-accuracy metrics are not logged.

    The per-token log-likelihoods come from TRL's fused LM head, as TRL's own SFT and DPO
    losses do. ``SFTTrainer.__init__`` (TRL >= 1.15) patches the model with
    ``trl.trainer.add_fused_lm_head`` (exported by ``trl.trainer``, not by ``trl``); then
    ``model(..., labels=, fused_lm_head=True)``, a TRL internal, returns each next token's
    log-probability, 0 where its label is -100. It projects the hidden states through the
    LM head's weight in tiles of at most 4096 tokens x 32,768 vocabulary entries and
    recomputes them in the backward pass, so neither pass holds the (tokens x vocabulary)
    logits, which at Gemma's vocabulary of 256,000 and 4 rows of 6656 tokens take 27 GB in
    float32 alone (bench/loss_memory.py, docs/scaling.md). As the head reads the LM head's
    base weight, TRL refuses a LoRA adapter on it (PEFT's all-linear, tailor's default,
    leaves the LM head out).

    The weight survives TRL's preparation (its ``map`` calls keep extra columns); the
    trainer keeps every column (``remove_unused_columns=False``) and wraps TRL's collator
    to batch the weights. Built on first use, as TRL is imported lazily."""
    import torch
    from trl import SFTTrainer

    class WeightedCollator:
        """TRL's collator, plus the rows' weights."""

        def __init__(self, collate):
            self.collate = collate

        def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
            return {**self.collate(examples), "weight": torch.tensor([example["weight"] for example in examples])}

    class WeightedSFTTrainer(SFTTrainer):
        loss_is_scaled_for_ga = False  # a per-micro-batch mean

        def __init__(self, *args, **kwargs):
            kwargs["args"] = replace(kwargs["args"], remove_unused_columns=False)  # keep the weight column
            super().__init__(*args, **kwargs)
            self.data_collator = WeightedCollator(self.data_collator)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            weight, labels = inputs.pop("weight"), inputs.pop("labels")
            # log p(token t + 1 | tokens up to t), 0 where label t + 1 is -100 (prompt, padding)
            outputs = model(**inputs, labels=labels, fused_lm_head=True)
            completion_tokens = (labels[:, 1:] != -100).sum(dim=1)
            per_sequence = -outputs.log_probs.sum(dim=1) / completion_tokens.clamp(min=1)
            loss = (weight.to(per_sequence.dtype) * per_sequence).mean()
            return (loss, outputs) if return_outputs else loss  # TRL's FusedCausalLMOutput: log-probabilities, no logits

    return WeightedSFTTrainer
