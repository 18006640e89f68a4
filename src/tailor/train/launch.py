"""Training stages on several processes: a stage whose settings ask for ``num_processes``
> 1 is handed to ``accelerate launch`` as a subprocess, and the loop waits for its adapter.

Why each stage and not the whole loop under the launcher: the loop's other stages generate
(on vLLM servers, or one in-process engine) and write the run folder, which one process
does. Under the launcher, the other ranks would wait at a barrier through every generation
stage (hours at paper scale, past the collective's timeout) and each would hold its own copy
of the models. So the loop stays one process, and only the training is data-parallel.

The stage travels as ``job.json`` in its output folder (the trainer, the rows, the
settings); ``python -m tailor.train.launch JOB`` runs it on every rank. There, the data is
sharded by rank, the effective batch is ``per_device_batch_size`` x gradient accumulation x
``num_processes``, and rank 0 alone writes the adapter, ``curve.json`` and ``done.json``
(``fit_lora``). The processes' output goes to ``launch.log`` beside them."""

import importlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tailor.errors import TailorError
from tailor.io import atomic_write_json
from tailor.runs import JobFolder
from tailor.train.lora import SFTResult, SFTSettings, bf16_training

log = logging.getLogger(__name__)
RANK_ERROR = re.compile(r"^\[rank\d+\]: ([\w.]+: .*)$", re.MULTILINE)  # a rank's exception, as torchrun prefixes it

# The stages that can be launched: their trainer and settings class. GRPO is not among
# them: its reward calls tailor's metrics and models in the loop's process.
STAGES = {
    "sft": ("tailor.train.sft:train_sft", "tailor.train.lora:SFTSettings"),
    "dpo": ("tailor.train.dpo:train_dpo", "tailor.train.dpo:DPOSettings"),
}


def _load(where: str):
    module, name = where.split(":")
    return getattr(importlib.import_module(module), name)


LAUNCHED = "TAILOR_LAUNCHED_STAGE"  # set in a launched stage's processes, so they never launch again


def needs_launch(settings: SFTSettings) -> bool:
    """Whether a stage with ``settings`` must be launched: it asks for several processes or
    names an accelerate config (DeepSpeed and FSDP need the launcher even on one process),
    and this process is neither one that tailor launched nor a rank of a launcher of the user's
    (which ``fit_lora`` then refuses, naming num_processes)."""
    launched = LAUNCHED in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1
    return (settings.num_processes > 1 or settings.accelerate_config is not None) and not launched


def launch_command(settings: SFTSettings, job: Path) -> list[str]:
    """``accelerate launch`` over ``settings.num_processes`` processes: with the recipe's
    accelerate config file (DDP, DeepSpeed, FSDP), or plain data-parallel (DDP; gloo on CPU).
    The precision is tailor's (``bf16_training``), whatever the file says: DeepSpeed refuses
    a config whose bf16 disagrees with the Trainer's."""
    precision = "bf16" if bf16_training() else "no"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(settings.num_processes), "--num_machines", "1",
               "--mixed_precision", precision]
    if settings.accelerate_config:
        if not Path(settings.accelerate_config).is_file():
            raise TailorError(f"accelerate_config {settings.accelerate_config} does not exist (see configs/accelerate/)")
        command += ["--config_file", settings.accelerate_config]
    else:
        command += ["--multi_gpu", "--dynamo_backend", "no"]
    return command + ["-m", "tailor.train.launch", str(job)]


def launch_stage(
    stage: str, model: str, train_rows: list[dict], eval_rows: list[dict] | None, settings: SFTSettings,
    output_dir: Path, init_adapter: str | None,
) -> SFTResult:
    """Run the ``stage`` trainer on ``settings.num_processes`` processes; its result."""
    output_dir.mkdir(parents=True, exist_ok=True)
    folder = JobFolder(output_dir)
    job = folder.job_file
    atomic_write_json(job, {
        "stage": stage, "model": model, "train_rows": train_rows, "eval_rows": eval_rows,
        "settings": settings.model_dump(mode="json"), "init_adapter": init_adapter,
    })
    logfile, done = folder.launch_log, folder.done_file
    done.unlink(missing_ok=True)  # an earlier run's, with other data: only this launch's result counts
    log.info("training %s on %d processes (accelerate launch); its output: %s", output_dir, settings.num_processes, logfile)
    with logfile.open("w") as out:
        # the launcher ends with the loop (SIGTERM: torchrun stops its ranks), so a killed loop leaves no stage training on
        finished = subprocess.run(launch_command(settings, job), stdout=out, stderr=subprocess.STDOUT, env={**os.environ, LAUNCHED: "1"},
                                  preexec_fn=on_parent_death(signal.SIGTERM))
    if finished.returncode or not done.exists():
        output = logfile.read_text(errors="replace")
        errors = RANK_ERROR.findall(output)
        cause = errors[0] if errors else "".join(output.splitlines(keepends=True)[-15:])
        raise TailorError(f"the {stage} stage in {output_dir} failed on {settings.num_processes} processes (exit {finished.returncode}): "
                          f"{cause}\nthe processes' output: {logfile}")
    return SFTResult(**json.loads(done.read_text())["result"])


def on_parent_death(sig: int) -> Callable[[], None]:
    """A function that, called in a process, has the kernel send it ``sig`` when its parent
    ends (Linux ``prctl(PR_SET_PDEATHSIG)``; nothing elsewhere). The C library is loaded
    here, so calling it in a forked child before exec does no more than the one call."""
    if not sys.platform.startswith("linux"):
        return lambda: None
    import ctypes

    prctl, pr_set_pdeathsig = ctypes.CDLL(None, use_errno=True).prctl, 1  # <linux/prctl.h>
    return lambda: prctl(pr_set_pdeathsig, sig)


def die_with_launcher() -> None:
    """End this rank when its launcher ends. torchrun (under ``accelerate launch``) starts
    each rank in a session of its own, so a killed loop and launcher would leave the ranks
    training on as orphans, racing the rerun's ranks for the stage's checkpoints."""
    launcher = os.getppid()
    on_parent_death(signal.SIGKILL)()
    if os.getppid() != launcher:  # it was gone before the line above: this rank is already an orphan
        os.kill(os.getpid(), signal.SIGKILL)


def main(job_path: str) -> None:
    """One rank of a launched stage."""
    die_with_launcher()
    job = json.loads(Path(job_path).read_text())
    trainer, settings_class = (_load(where) for where in STAGES[job["stage"]])
    settings = settings_class.model_validate(job["settings"])
    trainer(job["model"], job["train_rows"], job["eval_rows"], settings, Path(job_path).parent, init_adapter=job["init_adapter"])


if __name__ == "__main__":
    main(sys.argv[1])
