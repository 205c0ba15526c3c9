"""CVM's SQL is written once, in DuckDB's dialect; this is the one place it becomes Spark SQL (sqlglot).

A module of its own, with nothing of cvm imported, so the CLV pipeline's RFM SQL, the feature definitions
and the Spark backend share it without loading each other (or the stores) when imported.
"""

from __future__ import annotations


def to_spark_sql(sql: str, strict: bool = False) -> str:
    """Transpile ``sql`` (DuckDB) to Spark SQL; ``strict`` refuses a construct sqlglot cannot translate."""
    import sqlglot

    if strict:
        return str(sqlglot.transpile(sql, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)[0])
    return str(sqlglot.transpile(sql, read="duckdb", write="spark")[0])
