"""Small closed vocabularies that commands name in their help: plain data, no imports.

The modules that use them (:mod:`cvm.access.keys`, :mod:`cvm.delivery.outbox`) import them from here,
so that ``cvm --help`` lists them without loading the stores.
"""

from __future__ import annotations

ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset({"read", "write", "admin"}),
    "analyst": frozenset({"read"}),
    "ingest": frozenset({"write"}),
}
"""API key roles and the permissions each grants."""

ACTION_STATUSES = ("pending", "in_flight", "delivered", "dead", "awaiting_confirmation", "rejected")
"""Statuses of an action request in the outbox (``awaiting_confirmation``: waits for a person, never sent before)."""

CONFIRM_OBJECTIVES = ("end",)
"""Objectives of steps that end a relationship: their requests wait for a person (``cvm actions confirm``)."""
