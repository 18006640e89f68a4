"""Learning from use: the questions a user asks to have remembered join their profile, and
their preference summary (POPI's summarizer) is remade in the background after each, so that
``GET /v1/users/{id}/summary`` finds it ready; with ``on_write``, after every profile write
too (otherwise the next GET makes it). A summary is kept in the user's own rows, per
profile, and goes when the user is deleted."""

import hashlib
import logging

from tailor.data.schema import ProfileItem
from tailor.errors import TailorError
from tailor.service.answering import Answerer
from tailor.service.catalog import UnknownModel
from tailor.service.store import DuplicateItems, ProfileFull, UnknownUser
from tailor.service.user_cache import GenerationTimeout

log = logging.getLogger(__name__)


class Summaries:
    """``model``: the served model whose summarizer writes the summaries (``popi``, or a
    POPI run's ``popi:runs/…``); ``on_write``: refresh after profile writes as well."""

    def __init__(self, answerer: Answerer, model: str = "popi", on_write: bool = False):
        self.answerer, self.model, self.on_write = answerer, model, on_write

    def current(self, tenant: int, user_id: str) -> str:
        return self.answerer.summary(tenant, user_id, self.model)

    def refresh(self, tenant: int, user_id: str) -> None:
        """Make the current profile's summary (a background task: a failure is logged, and
        the next ``current`` makes it)."""
        try:
            self.current(tenant, user_id)
        except (UnknownUser, UnknownModel, GenerationTimeout, TailorError) as err:
            log.warning("the preference summary was not refreshed: %s", err)

    def remember(self, tenant: int, user_id: str, question: str, max_items: int) -> bool:
        """Add ``question`` to the user's profile (once); False when the profile is full."""
        item = ProfileItem(id=f"asked-{hashlib.sha256(question.encode()).hexdigest()[:16]}", text=question, category="asked")
        try:
            self.answerer.store.add_items(tenant, user_id, [item], max_items)
        except DuplicateItems:
            return True  # asked and remembered before
        except ProfileFull:
            return False
        return True
