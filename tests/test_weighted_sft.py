import json

import pytest

from tailor.errors import TailorError
from tailor.train.lora import SFTSettings, fingerprint_job
from tailor.train.sft import train_sft
from tailor.train.weighted import weighted_sft_trainer

MODEL = "smollm2-135m-instruct"
TINY = SFTSettings(learning_rate=1e-3, batch_size=2, per_device_batch_size=2, max_steps=1, eval_steps=1, logging_steps=1, max_length=256, gradient_checkpointing=False)


def row(question: str, answer: str, **extra) -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}], **extra}


# Completions of very different lengths, so a per-sequence mean differs from TRL's token mean.
SHORT = row("Capital of France?", "Paris.")
LONG = row("Describe a good breakfast.", "Oatmeal with berries, a boiled egg, a glass of orange juice and a cup of strong black coffee.")


@pytest.mark.parametrize("weight", [-0.5, "high", None, True, float("nan")])
def test_bad_weights_are_refused_with_the_row_index_before_loading_a_model(tmp_path, weight):
    with pytest.raises(TailorError, match=r"training row 1: 'weight'"):
        train_sft(MODEL, [SHORT, {**LONG, "weight": weight}], None, TINY, tmp_path)
    with pytest.raises(TailorError, match=r"eval row 0: 'weight'"):
        train_sft(MODEL, [SHORT], [{**LONG, "weight": weight}], TINY, tmp_path)
    assert not (tmp_path / "adapter").exists()


@pytest.mark.model
def test_the_weighted_loss_is_the_mean_of_weight_times_each_rows_own_loss(tmp_path):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from tailor.models import resolve_model

    path = resolve_model(MODEL)
    tokenizer = AutoTokenizer.from_pretrained(path)
    network = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    # fp32 throughout, as fit_lora runs on CPU (SFTConfig defaults to bf16 autocast)
    config = SFTConfig(output_dir=str(tmp_path), per_device_eval_batch_size=2, completion_only_loss=True, max_length=256, use_cpu=True, bf16=False, report_to="none")

    def pairs(*rows: dict) -> Dataset:
        return Dataset.from_list([{"prompt": r["messages"][:1], "completion": r["messages"][1:], **({"weight": r["weight"]} if "weight" in r else {})} for r in rows])

    def eval_losses(trainer_class, datasets: dict[str, Dataset]) -> dict[str, float]:
        trainer = trainer_class(model=network, args=config, train_dataset=next(iter(datasets.values())), eval_dataset=datasets, processing_class=tokenizer)
        metrics = trainer.evaluate()
        return {name: metrics[f"eval_{name}_loss"] for name in datasets}

    # Each row's own loss, computed alone by TRL's unweighted SFTTrainer (its token mean over one sequence)
    alone = eval_losses(SFTTrainer, {"short": pairs(SHORT), "long": pairs(LONG), "both": pairs(SHORT, LONG)})
    weighted = eval_losses(weighted_sft_trainer(), {
        "scaled": pairs({**SHORT, "weight": 2.0}, {**LONG, "weight": 0.5}),
        "ones": pairs({**SHORT, "weight": 1.0}, {**LONG, "weight": 1.0}),
        "zero_one": pairs({**SHORT, "weight": 0.0}, {**LONG, "weight": 1.0}),
        "short": pairs({**SHORT, "weight": 3.0}),
    })
    short, long = alone["short"], alone["long"]
    assert weighted["scaled"] == pytest.approx((2.0 * short + 0.5 * long) / 2, rel=1e-4)
    assert weighted["ones"] == pytest.approx((short + long) / 2, rel=1e-4)
    assert weighted["zero_one"] == pytest.approx(long / 2, rel=1e-4)  # row 0 contributes nothing
    assert weighted["short"] == pytest.approx(3.0 * short, rel=1e-4)
    # TRL's unweighted batch loss is a token mean, which leans towards the longer completion
    assert alone["both"] != pytest.approx(weighted["ones"], rel=1e-3)
    assert min(short, long) < alone["both"] < max(short, long)


@pytest.mark.model
def test_a_weighted_run_trains_an_adapter_under_its_own_fingerprint(tmp_path):
    rows = [{**SHORT, "weight": 2.0}, LONG]  # LONG weighs 1.0
    evaluation = [{**SHORT, "weight": 0.5}]
    result = train_sft(MODEL, rows, evaluation, TINY, tmp_path / "sft")
    assert result.steps == 1 and result.rows == 2 and not result.reused and result.best_eval_loss > 0
    assert (tmp_path / "sft" / "adapter" / "adapter_config.json").exists()
    curve = json.loads((tmp_path / "sft" / "curve.json").read_text())
    assert curve[0]["loss"] > 0 and curve[0]["eval_loss"] == pytest.approx(result.best_eval_loss)

    fingerprint = json.loads((tmp_path / "sft" / "done.json").read_text())["fingerprint"]
    assert fingerprint == fingerprint_job(MODEL, rows, evaluation, TINY, None)
    assert fingerprint != fingerprint_job(MODEL, [SHORT, LONG], [SHORT], TINY, None)
    assert fingerprint != fingerprint_job(MODEL, [{**SHORT, "weight": 1.0}, LONG], evaluation, TINY, None)
    assert train_sft(MODEL, rows, evaluation, TINY, tmp_path / "sft").reused


@pytest.mark.model
def test_the_weighted_loss_equals_a_token_weighted_cross_entropy_computed_by_hand(tmp_path):
    import math

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig

    from tailor.models import resolve_model

    path = resolve_model(MODEL)
    tokenizer = AutoTokenizer.from_pretrained(path)
    network = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    config = SFTConfig(output_dir=str(tmp_path), completion_only_loss=True, max_length=256, use_cpu=True, bf16=False, report_to="none")
    rows = [{**SHORT, "weight": 2.0}, {**LONG, "weight": 0.5}]
    dataset = Dataset.from_list([{"prompt": r["messages"][:1], "completion": r["messages"][1:], "weight": r["weight"]} for r in rows])
    trainer = weighted_sft_trainer()(model=network, args=config, train_dataset=dataset, processing_class=tokenizer)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    with torch.no_grad():
        loss = float(trainer.compute_loss(network, dict(batch)))
        logits = network(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    by_hand = []
    for i, weight in enumerate([2.0, 0.5]):
        log_probs = torch.log_softmax(logits[i], dim=-1)
        positions = [t for t in range(batch["labels"].shape[1] - 1) if batch["labels"][i, t + 1] != -100]
        assert positions  # the completion's tokens, never the prompt's
        nll = [-float(log_probs[t, batch["labels"][i, t + 1]]) for t in positions]
        by_hand.append(weight * sum(nll) / len(nll))
    assert loss == pytest.approx(sum(by_hand) / 2, rel=1e-4) and math.isfinite(loss)  # float32 sums in another order


def tiny_trainer(tmp_path, vocabulary: int, rows: list[dict], **config):
    """tailor's weighted trainer on a random two-layer Llama with ``vocabulary`` entries (at
    least the 49,152 of SmolLM2's tokenizer, which it uses) and LoRA on every linear layer
    (PEFT's all-linear)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from trl import SFTConfig

    from tailor.models import resolve_model

    torch.manual_seed(0)
    network = LlamaForCausalLM(LlamaConfig(vocab_size=vocabulary, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1))
    # B initialised at random, not 0, so that every LoRA weight has a gradient to compare
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM")
    args = SFTConfig(output_dir=str(tmp_path), completion_only_loss=True, use_cpu=True, bf16=False, report_to="none", **config)
    dataset = Dataset.from_list([{"prompt": r["messages"][:1], "completion": r["messages"][1:], "weight": r["weight"]} for r in rows])
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(MODEL))
    return weighted_sft_trainer()(model=network, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=lora)


def full_logits_loss(model, batch: dict):
    """The weighted loss from the model's full logits, as tailor computed it before issue 27
    (the reference): mean over rows of weight x the row's mean next-token NLL."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1].float()
    targets = batch["labels"][:, 1:]
    counted = targets != -100
    picked = logits.log_softmax(dim=-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1) * counted
    return (batch["weight"] * -picked.sum(dim=1) / counted.sum(dim=1)).mean()


@pytest.mark.model
def test_the_weighted_loss_never_allocates_a_tensor_the_size_of_the_full_logits(tmp_path):
    import torch
    from torch.profiler import ProfilerActivity, profile

    vocabulary, rows, tokens = 256_000, 2, 128  # Gemma's vocabulary
    trainer = tiny_trainer(tmp_path, vocabulary, [{**SHORT, "weight": 1.0}])
    input_ids = torch.randint(0, vocabulary, (rows, tokens))
    labels = input_ids.masked_fill(torch.arange(tokens) < 32, -100)
    batch = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": labels, "weight": torch.tensor([1.0, 0.5])}
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        trainer.compute_loss(trainer.model, batch).backward()
    largest = max(event.self_cpu_memory_usage for event in profiler.events())  # bytes one operation allocated
    full_fp32_logits = rows * (tokens - 1) * vocabulary * 4
    # TRL's fused head projects tiles of 32,768 vocabulary entries: about 1/8 of the vocabulary here
    assert 0 < largest < full_fp32_logits / 4


@pytest.mark.model
def test_the_weighted_loss_and_its_lora_gradients_equal_the_full_logits_formula_also_under_accumulation(tmp_path):
    import torch
    from transformers import TrainerCallback

    rows = [{**SHORT, "weight": 2.0}, {**LONG, "weight": 0.5}, {**row("Name a colour.", "Blue."), "weight": 1.0}, {**row("Count to three.", "One, two, three."), "weight": 0.0}]
    # one optimizer step of 2 micro-batches of 2 rows; no clipping, so the gradients are the loss's own
    trainer = tiny_trainer(tmp_path, 49_152, rows, per_device_train_batch_size=2, gradient_accumulation_steps=2, max_steps=1, max_grad_norm=0.0, learning_rate=1e-3)
    model = trainer.model
    lora = {name: p for name, p in model.named_parameters() if p.requires_grad}
    assert lora and all("lora_" in name for name in lora) and not any("lm_head" in name for name in lora)  # all-linear leaves the head out
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(rows))])

    def gradients(loss) -> dict:
        model.zero_grad()
        loss.backward()
        return {name: p.grad.clone() for name, p in lora.items()}

    reference_loss = full_logits_loss(model, batch)
    reference = gradients(reference_loss)
    loss = trainer.compute_loss(model, dict(batch))
    assert float(loss) == pytest.approx(float(reference_loss), rel=1e-5)
    for name, grad in gradients(loss).items():
        torch.testing.assert_close(grad, reference[name], rtol=1e-4, atol=1e-7, msg=name)

    # The Trainer averages the 2 micro-batches' means: with equal micro-batches, the mean over all 4 rows
    model.zero_grad()
    accumulated = {}

    class Capture(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            accumulated.update({name: p.grad.clone() for name, p in lora.items()})

    trainer.add_callback(Capture())
    trainer.train()
    assert accumulated.keys() == reference.keys()
    for name, grad in accumulated.items():
        torch.testing.assert_close(grad, reference[name], rtol=1e-4, atol=1e-7, msg=name)

