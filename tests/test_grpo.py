"""GRPO on a LoRA adapter (RPO's RL stage): settings, fingerprints, and one real step."""

import json

import pytest

from tailor.errors import TailorError
from tailor.train.grpo import GRPOSettings, train_grpo

TINY = dict(batch_size=2, per_device_batch_size=2, max_steps=1, eval_steps=1, logging_steps=1, learning_rate=1e-3,
            max_length=256, gradient_checkpointing=False, num_generations=2, max_completion_length=8)


def test_batches_hold_whole_groups_and_rows_need_prompts(tmp_path):
    with pytest.raises(ValueError, match="whole groups"):
        GRPOSettings(batch_size=6, per_device_batch_size=2, num_generations=4)
    with pytest.raises(TailorError, match="'prompt'"):
        train_grpo("m", [{"reference": "x"}], GRPOSettings(**TINY), tmp_path, lambda completions, **_: [0.0], "r")
    with pytest.raises(TailorError, match="give init_adapter too"):
        train_grpo("m", [{"prompt": [{"role": "user", "content": "hi"}]}], GRPOSettings(**TINY), tmp_path, lambda c, **_: [0.0], "r", reference_adapter="a")


@pytest.mark.model
def test_one_real_grpo_step_rewards_completions_with_their_row_columns(tmp_path):
    seen = []

    def reward(completions, target, **_):
        seen.append((list(completions), list(target)))
        return [float(t.lower() in c.lower()) for c, t in zip(completions, target)]

    rows = [{"prompt": [{"role": "user", "content": f"Say the word {w}."}], "target": w} for w in ("apple", "river")]
    settings = GRPOSettings(**TINY)
    first = train_grpo("smollm2-135m-instruct", rows, settings, tmp_path / "a", reward, "contains-target")
    assert (tmp_path / "a" / "adapter" / "adapter_config.json").exists() and first.steps == 1 and not first.reused
    assert seen and all(len(c) == len(t) == 2 and set(t) <= {"apple", "river"} for c, t in seen)
    done = json.loads((tmp_path / "a" / "done.json").read_text())
    assert train_grpo("smollm2-135m-instruct", rows, settings, tmp_path / "a", reward, "contains-target").reused
    again = train_grpo("smollm2-135m-instruct", rows, settings, tmp_path / "b", reward, "contains-target", init_adapter=first.adapter, reference_adapter=first.adapter)
    assert json.loads((tmp_path / "b" / "done.json").read_text())["fingerprint"] != done["fingerprint"] and again.steps == 1
