"""Readers: real files in tmp_path, detection of format/encoding/delimiter, overrides, line numbers."""

from __future__ import annotations

import datetime as dt
import gzip
import sqlite3
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from cvm.ingest.coerce import coerce
from cvm.ingest.readers import (
    ReadOptions,
    SourceError,
    normalise_header,
    read_frame,
    read_source,
    read_sql,
)


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_european_latin1_semicolon_decimal_comma(tmp_path: Path) -> None:
    text = (
        "Klant ID;Naam;Bedrag;Datum\r\n"
        "C1;José Müller;1.234,56;31/12/2024\r\n"
        "C2;Zoë;12,5;05/03/2024\r\n"
        "C3;Jürgen;-7;\r\n"
    )
    raw = read_source(_write(tmp_path / "klanten.csv", text, "latin-1"))
    assert raw.info.format == "csv"
    assert raw.info.encoding == "cp1252"
    assert raw.info.delimiter == ";"
    assert raw.info.decimal == ","
    assert raw.frame.columns == ["klant_id", "naam", "bedrag", "datum", "__line__"]
    assert raw.frame["naam"].to_list() == ["José Müller", "Zoë", "Jürgen"]
    assert raw.frame["__line__"].to_list() == [2, 3, 4]
    assert raw.frame["klant_id"].dtype == pl.String
    amount = coerce(raw.frame["bedrag"], "float", decimal=raw.info.decimal)
    assert amount.values.to_list() == [1234.56, 12.5, -7.0]
    day = coerce(raw.frame["datum"], "date", date_format=raw.info.date_format)
    assert day.values.to_list() == [dt.date(2024, 12, 31), dt.date(2024, 3, 5), None]
    assert day.invalid.to_list() == [False, False, False]
    assert day.detail == "date format %d/%m/%Y"


def test_latin1_bytes_undefined_in_cp1252_fall_back_to_latin1(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes(b"id,name\n1,Andr\xe9\x81\n")
    raw = read_source(path)
    assert raw.info.encoding == "latin-1"
    assert raw.frame["name"].to_list() == ["André\x81"]


def test_utf8_bom_header_and_crlf(tmp_path: Path) -> None:
    path = _write(tmp_path / "bom.csv", "\ufeffCustomer ID,Name\r\nC1,Ørsted\r\n")
    raw = read_source(path)
    assert raw.info.encoding == "utf-8-sig"
    assert raw.frame.columns == ["customer_id", "name", "__line__"]
    assert raw.frame.rows() == [("C1", "Ørsted", 2)]


def test_utf16_bom(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes("id;naam\n1;Ærø\n".encode("utf-16"))
    raw = read_source(path)
    assert raw.info.encoding == "utf-16"
    assert raw.frame.rows() == [("1", "Ærø", 2)]


@pytest.mark.parametrize(("name", "sep"), [("tabs.tsv", "\t"), ("pipes.txt", "|")])
def test_tab_and_pipe_delimiters(tmp_path: Path, name: str, sep: str) -> None:
    text = sep.join(["id", "name", "amount"]) + "\n" + sep.join(["1", "Smith, J.", "3.5"]) + "\n"
    raw = read_source(_write(tmp_path / name, text))
    assert raw.info.delimiter == sep
    assert raw.frame.rows() == [("1", "Smith, J.", "3.5", 2)]


def test_forced_delimiter_beats_detection(tmp_path: Path) -> None:
    path = _write(tmp_path / "semi.csv", "a;b;c,d\n1;2;3,4\n5;6;7,8\n")
    assert read_source(path).info.delimiter == ";"
    raw = read_source(path, ReadOptions(delimiter=","))
    assert raw.info.delimiter == ","
    assert raw.frame.columns == ["a;b;c", "d", "__line__"]
    assert raw.frame["d"].to_list() == ["4", "8"]


def test_forced_options_are_reported_and_used(tmp_path: Path) -> None:
    path = _write(tmp_path / "us.csv", 'id,day,amount\n1,03/05/2024,"1,234"\n')
    options = ReadOptions(date_format="%m/%d/%Y", decimal=",", encoding="latin-1")
    raw = read_source(path, options)
    assert (raw.info.date_format, raw.info.decimal, raw.info.encoding) == ("%m/%d/%Y", ",", "iso8859-1")
    day = coerce(raw.frame["day"], "date", date_format=raw.info.date_format)
    assert day.values.to_list() == [dt.date(2024, 3, 5)]
    assert coerce(raw.frame["amount"], "float", decimal=raw.info.decimal).values.to_list() == [1.234]


def test_excel_sep_hint_line(tmp_path: Path) -> None:
    raw = read_source(_write(tmp_path / "excel.csv", "sep=;\nid;name\n1;a,b\n"))
    assert raw.info.delimiter == ";"
    assert raw.frame.rows() == [("1", "a,b", 3)]


def test_quoted_newlines_give_exact_physical_lines(tmp_path: Path) -> None:
    text = (
        "\n"  # line 1: blank before the header
        'id;"note\nwith break";amount\r\n'  # lines 2-3: header with a quoted newline
        '1;"multi\nline\nnote";5\n'  # lines 4-6
        "\n"  # line 7: blank record, dropped
        '2;"a;b";6\n'  # line 8
        '3;"x\r\ny";7\r\n'  # lines 9-10
        '4;"say ""hi""";8'  # line 11, no final newline
    )
    raw = read_source(_write(tmp_path / "quoted.csv", text))
    assert raw.frame.columns == ["id", "note\nwith_break", "amount", "__line__"]
    assert raw.frame["id"].to_list() == ["1", "2", "3", "4"]
    assert raw.frame["__line__"].to_list() == [4, 8, 9, 11]
    assert raw.frame["note\nwith_break"].to_list() == ["multi\nline\nnote", "a;b", "x\r\ny", 'say "hi"']
    assert raw.frame["__line__"].dtype == pl.Int64


def test_line_numbers_many_rows(tmp_path: Path) -> None:
    rows = [f'{i},"v{i}\nmore",x' if i % 3 == 0 else f"{i},v{i},x" for i in range(30_000)]
    raw = read_source(_write(tmp_path / "many.csv", "id,v,w\n" + "\n".join(rows) + "\n"))
    ids = [int(i) for i in raw.frame["id"].to_list()]
    expected = [2 + i + (i + 2) // 3 for i in ids]  # one extra line per earlier multi-line record
    assert raw.frame["__line__"].to_list() == expected


def test_blank_lines_and_empty_values(tmp_path: Path) -> None:
    raw = read_source(_write(tmp_path / "blank.csv", 'a,b\n1,\n\n,\n"",2\n'))
    assert raw.frame.rows() == [("1", None, 2), (None, "2", 5)]


def test_jsonl_with_blank_lines(tmp_path: Path) -> None:
    text = (
        '{"Customer ID": "C1", "amount": 12.50, "active": true, "tags": {"a": [1, 2]}}\n'
        "\n"
        "   \n"
        '{"Customer ID": "C2", "amount": "", "extra": 7}\n'
    )
    raw = read_source(_write(tmp_path / "events.jsonl", text))
    assert raw.info.format == "jsonl"
    assert raw.frame.columns == ["customer_id", "amount", "active", "tags", "extra", "__line__"]
    assert raw.frame.rows() == [
        ("C1", "12.5", "true", '{"a": [1, 2]}', None, 1),
        ("C2", None, None, None, "7", 4),
    ]
    assert all(raw.frame[c].dtype == pl.String for c in raw.frame.columns if c != "__line__")


def test_json_array_and_bad_json_line(tmp_path: Path) -> None:
    raw = read_source(_write(tmp_path / "array.json", '[{"id": 1}, {"id": 2}]'))
    assert raw.frame.rows() == [("1", 1), ("2", 2)]
    shapes = _write(tmp_path / "shapes.jsonl", '{"id": 1, "x": 5}\r\n{"id": 2, "x": {"k": [1]}}\r\n')
    assert read_source(shapes).frame.rows() == [("1", "5", 1), ("2", '{"k": [1]}', 2)]
    with pytest.raises(SourceError, match=r"scalar\.jsonl: line 2: expected a JSON object, got list"):
        read_source(_write(tmp_path / "scalar.jsonl", '{"id": 1}\n[1]\n'))
    bad = _write(tmp_path / "bad.ndjson", '{"id": 1}\n\n{"id": \n')
    with pytest.raises(SourceError, match=r"bad\.ndjson: line 3: invalid JSON"):
        read_source(bad)


def test_parquet_typed_passthrough(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "Customer ID": ["C1", "C2"],
            "n": [1, 2],
            "amount": [1.5, None],
            "day": [dt.date(2024, 1, 2), dt.date(2024, 2, 3)],
            "ts": [dt.datetime(2024, 1, 2, 3, 4), None],
        }
    )
    path = tmp_path / "typed.parquet"
    frame.write_parquet(path)
    raw = read_source(path)
    assert raw.info.format == "parquet"
    assert raw.info.encoding is None
    assert raw.info.delimiter is None
    assert raw.frame.columns == ["customer_id", "n", "amount", "day", "ts", "__line__"]
    assert raw.frame.schema["n"] == pl.Int64
    assert raw.frame.schema["day"] == pl.Date
    assert raw.frame["__line__"].to_list() == [1, 2]
    assert raw.frame["amount"].to_list() == [1.5, None]


def test_gzip_csv(tmp_path: Path) -> None:
    path = tmp_path / "export.csv.gz"
    path.write_bytes(gzip.compress("id|name\n1|Zoë\n2|Ana\n".encode()))
    raw = read_source(path)
    assert raw.info.format == "csv"
    assert raw.info.delimiter == "|"
    assert raw.frame.rows() == [("1", "Zoë", 2), ("2", "Ana", 3)]


def test_read_sql_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute('CREATE TABLE klanten ("Klant ID" TEXT, bedrag REAL, mixed)')
        conn.executemany("INSERT INTO klanten VALUES (?, ?, ?)", [("C1", 1.5, 1), ("C2", None, "x")])
    conn.close()
    raw = read_sql(f"sqlite:///{db}", 'SELECT "Klant ID", bedrag, mixed FROM klanten ORDER BY 1')
    assert raw.source == f"sql:sqlite:///{db}"
    assert raw.info.format == "sql"
    assert raw.frame.columns == ["klant_id", "bedrag", "mixed", "__line__"]
    assert raw.frame.rows() == [("C1", 1.5, "1", 1), ("C2", None, "x", 2)]
    with pytest.raises(SourceError, match="query failed: no such table: nope"):
        read_sql(f"sqlite:///{db}", "SELECT * FROM nope")


def test_read_sql_hides_password() -> None:
    with pytest.raises(SourceError) as info:
        read_sql("postgresql+psycopg://crm:s3cret@127.0.0.1:1/crm", "SELECT 1")
    message = str(info.value)
    assert message.startswith("sql:postgresql+psycopg://crm:***@127.0.0.1:1/crm: cannot connect")
    assert "s3cret" not in message


def test_empty_missing_and_unknown_files(tmp_path: Path) -> None:
    empty = _write(tmp_path / "empty.csv", "")
    with pytest.raises(SourceError, match=r"empty\.csv: empty file"):
        read_source(empty)
    with pytest.raises(SourceError, match=r"blank\.csv: empty file"):
        read_source(_write(tmp_path / "blank.csv", "\ufeff\r\n\n"))
    with pytest.raises(SourceError, match=r"nothere\.csv: file not found"):
        read_source(tmp_path / "nothere.csv")
    with pytest.raises(SourceError, match=r"data\.xlsx: unknown format"):
        read_source(_write(tmp_path / "data.xlsx", "x"))
    with pytest.raises(SourceError, match="unknown format 'xml'"):
        read_source(empty, ReadOptions(format="xml"))  # type: ignore[arg-type]


def test_forced_encoding_that_cannot_decode(tmp_path: Path) -> None:
    path = tmp_path / "l1.csv"
    path.write_bytes("id;naam\n1;José\n".encode("latin-1"))
    with pytest.raises(SourceError, match=r"l1\.csv: cannot decode with encoding 'utf-8'"):
        read_source(path, ReadOptions(encoding="utf-8"))
    with pytest.raises(SourceError, match="unknown encoding 'klingon'"):
        read_source(path, ReadOptions(encoding="klingon"))


def test_malformed_csv(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"ragged\.csv: malformed CSV"):
        read_source(_write(tmp_path / "ragged.csv", "a,b\n1,2,3\n"))


def test_header_normalisation_and_rename(tmp_path: Path) -> None:
    assert normalise_header("\ufeff  Klant-Naam First ") == "klant_naam_first"
    path = _write(tmp_path / "h.csv", " Customer ID ,Klant-Naam,,E-Mail\nC1,Ana,x,a@b.c\n")
    raw = read_source(path, ReadOptions(rename={"Klant-Naam": "name", "e_mail": "email", "absent": "x"}))
    assert raw.frame.columns == ["customer_id", "name", "column_3", "email", "__line__"]
    dup = _write(tmp_path / "dup.csv", "Name,name ,id\na,b,c\n")
    with pytest.raises(SourceError, match=r"dup\.csv: duplicate column names after normalisation: name"):
        read_source(dup)
    with pytest.raises(SourceError, match="duplicate column names after rename: id"):
        read_source(path, ReadOptions(rename={"customer_id": "id", "klant_naam": "id"}))


def test_file_level_decimal_left_open_when_columns_disagree(tmp_path: Path) -> None:
    raw = read_source(_write(tmp_path / "mixed.csv", "a;b\n12,5;3.25\n"))
    assert raw.info.decimal is None
    raw = read_source(_write(tmp_path / "dots.csv", "a,b\n12.5,x\n"))
    assert raw.info.decimal == "."


def test_read_frame_pandas_polars_arrow() -> None:
    pdf = pd.DataFrame({"Customer ID": ["C1", "C2"], "Amount": [1.5, 2.0]})
    raw = read_frame(pdf)
    assert raw.source == "<dataframe>"
    assert raw.frame.columns == ["customer_id", "amount", "__line__"]
    assert raw.frame.rows() == [("C1", 1.5, 1), ("C2", 2.0, 2)]
    arrow = read_frame(pa.table({"X-Y": [1, 2, 3]}), name="arrow")
    assert arrow.frame.rows() == [(1, 1), (2, 2), (3, 3)]
    assert arrow.frame.columns == ["x_y", "__line__"]
    original = pl.DataFrame({"A": [True]})
    assert read_frame(original, options=ReadOptions(rename={"a": "flag"})).frame.columns == [
        "flag",
        "__line__",
    ]
    assert original.columns == ["A"]
    mixed = read_frame(pd.DataFrame({"a": [1, "x", None], 3: [1.5, None, 2.0]}))
    assert mixed.frame.columns == ["a", "3", "__line__"]
    assert mixed.frame.rows() == [("1", 1.5, 1), ("x", None, 2), (None, 2.0, 3)]
    with pytest.raises(SourceError, match="expected a pandas, polars or Arrow table"):
        read_frame([1, 2])
