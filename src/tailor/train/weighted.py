"""Reward-weighted SFT (REST-PG's maximisation step): TRL's ``SFTTrainer`` with each
row's loss scaled by its weight."""

from dataclasses import asdict
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

    The weight survives TRL's preparation (its ``map`` calls keep extra columns), is kept
    by ``remove_unused_columns`` as a signature column, and is batched by the collator.
    Built on first use, as TRL is imported lazily."""
    import torch
    from trl import SFTTrainer
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    class WeightedCollator(DataCollatorForLanguageModeling):
        def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
            return {**super().torch_call(examples), "weight": torch.tensor([example["weight"] for example in examples])}

    class WeightedSFTTrainer(SFTTrainer):
        loss_is_scaled_for_ga = False  # a per-micro-batch mean

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.data_collator = WeightedCollator(**asdict(self.data_collator))  # TRL's own settings

        def _set_signature_columns_if_needed(self):
            if self._signature_columns is None:
                super()._set_signature_columns_if_needed()
                self._signature_columns = [*self._signature_columns, "weight"]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            weight = inputs.pop("weight")
            outputs = model(**inputs, fused_lm_head=True)  # per-token log-probs, zero off the completion
            per_sequence = -outputs.log_probs.sum(dim=1) / outputs.label_mask.sum(dim=1).clamp(min=1)
            loss = (weight * per_sequence).mean()
            return (loss, outputs) if return_outputs else loss

    return WeightedSFTTrainer
