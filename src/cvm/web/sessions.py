"""Dashboard sessions: opaque tokens, kept in memory as SHA-256 hashes.

The browser holds a random token in an HttpOnly, SameSite=Strict cookie; the
server keeps only its hash, with the API key it was opened with. Tokens carry 32
random bytes, so a fast hash is safe (as for the API keys themselves). Sessions
live in the serving process: a restart, or a second worker, asks for a new login.
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


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Open sessions by token hash, with an absolute and an idle lifetime.

    Examples
    --------
    >>> store = SessionStore()
    >>> token = store.open("k1", "analyst", None)
    >>> store.get(token).role
    'analyst'
    >>> store.close(token); store.get(token) is None
    True
    """

    def __init__(
        self,
        *,
        lifetime_s: float = 12 * 3600,
        idle_s: float = 2 * 3600,
        max_sessions: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lifetime_s = lifetime_s
        self.idle_s = idle_s
        self.max_sessions = max_sessions
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, key_id: str, role: str, label: str | None) -> str:
        """Open a session for a key; returns the token for the cookie (never stored)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._expire(now)
            if len(self._sessions) >= self.max_sessions:
                oldest = min(self._sessions, key=lambda h: self._sessions[h].seen)
                del self._sessions[oldest]
            self._sessions[_hash(token)] = Session(key_id, role, label, now, now)
        return token

    def get(self, token: str) -> Session | None:
        """The live session of ``token``, or ``None``; marks it as used."""
        digest, now = _hash(token), self._clock()
        with self._lock:
            session = self._sessions.get(digest)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[digest]
                return None
            session = replace(session, seen=now)
            self._sessions[digest] = session
            return session

    def close(self, token: str) -> None:
        """End the session of ``token`` (no error if there is none)."""
        with self._lock:
            self._sessions.pop(_hash(token), None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.created > self.lifetime_s or now - session.seen > self.idle_s

    def _expire(self, now: float) -> None:
        for h in [h for h, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[h]
