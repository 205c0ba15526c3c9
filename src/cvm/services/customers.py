"""Customers: the 360 view, the timeline, the list, and erasure of one customer's personal data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa

from cvm import customers, delivery
from cvm.customers.events import assignments_frame, contact_history_frame
from cvm.customers.listing import value_and_stage
from cvm.experiments import records
from cvm.services.workspace import Audit, Workspace, audited

if TYPE_CHECKING:
    from cvm.customers.erase import Erasure
    from cvm.events.hubrows import HubRows


def _erased(erasure: Erasure, _call: Mapping[str, Any]) -> Audit:
    return Audit("customer.erase", erasure.subject, erasure.total, {"tables": erasure.rows})


class CustomerService:
    """One customer's profile and timeline (offline history plus online contacts), the list, erasure."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def customer(self, customer_id: str) -> dict[str, Any]:
        """The 360 profile of one customer (raises :class:`cvm.customers.UnknownCustomerError`)."""
        online, events = self._online_rows(customer_id), self._events(customer_id)
        return customers.customer_profile(self.ws.offline, customer_id, online=online, events=events)

    def timeline(self, customer_id: str) -> list[dict[str, Any]]:
        """Everything that happened to one customer, newest first."""
        online, events = self._online_rows(customer_id), self._events(customer_id)
        return customers.timeline(self.ws.offline, customer_id, online=online, events=events)

    def customers(self, limit: int = 50, offset: int = 0, q: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """A page of customers (optionally matching ``q``) and the number of matches."""
        return customers.list_customers(self.ws.offline, limit=limit, offset=offset, q=q)

    def scan(self) -> pl.LazyFrame:
        """The customers table, for an adapter's own index (the dashboard's search)."""
        return self.ws.offline.scan("customers")

    def scan_listed(self) -> pl.LazyFrame:
        """The customers table with each customer's value, value grade and stage (:mod:`cvm.customers.listing`)."""
        return self.scan().join(value_and_stage(self.ws.offline), on="customer_id", how="left")

    def known(self, customer_id: str) -> bool:
        """Whether the customers table has ``customer_id``."""
        found = self.scan().filter(pl.col("customer_id") == customer_id).select(pl.len()).collect().item()
        return bool(found)

    def erase(self, customer_id: str, actor: str | None = None) -> Erasure:
        """Erase a customer's personal data everywhere (stores and files); the audit keeps a keyed token of the id."""
        erasure = self._erase(customer_id, actor=actor)
        self.ws.online.vacuum()  # after the audit entry's commit, so no freed page keeps the data
        return erasure

    @audited(_erased)
    def _erase(self, customer_id: str, *, actor: str | None = None) -> Erasure:
        from cvm.customers.erase_everywhere import erase_everywhere  # loads every stage: only when erasing

        return erase_everywhere(self.ws, customer_id)

    def _online_rows(self, customer_id: str) -> dict[str, pl.DataFrame]:
        """The customer's delivered contacts and pilot arms, for the 360 timeline (none before the migrations)."""
        try:
            with self.ws.online.begin() as conn:
                rows = delivery.contact_history_rows(conn, customer_id)
        except sa.exc.DBAPIError:  # an older online store without contact_history
            return {}
        return {"contact_history": contact_history_frame(rows), **self._pilot_rows(customer_id)}

    def _events(self, customer_id: str) -> HubRows | None:
        """The hub rows of the customer's accepted events that ``cvm run`` has not exported yet (at once in the 360)."""
        from cvm.events.export import logged_events
        from cvm.events.hubrows import hub_rows

        try:
            with self.ws.online.read() as conn:
                return hub_rows(logged_events(conn, customer_id))
        except sa.exc.DBAPIError:  # an online store before migration 0006
            return None

    def _pilot_rows(self, customer_id: str) -> dict[str, pl.DataFrame]:
        try:
            with self.ws.online.begin() as conn:
                return {"assignments": assignments_frame(records.for_customer(conn, customer_id))}
        except sa.exc.DBAPIError:  # an online store without the assignments table (before migration 0003)
            return {}
