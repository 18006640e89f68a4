"""API keys: ``tailor_<key id>_<secret>``. The key id is public and finds the stored row;
only the SHA-256 of the whole key is stored, and it is compared in constant time. A key
is shown once, when its tenant is created."""

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request

from tailor.service.store import ProfileStore

PREFIX = "tailor"
# Compared against when the key id is unknown, so that a miss costs what a hit costs.
_NO_HASH = hashlib.sha256(b"no such key").hexdigest()


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_tenant(store: ProfileStore, name: str) -> str:
    """Create a tenant and return its new API key (the only time it is seen)."""
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    key = f"{PREFIX}_{key_id}_{secret}"
    store.create_tenant(name, key_id, _hash(key))
    return key


def tenant_for_key(store: ProfileStore, key: str) -> int | None:
    prefix, _, rest = key.partition("_")
    key_id = rest.partition("_")[0] if prefix == PREFIX else ""
    found = store.key_hash(key_id) if key_id else None
    stored = found[1] if found else _NO_HASH
    matches = hmac.compare_digest(_hash(key), stored)
    return found[0] if found and matches else None


class BearerAuth:
    """A FastAPI dependency: the tenant of the request's ``Authorization: Bearer`` key,
    else 401."""

    def __init__(self, store: ProfileStore):
        self.store = store

    def __call__(self, request: Request) -> int:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        tenant = tenant_for_key(self.store, key.strip()) if scheme.lower() == "bearer" and key.strip() else None
        if tenant is None:
            raise HTTPException(401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"})
        return tenant


@dataclass(frozen=True)
class Access:
    """Who may read what belongs to no tenant: run folders (written by the CLI; the run
    browser at /runs) and /metrics. The admin key is set when the service starts; each part
    is open to anyone only when the operator says so (``public_runs``, ``public_metrics``)."""

    admin_key: str | None = None
    public_runs: bool = False
    public_metrics: bool = False


def _presented_key(request: Request) -> str:
    """The key in ``Authorization``: a bearer token, or a Basic password (what a browser sends
    after its login prompt)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip()).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return ""


class AdminAuth:
    """A FastAPI dependency for the admin's parts: 401 without the admin key (with a Basic
    challenge, so a browser asks for it), 403 with a tenant's key."""

    def __init__(self, store: ProfileStore, admin_key: str | None, public: bool, what: str):
        self.store, self.admin_key, self.public, self.what = store, admin_key, public, what

    def __call__(self, request: Request) -> None:
        if self.public:
            return
        key = _presented_key(request)
        if self.admin_key and key and hmac.compare_digest(key.encode(), self.admin_key.encode()):
            return
        if key and tenant_for_key(self.store, key) is not None:
            raise HTTPException(403, f"{self.what} belong to no tenant: they need the admin key, not a tenant's")
        hint = "" if self.admin_key else " (none is set: start the service with --admin-key, or make them public)"
        raise HTTPException(401, f"{self.what} need the admin key{hint}", headers={"WWW-Authenticate": 'Basic realm="tailor admin", Bearer'})
