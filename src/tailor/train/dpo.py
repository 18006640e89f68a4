"""Direct preference optimisation of a LoRA adapter with TRL, mirroring ``train_sft``.

Rows are ``{"prompt": [messages], "chosen": [assistant message], "rejected": [assistant
message]}``. The reference model is the network with the adapter disabled. A finished run
leaves ``adapter/``, ``curve.json`` and ``done.json`` (the fingerprint of model, data and
settings); a rerun with the same fingerprint returns at once.
"""

import gc
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from pydantic import Field

from tailor.errors import TailorError
from tailor.io import atomic_write_json
from tailor.models import resolve_model
from tailor.progress import enabled as progress_enabled
from tailor.train.sft import SFTResult, SFTSettings, _curve, _fingerprint


class DPOSettings(SFTSettings):
    """The SFT recipe plus the DPO temperature ``beta`` (TRL's default 0.1)."""

    beta: float = Field(default=0.1, gt=0.0)


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
    adapter_dir, done_file = output_dir / "adapter", output_dir / "done.json"
    fingerprint = _fingerprint(model, train_rows, eval_rows, settings, init_adapter)
    if adapter_dir.exists() and done_file.exists():
        done = json.loads(done_file.read_text())
        if done.get("fingerprint") == fingerprint:
            return SFTResult(**{**done["result"], "reused": True})

    import torch
    from datasets import Dataset
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    started = time.perf_counter()
    path = resolve_model(model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    network = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if bf16 else torch.float32)
    lora = None
    if init_adapter:
        network = PeftModel.from_pretrained(network, init_adapter, is_trainable=True)
    else:
        lora = LoraConfig(
            r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
            target_modules=settings.target_modules, bias="none", task_type="CAUSAL_LM",
        )

    done_file.unlink(missing_ok=True)
    work = output_dir / "checkpoints"
    shutil.rmtree(work, ignore_errors=True)
    eval_steps = min(settings.eval_steps, settings.max_steps)
    keep_best = settings.keep_best and bool(evaluation)
    config = DPOConfig(
        output_dir=str(work),
        beta=settings.beta,
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.per_device_batch_size,
        per_device_eval_batch_size=settings.per_device_batch_size,
        gradient_accumulation_steps=settings.batch_size // settings.per_device_batch_size,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=settings.warmup_ratio,
        weight_decay=0.0,
        max_grad_norm=settings.max_grad_norm,
        max_length=settings.max_length,
        activation_checkpointing=settings.gradient_checkpointing,
        seed=settings.seed,
        data_seed=settings.seed,
        logging_steps=settings.logging_steps,
        eval_strategy="steps" if evaluation else "no",
        eval_steps=eval_steps,
        save_strategy="steps" if keep_best else "no",
        save_steps=eval_steps,
        save_total_limit=1,
        save_only_model=True,
        load_best_model_at_end=keep_best,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        bf16=bf16,
        use_cpu=not cuda,
        report_to="none",
        push_to_hub=False,
        disable_tqdm=not progress_enabled(),
    )
    trainer = DPOTrainer(
        model=network,
        args=config,
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(evaluation) if evaluation else None,
        processing_class=tokenizer,
        peft_config=lora,
    )
    trainer.train()

    partial = output_dir / "adapter.partial"
    shutil.rmtree(partial, ignore_errors=True)
    trainer.save_model(str(partial))
    curve = _curve(trainer.state.log_history)
    eval_losses = [point["eval_loss"] for point in curve if point["eval_loss"] is not None]
    best = trainer.state.best_metric if keep_best else (eval_losses[-1] if eval_losses else None)
    steps = trainer.state.global_step
    del trainer, network
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    shutil.rmtree(adapter_dir, ignore_errors=True)
    partial.rename(adapter_dir)
    shutil.rmtree(work, ignore_errors=True)

    result = SFTResult(str(adapter_dir), best, steps, time.perf_counter() - started, len(train))
    atomic_write_json(output_dir / "curve.json", curve)
    atomic_write_json(done_file, {"fingerprint": fingerprint, "result": asdict(result)})
    return result
