"""transformers backend: batched generation, PEFT LoRA adapters, logprobs of chosen tokens.
Its context length is the ``max_model_len`` option, else the model config's
``max_position_embeddings``, else the tokenizer's ``model_max_length``."""

import contextlib
import threading
from functools import cached_property

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig, StoppingCriteria, StoppingCriteriaList
from transformers.tokenization_utils_base import VERY_LARGE_INTEGER  # what a tokenizer without a length limit reports

from tailor import logs
from tailor.llm.base import LLM, adapter_fingerprint
from tailor.llm.cache import ResponseCache
from tailor.llm.types import ChatRequest, Completion, Sample, SamplingParams, TokenLogprob
from tailor.models import resolve_model

logs.adopt_library_loggers()


class _Cancelled(StoppingCriteria):
    """Ends every sequence of the batch once ``event`` is set (``HFBackend.cancel``)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class HFBackend(LLM):
    kind = "hf"

    def __init__(
        self,
        model: str = "smollm2-135m-instruct",
        cache: ResponseCache | None = None,
        batch_size: int = 8,
        dtype: str = "float32",
        device: str | None = None,
        max_model_len: int | None = None,
    ):
        """``max_model_len``: the most tokens a prompt and its answer may take together
        (default: the model's own limit)."""
        super().__init__(model, cache)
        self.batch_size, self.max_model_len = batch_size, max_model_len
        self.path = resolve_model(model)
        self.dtype = getattr(torch, dtype)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._peft = None  # a PeftModel around base_model once an adapter is used
        self._cancelled = threading.Event()

    @classmethod
    def batch_invariant(cls, options: dict) -> dict:
        return {**options, "batch_size": 1}  # padding to a batch's longest prompt changes greedy outputs

    def cancel(self) -> None:
        self._cancelled.set()

    # Weights load on the first uncached request: a rerun served from the cache never pays for them.
    @cached_property
    def tokenizer(self):
        tokenizer = AutoTokenizer.from_pretrained(self.path)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def context_length(self) -> int | None:
        return self.max_model_len or self._model_context

    @cached_property
    def _model_context(self) -> int | None:
        positions = getattr(AutoConfig.from_pretrained(self.path).get_text_config(), "max_position_embeddings", None)
        if positions:
            return positions
        limit = self.tokenizer.model_max_length
        return limit if limit < VERY_LARGE_INTEGER else None

    def prompt_tokens(self, request: ChatRequest) -> int:
        return self.count_tokens(request.rendered(self.tokenizer))

    @cached_property
    def base_model(self):
        return AutoModelForCausalLM.from_pretrained(self.path, dtype=self.dtype).to(self.device).eval()

    @property
    def network(self):
        """The module that generates: the PeftModel once adapters exist, else the base model."""
        return self._peft if self._peft is not None else self.base_model

    def _generate(self, requests: list[ChatRequest], params: SamplingParams, adapter: str | None) -> list[Completion]:
        prompts = [r.rendered(self.tokenizer) for r in requests]
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        config = GenerationConfig(
            max_new_tokens=params.max_tokens,
            do_sample=params.temperature > 0,
            num_return_sequences=params.n,
            return_dict_in_generate=True,
            output_logits=params.logprobs is not None,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
            **({"temperature": params.temperature, "top_p": params.top_p} if params.temperature > 0 else {}),
        )
        if params.seed is not None:
            torch.manual_seed(params.seed)
        extra = {"stop_strings": list(params.stop), "tokenizer": self.tokenizer} if params.stop else {}
        self._cancelled.clear()
        with torch.inference_mode(), self._adapter(adapter):
            out = self.network.generate(**batch, generation_config=config, stopping_criteria=StoppingCriteriaList([_Cancelled(self._cancelled)]), **extra)
        prompt_len = batch["input_ids"].shape[1]
        generated = out.sequences[:, prompt_len:]
        logprobs = torch.stack(out.logits, dim=1).float().log_softmax(-1) if params.logprobs is not None else None
        prompt_tokens = batch["attention_mask"].sum(dim=1).tolist()
        completions = []
        for i in range(len(requests)):
            samples = [self._sample(generated, logprobs, i * params.n + j, params) for j in range(params.n)]
            completions.append(Completion(samples=samples, prompt_tokens=int(prompt_tokens[i])))
        return completions

    def _sample(self, generated: torch.Tensor, logprobs: torch.Tensor | None, row: int, params: SamplingParams) -> Sample:
        ids = generated[row].tolist()
        eos = self.tokenizer.eos_token_id
        length = ids.index(eos) if eos in ids else len(ids)
        finish = "stop" if length < len(ids) or length < params.max_tokens else "length"
        text = self.tokenizer.decode(ids[:length], skip_special_tokens=True)
        for stop in params.stop:
            if stop in text:
                text, finish = text[: text.index(stop)], "stop"
        token_logprobs = None
        if logprobs is not None:
            token_logprobs = []
            for position, token_id in enumerate(ids[:length]):
                dist = logprobs[row, position]
                top = {}
                if params.logprobs:
                    values, indices = dist.topk(params.logprobs)
                    top = {self.tokenizer.decode([t]): v for t, v in zip(indices.tolist(), values.tolist())}
                token_logprobs.append(TokenLogprob(token=self.tokenizer.decode([token_id]), logprob=float(dist[token_id]), top=top))
        return Sample(text=text.strip(), tokens=min(length + 1, len(ids)), logprobs=token_logprobs, finish_reason=finish)

    def _adapter(self, adapter: str | None):
        """Activate a LoRA adapter (loaded once per content fingerprint), or none."""
        from peft import PeftModel

        if adapter is None:
            return self._peft.disable_adapter() if self._peft is not None else contextlib.nullcontext()
        name = "a" + adapter_fingerprint(adapter)[:16]
        with logs.known_deprecations():  # PEFT reads transformers' deprecated checkpointing flag
            if self._peft is None:
                self._peft = PeftModel.from_pretrained(self.base_model, adapter, adapter_name=name).eval()
            elif name not in self._peft.peft_config:
                self._peft.load_adapter(adapter, adapter_name=name)
        self._peft.set_adapter(name)
        return contextlib.nullcontext()
