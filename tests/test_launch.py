"""Training stages on several processes (``tailor.train.launch``): the settings, the
accelerate config files, and one LoRA stage trained on 1 process (gradient accumulation 2)
against 2 processes (accumulation 1) on CPU with the gloo backend."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from tailor.errors import TailorError
from tailor.train.grpo import GRPOSettings
from tailor.train.launch import LAUNCHED, launch_command, needs_launch
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
    monkeypatch.setenv(LAUNCHED, "1")
    assert not needs_launch(settings)  # a rank trains, it does not launch again
    command = launch_command(settings, tmp_path / "job.json")
    assert command[1:3] == ["-m", "accelerate.commands.launch"] and "--multi_gpu" in command
    assert command[-3:] == ["-m", "tailor.train.launch", str(tmp_path / "job.json")]
    zero = launch_command(settings.model_copy(update={"accelerate_config": "configs/accelerate/zero2.yaml"}), tmp_path / "job.json")
    assert zero[zero.index("--config_file") + 1] == "configs/accelerate/zero2.yaml" and "--multi_gpu" not in zero


def test_a_stage_that_fails_on_its_processes_says_where_its_log_is(tmp_path):
    settings = SFTSettings(batch_size=2, per_device_batch_size=1, num_processes=2, max_steps=1)
    with pytest.raises(TailorError, match=r"(?s)the sft stage in .* failed on 2 processes .*launch.log") as caught:
        train_sft("no-such-model", rows(2), None, settings, tmp_path / "stage")
    assert "ModelNotFound: model 'no-such-model'" in str(caught.value)  # the ranks' own error
    assert not (tmp_path / "stage" / "done.json").exists()


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_the_shipped_accelerate_configs_parse(config):
    """accelerate reads each file (unknown keys are an error); ZeRO and FSDP are not run here."""
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


@pytest.mark.model
def test_one_stage_on_two_processes_matches_one_process_with_accumulation(tmp_path):
    from safetensors.torch import load_file

    settings = SFTSettings(
        lora_dropout=0.0, learning_rate=1e-3, batch_size=2, per_device_batch_size=1, max_steps=3, logging_steps=1,
        max_length=256, keep_best=False, gradient_checkpointing=False, seed=3,
    )
    one = train_sft("smollm2-135m-instruct", rows(6), None, settings, tmp_path / "one")
    two = train_sft("smollm2-135m-instruct", rows(6), None, settings.model_copy(update={"num_processes": 2}), tmp_path / "two")
    assert (one.steps, one.rows) == (two.steps, two.rows) == (3, 6)
    losses = [[p["loss"] for p in json.loads((tmp_path / run / "curve.json").read_text())] for run in ("one", "two")]
    assert len(losses[0]) == len(losses[1]) == 3
    assert all(abs(a - b) <= 1e-3 * abs(a) for a, b in zip(*losses)), losses
    weights = [load_file(tmp_path / run / "adapter" / "adapter_model.safetensors") for run in ("one", "two")]
    assert weights[0].keys() == weights[1].keys()
    assert max((weights[0][k] - weights[1][k]).abs().max().item() for k in weights[0]) <= 1e-4
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["adapter", "curve.json", "done.json", "job.json", "launch.log"]
