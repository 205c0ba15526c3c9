"""The expression language: parsing, refusals with positions, and identical results in DuckDB and in-process."""

from __future__ import annotations

import math
from typing import Any

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvm.rules import ExpressionError, Kind, compile_rule, parse_expression, rule

COLUMNS: dict[str, Kind] = {"n": "number", "x": "number", "s": "string", "t": "string", "f": "bool"}
SPEC_COLUMNS: dict[str, Kind] = {
    "value_grade": "string",
    "churn_grade": "string",
    "default_grade": "string",
    "days_since_last_purchase": "number",
    "nps": "number",
    "kind": "string",
    "mrr": "number",
    "region": "string",
    "tenure_days": "number",
}


@pytest.mark.parametrize(
    ("text", "row", "expected"),
    [
        ("value_grade = 'high' and churn_grade <> 'high' and default_grade = 'low'",
         {"value_grade": "high", "churn_grade": "low", "default_grade": "low"}, True),
        ("days_since_last_purchase > 90 or nps <= 6", {"days_since_last_purchase": 10, "nps": 5}, True),
        ("days_since_last_purchase > 90 or nps <= 6", {"days_since_last_purchase": 10, "nps": None}, None),
        ("kind in ('B2B')", {"kind": "B2C"}, False),
        ("coalesce(mrr, 0) > 100", {"mrr": None}, False),
        ("region like 'N%'", {"region": "North"}, True),
        ("tenure_days between 0 and 30", {"tenure_days": 30}, True),
        ("is_null(mrr)", {}, True),
        ("mrr is not null", {"mrr": 1.0}, True),
        ("case when nps >= 9 then 'promoter' when nps >= 7 then 'passive' else 'detractor' end = 'passive'",
         {"nps": 8}, True),
    ],
)  # fmt: skip
def test_spec_examples(text: str, row: dict[str, Any], expected: Any) -> None:
    r = compile_rule(text, SPEC_COLUMNS, "bool")
    assert r.evaluate(row) is expected
    con = duckdb.connect()
    frame = pl.DataFrame([{c: row.get(c) for c in SPEC_COLUMNS}], schema=_schema(SPEC_COLUMNS))
    con.register("frame", frame.to_arrow())
    assert con.execute(f"SELECT {r.sql()} FROM frame").fetchone()[0] is expected  # type: ignore[index]


def _schema(cols: dict[str, Kind]) -> dict[str, pl.DataType]:
    kinds = {"number": pl.Float64(), "string": pl.Utf8(), "bool": pl.Boolean()}
    return {c: kinds[k] for c, k in cols.items()}


@pytest.mark.parametrize(
    ("text", "fragment", "column"),
    [
        ("1=1; drop table x", "';' is not allowed", 4),
        ("n = 1 -- comment", "comments are not allowed", 7),
        ("n = /* hi */ 1", "comments are not allowed", 5),
        ("(select 1) = 1", "subqueries are not allowed", 1),
        ("exists(select 1)", "subqueries are not allowed", 1),
        ("n in (select n from x)", "not allowed", None),
        ("foo(n) = 1", "unknown function 'foo'", 1),
        ("sum(n) > 1", "function 'sum' is not allowed", 1),
        ("read_csv('x') is null", "not allowed", 1),
        ("cast(n as varchar) = 'a'", "not allowed", 1),
        ("n::int = 1", "not allowed", 1),
        ("other.n = 1", "qualified names are not allowed", 7),
        ("nn = 1", "unknown column 'nn'; did you mean n", 1),
        ("s = 1", "cannot mix number and string", 1),
        ("f and n", "AND needs a bool here", 7),
        ("n = = 1", "syntax error", 5),
        ("n = 'x", "cannot read", None),
        ("", "empty expression", 1),
        ("s like 'a' escape '!'", "not allowed", 1),
        ("n + 1", "gives a number", 1),
    ],
)
def test_refused_with_position(text: str, fragment: str, column: int | None) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_rule(text, COLUMNS, "bool")
    assert fragment in str(info.value)
    if column is not None:
        assert info.value.column == column
        assert f"column {column}" in str(info.value)


def test_unknown_column_lists_known_names() -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression("churn > 1", COLUMNS)
    assert "known columns: f, n, s, t, x" in str(info.value)


def test_strings_stay_literals() -> None:
    r = compile_rule("s = 'x'' or 1=1 --'", COLUMNS, "bool")
    assert r.sql() == "(\"s\" = 'x'' or 1=1 --')"
    assert r.evaluate({"s": "x' or 1=1 --"}) is True
    assert r.columns == frozenset({"s"})


def test_division_by_zero_is_null_in_both() -> None:
    r = compile_rule("n / 0", COLUMNS, "number")
    assert r.evaluate({"n": 1}) is None
    assert duckdb.connect().execute(f"SELECT {r.sql()} FROM (SELECT 1 AS n)").fetchone()[0] is None  # type: ignore[index]


def test_nan_reads_as_null() -> None:
    assert rule("x is null").evaluate({"x": float("nan")}) is True


# -- the same result in DuckDB and in-process, on random expressions and rows -------------------------
def _numbers() -> st.SearchStrategy[str]:
    leaves = st.one_of(
        st.sampled_from(["n", "x", "length(s)"]),
        st.integers(0, 20).map(str),
        st.sampled_from(["1.5", "0.25", "100.0"]),
    )

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "%"]), inner)
        return st.one_of(
            binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda a: f"-({a})"),
            inner.map(lambda a: f"abs({a})"),
            st.tuples(inner, inner).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
            st.tuples(st.sampled_from(["least", "greatest"]), inner, inner).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
            st.tuples(_conditions_leaf(), inner, inner).map(lambda t: f"case when {t[0]} then {t[1]} else {t[2]} end"),
        )

    return st.recursive(leaves, grow, max_leaves=6)


def _strings() -> st.SearchStrategy[str]:
    leaves = st.one_of(st.sampled_from(["s", "t", "'a'", "'B%'", "''", "'a_b'"]))

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            inner.map(lambda a: f"lower({a})"),
            inner.map(lambda a: f"upper({a})"),
            st.tuples(inner, inner).map(lambda t: f"({t[0]} || {t[1]})"),
            st.tuples(inner, inner).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
        )

    return st.recursive(leaves, grow, max_leaves=4)


def _conditions_leaf() -> st.SearchStrategy[str]:
    return st.sampled_from(["f", "n > 3", "s is null", "x <= 0.5", "t like '%a%'"])


def _conditions() -> st.SearchStrategy[str]:
    cmp = st.sampled_from(["=", "<>", "<", "<=", ">", ">="])
    leaves = st.one_of(
        _conditions_leaf(),
        st.tuples(_numbers(), cmp, _numbers()).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        st.tuples(_strings(), cmp, _strings()).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        st.tuples(_numbers(), st.sampled_from(["in (1, 2, 3)", "in (0, null)", "not in (2, 5)"])).map(" ".join),
        st.tuples(_strings(), st.sampled_from(["in ('a', 'b')", "not in ('a', null)"])).map(" ".join),
        st.tuples(_numbers(), _numbers(), _numbers()).map(lambda t: f"{t[0]} between {t[1]} and {t[2]}"),
        st.tuples(_strings(), st.sampled_from(["like", "not like", "ilike"]), st.sampled_from(
            ["'a%'", "'%b_'", "'_'", "'%'", "'A%'", "'a\\%'"])).map(" ".join),
        st.tuples(_numbers(), st.sampled_from(["is null", "is not null"])).map(" ".join),
        _strings().map(lambda a: f"is_null({a})"),
    )  # fmt: skip

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda a: f"not ({a})"),
            st.tuples(inner, st.sampled_from(["true", "false", "null"])).map(lambda t: f"({t[0]}) = {t[1]}"),
        )

    return st.recursive(leaves, grow, max_leaves=5)


_ROW = st.fixed_dictionaries(
    {
        "n": st.one_of(st.none(), st.integers(-20, 20)),
        "x": st.one_of(st.none(), st.floats(-100, 100, allow_nan=False).map(lambda v: round(v, 3))),
        "s": st.one_of(st.none(), st.text(alphabet="abAB%_\\", max_size=4)),
        "t": st.one_of(st.none(), st.text(alphabet="ab_", max_size=3)),
        "f": st.one_of(st.none(), st.booleans()),
    }
)
_CON = duckdb.connect()


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return bool(a == b)


def _check(text: str, rows: list[dict[str, Any]], kind: Kind) -> None:
    r = compile_rule(text, COLUMNS, kind)
    frame = pl.DataFrame(rows, schema={"n": pl.Int64, "x": pl.Float64, "s": pl.Utf8, "t": pl.Utf8, "f": pl.Boolean})
    _CON.register("rows", frame.with_row_index("i").to_arrow())
    got = [v for (v,) in _CON.execute(f"SELECT {r.sql()} FROM rows ORDER BY i").fetchall()]
    _CON.unregister("rows")
    for row, sql_value in zip(rows, got, strict=True):
        py_value = r.evaluate(row)
        assert _same(py_value, sql_value), (text, row, py_value, sql_value, r.sql())


@pytest.mark.parametrize(
    "text",
    ["n % 3", "-n % 3", "x % 2.5", "n % -4", "n / 4", "x / n", "abs(n) * -x", "least(n, x, null)",
     "greatest(null, null)", "coalesce(null, n, 1.5)", "length(s) - 1"],
)  # fmt: skip
def test_arithmetic_edges_agree_with_duckdb(text: str) -> None:
    rows = [{"n": n, "x": x, "s": "ab", "t": None, "f": None} for n in (-7, -1, 0, 5, None) for x in (-2.5, 0.0, 7.25)]
    _check(text, rows, "number")


@pytest.mark.parametrize(
    "text",
    ["s like 'a%'", "s like '%\\%'", "s like 'a\\_'", "s like '_'", "s ilike 'A%'", "s not like '%b'",
     "n in (1, null)", "n not in (1, null)", "s in ('a', null)", "n between x and 3", "not (s is null)",
     "f = null", "(f or null) is null", "(f and null) is null"],
)  # fmt: skip
def test_logic_edges_agree_with_duckdb(text: str) -> None:
    strings = ["a", "ab", "a%", "a\\_", "A", "", "\\", "b\n", None]
    rows = [
        {"n": n, "x": 1.0, "s": s, "t": None, "f": f}
        for s in strings
        for n in (1, 7, None)
        for f in (True, False, None)
    ]
    _check(text, rows, "bool")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_conditions(), rows=st.lists(_ROW, min_size=1, max_size=6))
def test_conditions_agree_with_duckdb(text: str, rows: list[dict[str, Any]]) -> None:
    _check(text, rows, "bool")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_numbers(), rows=st.lists(_ROW, min_size=1, max_size=6))
def test_numbers_agree_with_duckdb(text: str, rows: list[dict[str, Any]]) -> None:
    _check(text, rows, "number")


@settings(max_examples=100, deadline=None)
@given(text=_strings(), rows=st.lists(_ROW, min_size=1, max_size=6))
def test_strings_agree_with_duckdb(text: str, rows: list[dict[str, Any]]) -> None:
    _check(text, rows, "string")
