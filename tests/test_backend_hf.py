"""The hf backend through the real offline model (SmolLM2-135M-Instruct)."""

import math

import pytest

from tailor.llm.cache import ResponseCache
from tailor.llm.types import ChatRequest, SamplingParams

pytestmark = pytest.mark.model

QUESTION = ChatRequest.of("What is the capital of France? Answer in one sentence.")


def test_greedy_generation_is_deterministic_and_batch_independent(hf_llm):
    other = ChatRequest.of("Name three colors of the rainbow.")
    params = SamplingParams(max_tokens=24)
    alone = hf_llm.generate([QUESTION], params)[0]
    batched = hf_llm.generate([other, QUESTION], params)
    assert "Paris" in alone.text
    assert batched[1].text == alone.text
    assert alone.prompt_tokens > 5 and 0 < alone.samples[0].tokens <= 24


def test_length_limit_is_reported(hf_llm):
    out = hf_llm.generate([ChatRequest.of("Write a long story about a dragon.")], SamplingParams(max_tokens=5))[0]
    assert out.samples[0].finish_reason == "length" and out.samples[0].tokens == 5


def test_n_samples_with_seeds_are_distinct_and_repeatable(hf_llm):
    params = SamplingParams(temperature=1.0, max_tokens=12, n=3, seed=7)
    first = hf_llm.generate([QUESTION], params)[0]
    again = hf_llm.generate([QUESTION], params)[0]
    other_seed = hf_llm.generate([QUESTION], params.model_copy(update={"seed": 8}))[0]
    assert len(first.samples) == 3 and len(set(first.texts)) > 1
    assert first.texts == again.texts
    assert first.texts != other_seed.texts


def test_logprobs_of_chosen_tokens(hf_llm):
    out = hf_llm.generate([QUESTION], SamplingParams(max_tokens=6, logprobs=3))[0].samples[0]
    assert out.logprobs is not None and len(out.logprobs) == out.tokens - (out.finish_reason == "stop")
    for position in out.logprobs:
        assert position.logprob <= 0 and len(position.top) == 3
        # greedy: the chosen token is the most likely one
        assert math.isclose(position.logprob, max(position.top.values()), abs_tol=1e-4)
    assert "".join(p.token for p in out.logprobs).strip() == out.text


def test_stop_strings_cut_the_text(hf_llm):
    out = hf_llm.generate([ChatRequest.of("Count from 1 to 10 separated by commas.")], SamplingParams(max_tokens=40, stop=("5",)))[0]
    assert "5" not in out.text and "4" in out.text


def test_lora_adapter_changes_output_and_base_is_restored(hf_llm, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tailor.models import resolve_model

    base = AutoModelForCausalLM.from_pretrained(resolve_model("smollm2-135m-instruct"), dtype=torch.float32)
    torch.manual_seed(0)
    peft_model = get_peft_model(base, LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)

    params = SamplingParams(max_tokens=16)
    plain = hf_llm.generate([QUESTION], params)[0].text
    adapted = hf_llm.generate([QUESTION], params, adapter=str(adapter))[0].text
    restored = hf_llm.generate([QUESTION], params)[0].text
    assert adapted != plain
    assert restored == plain


def test_cache_through_the_real_backend(hf_llm, tmp_path):
    hf_llm.cache = ResponseCache(tmp_path / "c.sqlite")
    try:
        before = hf_llm.usage.requests
        first = hf_llm.generate([QUESTION], SamplingParams(max_tokens=8))[0]
        second = hf_llm.generate([QUESTION], SamplingParams(max_tokens=8))[0]
        assert hf_llm.usage.requests == before + 1
        assert second.cached and second.text == first.text
        assert hf_llm.cache.stats().models == {"hf:smollm2-135m-instruct": 1}
    finally:
        hf_llm.cache = None


def test_prefill_is_continued_not_repeated(hf_llm):
    request = ChatRequest.of("What is the capital of France?", prefill="The capital of France is")
    out = hf_llm.generate([request], SamplingParams(max_tokens=6))[0]
    assert "Paris" in out.text and not out.text.startswith("The capital")
