"""API keys: ``tailor_<key id>_<secret>``. The key id is public and finds the stored row;
only the SHA-256 of the whole key is stored, and it is compared in constant time. A key
is shown once, when its tenant is created."""

import hashlib
import hmac
import secrets

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
