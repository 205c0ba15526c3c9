"""The filters and period choice of report pages, read from the query string."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import astuple, dataclass, fields

FIELDS = ("kind", "channel", "region", "sector", "segment")
PERIODS = ("month", "quarter", "year")
MAX_VALUE = 100


@dataclass(frozen=True)
class Filters:
    """Customer attributes a report is restricted to; ``None`` means all."""

    kind: str | None = None
    channel: str | None = None
    region: str | None = None
    sector: str | None = None
    segment: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        """Read the filters from query parameters; blank values mean all.

        Examples
        --------
        >>> Filters.from_query({"kind": "B2B", "region": ""})
        Filters(kind='B2B', channel=None, region=None, sector=None, segment=None)
        """
        values = {}
        for name in FIELDS:
            value = (query.get(name) or "").strip()[:MAX_VALUE]
            values[name] = value or None
        return cls(**values)

    def within(self, options: Mapping[str, list[str]]) -> Filters:
        """Drop values that the data does not hold, so that only real choices reach (and fill) the cache.

        Examples
        --------
        >>> Filters(kind="B2B", region="Atlantis").within({"kind": ["B2B", "B2C"], "region": ["North"]})
        Filters(kind='B2B', channel=None, region=None, sector=None, segment=None)
        """
        known = {name: value if value in options.get(name, ()) else None for name, value in self.as_dict().items()}
        return Filters(**known)

    @property
    def active(self) -> bool:
        return any(v is not None for v in astuple(self))

    def as_dict(self) -> dict[str, str]:
        """The filters that are set."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}

    def __getitem__(self, name: str) -> str:
        """The value of filter ``name`` for a form field ('' when unset)."""
        value: str | None = getattr(self, name)
        return value or ""


def read_period(query: Mapping[str, str], default: str = "month") -> str:
    """The period of a report page: month, quarter or year."""
    value = (query.get("period") or default).strip().lower()
    return value if value in PERIODS else default
