"""The profile store: tenants, users and their items in SQL through SQLAlchemy; a SQLite
file by default, any SQLAlchemy URL (e.g. ``postgresql+psycopg://…``) otherwise.

SQLite runs in WAL mode with ``synchronous=FULL``, so a write the service acknowledged
survives a killed process; write transactions start with ``BEGIN IMMEDIATE``, so
concurrent writers queue for the lock instead of failing on a stale read snapshot.
``secure_delete`` overwrites what is deleted, and deleting a user checkpoints the WAL
(``TRUNCATE``), so a deleted user's text survives in neither the database file nor its WAL."""

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, create_engine, delete, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tailor.data.schema import ProfileItem
from tailor.errors import TailorError
from tailor.service.tables import ApiKey, Base, DerivedEntry, Item, Tenant, User


class UnknownUser(LookupError):
    """No such user for this tenant (whether or not another tenant has one by that id)."""


class DuplicateItems(ValueError):
    def __init__(self, ids: list[str]):
        self.ids = ids
        super().__init__(f"item ids already in the profile or repeated: {', '.join(ids)}")


class ProfileFull(ValueError):
    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"a profile holds at most {limit} items")


def database_url(db: str) -> str:
    """A SQLAlchemy URL as given, or a SQLite URL for a file path (its folder created)."""
    if "://" in db:
        return db
    path = Path(db).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=30000", "secure_delete=ON"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get("writing") else "BEGIN")


def make_engine(db: str) -> Engine:
    """An engine with the service's tables created; a missing database driver is a
    ``TailorError`` that says what to install."""
    url = make_url(database_url(db))
    try:
        engine = create_engine(url)
    except ImportError as err:
        raise TailorError(
            f"cannot open {url.render_as_string(hide_password=True)}: its database driver ({err.name}) is not installed; "
            "for Postgres, `pip install 'psycopg[binary]'` and use a postgresql+psycopg://… URL"
        ) from err
    if url.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    Base.metadata.create_all(engine)
    return engine


@dataclass(frozen=True)
class UserInfo:
    user_id: str
    items: int
    created: datetime


@dataclass(frozen=True)
class ItemPage:
    items: list[ProfileItem]
    total: int


@dataclass(frozen=True)
class Profile:
    user_pk: int  # the row id that derived entries are kept under
    items: list[ProfileItem]


def _utc(moment: datetime) -> datetime:
    """A stored time in UTC with its zone: SQLite hands back naive datetimes, which are not
    the RFC 3339 date-times the API promises."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _row(user_pk: int, item: ProfileItem) -> Item:
    return Item(user_pk=user_pk, item_id=item.id, text=item.text, fields=item.model_dump(exclude={"id", "text"}, exclude_none=True))


def _item(row: Item) -> ProfileItem:
    return ProfileItem(id=row.item_id, text=row.text, **row.fields)


class ProfileStore:
    """Every query is scoped to a tenant: another tenant's user is simply not found."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @contextmanager
    def _session(self, writing: bool = False) -> Iterator[Session]:
        with Session(self.engine) as session, session.begin():
            session.connection(execution_options={"writing": writing})
            yield session

    def ping(self) -> None:
        with self._session() as session:
            session.execute(text("SELECT 1"))

    # --- tenants and keys ---------------------------------------------------------------

    def create_tenant(self, name: str, key_id: str, key_hash: str) -> None:
        exists = TailorError(f"tenant {name!r} already exists")
        try:
            with self._session(writing=True) as session:
                if session.scalar(select(Tenant.id).where(Tenant.name == name)) is not None:
                    raise exists
                tenant = Tenant(name=name)
                session.add(tenant)
                session.flush()
                session.add(ApiKey(tenant_id=tenant.id, key_id=key_id, key_hash=key_hash))
        except IntegrityError as err:  # created meanwhile by another connection (Postgres)
            raise exists from err

    def key_hash(self, key_id: str) -> tuple[int, str] | None:
        """The tenant and stored hash of the key with this public part."""
        with self._session() as session:
            row = session.execute(select(ApiKey.tenant_id, ApiKey.key_hash).where(ApiKey.key_id == key_id)).first()
        return (row.tenant_id, row.key_hash) if row else None

    # --- users and items ----------------------------------------------------------------

    @staticmethod
    def _user(session: Session, tenant_id: int, user_id: str, lock: bool = False) -> User:
        query = select(User).where(User.tenant_id == tenant_id, User.user_id == user_id)
        user = session.scalar(query.with_for_update() if lock else query)
        if user is None:
            raise UnknownUser(user_id)
        return user

    def put_user(self, tenant_id: int, user_id: str, items: list[ProfileItem] | None, max_items: int) -> bool:
        """Create the user, or keep it; ``items`` (when given) replace the whole profile and
        drop what was derived from the old one. True when the user is new."""
        _check_new_items(items or [], set(), max_items)
        try:
            return self._put_user(tenant_id, user_id, items)
        except IntegrityError:  # another connection created the user meanwhile (Postgres): it exists now
            return self._put_user(tenant_id, user_id, items)

    def _put_user(self, tenant_id: int, user_id: str, items: list[ProfileItem] | None) -> bool:
        with self._session(writing=True) as session:
            try:
                user, created = self._user(session, tenant_id, user_id, lock=True), False
            except UnknownUser:
                user, created = User(tenant_id=tenant_id, user_id=user_id), True
                session.add(user)
                session.flush()
            if items is not None:
                session.execute(delete(Item).where(Item.user_pk == user.id))
                session.execute(delete(DerivedEntry).where(DerivedEntry.user_pk == user.id))
                session.add_all(_row(user.id, item) for item in items)
        return created

    def user(self, tenant_id: int, user_id: str) -> UserInfo:
        with self._session() as session:
            user = self._user(session, tenant_id, user_id)
            count = session.scalar(select(func.count()).select_from(Item).where(Item.user_pk == user.id))
            return UserInfo(user.user_id, count, _utc(user.created))

    def delete_user(self, tenant_id: int, user_id: str) -> None:
        """The user, their items and everything derived from them, in one transaction; then
        the deleted text is wiped from disk (``_wipe``)."""
        with self._session(writing=True) as session:
            user = self._user(session, tenant_id, user_id, lock=True)
            session.execute(delete(DerivedEntry).where(DerivedEntry.user_pk == user.id))
            session.execute(delete(Item).where(Item.user_pk == user.id))
            session.delete(user)
        self._wipe()

    def _wipe(self) -> None:
        """SQLite: move the WAL, whose older frames still hold deleted rows, into the database
        file (where ``secure_delete`` zeroed them) and truncate it. Postgres keeps deleted
        rows until VACUUM, which is the operator's (autovacuum) to run."""
        if self.engine.dialect.name != "sqlite":
            return
        with self.engine.connect() as connection:
            for _ in range(50):  # a reader mid-query holds the WAL; wait for it
                busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()[0]
                if not busy:
                    return
                time.sleep(0.1)
        raise TailorError("the user was deleted, but readers kept the write-ahead log busy: its copy of the data is wiped at the next checkpoint")

    def export(self, tenant_id: int, user_id: str) -> dict:
        """Everything stored about a user: the profile and what was derived from it."""
        with self._session() as session:
            user = self._user(session, tenant_id, user_id)
            items = session.scalars(select(Item).where(Item.user_pk == user.id).order_by(Item.id))
            derived = session.scalars(select(DerivedEntry).where(DerivedEntry.user_pk == user.id).order_by(DerivedEntry.kind, DerivedEntry.key))
            return {
                "user_id": user.user_id,
                "created": _utc(user.created).isoformat(),
                "items": [_item(row).model_dump(exclude_none=True) for row in items],
                "derived": [{"kind": row.kind, "key": row.key, "value": row.value} for row in derived],
            }

    def add_items(self, tenant_id: int, user_id: str, items: list[ProfileItem], max_items: int) -> None:
        with self._session(writing=True) as session:
            user = self._user(session, tenant_id, user_id, lock=True)
            existing = set(session.scalars(select(Item.item_id).where(Item.user_pk == user.id)))
            _check_new_items(items, existing, max_items)
            session.add_all(_row(user.id, item) for item in items)

    def items(self, tenant_id: int, user_id: str, limit: int, offset: int) -> ItemPage:
        with self._session() as session:
            user = self._user(session, tenant_id, user_id)
            total = session.scalar(select(func.count()).select_from(Item).where(Item.user_pk == user.id))
            rows = session.scalars(select(Item).where(Item.user_pk == user.id).order_by(Item.id).limit(limit).offset(offset))
            return ItemPage([_item(r) for r in rows], total)

    def profile(self, tenant_id: int, user_id: str) -> Profile:
        with self._session() as session:
            user = self._user(session, tenant_id, user_id)
            rows = session.scalars(select(Item).where(Item.user_pk == user.id).order_by(Item.id))
            return Profile(user.id, [_item(r) for r in rows])

    # --- what is derived from a profile ---------------------------------------------------

    def derived(self, user_pk: int, kind: str, keys: list[str]) -> dict[str, str]:
        with self._session() as session:
            rows = session.execute(
                select(DerivedEntry.key, DerivedEntry.value).where(
                    DerivedEntry.user_pk == user_pk, DerivedEntry.kind == kind, DerivedEntry.key.in_(keys)
                )
            )
            return {row.key: row.value for row in rows}

    def keep_derived(self, user_pk: int, kind: str, values: dict[str, str]) -> None:
        """Keep entries for reuse. A cache: a write that loses a race (the user was deleted
        meanwhile, or another request kept the same key) is dropped."""
        try:
            with self._session(writing=True) as session:
                for key, value in values.items():
                    session.merge(DerivedEntry(user_pk=user_pk, kind=kind, key=key, value=value))
        except IntegrityError:
            pass


def _check_new_items(items: list[ProfileItem], existing: set[str], max_items: int) -> None:
    counts = Counter(item.id for item in items)
    clashes = sorted(i for i, n in counts.items() if n > 1 or i in existing)
    if clashes:
        raise DuplicateItems(clashes)
    if len(existing) + len(items) > max_items:
        raise ProfileFull(max_items)
