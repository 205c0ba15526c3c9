"""API keys, stored as SHA-256 hashes, and what each role may do.

A key reads ``cvm_<id>_<secret>``: the id finds the row, the secret (32 random
bytes) is compared with the stored hash in constant time. Keys carry enough
entropy that a fast hash is safe; the plaintext is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa

from cvm.contracts.vocabulary import ROLES as ROLES
from cvm.errors import BadValueError, UnknownError
from cvm.store.tables import api_keys

TOUCH_SECONDS = 60  # record last use at most once a minute, to keep reads read-only
Permission = Literal["read", "write", "admin"]


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    id: str
    role: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def role_allows(role: str, permission: Permission) -> bool:
    """Whether ``role`` grants ``permission``."""
    return permission in ROLES.get(role, frozenset())


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(conn: sa.Connection, role: str, label: str | None = None) -> tuple[ApiKey, str]:
    """Create a key; returns it and the plaintext, which is never stored."""
    if role not in ROLES:
        raise BadValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    conn.execute(api_keys.insert().values(id=key_id, role=role, key_hash=_hash(secret), label=label, created_at=now))
    return ApiKey(key_id, role, label, now, None, None), f"cvm_{key_id}_{secret}"


def _row(row: sa.Row[tuple[object, ...]]) -> ApiKey:
    m = row._mapping
    return ApiKey(m["id"], m["role"], m["label"], m["created_at"], m["revoked_at"], m["last_used_at"])


def list_keys(conn: sa.Connection) -> list[ApiKey]:
    """Every key, newest first, without secrets."""
    rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at.desc()))
    return [_row(r) for r in rows]


def revoke_key(conn: sa.Connection, key_id: str) -> ApiKey:
    """Revoke a key at once; raises ``KeyError`` for an unknown id."""
    now = datetime.now(UTC)
    conn.execute(
        api_keys.update().where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
    if row is None:
        raise UnknownError(f"unknown API key id {key_id!r}")
    return _row(row)


_BY_ID = sa.select(api_keys).where(api_keys.c.id == sa.bindparam("key_id"))
"""One statement for every request's key lookup (it remembers its cache key)."""


def authenticate(conn: sa.Connection, presented: str) -> ApiKey | None:
    """The active key matching ``presented``, or ``None``."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "cvm":
        return None
    row = conn.execute(_BY_ID, {"key_id": parts[1]}).first()
    if row is None or row._mapping["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(row._mapping["key_hash"], _hash(parts[2])):
        return None
    key = _row(row)
    now = datetime.now(UTC)
    last = key.last_used_at
    if last is None or (now - (last if last.tzinfo else last.replace(tzinfo=UTC))).total_seconds() > TOUCH_SECONDS:
        conn.execute(api_keys.update().where(api_keys.c.id == key.id).values(last_used_at=now))
    return key
