"""One ReST-EM round through the real model and tailor's own SFT path: the selection keeps
exactly the samples rewarded at or above tau (at most max_per_input per input), and the
fine-tuned policy is more likely than the base model to write the very targets it kept.
A loop whose selection or training step is broken fails here, in seconds, before any
learning recipe runs (`make learn-check`)."""

import json
import math

import pytest
from fakes import ScriptedLLM, loop_inputs

from tailor.metrics.base import Metric, MetricRun, Score
from tailor.train.rest_em import RestEMConfig, train_rest_em
from tailor.train.rows import read_jsonl
from tailor.train.sft import SFTSettings

MODEL = "smollm2-135m-instruct"
TAU, MAX_PER_INPUT = 0.5, 2
# The metric's reward of sample j (seed j) of each training input, by input.
REWARDS = [
    [0.9, 0.5, 0.2, 0.7],  # three at or above tau: the best two are kept
    [0.4, 0.49, 0.1, 0.0],  # none reaches tau: the input has no target
    [0.5, 0.8, 0.5, 0.5],  # 0.8, then the earliest of the tied 0.5s
]
KEPT = [(0, 0), (0, 3), (2, 1), (2, 0)]  # (input, j), in the order the selection writes them
TINY = SFTSettings(learning_rate=1e-3, batch_size=2, per_device_batch_size=2, max_steps=3, eval_steps=3, logging_steps=1, max_length=256, gradient_checkpointing=False)


def sampled_reply(request, params, j):
    """Continues the answer prefill: a sentence naming the sample's seed and the question's first words."""
    question = request.messages[-1].content.split("My question: ")[1]
    return f'Sample {params.seed} at t={params.temperature}: start with {" ".join(question.split()[:4]).lower()} gently."}}'


class RewardTable(Metric):
    """Sampled answers (temperature 1.0) get ``REWARDS`` by input and seed; validation answers 0."""

    name = "table"

    def __init__(self, inputs: list[str]):
        self.inputs = inputs

    def score_batch(self, examples, responses):
        def reward(example, response: str) -> float:
            if "at t=1.0" not in response:
                return 0.0
            return REWARDS[self.inputs.index(example.id)][int(response.split()[1])]

        return MetricRun(self.name, [e.id for e in examples], [Score(reward(e, r)) for e, r in zip(examples, responses)])


def completion_log_likelihood(network, tokenizer, row: dict) -> float:
    """The summed log-probability of the row's assistant message (its chat-template tokens
    after the prompt's generation prompt) given the prompt, as SFT's completion-only loss sees it."""
    import torch

    prompt, completion = row["messages"][:-1], row["messages"][-1:]
    prompt_text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template(prompt + completion, tokenize=False)
    assert full_text.startswith(prompt_text)
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([tokenizer(full_text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        log_probs = torch.log_softmax(network(input_ids=ids).logits[0, :-1].float(), dim=-1)
    targets = ids[0, 1:]
    return float(log_probs[torch.arange(len(prompt_ids) - 1, len(targets)), targets[len(prompt_ids) - 1:]].sum())


@pytest.mark.model
def test_one_round_keeps_the_samples_at_or_above_tau_and_makes_them_likelier(tmp_path, train, valid):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tailor.models import resolve_model

    inputs = train[: len(REWARDS)]
    config = RestEMConfig(
        iterations=1, samples=len(REWARDS[0]), threshold=TAU, max_per_input=MAX_PER_INPUT, k=0, max_attempts=1, holdout=0.0, sft=TINY, run_dir=tmp_path / "run",
    )
    policy = ScriptedLLM(sampled_reply, model=MODEL)
    result = train_rest_em(*loop_inputs(config, inputs, valid[:1], RewardTable([e.id for e in inputs]), policy=policy))

    out = tmp_path / "run" / "iter_1"
    kept = read_jsonl(out / "kept.jsonl")
    assert [(next(i for i, e in enumerate(inputs) if e.id == row["id"]), row["j"]) for row in kept] == KEPT
    assert [row["score"] for row in kept] == [REWARDS[i][j] for i, j in KEPT]
    rows = read_jsonl(out / "policy_sft.jsonl")
    assert [json.loads(row["messages"][-1]["content"])["personalized_answer"] for row in rows] == [row["reply"] for row in kept]
    assert result.policy_adapters[1] == str(out / "policy_model" / "adapter")

    path = resolve_model(MODEL)
    tokenizer = AutoTokenizer.from_pretrained(path)
    network = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    before = [completion_log_likelihood(network, tokenizer, row) for row in rows]
    trained = PeftModel.from_pretrained(network, result.policy_adapters[1]).eval()
    after = [completion_log_likelihood(trained, tokenizer, row) for row in rows]
    assert all(math.isfinite(b) and a > b for a, b in zip(after, before)), (before, after)
