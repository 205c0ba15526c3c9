"""The expression language of segments, triggers and eligibility rules.

One language, two evaluators with identical results:

- :meth:`Rule.sql` compiles to DuckDB SQL (through sqlglot's AST) to evaluate
  a condition over the whole customer base at once;
- :meth:`Rule.evaluate` evaluates it in-process for one customer (a mapping of
  column values), with the same SQL semantics, ``NULL`` included.

Examples
--------
>>> rule = compile_rule("coalesce(mrr, 0) > 100 and region like 'N%'", {"mrr": "number", "region": "string"})
>>> rule.matches({"mrr": 150.0, "region": "North"})
True
>>> rule.sql()
'(COALESCE("mrr", CAST(0 AS BIGINT)) > CAST(100 AS BIGINT) AND "region" LIKE \\'N%\\')'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlglot import exp

from cvm.rules.errors import ExpressionError
from cvm.rules.parse import ANONYMOUS_FUNCTIONS, FUNCTIONS, Expression, Kind, parse_expression
from cvm.rules.pyeval import Fn, compile_python
from cvm.rules.sql import to_sql, to_sql_tree


@dataclass(frozen=True)
class Rule:
    """A checked expression with its compiled in-process evaluator."""

    expression: Expression
    _fn: Fn = field(repr=False, compare=False)

    @property
    def text(self) -> str:
        return self.expression.text

    @property
    def kind(self) -> Kind:
        return self.expression.kind

    @property
    def columns(self) -> frozenset[str]:
        return self.expression.columns

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        """The value for one row (``None`` for SQL ``NULL``); missing columns read as ``NULL``."""
        return self._fn(row)

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether a condition holds for ``row`` (``NULL`` does not hold, as in SQL ``WHERE``)."""
        return self._fn(row) is True

    def sql_tree(self, inline: Mapping[str, exp.Expression] | None = None) -> exp.Expression:
        """The DuckDB-ready sqlglot tree (see :func:`cvm.rules.sql.to_sql_tree`)."""
        return to_sql_tree(self.expression.tree, inline)

    def sql(self, inline: Mapping[str, exp.Expression] | None = None) -> str:
        """DuckDB SQL text of the expression."""
        return to_sql(self.expression.tree, inline)


def compile_rule(text: str, columns: Mapping[str, Kind] | None = None, expect: Kind | None = None) -> Rule:
    """Parse, check and compile ``text``; see :func:`cvm.rules.parse.parse_expression`."""
    if columns is None:
        return _cached(text, expect)
    return _checked(text, frozenset(columns.items()), expect)


@lru_cache(maxsize=4096)
def _checked(text: str, columns: frozenset[tuple[str, Kind]], expect: Kind | None) -> Rule:
    expr = parse_expression(text, dict(columns), expect)
    return Rule(expr, compile_python(expr.tree))


@lru_cache(maxsize=2048)
def _cached(text: str, expect: Kind | None) -> Rule:
    expr = parse_expression(text, None, expect)
    return Rule(expr, compile_python(expr.tree))


def rule(text: str, expect: Kind | None = None) -> Rule:
    """A compiled rule, cached by text; columns are not checked (the config load did that)."""
    return _cached(text, expect)


__all__ = [
    "ANONYMOUS_FUNCTIONS",
    "FUNCTIONS",
    "Expression",
    "ExpressionError",
    "Kind",
    "Rule",
    "compile_rule",
    "parse_expression",
    "rule",
]
