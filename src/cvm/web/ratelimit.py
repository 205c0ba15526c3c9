"""Login rate limits: token buckets per client address and per API key id.

Only failed attempts cost a token. A login takes one token from its address's
bucket and one from its key id's (``cvm_<id>_...``) before the key is checked, and
gets both back if the key was right; with either bucket empty nothing is checked
and the caller is told how long to wait. Buckets refill continuously, so a lockout
ends soon after the failures stop: nobody is locked out for good. The key's bucket
slows a guess at one key spread over many addresses; its owner can still be held up
while such a guess goes on, and can ask for a new key (another key id). A page opened
with an ``X-API-Key`` header obeys the same buckets: a wrong key costs a token, and
with a bucket empty no key is checked (a right one costs nothing, so scripts may fetch
pages in parallel).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

MAX_NAME = 64


class TokenBuckets:
    """``burst`` tokens per name, refilled at ``per_minute`` a minute; bounded in memory.

    Examples
    --------
    >>> now = [0.0]
    >>> buckets = TokenBuckets(per_minute=60, burst=2, clock=lambda: now[0])
    >>> buckets.take("a"), buckets.take("a"), buckets.take("a")
    (0.0, 0.0, 1.0)
    >>> now[0] = 1.0; buckets.take("a")
    0.0
    """

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        max_names: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60
        self.burst = float(burst)
        self.max_names = max_names
        self._clock = clock
        self._levels: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _level(self, name: str, now: float) -> float:
        level, stamp = self._levels.get(name, (self.burst, now))
        return min(self.burst, level + (now - stamp) * self.rate)

    def wait(self, name: str) -> float:
        """Seconds until ``name`` has a token (0 when it has one now); takes nothing."""
        with self._lock:
            return max(0.0, (1 - self._level(name, self._clock())) / self.rate)

    def take(self, name: str) -> float:
        """Take a token: 0 when taken, else the seconds to wait (and nothing is taken)."""
        now = self._clock()
        with self._lock:
            level = self._level(name, now)
            if level < 1:
                return (1 - level) / self.rate
            self._levels[name] = (level - 1, now)
            if len(self._levels) > self.max_names:
                self._prune(now)
            return 0.0

    def give_back(self, name: str) -> None:
        """Return a token taken for ``name``."""
        now = self._clock()
        with self._lock:
            self._levels[name] = (min(self.burst, self._level(name, now) + 1), now)

    def _prune(self, now: float) -> None:
        """Forget the fullest buckets (a full bucket is as good as none) down to 90% of the bound."""
        levels = sorted(self._levels, key=lambda n: self._level(n, now), reverse=True)
        for name in levels[: len(levels) - int(self.max_names * 0.9)]:
            del self._levels[name]


def key_id(presented: str) -> str | None:
    """The key id a presented key names (``cvm_<id>_<secret>``), or ``None`` if it names none."""
    parts = presented.split("_", 2)
    return parts[1][:MAX_NAME] if len(parts) == 3 and parts[0] == "cvm" and parts[1] else None


class LoginLimits:
    """Failed-login limits per client address and per key id."""

    def __init__(self, clients: TokenBuckets, keys: TokenBuckets) -> None:
        self.clients = clients
        self.keys = keys

    def admit(self, client: str, presented: str) -> int:
        """Take a token for a login about to be checked: 0 if admitted, else whole seconds to wait."""
        kid = key_id(presented)
        wait = self.clients.take(client)
        if wait == 0 and kid is not None:
            wait = self.keys.take(kid)
            if wait:
                self.clients.give_back(client)
        return math.ceil(wait)

    def blocked(self, client: str, presented: str) -> int:
        """Whole seconds until a key presented from ``client`` may be checked (0: now); takes nothing."""
        kid = key_id(presented)
        return math.ceil(max(self.clients.wait(client), self.keys.wait(kid) if kid is not None else 0.0))

    def failed(self, client: str, presented: str) -> None:
        """A wrong key that was checked without :meth:`admit` (an ``X-API-Key`` header on a page)."""
        self.clients.take(client)
        kid = key_id(presented)
        if kid is not None:
            self.keys.take(kid)

    def succeeded(self, client: str, presented: str) -> None:
        """The key was right: the tokens taken by :meth:`admit` come back."""
        self.clients.give_back(client)
        kid = key_id(presented)
        if kid is not None:
            self.keys.give_back(kid)
