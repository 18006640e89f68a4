"""A scripted LLM for fast unit tests: answers come from a function, every request the
backend receives is recorded (so tests can inspect the prompts actually sent). A reply may
be a ``Sample`` instead of a text, e.g. to script logprobs; the function may raise, e.g.
``PromptTooLong`` as a server refuses a prompt."""

from collections.abc import Callable

from tailor.llm.base import LLM
from tailor.llm.types import ChatRequest, Completion, Sample, SamplingParams


class ScriptedLLM(LLM):
    kind = "scripted"

    def __init__(self, reply: Callable[[ChatRequest, SamplingParams, int], str | Sample], cache=None, model: str = "script", context: int | None = None):
        """``context``: a context length, in which a prompt counts one token per word (None: unknown, as by default)."""
        super().__init__(model, cache)
        self.reply, self.context = reply, context
        self.received: list[tuple[ChatRequest, SamplingParams, str | None]] = []

    def context_length(self) -> int | None:
        return self.context

    def prompt_tokens(self, request: ChatRequest) -> int | None:
        return None if self.context is None else sum(len(m.content.split()) for m in request.messages) + len((request.prefill or "").split())

    def _generate(self, requests, params, adapter):
        out = []
        for request in requests:
            self.received.append((request, params, adapter))
            replies = [self.reply(request, params, j) for j in range(params.n)]
            samples = [r if isinstance(r, Sample) else Sample(text=r, tokens=len(r.split())) for r in replies]
            out.append(Completion(samples=samples, prompt_tokens=7))
        return out

    def prompts(self) -> list[str]:
        return ["\n".join(m.content for m in r.messages) for r, _, _ in self.received]


def loop_inputs(config, train, valid, metric, retriever=None, **models):
    """``(config, LoopInputs)`` for calling a loop (``train_vac(config, inputs)``, …) on given
    models: ``policy``, and by the config's setting any other role (``feedback=``, ``base=``,
    ``summarizer=``, …); a role given a model other than the policy gets a model setting of
    its own in the config, under which the pool provides it."""
    from tailor.llm import LLMConfig
    from tailor.pool import ModelPool
    from tailor.retrieval import BM25Retriever
    from tailor.train.loop import LoopInputs

    policy = models.pop("policy")
    pool = ModelPool(config.policy)
    pool.provide(config.policy, policy)
    for role, llm in models.items():
        if llm is not None and llm is not policy:
            setting = LLMConfig(model=f"{role}:{llm.model}")
            config = config.model_copy(update={role: setting})
            pool.provide(setting, llm)
    return config, LoopInputs(train, valid, policy, metric, retriever or BM25Retriever(), pool)
