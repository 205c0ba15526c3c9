"""In-process evaluation of a checked expression for one customer, with SQL semantics.

The tree is compiled once into nested Python closures (no ``eval``). The
semantics follow DuckDB exactly for the whitelisted subset:

- three-valued logic: ``NULL`` (``None``) propagates through comparisons and
  arithmetic; ``AND``/``OR``/``NOT`` follow Kleene logic; ``x IN (...)`` is
  ``NULL`` when nothing matches and the list (or ``x``) holds a ``NULL``;
- ``a / b`` and ``a % b`` give ``NULL`` when ``b`` is 0 (the SQL side compiles
  them with ``NULLIF``); ``%`` truncates towards zero like C;
- ``LIKE`` has no escape character, ``%`` and ``_`` match any character
  including a newline (matched in linear time by :mod:`cvm.rules.like`);
  ``ILIKE`` compares lower-cased text;
- ``least``/``greatest`` ignore ``NULL`` arguments;
- a float ``NaN`` read from a row counts as ``NULL`` (the base tables store
  missing values as ``NULL``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any, cast

from sqlglot import exp

from cvm.rules.like import like_matcher

Row = Mapping[str, Any]
Fn = Callable[[Row], Any]

_COMPARE: dict[type[exp.Expression], Callable[[Any, Any], bool]] = {
    exp.EQ: operator.eq,
    exp.NEQ: operator.ne,
    exp.GT: operator.gt,
    exp.GTE: operator.ge,
    exp.LT: operator.lt,
    exp.LTE: operator.le,
}


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    return math.fmod(a, b)


_ARITH: dict[type[exp.Expression], Callable[[Any, Any], Any]] = {
    exp.Add: operator.add,
    exp.Sub: operator.sub,
    exp.Mul: operator.mul,
    exp.Div: operator.truediv,
    exp.Mod: _mod,
    exp.DPipe: operator.add,
}


def _column(name: str) -> Fn:
    def read(row: Row) -> Any:
        v = row.get(name)
        if isinstance(v, float) and v != v:
            return None
        return v

    return read


def _literal(node: exp.Literal) -> Fn:
    value: Any
    if node.is_string:
        value = node.this
    else:
        text = str(node.this)
        value = int(text) if text.isdigit() else float(text)
    return lambda row: value


def _const(value: Any) -> Fn:
    return lambda row: value


def _and(*parts: Fn) -> Fn:
    """Kleene ``AND`` of a whole chain ``a and b and c ...`` (a loop, so a long chain cannot recurse)."""

    def f(row: Row) -> Any:
        unknown = False
        for part in parts:
            x = part(row)
            if x is False:
                return False
            unknown = unknown or x is None
        return None if unknown else True

    return f


def _or(*parts: Fn) -> Fn:
    """Kleene ``OR`` of a whole chain."""

    def f(row: Row) -> Any:
        unknown = False
        for part in parts:
            x = part(row)
            if x is True:
                return True
            unknown = unknown or x is None
        return None if unknown else False

    return f


def _not(a: Fn) -> Fn:
    def f(row: Row) -> Any:
        x = a(row)
        return None if x is None else not x

    return f


def _binary(op: Callable[[Any, Any], Any], a: Fn, b: Fn, zero_is_null: bool = False) -> Fn:
    def f(row: Row) -> Any:
        x = a(row)
        if x is None:
            return None
        y = b(row)
        if y is None or (zero_is_null and y == 0):
            return None
        return op(x, y)

    return f


def _unary(op: Callable[[Any], Any], a: Fn) -> Fn:
    def f(row: Row) -> Any:
        x = a(row)
        return None if x is None else op(x)

    return f


def _in(subject: Fn, options: list[Fn]) -> Fn:
    def f(row: Row) -> Any:
        x = subject(row)
        if x is None:
            return None
        unknown = False
        for opt in options:
            y = opt(row)
            if y is None:
                unknown = True
            elif x == y:
                return True
        return None if unknown else False

    return f


def _like(subject: Fn, pattern: Fn, insensitive: bool, negate: bool) -> Fn:
    def f(row: Row) -> Any:
        x, p = subject(row), pattern(row)
        if x is None or p is None:
            return None
        if insensitive:
            x, p = x.lower(), p.lower()
        hit = like_matcher(p)(x)
        return hit != negate

    return f


def _case(subject: Fn | None, branches: list[tuple[Fn, Fn]], default: Fn | None) -> Fn:
    def f(row: Row) -> Any:
        s = subject(row) if subject is not None else None
        for cond, value in branches:
            c = cond(row)
            hit = (c is not None and s is not None and s == c) if subject is not None else c is True
            if hit:
                return value(row)
        return default(row) if default is not None else None

    return f


def _coalesce(args: list[Fn]) -> Fn:
    def f(row: Row) -> Any:
        for a in args:
            v = a(row)
            if v is not None:
                return v
        return None

    return f


def _extreme(args: list[Fn], pick: Callable[[list[Any]], Any]) -> Fn:
    def f(row: Row) -> Any:
        values = [v for v in (a(row) for a in args) if v is not None]
        return pick(values) if values else None

    return f


def compile_python(node: exp.Expression) -> Fn:
    """Compile a checked tree (see :func:`cvm.rules.parse_expression`) into a function of a row."""
    c = compile_python
    if isinstance(node, exp.Paren):
        return c(node.this)
    if isinstance(node, exp.Column):
        return _column(node.name)
    if isinstance(node, exp.Literal):
        return _literal(node)
    if isinstance(node, exp.Boolean):
        return _const(bool(node.this))
    if isinstance(node, exp.Null):
        return _const(None)
    if isinstance(node, exp.And):
        return _and(*[c(cast(exp.Expression, part)) for part in node.flatten()])
    if isinstance(node, exp.Or):
        return _or(*[c(cast(exp.Expression, part)) for part in node.flatten()])
    if isinstance(node, exp.Not):
        return _not(c(node.this))
    if type(node) in _COMPARE:
        return _binary(_COMPARE[type(node)], c(node.this), c(node.expression))
    if type(node) in _ARITH:
        zero = isinstance(node, exp.Div | exp.Mod)
        return _binary(_ARITH[type(node)], c(node.this), c(node.expression), zero)
    return _compile_more(node)


def _compile_more(node: exp.Expression) -> Fn:
    c = compile_python
    if isinstance(node, exp.Neg):
        return _unary(operator.neg, c(node.this))
    if isinstance(node, exp.In):
        return _in(c(node.this), [c(e) for e in node.expressions])
    if isinstance(node, exp.Between):
        x = c(node.this)
        return _and(_binary(operator.ge, x, c(node.args["low"])), _binary(operator.le, x, c(node.args["high"])))
    if isinstance(node, exp.Like | exp.ILike):
        negate = bool(node.args.get("negate"))
        return _like(c(node.this), c(node.expression), isinstance(node, exp.ILike), negate)
    if isinstance(node, exp.Is):
        inner = c(node.this)
        return lambda row: inner(row) is None
    if isinstance(node, exp.Anonymous):  # is_null(x), the only one the checker lets through
        inner = c(node.expressions[0])
        return lambda row: inner(row) is None
    if isinstance(node, exp.Case):
        subject = c(node.this) if node.this is not None else None
        branches = [(c(b.this), c(b.args["true"])) for b in node.args.get("ifs") or []]
        default = node.args.get("default")
        return _case(subject, branches, c(default) if default is not None else None)
    args = [c(a) for a in [node.this, *node.expressions]] if node.this is not None else []
    if isinstance(node, exp.Coalesce):
        return _coalesce(args)
    if isinstance(node, exp.Least):
        return _extreme(args, min)
    if isinstance(node, exp.Greatest):
        return _extreme(args, max)
    unary: dict[type[exp.Expression], Callable[[Any], Any]] = {
        exp.Abs: abs,
        exp.Lower: str.lower,
        exp.Upper: str.upper,
        exp.Length: len,
    }
    if type(node) in unary:
        return _unary(unary[type(node)], args[0])
    raise ValueError(f"cannot evaluate {node.key.upper()}")  # the checker refuses it first
