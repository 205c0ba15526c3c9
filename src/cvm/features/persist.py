"""The persisted ``features`` table: the features of one ``as_of``, written into its own partition.

One query (the feature definitions of :mod:`cvm.features.sql`, with the ``holds_<product>`` flags folded
into ``products_held`` so that the stored columns do not change with the products sold) runs on the
offline backend (:mod:`cvm.store.backend`: DuckDB record batches or Spark ``mapInArrow``, the same code)
into the ``features`` partition of its date. The old partition is dropped in the same transaction, so
readers see the old features or the new ones, never a mix, and a killed write leaves the old ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from cvm.contracts.features import PRODUCTS_HELD
from cvm.contracts.tables import FEATURES_TABLE
from cvm.features.sql import date_literal, feature_query, product_column, product_slug, string_literal
from cvm.store.backend import Capability, OfflineBackend

if TYPE_CHECKING:
    import pyarrow as pa

TABLE = FEATURES_TABLE.name


@dataclass(frozen=True)
class FeatureReport:
    """What one write of the features of ``as_of`` stored, and on which backend."""

    as_of: date
    rows: int
    products: tuple[str, ...]
    backend: str

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of, "rows": self.rows, "products": list(self.products), "backend": self.backend}


def products_query(as_of: date) -> str:
    """The products subscribed before ``as_of`` (those that get a ``holds_<product>`` flag)."""
    return (
        f"SELECT DISTINCT product FROM subscriptions WHERE start < {date_literal(as_of)} "
        "AND product IS NOT NULL ORDER BY product"
    )


def stored_query(as_of: date, products: Sequence[str]) -> str:
    """The feature query as of ``as_of`` with exactly the columns of the ``features`` table (DuckDB SQL)."""
    cols = ", ".join(f"f.{c.name}" for c in FEATURES_TABLE.columns if c.name != PRODUCTS_HELD)
    flag = "CASE WHEN f.{} = 1 THEN {} END"
    held = ", ".join(flag.format(product_column(p), string_literal(product_slug(p))) for p in products)
    products_held = f"concat_ws(';', {held})" if products else "''"
    return f"SELECT {cols}, {products_held} AS {PRODUCTS_HELD}\nFROM ({feature_query(as_of, products)}) AS f"


def _rows(batch: pa.RecordBatch) -> pa.Table:
    """The per-batch step: the query's rows are already the table's (the backend conforms the types)."""
    import pyarrow as pa

    return pa.Table.from_batches([batch])


def write_features(backend: OfflineBackend, as_of: date) -> FeatureReport:
    """Compute the features of every customer as of ``as_of`` and replace their partition of ``features``."""
    backend.require(Capability.PARTITION_OVERWRITE, f"overwrite the {TABLE} partition as_of={as_of}")
    found = backend.query(products_query(as_of)).column("product").to_pylist()
    products = sorted({str(p) for p in found}, key=lambda p: (product_slug(p), p))
    with backend.store.transaction() as tx:
        tx.drop_partition(TABLE, as_of)
        backend.map_into(tx, TABLE, stored_query(as_of, products), _rows, partition=as_of, per_customer=True)
    return FeatureReport(as_of, stored_rows(backend, as_of), tuple(products), backend.name)


def stored_rows(backend: OfflineBackend, as_of: date) -> int:
    """Rows of the stored features partition of ``as_of`` (0 when it was never written)."""
    import polars as pl

    return int(backend.store.scan(TABLE, as_of).select(pl.len()).collect().item())


def ensure_features(backend: OfflineBackend, as_of: date) -> FeatureReport | None:
    """Write the features of ``as_of`` unless its partition is stored already; the report when written."""
    if backend.store.partitions(TABLE).count(as_of.isoformat()):
        return None
    return write_features(backend, as_of)
