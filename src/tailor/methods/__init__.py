from tailor.methods.base import Answer, Method
from tailor.methods.rag import AnswerConfig, RetrievalAugmented

__all__ = ["Answer", "AnswerConfig", "Method", "RetrievalAugmented"]
