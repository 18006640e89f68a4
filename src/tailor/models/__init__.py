from tailor.models.registry import OFFLINE_MODELS, resolve_model

__all__ = ["OFFLINE_MODELS", "resolve_model"]
