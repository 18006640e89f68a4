"""The personalization methods. Names are imported on first use (PEP 562), so a command
that needs one method's settings does not pay for importing every method."""

import importlib

_WHERE = {"Answer": "base", "Method": "base", "PlanPers": "planpers", "AnswerConfig": "rag", "RetrievalAugmented": "rag", "vac_policy": "vac"}

__all__ = list(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'tailor.methods' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tailor.methods.{_WHERE[name]}"), name)
