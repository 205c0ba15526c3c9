"""The contact policy: consent, suppression rules, cooldowns, quiet hours and caps.

Caps count contacts in rolling windows of 1, 7 and 30 days (``day``, ``week``,
``month``), per channel and over all channels (less the channels listed in
``exempt_from_total``). A contact at time ``u`` counts in the window ending at
``e`` when ``e - L < u <= e``. Planned contacts in the future count too, so a
new contact at ``t`` must keep every window that contains ``t`` within its cap,
not only the one ending at ``t``.

Quiet hours and days are read in the customer's time zone; an action that
falls in them is deferred to the next allowed moment.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cvm.config.plans import WEEKDAYS, PolicyConfig, QuietHoursConfig
from cvm.plans.runtime import CapRules, Runtime

Contact = tuple[datetime, str, str]


@lru_cache(maxsize=1024)
def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """The zone ``name``, or ``fallback`` when it is empty or unknown."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def consent_refusal(policy: PolicyConfig, consents: Mapping[str, bool], channel: str) -> str | None:
    """Why ``channel`` may not be used, or ``None``; an explicit opt-out always wins."""
    given = consents.get(channel)
    if given is False:
        return f"no consent: the customer opted out of {channel}"
    if policy.consent_required.get(channel, False) and given is not True:  # type: ignore[call-overload]
        return f"no consent: {channel} needs an opt-in"
    return None


# -- quiet hours -------------------------------------------------------------------------------------
def _quiet_time(q: QuietHoursConfig, t: time) -> bool:
    if q.start == q.end:
        return False
    if q.start < q.end:
        return q.start <= t < q.end
    return t >= q.start or t < q.end


def next_allowed(q: QuietHoursConfig, channel: str, at: datetime, tz: ZoneInfo) -> datetime:
    """The first moment at or after ``at`` outside quiet hours and days, in ``at``'s zone."""
    if channel not in q.channels:
        return at
    quiet_days = {WEEKDAYS.index(d) for d in q.days}
    if len(quiet_days) == 7:
        return at
    local = at.astimezone(tz)
    for _ in range(16):
        if local.weekday() in quiet_days:
            day = (local + timedelta(days=1)).date()
            local = datetime.combine(day, time(0, 0), tz)
            continue
        if _quiet_time(q, local.timetz().replace(tzinfo=None)):
            day = local.date() if local.time() < q.end else (local + timedelta(days=1)).date()
            local = datetime.combine(day, q.end, tz)
            continue
        break
    return local.astimezone(at.tzinfo)


# -- caps ----------------------------------------------------------------------------------------------
def fits(times: Sequence[datetime], t: datetime, window: timedelta, cap: int) -> bool:
    """Whether one more contact at ``t`` keeps every rolling window within ``cap``.

    ``times`` must be sorted. Windows that contain ``t`` end at ``t`` or at a
    later contact less than ``window`` after ``t``.
    """
    if cap <= 0:
        return False
    ends = [t, *times[bisect_right(times, t) : bisect_left(times, t + window)]]
    for end in ends:
        inside = bisect_right(times, end) - bisect_right(times, end - window)
        if inside + 1 > cap:
            return False
    return True


def next_fit(times: Sequence[datetime], t: datetime, window: timedelta, cap: int) -> datetime | None:
    """The earliest moment at or after ``t`` where a contact fits, or ``None`` when none does."""
    if cap <= 0:
        return None
    if fits(times, t, window, cap):
        return t
    for u in times:
        candidate = u + window + timedelta(microseconds=1)
        if candidate > t and fits(times, candidate, window, cap):
            return candidate
    return None


class CapBook:
    """Contacts sent or planned for one customer, indexed by channel, for cap checks."""

    def __init__(self, rt: Runtime, contacts: Iterable[Contact]) -> None:
        self.rt = rt
        self.by_channel: dict[str, list[datetime]] = {}
        self.total: list[datetime] = []
        for at, channel, _objective in contacts:
            self.by_channel.setdefault(channel, []).append(at)
            if channel not in rt.exempt:
                self.total.append(at)
        for times in self.by_channel.values():
            times.sort()
        self.total.sort()

    def _rules(
        self, channel: str, caps: CapRules | None = None
    ) -> Iterable[tuple[str, list[datetime], timedelta, int]]:
        own = self.by_channel.get(channel, [])
        for label, is_all, window, cap in (self.rt.caps if caps is None else caps).get(channel, ()):
            yield label, self.total if is_all else own, window, cap

    def blocking(self, channel: str, at: datetime, caps: CapRules | None = None) -> tuple[str, datetime | None] | None:
        """``(cap name, when it frees up)`` of the first cap a contact at ``at`` would break, else ``None``.

        ``caps``: other cap rules than the policy's (a pilot arm's contact-pressure variant).
        """
        for name, times, window, cap in self._rules(channel, caps):
            if (cap >= 1 if not times else fits(times, at, window, cap)) is False:
                return f"{name} cap {cap}", self._free_at(channel, at, caps)
        return None

    def _free_at(self, channel: str, at: datetime, caps: CapRules | None = None) -> datetime | None:
        t: datetime | None = at
        for _ in range(8):
            if t is None:
                return None
            later = [next_fit(times, t, window, cap) for _n, times, window, cap in self._rules(channel, caps)]
            if any(x is None for x in later):
                return None
            new = max([t, *[x for x in later if x is not None]])
            if new == t:
                return t
            t = new
        return t

    def book(self, channel: str, at: datetime) -> None:
        """Count a chosen contact."""
        insort(self.by_channel.setdefault(channel, []), at)
        if channel not in self.rt.exempt:
            insort(self.total, at)


def last_contact(contacts: Iterable[Contact], objective: str, before: datetime) -> datetime | None:
    """The latest contact with ``objective`` at or before ``before``."""
    times = [at for at, _ch, obj in contacts if obj == objective and at <= before]
    return max(times) if times else None
