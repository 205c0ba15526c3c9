"""Erase a customer everywhere, in an order that a crash or a retry cannot spoil.

1. The online store first (events, profile, outbox, contact history, pilot assignments), so that no
   pending action goes out to an erased customer.
2. The data files of the workspace (inbox, exports, demo sources: :mod:`cvm.customers.erase_files`),
   while the offline store still knows the customer's e-mail and phone to find them by.
3. The offline store (:mod:`cvm.customers.erase`), last: until it is done the customer is still
   known, so running the erasure again after a crash finishes the job.

The caller writes the audit entry (with the keyed token of :mod:`cvm.customers.subject`) and then
vacuums the online store, so that no freed page or WAL frame keeps the data.

Imports from sibling stages: erasure must reach every store, and each store's rows are erased
by their owner: :mod:`cvm.events.erase` (event log, profile, outbox, contact history) and
:mod:`cvm.experiments` (``records``: pilot assignments), in one write transaction of
:mod:`cvm.delivery` (``write_transaction``: ``BEGIN IMMEDIATE`` on SQLite, so that the worker
cannot claim a request in between). Copying their deletes here would drift. The saved report tables of
:mod:`cvm.reporting.persisted` hold customer ids, so their owner deletes them too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from cvm import delivery
from cvm.customers.erase import Erasure, erase_customer, identifiers
from cvm.customers.erase_files import erase_files
from cvm.customers.subject import erasure_key, subject_token
from cvm.events.erase import erase_online
from cvm.reporting import persisted

if TYPE_CHECKING:
    from cvm.services.workspace import Workspace


def erase_everywhere(ws: Workspace, customer_id: str) -> Erasure:
    """Erase ``customer_id`` from the online store, the workspace's files and the offline store."""
    from cvm.experiments import records

    with delivery.write_transaction(ws.online) as conn:
        online_rows = erase_online(conn, customer_id)
        if sa.inspect(conn).has_table("assignments"):
            online_rows["assignments"] = records.erase(conn, customer_id)
    who = identifiers(ws.offline, customer_id)
    files = erase_files(ws.root, who, skip=[ws.offline.scratch])  # the store's own folder, or its local scratch
    key = erasure_key(ws.root, ws.settings.privacy.erasure_key)
    erasure = erase_customer(ws.offline, customer_id, subject_token(key, customer_id))
    persisted.forget(ws.offline.scratch)  # the saved report tables hold customer ids (and are stale now)
    return Erasure(erasure.subject, {**erasure.rows, **{f"online.{k}": n for k, n in online_rows.items()}, **files})
