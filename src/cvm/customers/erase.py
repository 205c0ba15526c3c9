"""Erasure of a customer's personal data from every store (GDPR art. 17).

Rows that feed aggregates (revenue, margins, payments, NPS) stay, re-keyed to a
random token that nothing maps back to, with every personal column emptied.
Quarantined rows and logged decisions of the customer are deleted, superseded Parquet files are
removed, and the online store is vacuumed so that no freed page keeps the data.
The audit log keeps a keyed token of the id (:mod:`cvm.customers.subject`); the files
around the stores are handled by :mod:`cvm.customers.erase_files`, and
:mod:`cvm.customers.erase_everywhere` runs every part in order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from cvm.contracts import QUARANTINE, TABLES, TableSchema
from cvm.contracts.tables import DECISION_LOG
from cvm.customers.erase_files import Identifiers
from cvm.customers.profile import UnknownCustomerError
from cvm.store import OfflineStore


@dataclass(frozen=True)
class Erasure:
    """What an erasure changed."""

    subject: str  # a keyed token of the customer id (HMAC), for the audit log
    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def identifiers(store: OfflineStore, customer_id: str) -> Identifiers:
    """The customer's id, e-mail and phone, to find them in files; raises :class:`UnknownCustomerError`."""
    rows = store.scan("customers").filter(pl.col("customer_id") == customer_id).select("email", "phone").collect()
    if rows.height == 0:
        raise UnknownCustomerError(customer_id)
    found = [Identifiers.of(customer_id, r["email"], r["phone"]) for r in rows.iter_rows(named=True)]
    emails = frozenset(e for f in found for e in f.emails)
    return Identifiers(customer_id, emails, frozenset(p for f in found for p in f.phones))


def _anonymised(frame: pl.DataFrame, customer_id: str, token: str, pii: tuple[str, ...]) -> pl.DataFrame:
    mine = pl.col("customer_id") == customer_id
    exprs = [pl.when(mine).then(pl.lit(token)).otherwise(pl.col("customer_id")).alias("customer_id")]
    exprs += [pl.when(mine).then(None).otherwise(pl.col(c)).alias(c) for c in pii]
    return frame.with_columns(exprs)


def _personal_values(store: OfflineStore, customer_id: str) -> list[str]:
    """The customer's personal values as text, to find them in quarantined cells too."""
    pii = list(TABLES["customers"].pii_columns)
    row = store.scan("customers").filter(pl.col("customer_id") == customer_id).select(pii).collect()
    values = row.select(pl.all().cast(pl.Utf8)).to_dicts()
    return [customer_id] + [v for r in values for v in r.values() if v]


def _pieces(store: OfflineStore) -> Iterator[tuple[str, TableSchema, str | None]]:
    """Every table, a partitioned one (scores, features, ...) one partition at a time: memory stays per date."""
    for name, schema in TABLES.items():
        values = store.partitions(name) if schema.partition_by is not None else []
        if not values or len(store.parts(name)) != sum(len(store.parts(name, v)) for v in values):
            yield name, schema, None  # not partitioned, or parts from before partitioning: the whole table
        else:
            for value in values:
                yield name, schema, value


def erase_customer(store: OfflineStore, customer_id: str, subject: str) -> Erasure:
    """Remove the personal data of ``customer_id`` from the offline store, in one transaction.

    ``subject`` is what the returned :class:`Erasure` names the customer by (a keyed token).
    """
    token = f"anon-{uuid.uuid4().hex[:16]}"
    counts: dict[str, int] = {}
    with store.transaction(retain=False) as tx:  # the replaced parts hold the personal data: deleted at once
        known = store.scan("customers").filter(pl.col("customer_id") == customer_id).select(pl.len())
        if int(known.collect().item()) == 0:
            raise UnknownCustomerError(customer_id)
        personal = _personal_values(store, customer_id)
        for name, schema, partition in _pieces(store):
            frame = store.read(name, partition=partition)
            if name == QUARANTINE.name:
                frame = frame.with_columns(
                    pl.when(pl.col("value").is_in(personal))
                    .then(pl.lit(customer_id))
                    .otherwise(pl.col("customer_id"))
                    .alias("customer_id")
                )
            hits = int(frame.select((pl.col("customer_id") == customer_id).sum()).item() or 0)
            if hits == 0:
                continue
            counts[name] = counts.get(name, 0) + hits
            if name in (QUARANTINE.name, DECISION_LOG.name):  # deleted, not re-keyed: nothing aggregates them
                kept = frame.filter(pl.col("customer_id").ne_missing(customer_id))
            else:
                kept = _anonymised(frame, customer_id, token, schema.pii_columns)
            if partition is None:
                tx.replace(name, kept)
            else:
                tx.overwrite_partition(name, partition, kept)
    return Erasure(subject, counts)
