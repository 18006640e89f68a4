"""The openai backend against a real OpenAI-compatible server on loopback that serves the
offline model through the hf backend (``tailor serve-llm``)."""

import openai
import pytest
from conftest import ServerThread

from tailor.errors import BackendError
from tailor.llm.backends.openai_compat import OpenAIBackend
from tailor.llm.cache import ResponseCache
from tailor.llm.server import create_app
from tailor.llm.types import ChatRequest, SamplingParams

pytestmark = pytest.mark.model

QUESTION = ChatRequest.of("What is the capital of France? Answer in one sentence.")


@pytest.fixture(scope="module")
def server(hf_llm, tmp_path_factory):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tailor.models import resolve_model

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(resolve_model("smollm2-135m-instruct"), dtype=torch.float32)
    adapter = tmp_path_factory.mktemp("adapter") / "lora"
    get_peft_model(base, LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)).save_pretrained(adapter)
    with ServerThread(create_app(hf_llm, "smol", adapters={"smol-tuned": str(adapter)})) as running:
        yield running


def test_openai_backend_matches_the_model_served(server, hf_llm):
    llm = OpenAIBackend("smol", base_url=server.url + "/v1", concurrency=4)
    params = SamplingParams(max_tokens=20)
    remote = llm.generate([QUESTION, ChatRequest.of("Name a fruit.")], params)
    local = hf_llm.generate([QUESTION], params)[0]
    assert remote[0].text == local.text and "Paris" in remote[0].text
    assert remote[0].prompt_tokens == local.prompt_tokens and remote[0].completion_tokens > 0
    assert remote[1].text


def test_n_seed_and_logprobs_over_http(server):
    llm = OpenAIBackend("smol", base_url=server.url + "/v1")
    sampled = llm.generate([QUESTION], SamplingParams(temperature=1.0, n=2, seed=3, max_tokens=10))[0]
    assert len(sampled.samples) == 2
    with_logprobs = llm.generate([QUESTION], SamplingParams(max_tokens=5, logprobs=2))[0].samples[0]
    assert with_logprobs.logprobs and all(p.logprob <= 0 and len(p.top) == 2 for p in with_logprobs.logprobs)


def test_served_adapter_is_selected_by_model_name(server):
    llm = OpenAIBackend("smol", base_url=server.url + "/v1")
    params = SamplingParams(max_tokens=12)
    assert llm.generate([QUESTION], params, adapter="smol-tuned")[0].text != llm.generate([QUESTION], params)[0].text


def test_unknown_model_is_a_clear_error(server):
    with pytest.raises(BackendError, match="nope"):
        OpenAIBackend("nope", base_url=server.url + "/v1", max_retries=0).generate([QUESTION])


def test_official_client_and_cache(server, tmp_path):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x")
    assert [m.id for m in client.models.list().data] == ["smol", "smol-tuned"]
    llm = OpenAIBackend("smol", base_url=server.url + "/v1", cache=ResponseCache(tmp_path / "c.sqlite"))
    llm.generate([QUESTION], SamplingParams(max_tokens=6))
    llm.generate([QUESTION], SamplingParams(max_tokens=6))
    assert (llm.usage.requests, llm.usage.cache_hits) == (1, 1)


def test_unreachable_server_fails_after_bounded_retries():
    llm = OpenAIBackend("smol", base_url="http://127.0.0.1:9/v1", max_retries=1, timeout=2, backoff=0.01)
    with pytest.raises(BackendError, match=r"no server answered .* in 2 rounds .*127.0.0.1:9.*APIConnectionError"):
        llm.generate([QUESTION])


def test_prefill_travels_as_a_continued_assistant_message(server, hf_llm):
    request = ChatRequest.of("What is the capital of France?", prefill='{"city": "')
    params = SamplingParams(max_tokens=8)
    remote = OpenAIBackend("smol", base_url=server.url + "/v1").generate([request], params)[0]
    assert remote.text == hf_llm.generate([request], params)[0].text
    assert "Paris" in remote.text
