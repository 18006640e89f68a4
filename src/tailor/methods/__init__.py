from tailor.methods.base import Answer, Method
from tailor.methods.planpers import PlanPers
from tailor.methods.rag import AnswerConfig, RetrievalAugmented

__all__ = ["Answer", "AnswerConfig", "Method", "PlanPers", "RetrievalAugmented"]
