"""The vllm backend's translation to and from vLLM's API, against a stand-in ``vllm``
module (vLLM itself needs a GPU machine); the stand-in records what it was asked."""

import sys
import types
from dataclasses import dataclass, field

import pytest

from tailor.errors import BackendError
from tailor.llm.types import ChatRequest, SamplingParams


@dataclass
class FakeLogprob:
    logprob: float
    rank: int
    decoded_token: str


@dataclass
class FakeSampleOut:
    text: str
    token_ids: list[int]
    logprobs: list | None
    finish_reason: str = "stop"


@dataclass
class FakeRequestOut:
    prompt_token_ids: list[int]
    outputs: list[FakeSampleOut]


# vLLM refuses a prompt longer than max_model_len with these words: vllm 0.8.5 raises a
# ValueError from Processor._validate_model_input (vllm/v1/engine/processor.py); 0.14.0 and
# 0.34.0 raise VLLMValidationError from vllm/v1/engine/input_processor.py, a ValueError in
# 0.14.0 and a VLLMClientError (no longer a ValueError) in 0.34.0 (vllm/exceptions.py).
VLLM_TOO_LONG = (
    "The decoder prompt (length {length}) is longer than the maximum model length of {limit}. "
    "Make sure that `max_model_len` is no smaller than the number of text tokens."
)


class VLLMValidationError(Exception):
    """vllm 0.34.0's class of the refusal, by its place in the hierarchy: not a ValueError."""


@dataclass
class FakeEngine:
    init: dict
    calls: list = field(default_factory=list)
    tokenizer: object = None  # what get_tokenizer() hands out: a real transformers tokenizer, as vLLM's is
    refuse: str | None = None  # a conversation holding this text is refused as too long
    refusal: type = ValueError

    @property
    def llm_engine(self):
        """vLLM's engine, as far as the backend reads it: ``llm_engine.model_config.max_model_len``."""
        return types.SimpleNamespace(model_config=types.SimpleNamespace(max_model_len=self.init.get("max_model_len", 8192)))

    def get_tokenizer(self):
        return self.tokenizer

    def sleep(self, level: int = 1):
        self.calls.append(("sleep", level))

    def wake_up(self):
        self.calls.append(("wake_up",))

    def chat(self, conversations, sampling, lora_request=None, use_tqdm=False, add_generation_prompt=True, continue_final_message=False):
        assert add_generation_prompt != continue_final_message
        self.calls.append((conversations, sampling, lora_request))
        if self.refuse and any(self.refuse in m["content"] for conversation in conversations for m in conversation):
            raise self.refusal(VLLM_TOO_LONG.format(length=9000, limit=self.llm_engine.model_config.max_model_len))
        out = []
        for conversation in conversations:
            samples = []
            for j in range(sampling.kwargs["n"]):
                logprobs = [{5: FakeLogprob(-0.1, 1, " hi"), 6: FakeLogprob(-2.5, 2, " yo")}] if sampling.kwargs["logprobs"] is not None else None
                samples.append(FakeSampleOut(f" reply {j} to {conversation[-1]['content']} ", [5], logprobs))
            out.append(FakeRequestOut([1, 2, 3], samples))
        return out


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = lambda **kwargs: FakeEngine(kwargs)
    module.SamplingParams = lambda **kwargs: types.SimpleNamespace(kwargs=kwargs)
    lora = types.ModuleType("vllm.lora")
    lora_request = types.ModuleType("vllm.lora.request")
    lora_request.LoRARequest = lambda name, lora_id, path: (name, lora_id, path)
    for name, mod in {"vllm": module, "vllm.lora": lora, "vllm.lora.request": lora_request}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return module


def test_maps_params_outputs_and_logprobs(fake_vllm, tmp_path):
    from tailor.llm.backends.vllm import VLLMBackend

    llm = VLLMBackend(str(tmp_path), gpu_memory_utilization=0.5)
    assert llm.engine.init["enable_lora"] is True and llm.engine.init["gpu_memory_utilization"] == 0.5
    params = SamplingParams(temperature=0.7, top_p=0.9, max_tokens=9, n=2, seed=4, stop=("END",), logprobs=2)
    out = llm.generate([ChatRequest.of("q1", system="s")], params)[0]
    conversations, sampling, lora = llm.engine.calls[0]
    assert conversations == [[{"role": "system", "content": "s"}, {"role": "user", "content": "q1"}]]
    assert sampling.kwargs == dict(n=2, temperature=0.7, top_p=0.9, max_tokens=9, seed=4, stop=["END"], logprobs=2)
    assert lora is None
    assert out.texts == ["reply 0 to q1", "reply 1 to q1"] and out.prompt_tokens == 3
    first = out.samples[0].logprobs[0]
    assert (first.token, first.logprob, first.top) == (" hi", -0.1, {" hi": -0.1, " yo": -2.5})


def test_prefilled_requests_continue_the_reply_in_their_own_call(fake_vllm, tmp_path):
    from tailor.llm.backends.vllm import VLLMBackend

    llm = VLLMBackend(str(tmp_path))
    out = llm.generate([ChatRequest.of("plain"), ChatRequest.of("judge", prefill='{"score": '), ChatRequest.of("plain 2")], SamplingParams())
    assert [len(call[0]) for call in llm.engine.calls] == [2, 1]
    assert llm.engine.calls[1][0] == [[{"role": "user", "content": "judge"}, {"role": "assistant", "content": '{"score": '}]]
    assert [c.text for c in out] == ["reply 0 to plain", 'reply 0 to {"score":', "reply 0 to plain 2"]


def test_adapters_get_stable_lora_ids(fake_vllm, tmp_path):
    from tailor.llm.backends.vllm import VLLMBackend

    one, two = tmp_path / "a", tmp_path / "b"
    for path, weight in ((one, b"1"), (two, b"2")):
        path.mkdir()
        (path / "adapter_model.safetensors").write_bytes(weight)
    llm = VLLMBackend(str(tmp_path))
    for adapter in (one, two, one):
        llm.generate([ChatRequest.of(f"q {adapter.name}")], SamplingParams(), adapter=str(adapter))
    ids = [call[2][1] for call in llm.engine.calls]
    assert ids == [1, 2, 1]  # the same adapter content keeps its id
    assert [call[2][2] for call in llm.engine.calls] == [str(one), str(two), str(one)]


def test_missing_vllm_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "vllm", None)
    from tailor.llm.backends.vllm import VLLMBackend

    with pytest.raises(BackendError, match="pip install"):
        VLLMBackend(str(tmp_path))


@pytest.mark.parametrize("sleeps", [True, False])
def test_the_engine_sleeps_through_each_training_stage_when_asked(fake_vllm, tmp_path, sleeps):
    """One GPU for generation and training: with sleep mode, a loop's training stage runs
    while the engine sleeps (level 1) and the engine wakes up after it, even when it fails."""
    from tailor.llm.backends.vllm import VLLMBackend
    from tailor.train.sft import SFTResult
    from tailor.train.loop import LoopInputs
    from tailor.train.stages import LoopConfig, Run

    llm = VLLMBackend(str(tmp_path), gpu_memory_utilization=0.3, enable_sleep_mode=sleeps)
    assert llm.engine.init["enable_sleep_mode"] is sleeps and llm.engine.init["gpu_memory_utilization"] == 0.3
    run = Run(LoopConfig(run_dir=tmp_path / "run"), LoopInputs([], [], llm, types.SimpleNamespace(), None, None), None)
    seen = []

    def job():
        seen.append(list(llm.engine.calls))
        return SFTResult(str(tmp_path / "adapter"), None, 1, 0.0, 1)

    run.timed("iter_1/train_policy", job)
    assert seen == [[("sleep", 1)] if sleeps else []]
    assert llm.engine.calls == ([("sleep", 1), ("wake_up",)] if sleeps else [])

    def failing():
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        run.timed("iter_2/train_policy", failing)
    assert llm.engine.calls[-1:] == ([("wake_up",)] if sleeps else [])
    run.timed("iter_3/train_policy", job, release=False)  # a GRPO stage: its reward generates
    assert seen[-1] == llm.engine.calls


@pytest.mark.parametrize(("installed", "refusal"), [("0.11.1", ValueError), ("0.34.0", VLLMValidationError)], ids=["vllm-0.11.1", "vllm-0.34.0"])
def test_the_engines_context_and_tokenizer_count_prompts_and_its_refusal_skips_one_request(fake_vllm, tmp_path, hf_llm, installed, refusal, monkeypatch):
    from tailor.errors import PromptTooLong
    from tailor.llm.backends import vllm
    from tailor.llm.backends.vllm import VLLMBackend

    monkeypatch.setattr(vllm, "installed_version", lambda: installed)

    llm = VLLMBackend(str(tmp_path), max_model_len=2048)
    llm.engine.tokenizer = hf_llm.tokenizer  # SmolLM2's own tokenizer and chat template
    assert llm.context_length() == 2048
    plain, prefilled = ChatRequest.of("Name a bird.", system="Be brief."), ChatRequest.of("Name a bird.", prefill='{"bird": "')
    # LLM.chat (0.8.5, vllm/entrypoints/llm.py) encodes the template's text without special tokens; a prefilled conversation
    # renders with continue_final_message: the same prompt as the hf backend's template then the prefill
    assert [llm.prompt_tokens(r) for r in (plain, prefilled)] == [hf_llm.prompt_tokens(r) for r in (plain, prefilled)]
    llm.engine.refuse, llm.engine.refusal = "REFUSE", refusal
    out = llm.generate_each([plain, ChatRequest.of("REFUSE this"), ChatRequest.of("another")], SamplingParams(max_tokens=8))
    assert [type(o).__name__ for o in out] == ["Completion", "PromptTooLong", "Completion"]
    assert isinstance(out[1], PromptTooLong) and "longer than the maximum model length of 2048" in str(out[1]) and out[1].context_length == 2048
    assert out[2].text == "reply 0 to another" and llm.usage.too_long == 1


def test_an_older_vllm_that_keeps_a_refused_batch_queued_stops_rather_than_mix_answers_up(fake_vllm, tmp_path, hf_llm, monkeypatch):
    """vllm 0.8.5 to 0.11.0 (vllm/entrypoints/llm.py) leave the requests added before a refused
    one queued: their outputs would come back with the next call, paired with other requests."""
    from tailor.llm.backends import vllm
    from tailor.llm.backends.vllm import VLLMBackend

    monkeypatch.setattr(vllm, "installed_version", lambda: "0.8.5")
    llm = VLLMBackend(str(tmp_path), max_model_len=2048)
    llm.engine.tokenizer = hf_llm.tokenizer  # the count finds nothing too long: the engine refuses by itself
    llm.engine.refuse, llm.engine.refusal = "REFUSE", ValueError
    with pytest.raises(BackendError, match=r"vLLM 0.8.5 refused a prompt longer than its context .* use vLLM >= 0.11.1"):
        llm.generate_each([ChatRequest.of("REFUSE this"), ChatRequest.of("another")], SamplingParams(max_tokens=8))
