"""Request and response bodies of the service's API."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from tailor.data.schema import ProfileItem
from tailor.llm.protocol import ChatCompletionRequest, ChatCompletionResponse

# User and item ids: what fits in a URL path segment without escaping.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@:-]*$"
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=200)]
MAX_K = 100


class ItemIn(BaseModel):
    """A past post or document; ``id`` is generated when not given."""

    model_config = ConfigDict(extra="forbid")

    id: Identifier | None = None
    text: str = Field(min_length=1)
    title: str | None = Field(default=None, max_length=1000)
    date: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=200)

    def profile_item(self) -> ProfileItem:
        return ProfileItem(**self.model_dump(exclude_none=True, exclude={"id"}), id=self.id or f"item-{uuid.uuid4().hex[:16]}")


class UserIn(BaseModel):
    """``items``, when given, replace the user's whole profile."""

    model_config = ConfigDict(extra="forbid")

    items: list[ItemIn] | None = None


class ItemsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ItemIn] = Field(min_length=1)


class UserOut(BaseModel):
    user_id: str
    items: int
    created: datetime


class ItemsAdded(BaseModel):
    ids: list[str]


class ItemPageOut(BaseModel):
    items: list[ProfileItem]
    total: int
    offset: int
    next_offset: int | None  # None on the last page


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Identifier
    question: str = Field(min_length=1, max_length=4000)
    method: str = "rag"  # a served model name: METHOD, METHOD:ADAPTER or a configured name
    k: int | None = Field(default=None, ge=0, le=MAX_K)
    remember: bool = False  # add the question to the user's profile


class SummaryOut(BaseModel):
    user_id: str
    model: str  # the served model whose summarizer wrote it
    summary: str


class AnswerOut(BaseModel):
    user_id: str
    method: str
    answer: str
    trace: dict  # retrieved item ids, and the plan / generic answer / summary where the method has one


class PersonalizedChatRequest(ChatCompletionRequest):
    """OpenAI's chat request; ``user`` selects the profile and ``model`` the method. The
    question is the last user message. ``k`` (an extension) sets how many items are retrieved."""

    user: Identifier
    stream: bool = False
    k: int | None = Field(default=None, ge=0, le=MAX_K)
    remember: bool = False  # tailor's extension: add the question to the user's profile (OpenAI's ``store`` means something else)

    @field_validator("n")
    @classmethod
    def _one_answer(cls, n: int) -> int:
        if n != 1:
            raise ValueError(f"one answer per request: n > 1 is not supported, got {n}")
        return n


class PersonalizedChatResponse(ChatCompletionResponse):
    """OpenAI's chat answer with the answer's ``trace`` (an extension: clients keep unknown fields)."""

    trace: dict
