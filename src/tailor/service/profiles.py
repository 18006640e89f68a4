"""The profile endpoints: create, read and delete users; add and page through their items.
Every route is scoped to the caller's tenant. Profile text is never logged."""

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Response
from fastapi.exceptions import RequestValidationError

from tailor.data.schema import ProfileItem
from tailor.llm.protocol import INT64
from tailor.service.auth import BearerAuth
from tailor.service.limits import Limits
from tailor.service.schemas import ID_PATTERN, ItemIn, ItemPageOut, ItemsAdded, ItemsIn, SummaryOut, UserIn, UserOut
from tailor.service.store import ProfileStore
from tailor.service.summaries import Summaries

UserId = Annotated[str, Path(pattern=ID_PATTERN, max_length=200)]


def _checked(items: list[ItemIn], limits: Limits) -> list[ProfileItem]:
    """The items as profile items, or 422 naming each text over the configured length."""
    errors = [
        {"loc": ("body", "items", i, "text"), "msg": f"String should have at most {limits.max_item_chars} characters", "type": "string_too_long"}
        for i, item in enumerate(items)
        if len(item.text) > limits.max_item_chars
    ]
    if errors:
        raise RequestValidationError(errors)
    return [item.profile_item() for item in items]


def profile_router(store: ProfileStore, auth: BearerAuth, limits: Limits, summaries: Summaries) -> APIRouter:
    router = APIRouter(prefix="/v1/users")

    @router.put("/{user_id}", response_model=UserOut)
    def put_user(user_id: UserId, response: Response, background: BackgroundTasks, body: UserIn | None = None,
                 tenant: int = Depends(auth)) -> UserOut:
        items = _checked(body.items, limits) if body and body.items is not None else None
        if store.put_user(tenant, user_id, items, limits.max_items_per_user):
            response.status_code = 201
        if items is not None and summaries.on_write:
            background.add_task(summaries.refresh, tenant, user_id)
        return UserOut(**vars(store.user(tenant, user_id)))

    @router.get("/{user_id}", response_model=UserOut)
    def get_user(user_id: UserId, tenant: int = Depends(auth)) -> UserOut:
        return UserOut(**vars(store.user(tenant, user_id)))

    @router.delete("/{user_id}", status_code=204)
    def delete_user(user_id: UserId, tenant: int = Depends(auth)) -> Response:
        store.delete_user(tenant, user_id)
        return Response(status_code=204)

    @router.get("/{user_id}/export")
    def export_user(user_id: UserId, tenant: int = Depends(auth)) -> dict:
        """Everything stored about the user, in one document: the profile, and the cached
        answers and summaries made from it."""
        return store.export(tenant, user_id)

    @router.post("/{user_id}/items", status_code=201, response_model=ItemsAdded)
    def add_items(user_id: UserId, body: ItemsIn, background: BackgroundTasks, tenant: int = Depends(auth)) -> ItemsAdded:
        items = _checked(body.items, limits)
        store.add_items(tenant, user_id, items, limits.max_items_per_user)
        if summaries.on_write:
            background.add_task(summaries.refresh, tenant, user_id)
        return ItemsAdded(ids=[item.id for item in items])

    @router.get("/{user_id}/summary", response_model=SummaryOut)
    def get_summary(user_id: UserId, tenant: int = Depends(auth)) -> SummaryOut:
        """The user's preference summary (POPI), refreshed in the background whenever the
        profile changes; made now when the current profile has none yet."""
        return SummaryOut(user_id=user_id, model=summaries.model, summary=summaries.current(tenant, user_id))

    @router.get("/{user_id}/items", response_model=ItemPageOut)
    def list_items(
        user_id: UserId,
        limit: int = Query(default=50, ge=1, le=limits.max_page),
        offset: int = Query(default=0, ge=0, le=INT64),
        tenant: int = Depends(auth),
    ) -> ItemPageOut:
        page = store.items(tenant, user_id, limit, offset)
        after = offset + len(page.items)
        return ItemPageOut(items=page.items, total=page.total, offset=offset, next_offset=after if after < page.total else None)

    return router
