"""One reader for `cvm clv fit` and `cvm ingest`, one error line for every command, JSON that parses (issue 15)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.e2e.test_cli import cvm

HEAVY = ("polars", "duckdb", "numpy", "scipy", "sklearn", "lightgbm", "plotly", "pandas", "fastapi", "sqlalchemy")


def _strict(text: str) -> object:
    """Parse JSON as strict parsers do: NaN and Infinity are refused."""

    def refuse(name: str) -> object:
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def _transactions(customers: int = 150) -> list[tuple[str, date, float]]:
    """A deterministic transaction log: customer k buys every (k % 5 + 3) weeks until it drops out."""
    rows = []
    for k in range(customers):
        start = date(2024, 1, 1) + timedelta(days=(k * 7) % 200)
        for n in range(k % 6 + 1):
            rows.append((f"K{k:04d}", start + timedelta(weeks=n * (k % 5 + 3)), 10 + (k * 37 + n * 11) % 90 + 0.25))
    return rows


def _twins(folder: Path) -> tuple[Path, Path]:
    """The same transactions as an ISO/decimal-point UTF-8 file and a Latin-1 `;`/decimal-comma/dd-mm-yyyy file."""
    rows = _transactions()
    iso, eu = folder / "iso.csv", folder / "export.csv"
    iso.write_text(
        "customer_id,ts,amount\n" + "".join(f"{c},{d.isoformat()},{a:.2f}\n" for c, d, a in rows), encoding="utf-8"
    )
    body = "".join(f"{c};{d:%d/%m/%Y};{a:.2f}\n".replace(".", ",") for c, d, a in rows)
    eu.write_bytes(("N° client;Date d'achat;Montant\n" + body).encode("latin-1"))
    return iso, eu


@pytest.mark.slow
def test_clv_fit_reads_a_european_export_like_its_iso_twin(tmp_path: Path) -> None:
    iso, eu = _twins(tmp_path)
    plain = _strict(cvm("clv", "fit", str(iso), "--spend", "gg", "--json").stdout)
    cols = ["--customer-col", "N° client", "--time-col", "Date d'achat", "--amount-col", "Montant"]
    european = _strict(cvm("clv", "fit", str(eu), *cols, "--json").stdout)
    assert isinstance(plain, dict)
    assert isinstance(european, dict)
    assert european["customers"] == plain["customers"] == 150
    assert european["purchase_model"] == plain["purchase_model"]
    assert european["spend_model"] == plain["spend_model"]
    assert european["totals"] == plain["totals"]
    # the same overrides as `cvm ingest`: forcing them gives the same fit
    forced = ["--delimiter", ";", "--decimal", ",", "--date-format", "%d/%m/%Y", "--encoding", "latin-1"]
    assert _strict(cvm("clv", "fit", str(eu), *cols, *forced, "--json").stdout) == european


def test_clv_fit_names_the_file_line_and_column_of_a_bad_cell(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("customer_id;ts;amount\nK1;01/02/2024;12,50\nK1;03/02/2024;douze\n", encoding="utf-8")
    bad = cvm("clv", "fit", str(path), ok=False)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"error: {path}: line 3: column amount: cannot read 'douze' as a float (1 such cell; set --decimal, "
        "--date-format or --encoding if detection is wrong)"
    ]
    as_json = cvm("clv", "fit", str(path), "--json", ok=False)
    assert as_json.returncode == 2
    assert "line 3: column amount" in _strict(as_json.stdout)["error"]  # type: ignore[index]


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A workspace whose online store is not a database: every command that opens it fails unexpectedly."""
    ws = tmp_path / "ws"
    cvm("init", str(ws))
    (ws / "online.db").write_bytes(b"this is not an SQLite file " * 10)
    return ws


def test_an_unexpected_error_is_one_line_json_under_json_and_a_traceback_with_debug(broken: Path) -> None:
    plain = cvm("audit", "-w", str(broken), ok=False)
    assert plain.returncode == 1
    assert "Traceback" not in plain.stderr
    lines = plain.stderr.strip().splitlines()
    assert len(lines) == 1, plain.stderr
    assert lines[0].startswith("error: unexpected DatabaseError:")
    assert "cvm --debug" in lines[0]
    as_json = cvm("audit", "-w", str(broken), "--json", ok=False)
    assert as_json.returncode == 1
    assert set(_strict(as_json.stdout)) == {"error"}  # type: ignore[arg-type]
    debug = cvm("--debug", "audit", "-w", str(broken), ok=False)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
    assert "DatabaseError" in debug.stderr


def test_a_user_error_is_one_line_with_exit_2(tmp_path: Path) -> None:
    missing = cvm("audit", "-w", str(tmp_path / "nowhere"), ok=False)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nowhere'} is not a CVM workspace (no cvm.yaml); run `cvm init {tmp_path / 'nowhere'}`"
    ]
    assert _strict(cvm("audit", "-w", str(tmp_path / "nowhere"), "--json", ok=False).stdout) == {
        "error": f"{tmp_path / 'nowhere'} is not a CVM workspace (no cvm.yaml); run `cvm init {tmp_path / 'nowhere'}`"
    }


def test_help_lists_the_commands_in_workflow_order() -> None:
    text = cvm("--help").stdout
    order = ["init", "demo", "ingest", "run", "quarantine", "score", "train", "segments", "actions", "worker"]
    order += ["pilot", "policy", "report", "risk", "customer", "serve", "keys", "audit"]
    found = [text.index(f"│ {name} ") for name in order]
    assert found == sorted(found)


def test_the_command_line_loads_no_heavy_library() -> None:
    code = f"import sys, cvm.cli.main; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_csv_writes_any_table_for_a_spreadsheet(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    cvm("init", str(ws))
    out = cvm("--csv", "audit", "-w", str(ws)).stdout
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["at", "actor", "action", "target", "rows"]
    assert [r[2] for r in rows[1:]] == ["workspace.init"]


def test_the_api_answers_cvm_errors_through_one_handler(tmp_path: Path) -> None:
    import httpx

    from tests.serving import cvm_serve

    ws = tmp_path / "ws"
    cvm("init", str(ws))
    key = _strict(cvm("keys", "create", "--role", "admin", "-w", str(ws), "--json").stdout)["key"]  # type: ignore[index]
    with cvm_serve(ws, tmp_path / "serve.log") as url:
        headers = {"X-API-Key": key}
        unknown = httpx.get(f"{url}/customers/NOPE", headers=headers, timeout=30)
        timeline = httpx.get(f"{url}/customers/NOPE/timeline", headers=headers, timeout=30)
        erase = httpx.delete(f"{url}/customers/NOPE", headers=headers, timeout=30)
    for answer in (unknown, timeline, erase):
        assert answer.status_code == 404
        assert answer.json() == {"detail": "unknown customer 'NOPE'"}


def test_short_commands_load_only_what_they_use(tmp_path: Path) -> None:
    from tests.conftest import CUSTOMERS_CSV, write

    ws = tmp_path / "ws"
    cvm("init", str(ws))
    cvm("ingest", "customers", str(write(tmp_path / "c.csv", CUSTOMERS_CSV)), "-w", str(ws))
    unused = ("scipy", "sklearn", "lightgbm", "plotly", "pandas", "duckdb", "fastapi", "pyarrow")
    # The growth report is SQL run by the offline backend (issue 17), so it may load DuckDB and Arrow, nothing more.
    allowed = {"customer show": (), "report growth": ("duckdb", "pyarrow")}
    for command, may_load in allowed.items():
        code = (
            "import sys\nfrom cvm.cli.main import app\n"
            "try:\n"
            f"    app([*{command.split()!r}, '-w', {str(ws)!r}, *(['C1'] if {command!r} == 'customer show' else [])])\n"
            "except SystemExit as done:\n"
            "    assert done.code == 0, done.code\n"
            f"print('loaded:' + ','.join(m for m in {unused!r} if m in sys.modules))"
        )
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        loaded = run.stdout.strip().splitlines()[-1].removeprefix("loaded:")
        assert set(filter(None, loaded.split(","))) <= set(may_load), (command, loaded)
