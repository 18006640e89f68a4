from tailor.methods.base import Answer, Method
from tailor.methods.planpers import PlanPers
from tailor.methods.rag import AnswerConfig, RetrievalAugmented
from tailor.methods.vac import vac_policy

__all__ = ["Answer", "AnswerConfig", "Method", "PlanPers", "RetrievalAugmented", "vac_policy"]
