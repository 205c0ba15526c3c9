"""Erasing a customer from data files: only their records go, every other byte stays (issue 19)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cvm.customers.erase_files import Identifiers, data_files, erase_file, erase_files

WHO = Identifiers.of("C9", "Eve.Erase@Example.org", "+31 6 1234 5678")


def test_a_cp1252_semicolon_csv_keeps_its_bytes_but_the_customers_records(tmp_path: Path) -> None:
    keep = [
        "sep=;\r\n",
        "customer_id;name;email;note\r\n",
        'C1;Zoë Müller;zoe@example.org;"two\r\nlines"\r\n',
        "C90;Éva;eva@example.org;C9 is a substring, not a cell\r\n",
    ]
    gone = [
        "C9;Eve Erase;eve@example.org;x\r\n",
        "X1;Eve Erase;EVE.ERASE@example.ORG;case differs\r\n",
        'X2;Eve;other@example.org;"+31 (0)6-1234 5678"\r\n',
    ]
    path = tmp_path / "crm.csv"
    path.write_bytes("".join(keep[:3] + gone[:2] + keep[3:] + gone[2:]).encode("cp1252"))
    os.chmod(path, 0o640)
    assert erase_file(path, WHO) == 2  # +31 (0)6 ... has an extra digit: another number
    kept = path.read_bytes().decode("cp1252")
    assert kept == "".join(keep[:3] + keep[3:] + gone[2:3])
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["crm.csv"]  # no temporary file left


def test_an_id_neutralised_for_spreadsheets_is_still_found() -> None:
    who = Identifiers.of("=HYPERLINK(1)")
    assert who.matches("'=HYPERLINK(1)")
    assert who.matches(" =HYPERLINK(1) ")
    assert not who.matches("'HYPERLINK(1)")


def test_phone_digits_match_whatever_the_punctuation(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("id,phone\nA,+31 6 1234 5678\nB,+31-6-123 456 78\nC,+31 6 1234 5679\n")
    assert erase_file(path, WHO) == 2
    assert path.read_text() == "id,phone\nC,+31 6 1234 5679\n"


def test_utf8_bom_gzip_and_untouched_files(tmp_path: Path) -> None:
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfcustomer_id,amount\nC9,1\nC1,2\n")
    zipped = tmp_path / "t.csv.gz"
    zipped.write_bytes(gzip.compress(b"customer_id,amount\nC9,1\nC1,2\n"))
    other = tmp_path / "other.csv"
    other.write_text("customer_id,amount\nC1,2\n")
    before = os.stat(other)
    assert erase_files(tmp_path, WHO) == {"files..": 2}
    assert bom.read_bytes() == b"\xef\xbb\xbfcustomer_id,amount\nC1,2\n"
    assert gzip.decompress(zipped.read_bytes()) == b"customer_id,amount\nC1,2\n"
    after = os.stat(other)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_parquet_keeps_schema_metadata_and_codec(tmp_path: Path) -> None:
    schema = pa.schema([("customer_id", pa.string()), ("email", pa.string()), ("amount", pa.float64())])
    schema = schema.with_metadata({"origin": "crm"})
    table = pa.table(
        {
            "customer_id": ["C1", "C9", " C9 ", "C2"],
            "email": [None, "x", "y", "EVE.erase@example.org"],
            "amount": [1.0, 2.0, 3.0, 4.0],
        },
        schema=schema,
    )
    path = tmp_path / "actions.parquet"
    pq.write_table(table, path, compression="zstd")
    assert erase_file(path, WHO) == 3
    read = pq.read_table(path)
    assert read.to_pylist() == [{"customer_id": "C1", "email": None, "amount": 1.0}]
    assert read.schema.metadata == {b"origin": b"crm"}
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_json_lines_and_json_arrays(tmp_path: Path) -> None:
    lines = tmp_path / "events.jsonl"
    lines.write_text(
        '{"customer_id": "C1", "n": 1}\n{"customer_id": "C9"}\nnot json,C9\nnot json, with C90\n'
        '{"p": {"to": "eve.erase@example.org"}}\n'
    )
    assert erase_file(lines, WHO) == 3
    assert lines.read_text() == '{"customer_id": "C1", "n": 1}\nnot json, with C90\n'
    array = tmp_path / "rows.json"
    array.write_text(json.dumps([{"customer_id": "C9"}, {"customer_id": "C1"}]))
    assert erase_file(array, WHO) == 1
    assert json.loads(array.read_text()) == [{"customer_id": "C1"}]


def test_text_that_is_not_csv_loses_the_lines_with_a_value(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text('id,note\nC1,"never closed\nC9,x\nC90,mail of C9\nC2;eve.erase@example.org\n')
    assert erase_file(path, WHO) == 2
    assert path.read_text() == 'id,note\nC1,"never closed\nC90,mail of C9\n'


def test_data_files_skip_models_hidden_and_given_folders(tmp_path: Path) -> None:
    for rel in ("inbox/customers/archive/a.csv", "models/churn/v1/booster.txt", ".erasure-key", "offline/x.parquet",
                "exports/actions-1.csv", "demo-data/customers.parquet", "cvm.yaml"):  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    found = sorted(str(p.relative_to(tmp_path)) for p in data_files(tmp_path, skip=[tmp_path / "offline"]))
    assert found == ["demo-data/customers.parquet", "exports/actions-1.csv", "inbox/customers/archive/a.csv"]


def test_a_damaged_file_is_counted_and_the_others_are_done(tmp_path: Path) -> None:
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "bad.csv.gz").write_bytes(b"\x1f\x8b truncated")
    (tmp_path / "ok.csv").write_text("customer_id\nC9\nC1\n")
    assert erase_files(tmp_path, WHO) == {"files.unreadable": 2, "files..": 1}
    assert (tmp_path / "broken.parquet").read_bytes() == b"PAR1 not really"
    assert (tmp_path / "ok.csv").read_text() == "customer_id\nC1\n"


def test_a_file_that_changed_since_it_was_read_is_not_replaced(tmp_path: Path) -> None:
    from cvm.customers.erase_files import _atomic_write, _ChangedError, _signature

    path = tmp_path / "actions-run.csv"
    path.write_text("customer_id\nC9\n")
    read_as = _signature(path)
    with open(path, "a") as fh:  # a worker appends an action meanwhile
        fh.write("C1\n")
    with pytest.raises(_ChangedError):
        _atomic_write(path, b"customer_id\n", read_as)
    assert path.read_text() == "customer_id\nC9\nC1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["actions-run.csv"]
    assert erase_file(path, WHO) == 1  # read again: the appended line stays
    assert path.read_text() == "customer_id\nC1\n"
