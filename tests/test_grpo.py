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


@pytest.mark.model
def test_the_kl_penalty_is_anchored_to_the_given_reference_not_the_initial_adapter(tmp_path, monkeypatch):
    import torch
    import trl
    from peft import get_peft_model_state_dict, load_peft_weights

    def reward(completions, **_):
        return [float(i % 2) for i in range(len(completions))]  # unequal within each group, so every step moves the adapter

    rows = [{"prompt": [{"role": "user", "content": f"Say the word {w}."}]} for w in ("apple", "river")]
    settings = GRPOSettings(**{**TINY, "warmup_ratio": 0.0})  # a warm-up would make the one step's learning rate 0
    reference = train_grpo("smollm2-135m-instruct", rows, settings, tmp_path / "ref", reward, "alternating")
    initial = train_grpo("smollm2-135m-instruct", rows, settings, tmp_path / "init", reward, "alternating", init_adapter=reference.adapter)

    built = []

    class Recording(trl.GRPOTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(trl, "GRPOTrainer", Recording)
    train_grpo("smollm2-135m-instruct", rows, settings, tmp_path / "anchored", reward, "alternating", init_adapter=initial.adapter, reference_adapter=reference.adapter)
    (trainer,) = built
    held = get_peft_model_state_dict(trainer.model, adapter_name="ref")
    wanted, start = load_peft_weights(reference.adapter), load_peft_weights(initial.adapter)
    assert held and set(held) == set(wanted)
    assert all(torch.equal(held[k].cpu(), wanted[k].cpu()) for k in held)  # the reference is the given adapter ...
    assert any(not torch.equal(wanted[k], start[k]) for k in wanted)  # ... which is not the initial one
    kls = [entry["kl"] for entry in trainer.state.log_history if "kl" in entry]
    assert kls and kls[0] > 0  # the first step already pays for its distance from the reference


@pytest.mark.model
def test_a_reference_adapter_of_another_layout_is_refused(tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tailor.models import resolve_model
    from tailor.train.grpo import load_reference

    def lora(targets: list[str]):
        return get_peft_model(AutoModelForCausalLM.from_pretrained(resolve_model("smollm2-135m-instruct")), LoraConfig(r=2, target_modules=targets))

    policy = lora(["q_proj"])
    policy.add_adapter("ref", LoraConfig(r=2, target_modules=["q_proj"]))
    lora(["q_proj"]).save_pretrained(tmp_path / "same")
    lora(["q_proj", "v_proj"]).save_pretrained(tmp_path / "wider")
    load_reference(policy, str(tmp_path / "same"))
    with pytest.raises(TailorError, match="does not fit the policy's LoRA layout: unexpected keys"):
        load_reference(policy, str(tmp_path / "wider"))
