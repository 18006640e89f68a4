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
    fact: str | None = None  # the planted task: the kind of the user's fact it asks for (a PlantedFact.kind)


class PlantedFact(BaseModel):
    """One fact the planted-preference task gave a user (their city, pet, units or diet):
    the phrasings that state it and those that state a competing value of its kind (another
    city; the other unit system). Hidden like the narrative: only metrics, and oracles
    labelled as such, may read it."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(min_length=1)
    value: str = Field(min_length=1)
    accept: list[str] = Field(min_length=1)
    rivals: list[str] = Field(default_factory=list)


class Example(BaseModel):
    """One personalization query.

    ``narrative``, ``rubric_aspects`` and ``planted_facts`` are hidden information: only
    metrics and the VAC feedback model during training may read them, never a generation
    prompt.
    """

    id: str
    question: str = Field(min_length=1)
    profile: list[ProfileItem]
    narrative: str | None = None
    rubric_aspects: list[Aspect] = Field(default_factory=list)
    category: str | None = None
    reference: str | None = None
    user_id: str | None = None
    planted_facts: list[PlantedFact] = Field(default_factory=list)  # the planted task (data v2): every fact of the user
