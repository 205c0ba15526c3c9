"""Dashboard sessions: opaque tokens, kept in memory as SHA-256 hashes.

The browser holds a random token in an HttpOnly, SameSite=Strict cookie; the
server keeps only its hash, with the API key it was opened with. Tokens carry 32
random bytes, so a fast hash is safe (as for the API keys themselves). Sessions
live in the serving process: a restart, or a second worker, asks for a new login.

Each key holds at most ``per_key`` sessions: its next login ends its own least recently
used one, never another key's. When the store is full (``max_sessions``) a key with no
session yet is refused (:class:`SessionsFullError`) until sessions expire or log out.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

COOKIE = "cvm_session"


@dataclass(frozen=True)
class Session:
    """An open dashboard session."""

    key_id: str
    role: str
    label: str | None
    created: float
    seen: float
    csrf: str = ""
    """The token every form of this session carries (the logout button's)."""
    locale: str | None = None
    """The language the user chose in the dashboard (``fr_BE``), or ``None`` to follow the browser."""


class SessionsFullError(Exception):
    """The store holds ``max_sessions`` sessions and none of them is the key's own to end."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Open sessions by token hash, with an absolute and an idle lifetime.

    Examples
    --------
    >>> store = SessionStore(per_key=2)
    >>> token = store.open("k1", "analyst", None)
    >>> store.get(token).role
    'analyst'
    >>> first = store.open("k2", "analyst", None)
    >>> _, _ = store.open("k2", "analyst", None), store.open("k2", "analyst", None)
    >>> store.get(first) is None, store.get(token) is not None, len(store)
    (True, True, 3)
    >>> store.close(token); store.get(token) is None
    True
    """

    def __init__(
        self,
        *,
        lifetime_s: float = 12 * 3600,
        idle_s: float = 2 * 3600,
        max_sessions: int = 10_000,
        per_key: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lifetime_s = lifetime_s
        self.idle_s = idle_s
        self.max_sessions = max_sessions
        self.per_key = per_key
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._by_key: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def open(self, key_id: str, role: str, label: str | None) -> str:
        """Open a session for a key; returns the token for the cookie (never stored).

        Raises
        ------
        SessionsFullError
            The store is full and the key has no session of its own to give up.
        """
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._expire(now)
            own = self._by_key.get(key_id, set())
            if own and (len(own) >= self.per_key or len(self._sessions) >= self.max_sessions):
                self._drop(min(own, key=lambda h: self._sessions[h].seen))
            elif len(self._sessions) >= self.max_sessions:
                raise SessionsFullError(f"{len(self._sessions)} sessions are open")
            digest = _hash(token)
            self._sessions[digest] = Session(key_id, role, label, now, now, secrets.token_urlsafe(32))
            self._by_key.setdefault(key_id, set()).add(digest)
        return token

    def get(self, token: str) -> Session | None:
        """The live session of ``token``, or ``None``; marks it as used."""
        digest, now = _hash(token), self._clock()
        with self._lock:
            session = self._sessions.get(digest)
            if session is None:
                return None
            if self._expired(session, now):
                self._drop(digest)
                return None
            session = replace(session, seen=now)
            self._sessions[digest] = session
            return session

    def set_locale(self, token: str, locale: str | None) -> bool:
        """Remember the language chosen in the session of ``token``; ``False`` if it has none."""
        digest = _hash(token)
        with self._lock:
            session = self._sessions.get(digest)
            if session is None:
                return False
            self._sessions[digest] = replace(session, locale=locale)
            return True

    def close(self, token: str) -> None:
        """End the session of ``token`` (no error if there is none)."""
        with self._lock:
            self._drop(_hash(token))

    def __len__(self) -> int:
        return len(self._sessions)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.created > self.lifetime_s or now - session.seen > self.idle_s

    def _drop(self, digest: str) -> None:
        session = self._sessions.pop(digest, None)
        if session is not None:
            own = self._by_key[session.key_id]
            own.discard(digest)
            if not own:
                del self._by_key[session.key_id]

    def _expire(self, now: float) -> None:
        for h in [h for h, s in self._sessions.items() if self._expired(s, now)]:
            self._drop(h)
