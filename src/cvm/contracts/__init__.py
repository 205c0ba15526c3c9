"""Typed contracts between stages: table schemas and event models.

This package imports nothing internal to CVM.
"""

from cvm.contracts.tables import (
    CHILD_TABLES,
    DATA_TABLES,
    DERIVED_TABLES,
    QUARANTINE,
    SCORES,
    TABLES,
    Column,
    DType,
    TableSchema,
    table_schema,
)

__all__ = [
    "CHILD_TABLES",
    "DATA_TABLES",
    "DERIVED_TABLES",
    "QUARANTINE",
    "SCORES",
    "TABLES",
    "Column",
    "DType",
    "TableSchema",
    "table_schema",
]
