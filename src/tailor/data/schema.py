"""The records every loader produces and every method consumes."""

from pydantic import BaseModel, ConfigDict, Field


class ProfileItem(BaseModel):
    """One entry of a user's history: a past post, document or output."""

    model_config = ConfigDict(extra="allow")

    id: str
    text: str = Field(min_length=1)
    category: str | None = None


class Aspect(BaseModel):
    """A rubric aspect extracted from the question narrative (LaMP-QA)."""

    aspect: str = Field(min_length=1)
    reason: str = ""
    evidence: str = ""
    accept: list[str] = Field(default_factory=list)  # phrasings that state it, for a string-matching metric (the planted task)


class Example(BaseModel):
    """One personalization query.

    ``narrative`` and ``rubric_aspects`` are hidden information: only metrics and the
    VAC feedback model during training may read them, never a generation prompt.
    """

    id: str
    question: str = Field(min_length=1)
    profile: list[ProfileItem]
    narrative: str | None = None
    rubric_aspects: list[Aspect] = Field(default_factory=list)
    category: str | None = None
    reference: str | None = None
    user_id: str | None = None
