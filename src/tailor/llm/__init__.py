"""LLM backends behind one protocol, with a shared response cache.

>>> llm = make_llm(LLMConfig(backend="hf", model="smollm2-135m-instruct"))
>>> llm.generate([ChatRequest.of("Hello")], SamplingParams(max_tokens=32))[0].text
"""

from pydantic import BaseModel, ConfigDict, Field

from tailor.llm.base import LLM, Usage
from tailor.llm.cache import ResponseCache
from tailor.llm.types import ChatRequest, Completion, Message, Sample, SamplingParams, TokenLogprob
from tailor.names import BACKENDS, BackendName
from tailor.paths import default_cache_path

LOCAL_BACKENDS = ("hf", "vllm", "llamacpp")  # they load LoRA adapters from a path on this machine


class LLMConfig(BaseModel):
    """Which engine and model; ``options`` go to the backend's constructor
    (e.g. ``base_url`` and ``concurrency`` for ``openai``, ``batch_size`` for ``hf``)."""

    model_config = ConfigDict(extra="forbid")

    backend: BackendName = Field(default="hf", description="the engine: " + ", ".join(BACKENDS))
    model: str = Field(default="smollm2-135m-instruct", description="model name (`tailor models list`), local path or hub id")
    cache: bool = Field(default=True, description="answer repeated requests from the response cache")
    cache_path: str | None = Field(default=None, description="the response cache's SQLite file (default: $TAILOR_CACHE)")
    options: dict = Field(default_factory=dict, description="the backend's own settings, e.g. base_url for openai, batch_size for hf")
    deterministic: bool = Field(
        default=False,
        description="make every answer independent of the batch it is generated in: hf generates one request at a time, vllm runs batch-invariant (VLLM_BATCH_INVARIANT=1: vLLM >= 0.14.0, whose LoRA kernels have the mode, on an NVIDIA GPU); "
        "refused by a backend that cannot be sure of it (llamacpp reuses the last prompt's cache; openai cannot see how its servers run). Its answers are cached apart from batched ones",
    )


def make_llm(config: LLMConfig) -> LLM:
    cache = ResponseCache(config.cache_path or default_cache_path()) if config.cache else None
    if config.backend == "hf":
        from tailor.llm.backends.hf import HFBackend as backend
    elif config.backend == "openai":
        from tailor.llm.backends.openai_compat import OpenAIBackend as backend
    elif config.backend == "vllm":
        from tailor.llm.backends.vllm import VLLMBackend as backend
    else:
        from tailor.llm.backends.llamacpp import LlamaCppBackend as backend
    options = backend.batch_invariant(dict(config.options)) if config.deterministic else dict(config.options)
    llm = backend(model=config.model, cache=cache, **options)
    llm.deterministic = config.deterministic
    return llm


__all__ = [
    "BACKENDS", "LOCAL_BACKENDS", "LLM", "ChatRequest", "Completion", "LLMConfig", "Message", "ResponseCache", "Sample",
    "SamplingParams", "TokenLogprob", "Usage", "make_llm",
]
