"""What the offline store knows of each customer, cached in memory for real-time decisions.

Reading Parquet per event would cost milliseconds, so the attribute base (one row
per customer as of today: the columns plan expressions read) is computed once and
computed again when the offline manifest changes (a committed batch, a scoring run)
or the date does. The engine passes the loader of the segments stage, so that an
event sees the same attributes as the batch run; without one, the non-personal
columns of ``customers`` and the newest score of each kind are used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from cvm.contracts import table_schema
from cvm.store import OfflineStore

CONSENT_PREFIX = "consent_"
GATHER_MIN_ROWS = 128
"""From this many rows up, :meth:`OfflineSnapshot.prefetch` gathers them at once (faster than row by row)."""
AttributeLoader = Callable[[date], pl.DataFrame]
"""``as_of -> frame``: one row per customer (``customer_id`` first) with the attributes plans read."""


def profile_attributes(store: OfflineStore, as_of: date) -> pl.DataFrame:
    """The fallback attribute base: non-personal ``customers`` columns plus ``<score>`` and ``<score>_grade``."""
    public = [c.name for c in table_schema("customers").columns if not c.pii]
    frame = store.read("customers", public)
    scores = (
        store.scan("scores")
        .filter(pl.col("as_of") <= as_of)
        .sort("as_of")
        .group_by("customer_id", "score")
        .last()
        .collect()
    )
    if scores.height:
        values = scores.pivot(on="score", index="customer_id", values="value")
        grades = scores.with_columns(pl.col("score") + "_grade").pivot(on="score", index="customer_id", values="grade")
        frame = frame.join(values, on="customer_id", how="left").join(grades, on="customer_id", how="left")
    return frame


@dataclass(frozen=True)
class _Base:
    """One load of the attribute base; replaced as a whole, so readers never mix two loads."""

    frame: pl.DataFrame
    known: frozenset[str]
    index: dict[str, int] = field(init=False)
    consent_columns: tuple[str, ...] = field(init=False)
    rows: dict[str, tuple[dict[str, Any], dict[str, bool]]] = field(init=False, default_factory=dict)  # on use

    def __post_init__(self) -> None:
        ids = self.frame["customer_id"].to_list() if "customer_id" in self.frame.columns else []
        object.__setattr__(self, "index", {cid: i for i, cid in enumerate(ids)})
        consent = tuple(c for c in self.frame.columns if c.startswith(CONSENT_PREFIX))
        object.__setattr__(self, "consent_columns", consent)

    def remember(self, customer_id: str, row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bool]]:
        """Cache a row with its consents: ``consent_<channel>`` columns as ``{channel: bool}``, unknowns left out."""
        consents = {c[len(CONSENT_PREFIX) :]: bool(v) for c in self.consent_columns if (v := row.get(c)) is not None}
        entry = self.rows[customer_id] = (row, consents)
        return entry


class OfflineSnapshot:
    """Attributes, consents and time zone per customer id, from the offline store.

    Parameters
    ----------
    store
        The offline store.
    loader
        Computes the attribute base as of a date (default :func:`profile_attributes`).
    clock
        The current time (UTC); its date is the ``as_of`` of the base.
    """

    def __init__(
        self,
        store: OfflineStore,
        loader: AttributeLoader | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.loader = loader or (lambda as_of: profile_attributes(store, as_of))
        self.clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._stamp: tuple[int, ...] | None = None
        self._base = _Base(pl.DataFrame(), frozenset())

    def _current_stamp(self) -> tuple[int, ...]:
        today = self.clock().date().toordinal()
        return (*self.store.stamp(), today)

    def refresh(self) -> None:
        """Load again if the offline store committed, or the day changed, since the last load."""
        stamp = self._current_stamp()
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:
                return
            if not self.store.exists():
                frame, known = pl.DataFrame({"customer_id": []}, schema={"customer_id": pl.Utf8}), frozenset[str]()
            else:
                frame = self.loader(self.clock().date())
                known = frozenset(self.store.read("customers", ["customer_id"])["customer_id"].to_list())
            self._base, self._stamp = _Base(frame, known), stamp

    def known(self, customer_id: str) -> bool:
        """Whether the hub has this customer."""
        return customer_id in self._base.known

    def attributes(self, customer_id: str) -> dict[str, Any]:
        """The customer's row of the attribute base (empty when it has none)."""
        return dict(self.view(customer_id)[0])

    def view(self, customer_id: str) -> tuple[Mapping[str, Any], Mapping[str, bool]]:
        """The customer's row of the attribute base and its consents, shared by every caller: never change them."""
        base = self._base
        entry = base.rows.get(customer_id)
        if entry is None:
            i = base.index.get(customer_id)
            entry = base.remember(customer_id, {} if i is None else base.frame.row(i, named=True))
        return entry

    def prefetch(self, customer_ids: Iterable[str]) -> None:
        """Read the rows of ``customer_ids`` that :meth:`view` has not read yet (many in one gather)."""
        base = self._base
        todo = {cid: i for cid in customer_ids if cid not in base.rows and (i := base.index.get(cid)) is not None}
        if len(todo) < GATHER_MIN_ROWS:  # one gather costs ~0.1 ms however few rows it takes
            for cid, i in todo.items():
                base.remember(cid, base.frame.row(i, named=True))
            return
        names = base.frame.columns
        for cid, values in zip(todo, base.frame[list(todo.values())].rows(), strict=True):
            base.remember(cid, dict(zip(names, values, strict=True)))
