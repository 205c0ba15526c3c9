"""Binding values into a query as typed SQL literals, so the same text runs on DuckDB and on Spark.

DuckDB takes ``$name`` parameters; a query handed to an offline backend (:mod:`cvm.store.backend`) is one
string that Spark runs transpiled by sqlglot, so its values are bound here instead: each ``$name`` of the
parsed tree is replaced by a literal node of its Python type (``DATE '...'`` as ``CAST('...' AS DATE)``,
``BIGINT``, ``DOUBLE``, a quoted string, ``TRUE``/``FALSE``, ``NULL``), rendered by sqlglot with its quotes
escaped for each dialect. No value is ever concatenated into SQL text.

Examples
--------
>>> from datetime import date
>>> bind("SELECT * FROM t WHERE d < $as_of AND s = $s", {"as_of": date(2024, 1, 31), "s": "it's"})
"SELECT * FROM t WHERE d < CAST('2024-01-31' AS DATE) AND s = 'it''s'"
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import sqlglot
from sqlglot import exp

from cvm.errors import BadValueError


def literal(value: Any) -> exp.Expression:
    """The typed SQL literal of a Python value (``None``, bool, int, float, str, date)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.cast(exp.Literal.number(value), "BIGINT")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadValueError(f"cannot bind the non-finite number {value!r} into a query")
        return exp.cast(exp.Literal.number(repr(value)), "DOUBLE")
    if isinstance(value, datetime):
        raise BadValueError("bind a date, not a datetime: the offline queries compare UTC dates")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise BadValueError(f"cannot bind a {type(value).__name__} into a query")


def bind(sql: str, params: Mapping[str, Any]) -> str:
    """``sql`` (DuckDB dialect) with every ``$name`` replaced by the literal of ``params[name]``.

    ``WITH ... AS MATERIALIZED`` hints are dropped (Spark has none; DuckDB materialises a CTE read twice).
    """
    tree = sqlglot.parse_one(sql, read="duckdb")

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder | exp.Parameter):
            name = node.name
            if name not in params:
                raise KeyError(f"the query needs a value for ${name}")
            return literal(params[name])
        if isinstance(node, exp.CTE) and node.args.get("materialized"):
            node.set("materialized", None)
        return node

    return tree.transform(swap).sql(dialect="duckdb")
