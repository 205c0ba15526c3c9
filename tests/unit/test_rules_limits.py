"""Rule expressions: nesting limits before recursion, long chains, and LIKE in linear time with DuckDB's answers."""

from __future__ import annotations

import time

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvm.config.settings import ConfigError, load_settings
from cvm.rules import ExpressionError, compile_rule
from cvm.rules.like import like_matcher
from cvm.rules.parse import MAX_DEPTH

COLUMNS = {"x": "number", "s": "string"}


def _outcome(text: str) -> str:
    """'ok' or the refusal's first line; a RecursionError fails the test."""
    try:
        rule = compile_rule(text, COLUMNS, "bool")  # type: ignore[arg-type]
    except ExpressionError as exc:
        return str(exc).splitlines()[0]
    assert rule.evaluate({"x": 2, "s": "a"}) in (True, False)
    con = duckdb.connect()
    con.execute(f"SELECT {rule.sql()} FROM (SELECT 2 AS x, 'a' AS s)").fetchall()
    return "ok"


@pytest.mark.parametrize(
    ("levels", "expected"),
    [(45, "ok"), (64, "ok"), (65, "column 65"), (1_000, "column 65"), (100_000, "longer than 4000 characters")],
)
def test_nested_parentheses_parse_or_give_a_clear_error(levels: int, expected: str) -> None:
    got = _outcome("(" * levels + "x > 1" + ")" * levels)
    if expected == "ok":
        assert got == "ok"
    else:
        assert "the expression" in got
        assert expected in got


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("not " * MAX_DEPTH + "x > 1", True),
        ("not " * (MAX_DEPTH + 1) + "x > 1", False),
        ("not " * 990 + "x > 1", False),
        ("- " * 63 + "x > 1", True),
        ("- " * 1_000 + "x > 1", False),
        ("abs(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH + " > 1", True),
        ("abs(" * 700 + "x" + ")" * 700 + " > 1", False),
        ("case when " * MAX_DEPTH + "x > 1" + " then true end" * MAX_DEPTH, True),
        ("case when " * (MAX_DEPTH + 1) + "x > 1" + " then true end" * (MAX_DEPTH + 1), False),
        ("not (" * 32 + "x > 1" + ")" * 32, True),
        ("not (" * 33 + "x > 1" + ")" * 33, False),
    ],
)
def test_prefix_and_function_nesting_is_bounded(text: str, ok: bool) -> None:
    got = _outcome(text)
    assert (got == "ok") is ok, got
    if not ok:
        assert f"nests deeper than {MAX_DEPTH} levels" in got


def test_long_and_or_chains_are_one_level() -> None:
    """450 AND-ed terms (about the most that fit in 4,000 characters) compile and evaluate without recursing."""
    assert _outcome(" and ".join(["x>1"] * 450)) == "ok"
    assert _outcome(" or ".join(["x > 5 and s like 'a%'"] * 150)) == "ok"
    chain = compile_rule(" and ".join(["x>1"] * 440 + ["x is null"]), COLUMNS, "bool")  # type: ignore[arg-type]
    assert chain.evaluate({"x": 2}) is False
    assert chain.evaluate({"x": None}) is None


def test_a_long_arithmetic_chain_is_refused_clearly() -> None:
    assert "a chain of more than 64 ADD operations" in _outcome(" + ".join(["x"] * 900) + " > 1")


def test_nesting_error_names_the_config_key(tmp_path: pytest.TempPathFactory) -> None:
    """`cvm serve` would load this config: a clear error with the key path, line and column, not a RecursionError."""
    deep = "(" * 200 + "mrr > 1" + ")" * 200
    (tmp_path / "cvm.yaml").write_text(f"segments:\n  definitions:\n    deep:\n      when: '{deep}'\n")  # type: ignore[operator]
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path)  # type: ignore[arg-type]
    message = str(info.value)
    assert "segments.definitions.deep.when" in message
    assert "nests deeper than 64 levels (line 1, column 65)" in message


# -- LIKE ------------------------------------------------------------------------------------------
def test_like_with_many_wildcards_is_fast() -> None:
    """Was 7.6 s for '%a%a%a%a%a%b' on 100 a's (a backtracking '.*' regex); now linear."""
    rule = compile_rule("s like '%a%a%a%a%a%a%a%a%a%a%b'", COLUMNS, "bool")  # type: ignore[arg-type]
    start = time.perf_counter()
    for _ in range(100):
        assert rule.evaluate({"s": "a" * 3000}) is False
    assert time.perf_counter() - start < 1.0


_ALPHABET = "ab%_\\é\n"
_CON = duckdb.connect()


@settings(max_examples=400, deadline=None)
@given(
    pattern=st.text(alphabet=_ALPHABET, max_size=8),
    texts=st.lists(st.text(alphabet="ab%_\\é\n", max_size=10), min_size=1, max_size=8),
)
def test_like_matches_duckdb(pattern: str, texts: list[str]) -> None:
    """The in-process matcher gives DuckDB's answer on random patterns and strings (no ESCAPE in the language)."""
    got = _CON.execute("SELECT t LIKE ? FROM unnest(?::VARCHAR[]) AS u(t)", [pattern, texts]).fetchall()
    matcher = like_matcher(pattern)
    for text, (want,) in zip(texts, got, strict=True):
        assert matcher(text) is want, (pattern, text)


@pytest.mark.parametrize(
    ("pattern", "text", "want"),
    [("%", "", True), ("", "", True), ("_", "", False), ("a%a", "a", False), ("a%a", "aa", True),
     ("%ab%ab%", "abab", True), ("%ab%ab%", "aba", False), ("_%_", "é\n", True), ("a_c%", "abcde", True)],
)  # fmt: skip
def test_like_edges(pattern: str, text: str, want: bool) -> None:
    assert like_matcher(pattern)(text) is want
    assert _CON.execute("SELECT ? LIKE ?", [text, pattern]).fetchone() == (want,)
