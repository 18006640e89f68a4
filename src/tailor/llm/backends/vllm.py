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
import os
from importlib.metadata import PackageNotFoundError, version

from packaging.version import Version

from tailor.errors import BackendError, PromptTooLong
from tailor.llm.base import LLM, adapter_fingerprint
from tailor.llm.cache import ResponseCache
from tailor.llm.types import ChatRequest, Completion, Sample, SamplingParams, TokenLogprob
from tailor.models import resolve_model


# Where vLLM's batch-invariant mode (VLLM_BATCH_INVARIANT=1) exists, from its released source:
# vllm 0.11.1 vllm/model_executor/layers/batch_invariant.py is the first to read the variable
# (PR #25603); vllm 0.14.0 vllm/lora/ops/triton_ops/utils.py the first whose LoRA kernels honour
# it (PR #30097), and this backend always runs with LoRA enabled. docs/features/batch_invariance.md
# asks for NVIDIA compute capability 9.0 up to 0.14.0 and 8.0 in 0.34.0.
BATCH_INVARIANT_WITH_LORA = Version("0.14.0")
CAPABILITY_8_SINCE = Version("0.34.0")
# vllm 0.11.1 vllm/entrypoints/llm.py aborts the requests of a batch added before one it refuses;
# before, they stay queued and come back with the next call's outputs.
ABORTS_REFUSED_BATCH = Version("0.11.1")


def installed_version() -> str | None:
    """The installed vLLM's version; None where it is not installed."""
    try:
        return version("vllm")
    except PackageNotFoundError:
        return None


def batch_invariance_problem(installed: str | None, capability: tuple[int, int] | None) -> str | None:
    """Why vLLM ``installed`` on a GPU of compute ``capability`` (None: no CUDA GPU) cannot
    generate batch-invariantly with LoRA enabled; None when it can."""
    if installed is None:
        return "vLLM is not installed"
    if Version(installed) < BATCH_INVARIANT_WITH_LORA:
        return f"vLLM {installed} has no batch-invariant LoRA kernels (VLLM_BATCH_INVARIANT with LoRA needs vLLM >= {BATCH_INVARIANT_WITH_LORA})"
    if capability is None:
        return "vLLM's batch-invariant mode needs a CUDA GPU, and none is visible"
    needed = (8, 0) if Version(installed) >= CAPABILITY_8_SINCE else (9, 0)
    if capability < needed:
        return f"vLLM {installed}'s batch-invariant mode needs compute capability {needed[0]}.{needed[1]}, this GPU has {capability[0]}.{capability[1]}"
    return None


class VLLMBackend(LLM):
    kind = "vllm"
    batch_size = 1024  # vLLM schedules continuously; large chunks only bound cache write-back

    @classmethod
    def batch_invariant(cls, options: dict) -> dict:
        """Sets VLLM_BATCH_INVARIANT=1, which the engine reads when it starts, where the
        installed vLLM and the GPU have the mode; refuses with the reason otherwise."""
        import torch

        problem = batch_invariance_problem(installed_version(), torch.cuda.get_device_capability() if torch.cuda.is_available() else None)
        if problem:
            raise BackendError(f"deterministic: {problem}; leave deterministic off (answers are then cached as batched ones)")
        os.environ["VLLM_BATCH_INVARIANT"] = "1"
        return options

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
        return self.engine.llm_engine.model_config.max_model_len  # vllm.LLM's engine and its config, 0.8.5 through 0.34.0

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
                except Exception as err:  # vLLM 0.34's VLLMValidationError is no ValueError
                    # the phrase of a refused prompt (vllm 0.8.5 v1/engine/processor.py, vllm 0.34.0 v1/engine/input_processor.py),
                    # not the engine's start-up "estimated maximum model length"
                    if "longer than the maximum model length" not in str(err):
                        raise
                    if Version(installed_version() or "0") < ABORTS_REFUSED_BATCH:
                        raise BackendError(
                            f"vLLM {installed_version()} refused a prompt longer than its context and keeps the rest of that batch queued, "
                            f"so the batch cannot be retried without mixing answers up: {err}. Set max_model_len so tailor can count "
                            f"prompts before sending them, or use vLLM >= {ABORTS_REFUSED_BATCH}"
                        ) from err
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
