"""llama.cpp backend (optional extra ``tailor[llamacpp]``): runs a GGUF checkpoint directly
on the CPU through ``llama-cpp-python``, without converting it to safetensors first.

Requests are served one at a time and each of the ``n`` samples is its own call (sample
``j`` uses seed ``seed + j``). Prompts are rendered with the GGUF's own chat template and
sent as plain completions, so a request's prefill simply continues the rendered prompt. Only the base model is served: PEFT LoRA adapters are not
GGUF LoRA files, so use the hf or vllm backend for adapters.

The context length is ``n_ctx``; prompts are counted with the GGUF's tokenizer as
``create_completion`` counts them (its special tokens parsed, the BOS token the model adds).
"""

from pathlib import Path
from typing import Any

from tailor.errors import BackendError, ModelNotFound, PromptTooLong
from tailor.llm.base import LLM
from tailor.llm.cache import ResponseCache
from tailor.llm.types import ChatRequest, Completion, Sample, SamplingParams, TokenLogprob
from tailor.models.registry import OFFLINE_MODELS, package_file


def gguf_path(model: str) -> Path:
    """The GGUF file for an offline model name with a packaged GGUF, or a ``.gguf`` path."""
    spec = OFFLINE_MODELS.get(model)
    if spec is not None and spec.gguf:
        return package_file(spec)
    path = Path(model).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return path
    gguf_names = [name for name, s in OFFLINE_MODELS.items() if s.gguf]
    raise ModelNotFound(
        f"the llamacpp backend needs a GGUF model: {model!r} is neither an offline model "
        f"shipped as GGUF ({', '.join(gguf_names)}) nor an existing .gguf file"
    )


class LlamaCppBackend(LLM):
    kind = "llamacpp"

    def __init__(
        self,
        model: str = "smollm2-135m-instruct",
        cache: ResponseCache | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        batch_size: int = 8,
    ):
        super().__init__(model, cache)
        self.batch_size = batch_size
        self.path = gguf_path(model)
        self.n_ctx, self.n_threads = n_ctx, n_threads
        try:
            import llama_cpp
        except ImportError as err:
            raise BackendError(
                "the llamacpp backend needs llama-cpp-python: pip install 'tailor[llamacpp]' (or make install-llamacpp)"
            ) from err
        self._llama_class = llama_cpp.Llama
        self._formatter_class = llama_cpp.llama_chat_format.Jinja2ChatFormatter
        self._load(logits_all=False)

    def _load(self, logits_all: bool) -> None:
        self.logits_all = logits_all
        self.llama = self._llama_class(
            model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads, logits_all=logits_all, verbose=False
        )
        token_text = lambda token: self.llama.detokenize([token]).decode(errors="ignore")  # noqa: E731
        self.formatter = self._formatter_class(
            template=self.llama.metadata["tokenizer.chat_template"],
            eos_token=token_text(self.llama.token_eos()),
            bos_token=token_text(self.llama.token_bos()),
        )

    def count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode(), add_bos=False, special=False))

    def context_length(self) -> int:
        return self.llama.n_ctx()

    def prompt_tokens(self, request: ChatRequest) -> int:
        return len(self.llama.tokenize(self._prompt(request).encode(), add_bos=True, special=True))

    def _prompt(self, request: ChatRequest) -> str:
        """The GGUF chat template's rendering, then the prefill."""
        return self.formatter(messages=[m.model_dump() for m in request.messages]).prompt + (request.prefill or "")

    def _engine(self, logprobs: bool) -> Any:
        """The loaded model; reloaded once with ``logits_all`` (an n_ctx x vocab float buffer,
        which llama.cpp needs for logprobs) the first time logprobs are asked for."""
        if logprobs and not self.logits_all:
            self._load(logits_all=True)
        return self.llama

    def _generate(self, requests: list[ChatRequest], params: SamplingParams, adapter: str | None) -> list[Completion]:
        if adapter is not None:
            raise BackendError(
                f"the llamacpp backend serves only the base model, not the LoRA adapter {adapter!r}: "
                "use the hf or vllm backend for adapters"
            )
        return [self._one(request, params) for request in requests]

    def _one(self, request: ChatRequest, params: SamplingParams) -> Completion:
        llama = self._engine(params.logprobs is not None)
        prompt = self._prompt(request)
        samples, prompt_tokens = [], 0
        for j in range(params.n):
            options: dict[str, Any] = dict(
                prompt=prompt,
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_tokens,
                stop=list(params.stop) or None,
                seed=params.seed + j if params.seed is not None else None,
            )
            if params.logprobs is not None:
                options["logprobs"] = max(params.logprobs, 1)
            try:
                response: Any = llama.create_completion(**options)
            except ValueError as err:  # llama.cpp refuses a prompt that fills the whole context
                if "exceed context window" not in str(err):
                    raise
                raise PromptTooLong(None, params.max_tokens, self.context_length(), str(err)) from err
            choice = response["choices"][0]
            usage = response.get("usage") or {}
            prompt_tokens = usage.get("prompt_tokens", 0)
            samples.append(
                Sample(
                    text=(choice.get("text") or "").strip(),
                    tokens=usage.get("completion_tokens", 0),
                    logprobs=self._logprobs(choice, params.logprobs) if params.logprobs is not None else None,
                    finish_reason=choice.get("finish_reason") or "stop",
                )
            )
        return Completion(samples=samples, prompt_tokens=prompt_tokens)

    def _logprobs(self, choice: dict[str, Any], top_k: int) -> list[TokenLogprob]:
        found = choice.get("logprobs")
        if not found or found.get("token_logprobs") is None:
            raise BackendError(f"llama.cpp returned no logprobs for {self.model}")
        result = []
        for token, logprob, alternatives in zip(found["tokens"], found["token_logprobs"], found["top_logprobs"]):
            # llama.cpp lists at least one alternative; keep exactly top_k.
            ranked = sorted((alternatives or {}).items(), key=lambda a: a[1], reverse=True)[:top_k]
            result.append(TokenLogprob(token=token, logprob=float(logprob), top={t: float(lp) for t, lp in ranked}))
        return result
