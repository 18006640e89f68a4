"""The llama.cpp backend on the real offline GGUF model (skipped without llama-cpp-python)."""

import importlib.util
import sys

import pytest

from tailor.errors import BackendError, ModelNotFound
from tailor.llm.cache import ResponseCache
from tailor.llm.types import ChatRequest, SamplingParams

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python not installed (optional extra: make install-llamacpp)",
)

PROMPT = ChatRequest.of("Give three tips for sleeping well.")


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAILOR_PROGRESS", "0")


@pytest.fixture(scope="module")
def llm():
    from tailor.llm.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend(n_ctx=1024)


def test_greedy_generation_returns_text_and_token_counts(llm) -> None:
    params = SamplingParams(max_tokens=16)
    [completion] = llm.generate([PROMPT], params)
    sample = completion.samples[0]
    assert sample.text.strip()
    assert 0 < sample.tokens <= 16
    assert completion.prompt_tokens > 0
    assert sample.finish_reason in ("stop", "length")
    assert sample.logprobs is None
    [again] = llm.generate([PROMPT], params)
    assert again.text == completion.text  # greedy is deterministic


def test_seeds_give_distinct_samples(llm) -> None:
    first = llm.generate([PROMPT], SamplingParams(temperature=1.0, max_tokens=24, n=2, seed=1))[0]
    second = llm.generate([PROMPT], SamplingParams(temperature=1.0, max_tokens=24, n=2, seed=2))[0]
    assert len(first.samples) == len(second.samples) == 2
    assert first.texts[0] != first.texts[1]  # sample j uses seed + j
    assert first.texts != second.texts
    assert second.texts[0] == first.texts[1]  # both used seed 2
    repeat = llm.generate([PROMPT], SamplingParams(temperature=1.0, max_tokens=24, n=2, seed=1))[0]
    assert repeat.texts == first.texts


def test_logprobs_of_chosen_and_top_tokens(llm) -> None:
    [completion] = llm.generate([PROMPT], SamplingParams(max_tokens=8, logprobs=3))
    sample = completion.samples[0]
    assert sample.logprobs is not None and len(sample.logprobs) == sample.tokens
    for entry in sample.logprobs:
        assert entry.logprob <= 0.0
        assert len(entry.top) == 3
        assert max(entry.top.values()) == pytest.approx(entry.logprob)  # greedy picks the top token
    [bare] = llm.generate([PROMPT], SamplingParams(max_tokens=8, logprobs=0))
    assert bare.samples[0].logprobs and all(e.top == {} for e in bare.samples[0].logprobs)
    assert bare.text == completion.text


def test_adapter_is_refused(llm, tmp_path) -> None:
    with pytest.raises(BackendError, match="only the base model"):
        llm.generate([PROMPT], SamplingParams(max_tokens=4), adapter=str(tmp_path))


def test_response_cache(tmp_path) -> None:
    from tailor.llm.backends.llamacpp import LlamaCppBackend

    llm = LlamaCppBackend(cache=ResponseCache(tmp_path / "c.sqlite"), n_ctx=1024)
    params = SamplingParams(max_tokens=8)
    [fresh] = llm.generate([PROMPT], params)
    assert not fresh.cached and llm.usage.requests == 1
    [cached] = llm.generate([PROMPT], params)
    assert cached.cached and cached.text == fresh.text
    assert llm.usage.requests == 1 and llm.usage.cache_hits == 1


def test_unknown_or_non_gguf_model(tmp_path) -> None:
    from tailor.llm.backends.llamacpp import LlamaCppBackend

    for model in ("no-such-model", "all-minilm-l6-v2", str(tmp_path)):
        with pytest.raises(ModelNotFound, match="GGUF"):
            LlamaCppBackend(model)


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from tailor.llm.backends.llamacpp import LlamaCppBackend

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(BackendError, match=r"tailor\[llamacpp\]"):
        LlamaCppBackend()


def test_prefill_continues_the_rendered_prompt(llm):
    out = llm.generate([ChatRequest.of("What is the capital of France?", prefill='{"city": "')], SamplingParams(max_tokens=8))[0]
    assert "Paris" in out.text and not out.text.startswith("{")


def test_context_length_and_prompt_tokens_are_llama_cpps(llm):
    assert llm.context_length() == 1024
    prefilled = ChatRequest.of("Name a bird.", prefill='{"bird": "')
    read = llm.generate([PROMPT, prefilled], SamplingParams(max_tokens=1))
    assert [llm.prompt_tokens(r) for r in (PROMPT, prefilled)] == [c.prompt_tokens for c in read]  # as create_completion counted them


def test_a_prompt_that_fills_the_context_is_prompt_too_long(llm):
    from tailor.errors import PromptTooLong

    long = ChatRequest.of("Tell me about bees. " * 300)
    with pytest.raises(PromptTooLong, match="exceed context window"):  # llama.cpp's own refusal, on a plain generate
        llm.generate([long], SamplingParams(max_tokens=4))
    refused, answered = llm.generate_each([long, PROMPT], SamplingParams(max_tokens=4))
    assert isinstance(refused, PromptTooLong) and refused.context_length == 1024 and answered.text
