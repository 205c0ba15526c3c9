"""Typed coercion: exact values, per-cell invalid masks, detection of decimal marks and date formats."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from cvm.ingest.coerce import coerce, decimal_evidence, detect_date_format, detect_decimal

UTC = dt.UTC


def S(*values: object) -> pl.Series:
    return pl.Series("col", list(values))


def test_float_decimal_comma_thousands_and_signs() -> None:
    out = coerce(S("1.234,56", "12,5", "-3", "+4", "1,5e3", "12,50-", "1 234,5", "0,75", "", None), "float")
    assert out.detail == "decimal ','"
    assert out.values.to_list() == [1234.56, 12.5, -3.0, 4.0, 1500.0, -12.5, 1234.5, 0.75, None, None]
    assert not out.invalid.any()
    assert out.values.dtype == pl.Float64
    assert out.values.name == "col"


def test_float_decimal_point_thousands_and_scientific() -> None:
    out = coerce(S("1,234.56", "12.5", "1e-3", "-2.5E2", ".5", "1,234,567"), "float")
    assert out.detail == "decimal '.'"
    assert out.values.to_list() == [1234.56, 12.5, 0.001, -250.0, 0.5, 1234567.0]


def test_float_invalid_cells_are_flagged_not_raised() -> None:
    out = coerce(S("12abc", "7", "inf", "NaN", "€ 5", "1.2.3", "  ", "1,23"), "float", decimal=".")
    assert out.values.to_list() == [None, 7.0, None, None, None, None, None, None]
    assert out.invalid.to_list() == [True, False, True, True, True, True, False, True]


def test_forced_decimal_beats_detection() -> None:
    values = S("1.234", "2.500")
    assert coerce(values, "float").values.to_list() == [1.234, 2.5]
    assert coerce(values, "float", decimal=",").values.to_list() == [1234.0, 2500.0]


def test_detect_decimal() -> None:
    assert detect_decimal(S("1.234,56", "3")) == ","
    assert detect_decimal(S("12,5", None, "7")) == ","
    assert detect_decimal(S("1,234.56")) == "."
    assert detect_decimal(S("1.234", "1,234")) == "."  # ambiguous: default point
    assert detect_decimal(S("0,123")) == ","  # no thousands group starts with 0
    assert decimal_evidence(S("12,5", "1.234.567", "3.25", "1.234")) == (2, 1)


def test_int_rules() -> None:
    out = coerce(S("12", " 7 ", "12.0", "1e3", "12.5", "abc", "99999999999999999999", "-0"), "int")
    assert out.values.to_list() == [12, 7, 12, 1000, None, None, None, 0]
    assert out.invalid.to_list() == [False, False, False, False, True, True, True, False]
    assert out.values.dtype == pl.Int64
    comma = coerce(S("1.234", "12,0", "1.234.567"), "int", decimal=",")
    assert comma.values.to_list() == [1234, 12, 1234567]
    assert coerce(S("1,234", "5"), "int").values.to_list() == [1234, 5]


def test_plain_numbers_fast_path_keeps_big_ints_exact() -> None:
    out = coerce(S("9007199254740993", "-9223372036854775808"), "int")
    assert out.values.to_list() == [9007199254740993, -9223372036854775808]
    assert coerce(S("1", "2.5", "-3e2"), "float").values.to_list() == [1.0, 2.5, -300.0]


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("true", True), ("FALSE", False), ("Yes", True), ("no", False), ("y", True), ("N", False),
        ("1", True), ("0", False), ("t", True), ("F", False), ("ja", True), ("Nee", False),
        ("oui", True), ("NON", False), ("wahr", True), ("falsch", False), ("nein", False),
    ],
)  # fmt: skip
def test_bool_vocabulary(word: str, value: bool) -> None:
    out = coerce(S(f" {word} "), "bool")
    assert out.values.to_list() == [value]
    assert out.invalid.to_list() == [False]


def test_bool_invalid_and_typed() -> None:
    out = coerce(S("maybe", "", None, "2"), "bool")
    assert out.values.to_list() == [None, None, None, None]
    assert out.invalid.to_list() == [True, False, False, True]
    ints = coerce(pl.Series([1, 0, 2, None]), "bool")
    assert ints.values.to_list() == [True, False, None, None]
    assert ints.invalid.to_list() == [False, False, True, False]


def test_day_first_dates_and_impossible_dates() -> None:
    values = S("31/12/2024", "05/03/2024", "31/02/2024", "29/02/2023", "5/3/2024", "05/03/24", "")
    out = coerce(values, "date")
    assert out.detail == "date format %d/%m/%Y"
    assert out.values.to_list() == [
        dt.date(2024, 12, 31), dt.date(2024, 3, 5), None, None, dt.date(2024, 3, 5), None, None,
    ]  # fmt: skip
    assert out.invalid.to_list() == [False, False, True, True, False, True, False]
    assert out.values.dtype == pl.Date


def test_ambiguous_dates_default_day_first() -> None:
    values = S("01/02/2024", "03/04/2024", "12/11/2024")
    assert detect_date_format(values) == "%d/%m/%Y"
    assert coerce(values, "date").values.to_list() == [
        dt.date(2024, 2, 1), dt.date(2024, 4, 3), dt.date(2024, 11, 12),
    ]  # fmt: skip


def test_month_first_only_when_unambiguous_and_forced_pattern() -> None:
    us = S("03/25/2024", "03/05/2024")
    assert detect_date_format(us) == "%m/%d/%Y"
    assert coerce(us, "date").values.to_list() == [dt.date(2024, 3, 25), dt.date(2024, 3, 5)]
    forced = coerce(S("03/05/2024", "2024-01-31"), "date", date_format="%m/%d/%Y")
    assert forced.values.to_list() == [dt.date(2024, 3, 5), dt.date(2024, 1, 31)]
    assert forced.detail == "date format %m/%d/%Y"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2024-03-05", "2024-12-31"], "%Y-%m-%d"),
        (["2024-03-05T10:00:00Z"], "%Y-%m-%dT%H:%M:%S"),
        (["05.03.2024 10:00"], "%d.%m.%Y %H:%M"),
        (["05-03-2024", "31-12-2024"], "%d-%m-%Y"),
        (["31/12/2024 23:59:58"], "%d/%m/%Y %H:%M:%S"),
        (["2024/12/31"], "%Y/%m/%d"),
        (["hello", "12"], None),
        ([None], None),
    ],
)
def test_detect_date_format(values: list[str | None], expected: str | None) -> None:
    assert detect_date_format(pl.Series(values, dtype=pl.String)) == expected


def test_other_separators_and_mixed_iso() -> None:
    out = coerce(S("05.03.2024", "2024-03-06", "07.03.2024 08:30", "garbage"), "timestamp")
    assert out.values.to_list() == [
        dt.datetime(2024, 3, 5, tzinfo=UTC),
        dt.datetime(2024, 3, 6, tzinfo=UTC),
        dt.datetime(2024, 3, 7, 8, 30, tzinfo=UTC),
        None,
    ]
    assert out.invalid.to_list() == [False, False, False, True]


def test_timestamps_with_offsets_become_utc() -> None:
    out = coerce(
        S(
            "2024-03-01T10:00:00+02:00",
            "2024-03-01T10:00:00-05:30",
            "2024-03-01T10:00:00Z",
            "2024-03-01 10:00:00.123456+0100",
            "2024-03-01T10:00Z",
            "2024-03-01T10:00:00.5+01",
            "2024-03-01T25:00:00Z",
        ),
        "timestamp",
        tz="Europe/Amsterdam",
    )
    assert out.values.dtype == pl.Datetime("us", "UTC")
    assert out.values.to_list() == [
        dt.datetime(2024, 3, 1, 8, 0, tzinfo=UTC),
        dt.datetime(2024, 3, 1, 15, 30, tzinfo=UTC),
        dt.datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
        dt.datetime(2024, 3, 1, 9, 0, 0, 123456, tzinfo=UTC),
        dt.datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
        dt.datetime(2024, 3, 1, 9, 0, 0, 500000, tzinfo=UTC),
        None,
    ]
    assert out.invalid.to_list() == [False] * 6 + [True]


def test_naive_timestamps_use_tz_and_dst_gap_is_invalid() -> None:
    out = coerce(
        S("2024-07-01 12:00:00", "2024-01-15", "15/01/2024 08:00", "2024-03-31 02:30:00"),
        "timestamp",
        tz="Europe/Amsterdam",
    )
    assert out.values.to_list() == [
        dt.datetime(2024, 7, 1, 10, 0, tzinfo=UTC),
        dt.datetime(2024, 1, 14, 23, 0, tzinfo=UTC),
        dt.datetime(2024, 1, 15, 7, 0, tzinfo=UTC),
        None,
    ]
    assert out.invalid.to_list() == [False, False, False, True]
    assert out.detail == "date formats ISO 8601 and %d/%m/%Y"


def test_date_column_takes_the_written_date_of_timestamps() -> None:
    out = coerce(S("2024-03-01T23:30:00-05:00", "2024-03-02 08:00:00", "2024-03-03T10:00:00Z"), "date")
    assert out.values.to_list() == [dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)]
    bad = coerce(S("2024-03-01T99:00:00"), "date")
    assert bad.invalid.to_list() == [True]


def test_typed_numbers() -> None:
    assert coerce(pl.Series([1, 2, None]), "float").values.to_list() == [1.0, 2.0, None]
    floats = coerce(pl.Series([1.0, 2.5, float("nan"), None]), "int")
    assert floats.values.to_list() == [1, None, None, None]
    assert floats.invalid.to_list() == [False, True, False, False]
    money = pl.Series([Decimal("12.50"), Decimal("3"), None])
    assert coerce(money, "float").values.to_list() == [12.5, 3.0, None]
    assert coerce(money, "int").invalid.to_list() == [True, False, False]
    assert coerce(S("1e400"), "float").invalid.to_list() == [True]
    bools = coerce(pl.Series([True, False]), "float")
    assert bools.invalid.to_list() == [True, True]
    dates = coerce(pl.Series([dt.date(2024, 1, 1)]), "int")
    assert dates.invalid.to_list() == [True]


def test_typed_temporals() -> None:
    day = coerce(pl.Series([dt.date(2024, 1, 2), None]), "timestamp", tz="Europe/Amsterdam")
    assert day.values.to_list() == [dt.datetime(2024, 1, 2, tzinfo=UTC), None]
    naive = coerce(pl.Series([dt.datetime(2024, 1, 2, 3, 0)]), "timestamp", tz="Europe/Amsterdam")
    assert naive.values.to_list() == [dt.datetime(2024, 1, 2, 2, 0, tzinfo=UTC)]
    aware = pl.Series([dt.datetime(2024, 1, 2, 23, 30)]).dt.replace_time_zone("America/New_York")
    assert coerce(aware, "timestamp").values.to_list() == [dt.datetime(2024, 1, 3, 4, 30, tzinfo=UTC)]
    assert coerce(aware, "date", tz="America/New_York").values.to_list() == [dt.date(2024, 1, 2)]
    assert coerce(aware, "date").values.to_list() == [dt.date(2024, 1, 3)]
    assert coerce(pl.Series([5]), "date").invalid.to_list() == [True]


def test_strings_from_text_and_typed_values() -> None:
    out = coerce(S("  Ana  ", "", None, "x"), "string")
    assert out.values.to_list() == ["Ana", None, None, "x"]
    assert not out.invalid.any()
    assert coerce(pl.Series([1.5, None]), "string").values.to_list() == ["1.5", None]
    assert coerce(pl.Series([True]), "string").values.to_list() == ["true"]
    cat = pl.Series(["a", "b"], dtype=pl.Categorical)
    assert coerce(cat, "string").values.to_list() == ["a", "b"]


def test_all_null_column() -> None:
    out = coerce(pl.Series("x", [None, None]), "date")
    assert out.values.to_list() == [None, None]
    assert out.values.dtype == pl.Date
    assert not out.invalid.any()


def test_large_series_is_vectorised() -> None:
    n = 200_000
    values = pl.Series([f"{d % 28 + 1:02d}/{d % 12 + 1:02d}/2024" for d in range(n)])
    out = coerce(values, "date")
    assert out.values.null_count() == 0
    assert out.values[29] == dt.date(2024, 6, 2)
    amounts = coerce(pl.Series([f"{i % 1000}.{i % 1000:03d},{i % 100:02d}" for i in range(n)]), "float")
    assert amounts.values[1234] == 234234.34
    assert amounts.values[5] == 5005.05


def test_rejects_unknown_arguments() -> None:
    with pytest.raises(ValueError, match="decimal"):
        coerce(S("1"), "float", decimal=";")
    with pytest.raises(ValueError, match="unknown dtype"):
        coerce(S("1"), "money")  # type: ignore[arg-type]
