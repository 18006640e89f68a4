"""VAC at inference: the trained policy answers through the plain RAG prompt; the
feedback model is a training-time tool only, so nothing else is needed."""

from tailor.llm.base import LLM
from tailor.methods.rag import AnswerConfig, RetrievalAugmented
from tailor.retrieval.base import Retriever


def vac_policy(llm: LLM, retriever: Retriever, config: AnswerConfig, adapter: str | None) -> RetrievalAugmented:
    """``adapter``: the trained policy; None when a run's untrained policy validated best."""
    method = RetrievalAugmented(llm, retriever, config, adapter=adapter)
    method.name = "vac"
    return method
