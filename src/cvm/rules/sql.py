"""Compiling a checked expression to DuckDB SQL through sqlglot's AST.

The tree is rewritten, never concatenated as text: columns become quoted
identifiers, number literals get an explicit type (``BIGINT`` or ``DOUBLE``, so
that DuckDB never picks ``DECIMAL`` arithmetic that Python would not match),
``a / b`` and ``a % b`` divide by ``NULLIF(b, 0)``, ``is_null(x)`` becomes
``x IS NULL``, and a ``LIKE`` pattern's backslash matches itself (an explicit ``ESCAPE``, as Spark escapes
with it by default and DuckDB does not). sqlglot renders the string literals with their quotes escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from sqlglot import exp


def _rewrite(node: exp.Expression, inline: Mapping[str, exp.Expression]) -> exp.Expression:
    """Rewrite ``node`` bottom-up (children first), in place where the type stays."""
    if isinstance(node, exp.Column):
        if node.name in inline:
            return exp.Paren(this=inline[node.name].copy())
        return exp.column(node.name, quoted=True)
    if isinstance(node, exp.Literal) and not node.is_string:
        text = str(node.this)
        return exp.cast(exp.Literal.number(text), "BIGINT" if text.isdigit() else "DOUBLE")
    if isinstance(node, exp.And | exp.Or):  # a long chain is rebuilt in a loop, never by recursion
        parts = [_rewrite(cast(exp.Expression, part), inline) for part in node.flatten(unnest=False)]
        chain = parts[0]
        for part in parts[1:]:
            chain = type(node)(this=chain, expression=part)
        return chain
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expression):
            node.set(key, _rewrite(value, inline))
        elif isinstance(value, list):
            node.set(key, [_rewrite(v, inline) if isinstance(v, exp.Expression) else v for v in value])
    if isinstance(node, exp.Div | exp.Mod):
        divisor = exp.Nullif(this=node.expression, expression=exp.cast(exp.Literal.number(0), "BIGINT"))
        return type(node)(this=node.this, expression=divisor)
    if isinstance(node, exp.Like | exp.ILike):
        return _literal_backslash(node)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "is_null":
        return exp.Paren(this=exp.Is(this=node.expressions[0], expression=exp.Null()))
    return node


def _literal_backslash(node: exp.Like | exp.ILike) -> exp.Expression:
    """``LIKE`` where a backslash matches itself on every engine (Spark's default escape is ``\\``, DuckDB has none).

    A pattern holding a backslash gets ``ESCAPE '\\'`` with its backslashes doubled; ``%`` and ``_`` stay wildcards.
    """
    pattern = node.expression
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        if "\\" not in pattern.this:
            return node
        doubled: exp.Expression = exp.Literal.string(pattern.this.replace("\\", "\\\\"))
    else:
        doubled = exp.Anonymous(
            this="replace", expressions=[pattern, exp.Literal.string("\\"), exp.Literal.string("\\\\")]
        )
    node.set("expression", doubled)
    return exp.Escape(this=node, expression=exp.Literal.string("\\"))


def to_sql_tree(tree: exp.Expression, inline: Mapping[str, exp.Expression] | None = None) -> exp.Expression:
    """Return the DuckDB-ready tree of a checked expression.

    ``inline`` maps a column name to an already compiled tree that replaces it
    (used for derived columns such as a segment flag that reads another one).
    """
    mapping = inline or {}
    return exp.Paren(this=_rewrite(tree.copy(), mapping))


def to_sql(tree: exp.Expression, inline: Mapping[str, exp.Expression] | None = None) -> str:
    """Return DuckDB SQL text for a checked expression (for display and for queries we build)."""
    return to_sql_tree(tree, inline).sql(dialect="duckdb")
