"""Direct preference optimisation of a LoRA adapter with TRL, mirroring ``train_sft``.

Rows are ``{"prompt": [messages], "chosen": [assistant message], "rejected": [assistant
message]}``. The reference is TRL's frozen copy of the adapter the run starts from: with
``init_adapter`` (a loop's previous policy) TRL loads it a second time as the "ref"
adapter, which never trains; without one, the reference is the network with the fresh
adapter disabled, i.e. the base model. A finished run
leaves ``adapter/``, ``curve.json`` and ``done.json`` (the fingerprint of model, data and
settings); a rerun with the same fingerprint returns at once.
"""

from pathlib import Path

from pydantic import Field

from tailor.errors import TailorError
from tailor.train.launch import launch_stage, needs_launch
from tailor.train.lora import SFTResult, SFTSettings, fingerprint_job, fit_lora, reused_result


class DPOSettings(SFTSettings):
    """The SFT recipe plus the DPO temperature ``beta`` (TRL's default 0.1)."""

    beta: float = Field(default=0.1, gt=0.0, description="DPO's temperature: how far the policy may move from the reference")

    def trainer_arguments(self) -> dict:
        return {"beta": self.beta}


def _check(row: dict) -> dict:
    if not (row.get("prompt") and len(row.get("chosen") or []) == 1 and len(row.get("rejected") or []) == 1):
        raise TailorError("each DPO row needs a 'prompt' (messages) and one 'chosen' and one 'rejected' assistant message")
    return {"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"]}


def train_dpo(
    model: str,
    train_rows: list[dict],
    eval_rows: list[dict] | None,
    settings: DPOSettings,
    output_dir: str | Path,
    init_adapter: str | None = None,
) -> SFTResult:
    """Train a LoRA adapter on ``model`` (a fresh one, or ``init_adapter`` continued) by DPO."""
    if not train_rows:
        raise TailorError("no training rows: DPO needs at least one preference pair")
    train = [_check(row) for row in train_rows]
    evaluation = [_check(row) for row in eval_rows or []]
    output_dir = Path(output_dir)
    fingerprint = fingerprint_job(model, train_rows, eval_rows, settings, init_adapter)
    reused = reused_result(output_dir, fingerprint)
    if reused is not None:
        return reused
    if needs_launch(settings):
        return launch_stage("dpo", model, train_rows, eval_rows, settings, output_dir, init_adapter)

    from trl import DPOConfig, DPOTrainer

    return fit_lora(model, settings, output_dir, fingerprint, init_adapter, lambda tokenizer: (train, evaluation), lambda args: DPOConfig(**args), DPOTrainer)
