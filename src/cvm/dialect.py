"""CVM's SQL is written once, in DuckDB's dialect; this is the one place it becomes Spark SQL (sqlglot).

A module of its own, with nothing of cvm imported, so the CLV pipeline's RFM SQL, the feature definitions
and the Spark backend share it without loading each other (or the stores) when imported.
"""

from __future__ import annotations

from typing import Any


def _percentile(node: Any) -> Any:
    """DuckDB's ``quantile_cont(v, q)`` as Spark's ``percentile(v, q)`` (both interpolate linearly).

    sqlglot writes ``PERCENTILE_CONT(v, q)``, which Spark refuses (its ``percentile_cont`` takes ``WITHIN GROUP``).
    """
    from sqlglot import exp

    if isinstance(node, exp.PercentileCont) and node.expression is not None:
        return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
    return node


def to_spark_sql(sql: str, strict: bool = False) -> str:
    """Transpile ``sql`` (DuckDB) to Spark SQL; ``strict`` refuses a construct sqlglot cannot translate."""
    import sqlglot

    tree = sqlglot.parse_one(sql, read="duckdb").transform(_percentile)
    if strict:
        return str(tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE))
    return str(tree.sql(dialect="spark"))
