"""Training stages on several processes (``tailor.train.launch``): the settings, the
accelerate config files, one LoRA stage trained on 1 process (gradient accumulation 2)
against 2 processes (accumulation 1) on CPU with the gloo backend, a best-kept stage under
each accelerate config, and a stage killed after a checkpoint then resumed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from pydantic import ValidationError

from tailor.errors import TailorError
from tailor.train.grpo import GRPOSettings
from tailor.train.launch import LAUNCHED, launch_command, needs_launch
from tailor.runs import JobFolder
from tailor.train.lora import ready_checkpoints
from tailor.train.sft import SFTSettings, train_sft

CONFIGS = sorted(Path("configs/accelerate").glob("*.yaml"))


def test_the_effective_batch_counts_every_process():
    settings = SFTSettings(batch_size=32, per_device_batch_size=2, num_processes=8)
    assert settings.gradient_accumulation == 2
    assert SFTSettings(batch_size=32, per_device_batch_size=2).gradient_accumulation == 16
    with pytest.raises(ValidationError, match="not a multiple of per_device_batch_size 2 x num_processes 3"):
        SFTSettings(batch_size=32, per_device_batch_size=2, num_processes=3)
    with pytest.raises(ValidationError, match="GRPO stages train in the loop's process"):
        GRPOSettings(batch_size=8, num_processes=2)


def test_a_stage_is_launched_once_and_not_again_from_its_own_ranks(monkeypatch, tmp_path):
    settings = SFTSettings(batch_size=4, per_device_batch_size=1, num_processes=2)
    monkeypatch.delenv(LAUNCHED, raising=False)
    assert needs_launch(settings) and not needs_launch(SFTSettings())
    assert needs_launch(SFTSettings(accelerate_config="configs/accelerate/zero3.yaml"))  # one process, under the launcher
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert not needs_launch(settings)  # a rank of the user's own launcher: fit_lora refuses it, it does not launch N more
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setenv(LAUNCHED, "1")
    assert not needs_launch(settings)  # a rank trains, it does not launch again
    command = launch_command(settings, tmp_path / "job.json")
    assert command[1:3] == ["-m", "accelerate.commands.launch"] and "--multi_gpu" in command
    assert command[-3:] == ["-m", "tailor.train.launch", str(tmp_path / "job.json")]
    zero = launch_command(settings.model_copy(update={"accelerate_config": "configs/accelerate/zero2.yaml"}), tmp_path / "job.json")
    assert zero[zero.index("--config_file") + 1] == "configs/accelerate/zero2.yaml" and "--multi_gpu" not in zero
    assert "--mixed_precision" in zero  # tailor's precision, whatever the file says (DeepSpeed refuses a mismatch)


def test_a_stage_that_fails_on_its_processes_says_where_its_log_is(tmp_path):
    settings = SFTSettings(batch_size=2, per_device_batch_size=1, num_processes=2, max_steps=1)
    with pytest.raises(TailorError, match=r"(?s)the sft stage in .* failed on 2 processes .*launch.log") as caught:
        train_sft("no-such-model", rows(2), None, settings, tmp_path / "stage")
    assert "ModelNotFound: model 'no-such-model'" in str(caught.value)  # the ranks' own error
    assert not (tmp_path / "stage" / "done.json").exists()


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_the_shipped_accelerate_configs_parse(config):
    """accelerate reads each file (unknown keys are an error); each trains below."""
    shown = subprocess.run([sys.executable, "-m", "accelerate.commands.accelerate_cli", "env", "--config_file", str(config)],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr[-2000:]
    kind = {"ddp": "MULTI_GPU", "zero2": "DEEPSPEED", "zero3": "DEEPSPEED", "fsdp": "FSDP"}[config.stem]
    assert f"distributed_type: {kind}" in shown.stdout


def rows(n: int) -> list[dict]:
    topics = ["tea", "hiking", "chess", "jazz", "baking", "cycling", "poetry", "sailing"]
    return [
        {"messages": [{"role": "user", "content": f"What should I know about {t}?"},
                      {"role": "assistant", "content": f"Start small with {t}, keep notes, and ask people who love {t}."}]}
        for t in topics[:n]
    ]


def adapter_weights(stage: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(stage / "adapter" / "adapter_model.safetensors")


def largest_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def losses(stage: Path, key: str = "loss") -> list[float]:
    return [point[key] for point in json.loads((stage / "curve.json").read_text()) if point[key] is not None]


def killed_after_a_checkpoint(stage: Path, model: str, train_rows: list[dict], eval_rows: list[dict], settings: SFTSettings) -> None:
    """Run ``train_sft`` in a child process of its own process group and SIGKILL the group
    (the stage's process and, launched, accelerate's launcher) once a checkpoint is complete
    (the Trainer writes ``trainer_state.json`` last). torchrun gives each rank a session of
    its own: the ranks must die with their launcher, not train on as orphans."""
    job = json.dumps({"model": model, "train": train_rows, "eval": eval_rows, "settings": settings.model_dump(mode="json"), "out": str(stage)})
    code = ("import json, sys; from tailor.train.sft import SFTSettings, train_sft; job = json.loads(sys.argv[1]); "
            "train_sft(job['model'], job['train'], job['eval'], SFTSettings(**job['settings']), job['out'])")
    stage.mkdir(parents=True)
    with (stage.parent / f"{stage.name}-killed.log").open("w") as out:
        child = subprocess.Popen([sys.executable, "-c", code, job], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while not list(stage.glob("checkpoints/checkpoint-*/trainer_state.json")):
        assert child.poll() is None, f"the stage ended (exit {child.returncode}) before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 5 minutes"
        time.sleep(0.02)
    os.killpg(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    ranks = [p for p in psutil.process_iter(["cmdline"]) if str(stage / "job.json") in (p.info["cmdline"] or [])]
    assert not psutil.wait_procs(ranks, timeout=30)[1], "a launched rank outlived its launcher"
    assert not (stage / "done.json").exists()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    """SmolLM2's architecture, tokenizer and chat template with two small layers of random
    weights: a stage's time is then the launcher's and the library's, not the model's."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from tailor.models import resolve_model

    source = resolve_model("smollm2-135m-instruct")
    config = AutoConfig.from_pretrained(source).to_dict()
    config.update(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**config))
    path = tmp_path_factory.mktemp("tiny-smollm2")
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(source).save_pretrained(path)
    return str(path)


BEST_KEPT = SFTSettings(
    lora_dropout=0.1, learning_rate=5e-2, batch_size=2, per_device_batch_size=2, max_steps=6, eval_steps=1, logging_steps=1,
    max_length=256, gradient_checkpointing=False, seed=3,
)


@pytest.fixture(scope="module")
def uninterrupted(tiny_model, tmp_path_factory) -> Path:
    """The tiny model's best-kept stage, in this process, from start to end."""
    stage = tmp_path_factory.mktemp("uninterrupted") / "stage"
    train_sft(tiny_model, rows(6), rows(8)[6:], BEST_KEPT, stage)
    return stage


WRAPPERS = {"ddp": None, "zero2": "deepspeed-zero2", "zero3": "deepspeed-zero3", "fsdp": "fsdp"}  # on one process: DDP wraps nothing


@pytest.mark.model
@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_each_accelerate_config_trains_a_best_kept_stage(config, tiny_model, uninterrupted, tmp_path):
    """A stage with held-out rows, its best checkpoint kept, under each shipped config on one
    process (through tailor's launch), with the wrapper the file names really active
    (``Trainer.is_deepspeed_enabled`` / ``is_fsdp_enabled``), so every argument check the
    Trainer and DeepSpeed make on tailor's arguments runs; its one adapter file equals the
    in-process stage's. DeepSpeed runs here on its CPU accelerator."""
    import torch

    if config.stem == "fsdp" and not torch.cuda.is_available():
        pytest.skip("accelerate 1.15 turns FSDP on for GPUs and other accelerators only (state.py: AcceleratorState sets "
                    "DistributedType.FSDP inside its MULTI_GPU/XPU/... branch; on CPU, FullyShardedDataParallelPlugin raises "
                    "'There are currently no available devices found')")
    result = train_sft(tiny_model, rows(6), rows(8)[6:], BEST_KEPT.model_copy(update={"accelerate_config": str(config)}), tmp_path / "stage")
    assert result.wrapper == WRAPPERS[config.stem]
    assert result.steps == BEST_KEPT.max_steps
    reference = json.loads((uninterrupted / "done.json").read_text())["result"]
    assert sorted(p.name for p in (tmp_path / "stage" / "adapter").iterdir()) == sorted(p.name for p in (uninterrupted / "adapter").iterdir())
    weights, expected = adapter_weights(tmp_path / "stage"), adapter_weights(uninterrupted)
    if not torch.cuda.is_available():  # float32 on both sides
        assert abs(result.best_eval_loss - reference["best_eval_loss"]) <= 1e-4 * reference["best_eval_loss"]
        assert largest_difference(weights, expected) <= 1e-4
    else:
        assert {k: v.shape for k, v in weights.items()} == {k: v.shape for k, v in expected.items()}


@pytest.mark.model
def test_a_killed_stage_resumes_to_the_adapter_of_an_uninterrupted_run(tiny_model, uninterrupted, tmp_path):
    """Killed after a checkpoint and rerun, the stage resumes there (model, optimizer,
    scheduler and RNG states: the LoRA dropout draws on the RNG) and ends with the same
    curve, best checkpoint and adapter as a run never stopped; its best checkpoint (step 3
    of 6 here) is chosen across the resume."""
    killed_after_a_checkpoint(tmp_path / "stage", tiny_model, rows(6), rows(8)[6:], BEST_KEPT)
    resumed = train_sft(tiny_model, rows(6), rows(8)[6:], BEST_KEPT, tmp_path / "stage")
    reference = json.loads((uninterrupted / "done.json").read_text())["result"]
    assert 1 <= resumed.resumed_at <= BEST_KEPT.max_steps and reference["resumed_at"] == 0
    eval_losses = losses(uninterrupted, "eval_loss")
    assert min(eval_losses) < eval_losses[-1], "the best checkpoint must not be the last, else this test cannot tell"
    assert losses(tmp_path / "stage", "eval_loss") == pytest.approx(eval_losses, rel=1e-6)
    assert losses(tmp_path / "stage") == pytest.approx(losses(uninterrupted), rel=1e-6)
    assert resumed.best_eval_loss == pytest.approx(reference["best_eval_loss"], rel=1e-6)
    assert largest_difference(adapter_weights(tmp_path / "stage"), adapter_weights(uninterrupted)) <= 1e-6
    assert not (tmp_path / "stage" / "checkpoints").exists()  # kept only until the stage finished


def test_checkpoints_of_other_data_or_settings_are_never_resumed(tmp_path):
    job = JobFolder(tmp_path)
    work = job.checkpoints
    ready_checkpoints(job, "first")
    for step, complete in ((2, True), (4, True), (6, False)):  # step 6 was cut off while it was written
        (work / f"checkpoint-{step}").mkdir()
        if complete:
            (work / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    ready_checkpoints(job, "first")
    assert sorted(p.name for p in work.iterdir()) == ["checkpoint-2", "checkpoint-4", "fingerprint"]
    ready_checkpoints(job, "second")
    assert sorted(p.name for p in work.iterdir()) == ["fingerprint"] and (work / "fingerprint").read_text() == "second"


ZERO3_PROBE = """
import json, sys
from pathlib import Path
from transformers.integrations import is_deepspeed_zero3_enabled
from trl import SFTConfig
from tailor.train.lora import SFTSettings, fit_lora

class Loaded(Exception):
    pass

def observe(model, args, **parts):
    partitioned = [hasattr(p, "ds_id") and p.numel() == 0 for p in model.parameters()]
    Path(sys.argv[2]).write_text(json.dumps({"zero3": is_deepspeed_zero3_enabled(), "partitioned": partitioned}))
    raise Loaded

rows = [{"prompt": [{"role": "user", "content": "Hi?"}], "completion": [{"role": "assistant", "content": "Hello."}]}]
try:
    fit_lora(sys.argv[1], SFTSettings(batch_size=1, max_steps=1, max_length=64), Path(sys.argv[3]), "probe", None,
             lambda tokenizer: (rows, []), lambda args: SFTConfig(**args), observe)
except Loaded:
    pass
"""


@pytest.mark.model
def test_zero3_loads_the_model_already_partitioned(tiny_model, tmp_path):
    """Under zero3.yaml (zero3_init_flag), fit_lora makes the TRL config, and with it the
    DeepSpeed config, before it loads the model, so transformers loads each weight straight
    into its ZeRO-3 partition (``deepspeed.zero.Init``): what ``fit_lora`` hands the trainer
    is already partitioned (DeepSpeed's own marks: ``ds_id``, an emptied local tensor)."""
    probe, seen = tmp_path / "probe.py", tmp_path / "seen.json"
    probe.write_text(ZERO3_PROBE)
    settings = SFTSettings(batch_size=1, accelerate_config="configs/accelerate/zero3.yaml")
    command = launch_command(settings, tmp_path / "job.json")[:-3] + [str(probe), tiny_model, str(seen), str(tmp_path / "stage")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    observed = json.loads(seen.read_text())
    assert observed["zero3"] and len(observed["partitioned"]) > 10 and all(observed["partitioned"])


@pytest.mark.model
def test_one_stage_on_two_processes_matches_one_process_with_accumulation(tiny_model, tmp_path):
    """With held-out rows and the best checkpoint kept; the 2-process stage is killed after a
    checkpoint and rerun, and resumes from it."""
    settings = SFTSettings(
        lora_dropout=0.0, learning_rate=1e-3, batch_size=2, per_device_batch_size=1, max_steps=3, eval_steps=1, logging_steps=1,
        max_length=256, gradient_checkpointing=False, seed=3,
    )
    held_out = rows(8)[6:]
    one = train_sft(tiny_model, rows(6), held_out, settings, tmp_path / "one")
    killed_after_a_checkpoint(tmp_path / "two", tiny_model, rows(6), held_out, settings.model_copy(update={"num_processes": 2}))
    two = train_sft(tiny_model, rows(6), held_out, settings.model_copy(update={"num_processes": 2}), tmp_path / "two")
    assert two.resumed_at >= 1 and one.resumed_at == 0
    assert (one.steps, one.rows, one.wrapper) == (3, 6, None) and (two.steps, two.rows, two.wrapper) == (3, 6, "ddp")
    for key in ("loss", "eval_loss"):
        a, b = losses(tmp_path / "one", key), losses(tmp_path / "two", key)
        assert len(a) == len(b) == 3
        assert all(abs(x - y) <= 1e-3 * abs(x) for x, y in zip(a, b)), (key, a, b)
    assert abs(one.best_eval_loss - two.best_eval_loss) <= 1e-3 * one.best_eval_loss
    assert largest_difference(adapter_weights(tmp_path / "one"), adapter_weights(tmp_path / "two")) <= 1e-5
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["adapter", "curve.json", "done.json", "job.json", "launch.log"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's prctl")
def test_a_launcher_ends_when_the_loop_that_started_it_is_killed(tmp_path):
    """The loop is killed alone (SIGKILL, as the kernel's out-of-memory killer does): the
    process it started with ``on_parent_death`` gets its signal instead of training on."""
    import os
    import signal
    import time

    loop = subprocess.Popen([sys.executable, "-c", (
        "import signal, subprocess, sys\n"
        "from tailor.train.launch import on_parent_death\n"
        "child = subprocess.Popen(['sleep', '60'], preexec_fn=on_parent_death(signal.SIGTERM))\n"
        "print(child.pid, flush=True)\n"
        "child.wait()\n"
    )], stdout=subprocess.PIPE, text=True)
    launcher = int(loop.stdout.readline())
    os.kill(loop.pid, signal.SIGKILL)
    loop.wait()
    def alive() -> bool:
        try:
            return Path(f"/proc/{launcher}/stat").read_text().split()[2] != "Z"  # a zombie has ended
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 10
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive()
