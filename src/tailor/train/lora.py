"""The LoRA fitting every TRL trainer here shares (SFT, DPO, GRPO): the settings, the
result, the fingerprint that lets a finished run be reused, and the training run itself.
A finished run leaves ``adapter/``, ``curve.json`` and ``done.json`` (the fingerprint of
model, data and settings); a rerun with the same fingerprint returns at once. An
unfinished run leaves ``checkpoints/`` (its last checkpoint, the best one, and the
fingerprint they belong to): a rerun with the same fingerprint resumes from there.
"""

import gc
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tailor import logs
from tailor.errors import TailorError
from tailor.io import atomic_write_json
from tailor.llm.base import adapter_fingerprint
from tailor.models import resolve_model
from tailor.runs import JobFolder, building

log = logging.getLogger(__name__)


class SFTSettings(BaseModel):
    """The LaMP-QA planner recipe by default: LoRA r=16, alpha=16, dropout 0.05 on every
    linear layer; AdamW at 5e-5, effective batch 32, 10% warmup then linear decay,
    gradients clipped at 1.0, 2000 steps, evaluated every 250 with the best kept.
    ``batch_size`` is realised as ``per_device_batch_size`` x gradient accumulation x
    ``num_processes``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lora_r: int = Field(default=16, ge=1, description="LoRA rank")
    lora_alpha: int = Field(default=16, ge=1, description="LoRA alpha")
    lora_dropout: float = Field(default=0.05, ge=0.0, lt=1.0, description="LoRA dropout")
    target_modules: str | list[str] = Field(default="all-linear", description="the layers LoRA adapts (all-linear: every linear layer)")
    learning_rate: float = Field(default=5e-5, gt=0.0, description="AdamW's peak learning rate")
    batch_size: int = Field(default=32, ge=1, description="effective batch (per-device batch × gradient accumulation)")
    per_device_batch_size: int = Field(default=1, ge=1, description="rows per forward pass")
    warmup_ratio: float = Field(default=0.1, ge=0.0, lt=1.0, description="fraction of steps warming the learning rate up (then linear decay)")
    max_grad_norm: float = Field(default=1.0, gt=0.0, description="gradient clipping")
    max_steps: int = Field(default=2000, ge=1, description="optimizer steps")
    eval_steps: int = Field(default=250, ge=1, description="steps between checkpoints (a stopped stage resumes from the last), each evaluated when there are eval rows")
    logging_steps: int = Field(default=10, ge=1, description="steps between logged losses")
    max_length: int = Field(default=8192, ge=16, description="the longest row, in tokens (longer rows are left out)")
    seed: int = Field(default=0, description="seeds initialisation and data order")
    keep_best: bool = Field(default=True, description="keep the checkpoint with the lowest eval loss")
    gradient_checkpointing: bool = Field(default=True, description="trade compute for memory")
    num_processes: int = Field(
        default=1, ge=1,
        description="train the stage data-parallel on this many processes (accelerate launch; tailor.train.launch); "
        "batch_size stays the effective batch: per_device_batch_size x gradient accumulation x num_processes",
    )
    accelerate_config: str | None = Field(
        default=None, description="an accelerate config file (configs/accelerate/: DDP, DeepSpeed ZeRO-2/3, FSDP); given, the stage runs under accelerate launch, even on one process",
    )

    @model_validator(mode="after")
    def _batch_divides(self) -> "SFTSettings":
        per_step = self.per_device_batch_size * self.num_processes
        if self.batch_size % per_step:
            raise ValueError(
                f"batch_size {self.batch_size} is not a multiple of per_device_batch_size {self.per_device_batch_size} "
                f"x num_processes {self.num_processes}"
            )
        return self

    @property
    def gradient_accumulation(self) -> int:
        return self.batch_size // (self.per_device_batch_size * self.num_processes)

    def trainer_arguments(self) -> dict:
        """The arguments of the trainer's own TRL config beyond the shared ones."""
        return {}

    @classmethod
    def cpu_sample(cls) -> "SFTSettings":
        """A few minutes on a laptop CPU with SmolLM2-135M and the bundled sample: enough
        steps, at a learning rate high enough, for the adapter to visibly change outputs."""
        return cls(
            learning_rate=1e-3, batch_size=4, per_device_batch_size=2, max_steps=12, eval_steps=6,
            logging_steps=1, max_length=1024, gradient_checkpointing=False,
        )


@dataclass
class SFTResult:
    adapter: str
    best_eval_loss: float | None  # eval loss of the kept adapter; None without eval rows
    steps: int
    seconds: float
    rows: int  # training rows used (rows longer than max_length are dropped)
    reused: bool = False  # returned from an earlier identical run
    wrapper: str | None = None  # the Trainer's distributed wrapper: "deepspeed-zero2", "deepspeed-zero3", "fsdp", "ddp"; None on one plain process
    resumed_at: int = 0  # the step this run resumed from, where an earlier run of it stopped (0: from the start)


def fingerprint_job(model: str, train_rows: list[dict], eval_rows: list[dict] | None, settings: SFTSettings, init_adapter: str | None) -> str:
    payload = {
        "model": model,
        "train": train_rows,
        "eval": eval_rows,
        "settings": settings.model_dump(),
        "init_adapter": adapter_fingerprint(init_adapter),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def lora_arguments(settings: SFTSettings) -> dict:
    """PEFT's ``LoraConfig`` arguments for a fresh adapter."""
    return dict(
        r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
        target_modules=settings.target_modules, bias="none", task_type="CAUSAL_LM",
    )


def checkpointing_argument() -> str:
    """The name the installed transformers gives gradient checkpointing in its
    ``TrainingArguments``: ``activation_checkpointing`` in recent 5.x releases (5.24 here, where
    ``gradient_checkpointing`` is a deprecated alias), ``gradient_checkpointing`` before (5.17,
    the lent GPU machine's)."""
    from dataclasses import fields

    from transformers import TrainingArguments

    names = {f.name for f in fields(TrainingArguments)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def bf16_training() -> bool:
    """Whether stages train in bf16: where the GPU has it (Ampere or later), else float32.
    A launched stage passes the same choice to ``accelerate launch``, so an accelerate
    config never disagrees with the Trainer (DeepSpeed refuses a mismatch)."""
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def training_arguments(settings: SFTSettings, work: Path, evaluation: bool, cuda: bool, bf16: bool) -> dict:
    """The TRL config's arguments: the ones every trainer shares, then the trainer's own
    (``settings.trainer_arguments()``); ``evaluation``: whether there are eval rows.

    A checkpoint every ``eval_steps`` (evaluated, with eval rows) holds the adapter and the
    optimizer, scheduler and RNG states: a stopped stage resumes from the last one, and
    under DeepSpeed and FSDP the best one can be loaded back (the Trainer refuses
    ``save_only_model`` with ``load_best_model_at_end`` there). The last and the best
    checkpoints are kept."""
    eval_steps = min(settings.eval_steps, settings.max_steps)  # at least one evaluation
    keep_best = settings.keep_best and evaluation
    return dict(
        output_dir=str(work),
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.per_device_batch_size,
        per_device_eval_batch_size=settings.per_device_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=settings.warmup_ratio,  # a float below 1 is a fraction of max_steps
        weight_decay=0.0,
        max_grad_norm=settings.max_grad_norm,
        max_length=settings.max_length,
        **{checkpointing_argument(): settings.gradient_checkpointing},
        seed=settings.seed,
        data_seed=settings.seed,
        logging_steps=settings.logging_steps,
        eval_strategy="steps" if evaluation else "no",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=eval_steps,
        save_total_limit=1,
        save_only_model=False,
        load_best_model_at_end=keep_best,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        bf16=bf16,
        use_cpu=not cuda,
        report_to="none",
        push_to_hub=False,
        disable_tqdm=True,  # tailor's own bar instead (tailor.train.callbacks.StepBar)
    ) | settings.trainer_arguments()


def _curve(log_history: list[dict]) -> list[dict]:
    by_step: dict[int, dict] = {}
    for entry in log_history:
        for key in ("loss", "eval_loss"):
            if key in entry:
                by_step.setdefault(entry["step"], {"step": entry["step"], "loss": None, "eval_loss": None})[key] = entry[key]
    return [by_step[step] for step in sorted(by_step)]


def reused_result(output_dir: Path, fingerprint: str) -> SFTResult | None:
    """The result of an earlier finished run with the same fingerprint, if there is one."""
    job = JobFolder(output_dir)
    if job.adapter.exists() and job.done_file.exists():
        done = json.loads(job.done_file.read_text())
        if done.get("fingerprint") == fingerprint:
            return SFTResult(**{**done["result"], "reused": True})
    return None


def ready_checkpoints(job: JobFolder, fingerprint: str) -> None:
    """Ready the job's ``checkpoints/``, the Trainer's, for a run with ``fingerprint``: the
    checkpoints of an earlier unfinished run with the same fingerprint stay (the run
    resumes from the last), those of another fingerprint (other data or settings) go, and
    so does a checkpoint cut off while it was being written (the Trainer writes
    ``trainer_state.json`` last). The main process alone calls it."""
    from transformers.trainer import TRAINER_STATE_NAME
    from transformers.trainer_utils import sort_checkpoints

    work, stamp = job.checkpoints, job.checkpoints_fingerprint
    if not stamp.is_file() or stamp.read_text() != fingerprint:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        stamp.write_text(fingerprint)
    for checkpoint in sort_checkpoints(str(work)):
        if not (Path(checkpoint) / TRAINER_STATE_NAME).is_file():
            shutil.rmtree(checkpoint)


def _wrapper(trainer) -> str | None:
    """The distributed wrapper the Trainer really runs under, as it reports it."""
    if trainer.is_deepspeed_enabled:
        return f"deepspeed-zero{trainer.accelerator.state.deepspeed_plugin.zero_stage}"
    if trainer.is_fsdp_enabled:
        return "fsdp"
    return "ddp" if trainer.accelerator.num_processes > 1 else None


def fit_lora(
    model: str,
    settings: SFTSettings,
    output_dir: Path,
    fingerprint: str,
    init_adapter: str | None,
    prepare: Callable[[Any], tuple[list[dict], list[dict]]],
    configure: Callable[[dict], Any],
    build: Callable[..., Any],
) -> SFTResult:
    """The LoRA training run every TRL trainer here shares: load the model (a fresh adapter
    or ``init_adapter`` continued), train, keep the best checkpoint by eval loss, write
    ``adapter/`` atomically with ``curve.json`` and ``done.json``. A run stopped on the way
    resumes from its last checkpoint when rerun with the same fingerprint.

    ``prepare(tokenizer)`` gives the (train, eval) rows; ``configure(args)`` makes the
    trainer's TRL config from the shared training arguments; ``build(model=, args=,
    train_dataset=, eval_dataset=, processing_class=, peft_config=)`` makes the TRL trainer
    with that config. The config is made before the model is loaded: under DeepSpeed ZeRO-3
    its DeepSpeed config is what makes ``from_pretrained`` load the weights already
    partitioned over the ranks (``zero.Init``), rather than whole on every rank.

    On several processes (a stage ``tailor.train.launch`` started), every rank trains on its
    shard of the data, rank 0 alone writes, and the ranks meet at barriers."""
    import torch
    from accelerate import PartialState
    from datasets import Dataset
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, set_seed
    from transformers.trainer import TRAINER_STATE_NAME
    from transformers.trainer_utils import get_last_checkpoint

    from tailor.train.callbacks import StepBar

    logs.adopt_library_loggers()

    started = time.perf_counter()
    cuda = torch.cuda.is_available()
    state = PartialState(cpu=not cuda)  # one process, or one rank of an accelerate launch
    if state.num_processes != settings.num_processes:
        raise TailorError(
            f"this stage runs on {state.num_processes} process(es) but its settings say num_processes={settings.num_processes}: "
            "set num_processes and let tailor launch the stage, rather than launching the loop yourself"
        )
    main = state.is_main_process
    path = resolve_model(model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    train, evaluation = prepare(tokenizer)

    job = JobFolder(output_dir)
    adapter_dir, done_file, work, partial = job.adapter, job.done_file, job.checkpoints, building(job.adapter)
    if main:
        done_file.unlink(missing_ok=True)
        shutil.rmtree(partial, ignore_errors=True)
        ready_checkpoints(job, fingerprint)
    state.wait_for_everyone()
    resume = get_last_checkpoint(str(work))  # None: a fresh start
    resumed_at = json.loads((Path(resume) / TRAINER_STATE_NAME).read_text())["global_step"] if resume else 0
    if resume and main:
        log.info("%s resumes from step %d of %d (%s)", output_dir, resumed_at, settings.max_steps, resume)
    bf16 = bf16_training()
    config = configure(training_arguments(settings, work, bool(evaluation), cuda, bf16))  # before the model: see above
    network = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if bf16 else torch.float32)
    lora = None
    if init_adapter:
        network = PeftModel.from_pretrained(network, init_adapter, is_trainable=True)
    else:
        lora = LoraConfig(**lora_arguments(settings))

    set_seed(settings.seed)  # the fresh adapter's initialisation, the same on every rank however the model loaded
    with logs.known_deprecations():
        trainer = build(
            model=network,
            args=config,
            train_dataset=Dataset.from_list(train),
            eval_dataset=Dataset.from_list(evaluation) if evaluation else None,
            processing_class=tokenizer,
            peft_config=lora,
        )
        trainer.remove_callback(PrinterCallback)
        bar = StepBar(f"training {Path(output_dir.parent.name, output_dir.name)}")  # e.g. iter_1/policy_model
        trainer.add_callback(bar)
        try:
            trainer.train(resume_from_checkpoint=resume)
        finally:
            bar.close()  # also when training fails: the terminal gets its cursor back
    trainer.save_model(str(partial))  # every rank takes part (ZeRO-3, FSDP gather the weights); rank 0 writes
    curve = _curve(trainer.state.log_history)
    eval_losses = [point["eval_loss"] for point in curve if point["eval_loss"] is not None]
    best = trainer.state.best_metric if config.load_best_model_at_end else (eval_losses[-1] if eval_losses else None)
    steps, wrapper = trainer.state.global_step, _wrapper(trainer)
    del trainer, network
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    result = SFTResult(str(adapter_dir), best, steps, time.perf_counter() - started, len(train), wrapper=wrapper, resumed_at=resumed_at)
    state.wait_for_everyone()
    if main:
        shutil.rmtree(adapter_dir, ignore_errors=True)
        partial.rename(adapter_dir)
        atomic_write_json(job.curve_file, curve)
        atomic_write_json(done_file, {"fingerprint": fingerprint, "result": asdict(result)})
        shutil.rmtree(work, ignore_errors=True)  # the stage is done: its checkpoints are no longer needed
    state.wait_for_everyone()
    return result
