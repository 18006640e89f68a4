"""tailor: personalized LLM answers, trained and measured the way the papers do it."""

__version__ = "0.1.0"
