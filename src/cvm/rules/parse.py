"""Parsing and checking expressions: sqlglot's parser, then a whitelist and a type check.

An expression is parsed by sqlglot (DuckDB dialect) into an AST; nothing is ever
passed to ``eval`` or pasted into SQL as text. The AST must consist only of the
node types in :data:`ALLOWED_NODES`, name only known columns (bare names, no
table qualifiers), call only the functions in :data:`FUNCTIONS`, and carry no
comments or statement separators. A type check then refuses comparisons or
arithmetic between incompatible kinds, so that DuckDB and the in-process
evaluator cannot disagree on an implicit cast.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from cvm.rules.errors import ExpressionError

Kind = Literal["number", "string", "bool", "null", "any"]
MAX_LENGTH = 4000
MAX_DEPTH = 64
"""Most levels an expression may nest: parentheses, function calls, ``CASE``, ``NOT`` and signs each open one
(a chain ``a and b and c ...`` is one level). Counted on the tokens, before the recursive parser runs."""
_RECURSION_LIMIT = 1000 + MAX_DEPTH * 40  # sqlglot's parser uses ~24 Python frames per parenthesis
_OPERAND_END = frozenset(
    {TokenType.VAR, TokenType.NUMBER, TokenType.STRING, TokenType.R_PAREN, TokenType.NULL, TokenType.TRUE,
     TokenType.FALSE, TokenType.END, TokenType.IDENTIFIER, TokenType.IS}
)  # fmt: skip
_CLOSES_PREFIX = frozenset(
    {TokenType.AND, TokenType.OR, TokenType.COMMA, TokenType.WHEN, TokenType.THEN, TokenType.ELSE}
)

COMPARISONS: tuple[type[exp.Expression], ...] = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
ARITHMETIC: tuple[type[exp.Expression], ...] = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)
FUNCTIONS: dict[type[exp.Expression], str] = {
    exp.Coalesce: "coalesce",
    exp.Abs: "abs",
    exp.Least: "least",
    exp.Greatest: "greatest",
    exp.Lower: "lower",
    exp.Upper: "upper",
    exp.Length: "length",
}
ANONYMOUS_FUNCTIONS = frozenset({"is_null"})
ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    *COMPARISONS,
    *ARITHMETIC,
    *FUNCTIONS,
    exp.And,
    exp.Or,
    exp.Not,
    exp.Paren,
    exp.Neg,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
    exp.Is,
    exp.Null,
    exp.Boolean,
    exp.Literal,
    exp.Column,
    exp.Identifier,
    exp.Case,
    exp.If,
    exp.DPipe,
    exp.Anonymous,
)
_ALLOWED = frozenset(ALLOWED_NODES)


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text, sqlglot AST, result kind and the columns it reads."""

    text: str
    tree: exp.Expression
    kind: Kind
    columns: frozenset[str]


def _tokens(text: str) -> list[Token]:
    try:
        tokens = DuckDB().tokenize(text)
    except TokenError as exc:
        raise ExpressionError(text, len(text), f"cannot read the expression: {exc}") from None
    for tok in tokens:
        if tok.comments:
            raise ExpressionError(text, _comment_offset(text), "comments are not allowed")
        if tok.token_type == TokenType.SEMICOLON:
            raise ExpressionError(text, tok.start, "';' is not allowed: an expression is not a statement")
    return tokens


def _check_nesting(text: str, tokens: list[Token]) -> None:
    """Refuse more than :data:`MAX_DEPTH` levels of nesting, from the tokens alone (no recursion).

    ``(`` and ``CASE`` open a level that ``)`` and ``END`` close; a prefix ``NOT``, ``-`` or ``+`` opens one
    that closes with its operand (at the next ``AND``, ``OR``, ``,``, ``WHEN``, ``THEN``, ``ELSE`` or closing
    bracket). The count errs on the high side, never the low side, for prefixes.
    """
    stack: list[TokenType] = []
    previous: TokenType | None = None
    for tok in tokens:
        kind = tok.token_type
        if kind in (TokenType.L_PAREN, TokenType.CASE):
            stack.append(kind)
        elif kind in (TokenType.R_PAREN, TokenType.END):
            opener = TokenType.L_PAREN if kind == TokenType.R_PAREN else TokenType.CASE
            while stack and stack[-1] not in (TokenType.L_PAREN, TokenType.CASE):
                stack.pop()
            if stack and stack[-1] == opener:
                stack.pop()
        elif kind in (TokenType.NOT, TokenType.DASH, TokenType.PLUS) and previous not in _OPERAND_END:
            stack.append(TokenType.NOT)
        elif kind in _CLOSES_PREFIX:
            while stack and stack[-1] == TokenType.NOT:
                stack.pop()
        if len(stack) > MAX_DEPTH:
            raise ExpressionError(text, tok.start, f"the expression nests deeper than {MAX_DEPTH} levels")
        previous = kind


def _ensure_stack_headroom(limit: int = _RECURSION_LIMIT) -> None:
    """Let sqlglot's recursive parser descend :data:`MAX_DEPTH` levels from a deep caller (a web request).

    Raised once when this module is imported (changing it later would upset test runners that watch the
    limit), and only upward: 64 levels take ~1,550 frames, Python's default limit is 1,000.
    """
    if sys.getrecursionlimit() < limit:
        sys.setrecursionlimit(limit)


_ensure_stack_headroom()


def _comment_offset(text: str) -> int:
    """Where the first comment starts, outside quoted strings and names."""
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif text.startswith(("--", "/*"), i):
            return i
    return 0


def _parse_tree(text: str) -> exp.Expression:
    try:
        tree = sqlglot.parse_one(text, read="duckdb", into=exp.Condition)
    except RecursionError:  # a safety net: _check_nesting refuses such input first
        raise ExpressionError(text, 0, f"the expression nests deeper than {MAX_DEPTH} levels") from None
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        offset = _offset(text, int(first.get("line") or 1), int(first.get("col") or 1))
        reason = str(first.get("description") or "cannot parse the expression")
        if reason.startswith("Required keyword"):
            reason = "incomplete expression: an operand is missing"
        elif reason.startswith("Invalid expression / Unexpected token"):
            reason = "unexpected word or symbol"
        raise ExpressionError(text, offset, f"syntax error: {reason}") from None
    if not isinstance(tree, exp.Expression):
        raise ExpressionError(text, 0, "empty expression")
    return tree


def _offset(text: str, line: int, col: int) -> int:
    lines = text.split("\n")
    return sum(len(x) + 1 for x in lines[: line - 1]) + max(col - 1, 0)


_LEAVES = (exp.Column, exp.Identifier, exp.Literal, exp.Null, exp.Boolean)


def _opens_level(parent: exp.Expr, child: exp.Expr) -> int:
    """Whether ``child`` nests one level deeper than ``parent``, as :func:`_check_nesting` counts on the text.

    A parenthesis, a ``WHEN`` branch of a ``CASE``, a leaf and the next link of an ``AND``/``OR`` chain do not.
    """
    if isinstance(parent, exp.Paren) or isinstance(child, (*_LEAVES, exp.If)):
        return 0
    return 0 if isinstance(parent, exp.Connector) and type(child) is type(parent) else 1


class _Checker:
    """Walks a parsed tree: whitelist, known columns and kinds."""

    def __init__(self, text: str, tokens: list[Token], columns: Mapping[str, Kind] | None) -> None:
        self.text = text
        self.tokens = tokens
        self.known = columns
        self.used: set[str] = set()

    def fail(self, node: exp.Expr, reason: str) -> ExpressionError:
        return ExpressionError(self.text, self.position(node), reason)

    def position(self, node: exp.Expr) -> int:
        if isinstance(node, exp.Func) and not isinstance(node, exp.Connector):
            word = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            for tok in self.tokens:
                if tok.text.lower() == word.lower():
                    return tok.start
        ident = node if isinstance(node, exp.Identifier) else node.find(exp.Identifier)
        if ident is not None and ident.meta.get("start") is not None:
            return int(ident.meta["start"])
        for tok in self.tokens:
            if tok.text.lower() == node.key.lower():
                return tok.start
        return 0

    def whitelist(self, tree: exp.Expression) -> None:
        levels: dict[int, int] = {id(tree): 0}
        for node in tree.walk():
            if type(node) not in _ALLOWED or (isinstance(node, exp.Anonymous) and not self._function_ok(node)):
                raise self.fail(node, self._refusal(node))
            level = levels.pop(id(node), 0)
            if level > MAX_DEPTH:
                raise self.fail(node, self._too_deep(node))
            for child in node.iter_expressions():
                levels[id(child)] = level + _opens_level(node, child)
            if isinstance(node, exp.Like | exp.ILike) and node.args.get("escape"):
                raise self.fail(node, "LIKE ... ESCAPE is not supported")

    def _too_deep(self, node: exp.Expr) -> str:
        if node.parent is not None and type(node.parent) is type(node) and isinstance(node, exp.Binary):
            return f"a chain of more than {MAX_DEPTH} {node.key.upper()} operations is not supported"
        return f"the expression nests deeper than {MAX_DEPTH} levels"

    def _function_ok(self, node: exp.Anonymous) -> bool:
        return node.name.lower() in ANONYMOUS_FUNCTIONS

    def _refusal(self, node: exp.Expr) -> str:
        allowed = ", ".join(sorted([*FUNCTIONS.values(), *ANONYMOUS_FUNCTIONS]))
        if isinstance(node, exp.Query | exp.Subquery | exp.Exists):
            return "subqueries are not allowed"
        if isinstance(node, exp.Anonymous):
            return f"unknown function {node.name!r}; allowed functions: {allowed}"
        if isinstance(node, exp.Func):
            return f"function {node.sql_name().lower()!r} is not allowed; allowed functions: {allowed}"
        return f"{node.key.upper()} is not allowed in an expression"

    def kind(self, node: exp.Expression) -> Kind:
        if isinstance(node, exp.Paren):
            return self.kind(node.this)
        if isinstance(node, exp.Column):
            return self._column(node)
        if isinstance(node, exp.Literal):
            return "string" if node.is_string else "number"
        if isinstance(node, exp.Boolean):
            return "bool"
        if isinstance(node, exp.Null):
            return "null"
        if isinstance(node, exp.And | exp.Or):
            for part in node.flatten():  # a long chain is a loop, not a recursion
                self.expect(cast(exp.Expression, part), "bool", node)
            return "bool"
        if isinstance(node, exp.Not):
            self.expect(node.this, "bool", node)
            return "bool"
        if isinstance(node, COMPARISONS):
            self.same(node, [node.this, node.expression])
            return "bool"
        if isinstance(node, exp.Neg):
            self.expect(node.this, "number", node)
            return "number"
        if isinstance(node, ARITHMETIC):
            self.expect(node.this, "number", node)
            self.expect(node.expression, "number", node)
            return "number"
        if isinstance(node, exp.DPipe):
            self.expect(node.this, "string", node)
            self.expect(node.expression, "string", node)
            return "string"
        return self._compound(node)

    def _compound(self, node: exp.Expression) -> Kind:
        if isinstance(node, exp.In):
            self.same(node, [node.this, *node.expressions])
            return "bool"
        if isinstance(node, exp.Between):
            self.same(node, [node.this, node.args["low"], node.args["high"]])
            return "bool"
        if isinstance(node, exp.Like | exp.ILike):
            self.expect(node.this, "string", node)
            self.expect(node.expression, "string", node)
            return "bool"
        if isinstance(node, exp.Is):
            if not isinstance(node.expression, exp.Null):
                raise self.fail(node, "only IS NULL and IS NOT NULL are supported")
            self.kind(node.this)
            return "bool"
        if isinstance(node, exp.Anonymous):
            if len(node.expressions) != 1:
                raise self.fail(node, "is_null takes exactly one argument")
            self.kind(node.expressions[0])
            return "bool"
        if isinstance(node, exp.Case):
            return self._case(node)
        if isinstance(node, exp.Coalesce | exp.Least | exp.Greatest):
            return self.same(node, [node.this, *node.expressions])
        if isinstance(node, exp.Abs):
            return self.expect(node.this, "number", node)
        if isinstance(node, exp.Lower | exp.Upper):
            return self.expect(node.this, "string", node)
        if isinstance(node, exp.Length):
            self.expect(node.this, "string", node)
            return "number"
        raise self.fail(node, f"{node.key.upper()} is not allowed here")

    def _case(self, node: exp.Case) -> Kind:
        subject = node.this
        for branch in node.args.get("ifs") or []:
            if subject is not None:
                self.same(branch, [subject, branch.this])
            else:
                self.expect(branch.this, "bool", branch)
        results = [b.args["true"] for b in node.args.get("ifs") or []]
        if node.args.get("default") is not None:
            results.append(node.args["default"])
        return self.same(node, results)

    def _column(self, node: exp.Column) -> Kind:
        if node.table or not isinstance(node.this, exp.Identifier):
            raise self.fail(node, "qualified names are not allowed; use the bare column name")
        name = node.name
        self.used.add(name)
        if self.known is None:
            return "any"
        if name not in self.known:
            close = difflib.get_close_matches(name, list(self.known), n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise self.fail(node, f"unknown column {name!r}; {hint}known columns: {', '.join(sorted(self.known))}")
        return self.known[name]

    def expect(self, node: exp.Expression, want: Kind, parent: exp.Expression) -> Kind:
        got = self.kind(node)
        if got not in (want, "null", "any"):
            raise self.fail(node, f"{parent.key.upper()} needs a {want} here, not a {got}")
        return want

    def same(self, parent: exp.Expression, nodes: list[exp.Expression]) -> Kind:
        kinds = [self.kind(n) for n in nodes]
        concrete = {k for k in kinds if k not in ("null", "any")}
        if len(concrete) > 1:
            raise self.fail(parent, f"cannot mix {' and '.join(sorted(concrete))} values in {parent.key.upper()}")
        if concrete:
            return concrete.pop()
        return "any" if "any" in kinds else "null"


def parse_expression(text: str, columns: Mapping[str, Kind] | None = None, expect: Kind | None = None) -> Expression:
    """Parse and check ``text``.

    Parameters
    ----------
    text
        The expression, e.g. ``"value_grade = 'high' and days_since_last_purchase > 90"``.
    columns
        Known columns and their kinds; ``None`` skips the column check (syntax and whitelist only).
    expect
        The kind the whole expression must have (``"bool"`` for conditions, ``"number"`` for values).

    Raises
    ------
    ExpressionError
        With the position and the reason.

    Examples
    --------
    >>> parse_expression("tenure_days between 0 and 30", {"tenure_days": "number"}).kind
    'bool'
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(str(text or ""), 0, "empty expression")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(text, MAX_LENGTH, f"the expression is longer than {MAX_LENGTH} characters")
    tokens = _tokens(text)
    _check_nesting(text, tokens)
    tree = _parse_tree(text)
    checker = _Checker(text, tokens, columns)
    checker.whitelist(tree)
    kind = checker.kind(tree)
    if expect is not None and kind not in (expect, "null", "any"):
        raise ExpressionError(text, 0, f"the expression gives a {kind}, but a {expect} is needed here")
    return Expression(text=text, tree=tree, kind=kind, columns=frozenset(checker.used))
