"""Offline (Parquet + DuckDB) and online (SQLAlchemy) stores, resolved by name."""

from cvm.store.offline import OfflineStore, StoreError, Transaction
from cvm.store.online import OnlineStore
from cvm.store.schema import arrow_schema, empty_frame

__all__ = ["OfflineStore", "OnlineStore", "StoreError", "Transaction", "arrow_schema", "empty_frame"]
