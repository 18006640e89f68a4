"""Supervised fine-tuning of a LoRA adapter with TRL, shared by every trainer.

Rows are chat conversations whose last message is the assistant target. They are handed
to TRL as conversational prompt/completion pairs with ``completion_only_loss``, so the
loss covers the target (and its end-of-turn token) only, whatever the chat template.
A row may carry a ``weight`` (a reward, >= 0): see ``weighted_sft_trainer`` for the loss.
A finished run leaves ``adapter/``, ``curve.json`` and ``done.json`` (the fingerprint of
model, data and settings); a rerun with the same fingerprint returns at once.
"""

import logging
import math
from pathlib import Path

from tailor.errors import TailorError
from tailor.train.launch import launch_stage, needs_launch
from tailor.train.lora import SFTResult, SFTSettings, fingerprint_job, fit_lora, reused_result
from tailor.train.weighted import weighted_sft_trainer

log = logging.getLogger(__name__)

__all__ = ["SFTResult", "SFTSettings", "train_sft"]


def _prompt_completion(row: dict) -> dict:
    messages = row.get("messages") or []
    if len(messages) < 2 or messages[-1].get("role") != "assistant":
        raise TailorError("each SFT row needs 'messages' ending with the assistant target after at least one prompt message")
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def _pairs(rows: list[dict], split: str, weighted: bool) -> list[dict]:
    """Prompt/completion pairs, each with its ``weight`` (1.0 when the row has none) when ``weighted``."""
    pairs = []
    for index, row in enumerate(rows):
        pair = _prompt_completion(row)
        if weighted:
            weight = row.get("weight", 1.0)
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
                raise TailorError(f"{split} row {index}: 'weight' must be a finite number >= 0, got {weight!r}")
            pair["weight"] = float(weight)
        pairs.append(pair)
    return pairs



def _fitting(pairs: list[dict], tokenizer, max_length: int, name: str) -> list[dict]:
    """Pairs whose whole conversation fits ``max_length``: TRL truncates the end, which
    would cut the very target the loss is on."""
    def length(pair: dict) -> int:
        text = tokenizer.apply_chat_template(pair["prompt"] + pair["completion"], tokenize=False)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    kept = [pair for pair in pairs if length(pair) <= max_length]
    if len(kept) < len(pairs):
        log.warning("%d of %d %s rows exceed max_length=%d tokens and are left out", len(pairs) - len(kept), len(pairs), name, max_length)
    return kept



def train_sft(
    model: str,
    train_rows: list[dict],
    eval_rows: list[dict] | None,
    settings: SFTSettings,
    output_dir: str | Path,
    init_adapter: str | None = None,
) -> SFTResult:
    """Train a LoRA adapter on ``model`` (a fresh one, or ``init_adapter`` continued). When
    any train or eval row has a ``weight``, every row is weighted (1.0 by default) and the
    loss is ``weighted_sft_trainer``'s; otherwise it is TRL's."""
    if not train_rows:
        raise TailorError("no training rows: SFT needs at least one conversation")
    weighted = any("weight" in row for row in [*train_rows, *(eval_rows or [])])
    train_pairs = _pairs(train_rows, "training", weighted)
    eval_pairs = _pairs(eval_rows or [], "eval", weighted)
    output_dir = Path(output_dir)
    fingerprint = fingerprint_job(model, train_rows, eval_rows, settings, init_adapter)  # weights included, as given
    reused = reused_result(output_dir, fingerprint)
    if reused is not None:
        return reused
    if needs_launch(settings):
        return launch_stage("sft", model, train_rows, eval_rows, settings, output_dir, init_adapter)

    from trl import SFTConfig, SFTTrainer

    def prepare(tokenizer) -> tuple[list[dict], list[dict]]:
        train = _fitting(train_pairs, tokenizer, settings.max_length, "training")
        if not train:
            raise TailorError(f"every training row is longer than max_length={settings.max_length} tokens")
        return train, _fitting(eval_pairs, tokenizer, settings.max_length, "eval")

    def configure(args: dict) -> SFTConfig:
        return SFTConfig(**args, completion_only_loss=True)

    def build(**parts) -> SFTTrainer:
        return (weighted_sft_trainer() if weighted else SFTTrainer)(**parts)

    return fit_lora(model, settings, output_dir, fingerprint, init_adapter, prepare, configure, build)
