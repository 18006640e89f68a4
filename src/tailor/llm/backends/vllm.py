"""In-process vLLM engine with LoRA adapters (``pip install tailor[vllm]`` on a GPU machine).
vLLM is imported only when this backend is built.

One GPU for both jobs: ``gpu_memory_utilization`` (the engine's share of the GPU) and
``enable_sleep_mode`` in the options. With sleep mode, the engine sleeps through every
training stage of a loop (``released``: level 1 moves the weights to CPU memory and drops the
KV cache) and wakes up after it. Each trained adapter reaches the engine as a ``LoRARequest``
with an integer id of its own.

The context length is the engine's ``max_model_len`` (an engine argument, by default the
model's own); prompts are counted with the engine's tokenizer as ``LLM.chat`` renders them.
The engine refuses a prompt longer than ``max_model_len`` with an error naming "the maximum
model length" (a ``ValueError``, ``VLLMValidationError`` in recent releases), which becomes
``PromptTooLong``."""

import contextlib

from tailor.errors import BackendError, PromptTooLong
from tailor.llm.base import LLM, adapter_fingerprint
from tailor.llm.cache import ResponseCache
from tailor.llm.types import ChatRequest, Completion, Sample, SamplingParams, TokenLogprob
from tailor.models import resolve_model


class VLLMBackend(LLM):
    kind = "vllm"
    batch_size = 1024  # vLLM schedules continuously; large chunks only bound cache write-back

    def __init__(self, model: str, cache: ResponseCache | None = None, max_lora_rank: int = 64, enable_sleep_mode: bool = False, **engine_args):
        super().__init__(model, cache)
        self.sleeps = enable_sleep_mode
        try:
            import vllm
        except ImportError as err:
            raise BackendError("the vllm backend needs vLLM: pip install 'tailor[vllm]' (GPU machines)") from err
        self._vllm = vllm
        self.engine = vllm.LLM(
            model=resolve_model(model), enable_lora=True, max_lora_rank=max_lora_rank, enable_sleep_mode=enable_sleep_mode, **engine_args,
        )
        self._lora_ids: dict[str, int] = {}

    @contextlib.contextmanager
    def released(self):
        if not self.sleeps:
            yield
            return
        self.engine.sleep(level=1)
        try:
            yield
        finally:
            self.engine.wake_up()

    def count_tokens(self, text: str) -> int:
        return len(self.engine.get_tokenizer().encode(text, add_special_tokens=False))

    def context_length(self) -> int:
        return self.engine.llm_engine.model_config.max_model_len  # ``llm_engine``: a public attribute of vllm.LLM since 0.1

    def prompt_tokens(self, request: ChatRequest) -> int:
        prefilled = bool(request.prefill)
        text = self.engine.get_tokenizer().apply_chat_template(
            request.openai_messages(), tokenize=False, add_generation_prompt=not prefilled, continue_final_message=prefilled,
        )
        return self.count_tokens(text)

    def _generate(self, requests: list[ChatRequest], params: SamplingParams, adapter: str | None) -> list[Completion]:
        sampling = self._vllm.SamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            seed=params.seed,
            stop=list(params.stop) or None,
            logprobs=params.logprobs,
        )
        # vLLM takes the continue-the-reply switch per call: prefilled requests go in their own call.
        completions: dict[int, Completion] = {}
        for prefilled in (False, True):
            rows = [i for i, r in enumerate(requests) if bool(r.prefill) == prefilled]
            if rows:
                try:
                    outputs = self.engine.chat(
                        [requests[i].openai_messages() for i in rows], sampling, lora_request=self._lora(adapter), use_tqdm=False,
                        add_generation_prompt=not prefilled, continue_final_message=prefilled,
                    )
                except Exception as err:
                    if "maximum model length" not in str(err):
                        raise
                    raise PromptTooLong(None, params.max_tokens, self.context_length(), str(err)) from err
                completions.update({i: self._completion(out) for i, out in zip(rows, outputs)})
        return [completions[i] for i in range(len(requests))]

    def _lora(self, adapter: str | None):
        if adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        name = adapter_fingerprint(adapter)
        lora_id = self._lora_ids.setdefault(name, len(self._lora_ids) + 1)
        return LoRARequest(name, lora_id, adapter)

    @staticmethod
    def _completion(out) -> Completion:
        samples = []
        for o in out.outputs:
            logprobs = None
            if o.logprobs is not None:
                logprobs = []
                for token_id, position in zip(o.token_ids, o.logprobs):
                    chosen = position[token_id]
                    top = {lp.decoded_token: lp.logprob for lp in position.values()}
                    logprobs.append(TokenLogprob(token=chosen.decoded_token, logprob=chosen.logprob, top=top))
            samples.append(Sample(text=o.text.strip(), tokens=len(o.token_ids), logprobs=logprobs, finish_reason=o.finish_reason or "stop"))
        return Completion(samples=samples, prompt_tokens=len(out.prompt_token_ids or []))
