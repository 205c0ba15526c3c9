"""A Belgian company's own exports, mapped once in cvm.yaml, through the inbox, `cvm ingest` and `--from-sql`."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner, Result

from cvm.cli.main import app
from cvm.engine import Engine

SOURCES = """\
sources:
  customers:
    columns: {"N° client": customer_id, "Nom": name, "Date d'acquisition": acquired_at, "Type": kind,
              "Région": region, "Canal": channel}
    values: {kind: {Particulier: B2C, Entreprise: B2B}}
    options: {delimiter: ";", decimal: ",", date_format: "%d/%m/%Y", encoding: latin-1}
  payments:
    columns: {"N° facture": invoice_id, "N° client": customer_id, "Date d'échéance": due_date,
              "Date de paiement": paid_date, "Montant": amount}
    options: {delimiter: ";", decimal: ",", date_format: "%d/%m/%Y"}
  transactions:
    columns: {"Numéro": transaction_id, "N° client": customer_id, "Date": ts, "Montant": amount, "Marge": margin}
    options: {date_format: "%d/%m/%Y %H:%M"}
"""

CUSTOMERS = """\
N° client;Nom;Date d'acquisition;Type;Région;Canal
C001;Éloïse Dupré;03/02/2024;Particulier;Bruxelles;Direct
C002;Brasserie Léon SA;15/11/2023;Entreprise;Liège;Distribution
C003;Jürgen Groß;28/02/2024;particulier;Gent;direct
C004;Café Müller SPRL;01/12/2023;Entreprise;Namur;
C005;Zoë Brontë;31/02/2024;Particulier;Mons;Direct
C006;Ferme du Bois;05/01/2024;Indépendant;Arlon;Direct
"""


def _day(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%d/%m/%Y")


def _payments() -> str:
    return (
        "N° facture;N° client;Date d'échéance;Date de paiement;Montant\n"
        "F-001;C001;15/03/2024;14/03/2024;1.234,50\n"
        f"F-002;C002;{_day(30)};;89,90\n"
        f"F-003;C003;{_day(60)};;12,00\n"
        "F-004;C005;01/04/2024;02/04/2024;50,00\n"
        f"F-005;C004;10/04/2024;{_day(10)};20,00\n"
    )


def _transactions() -> str:
    return (
        "Numéro;N° client;Date;Montant;Marge\n"
        "T1;C001;05/03/2024 10:15;1.250,00;300,50\n"
        "T2;C002;06/03/2024 11:00;-20,00;-5,00\n"
        f"T3;C003;{_day(5)} 09:00;10,00;2,00\n"
        "T4;C004;07/03/2024 09:00;99,99;\n"
    )


def cvm(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result


def _workspace(tmp_path: Path, sources: str = SOURCES) -> Path:
    ws = tmp_path / "ws"
    cvm("init", str(ws))
    config = ws / "cvm.yaml"
    text = config.read_text(encoding="utf-8").replace("\nsources: {}\n", "\n" + sources)
    config.write_text(text.replace("max_reject_ratio: 0.05", "max_reject_ratio: 0.5"), encoding="utf-8")
    return ws


def _drop(ws: Path) -> None:
    """The weekly exports: customers in Latin-1, payments and transactions in UTF-8 with a BOM."""
    (ws / "inbox/customers/klanten.csv").write_bytes(CUSTOMERS.encode("latin-1"))
    (ws / "inbox/payments/factures.csv").write_bytes(_payments().encode("utf-8-sig"))
    (ws / "inbox/transactions/ventes.csv").write_bytes(_transactions().encode("utf-8-sig"))


def _counts(report: dict[str, object]) -> dict[str, tuple[int, int, int, str]]:
    batches = report["batches"]
    assert isinstance(batches, list)
    return {b["table"]: (b["read"], b["accepted"], b["rejected"], b["status"]) for b in batches}


def test_french_exports_flow_through_the_inbox_with_one_saved_mapping(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    _drop(ws)
    first = json.loads(cvm("run", "-w", str(ws), "--json").stdout)
    assert _counts(first) == {
        "customers": (6, 4, 2, "committed"),
        "payments": (5, 3, 2, "committed"),
        "transactions": (4, 3, 1, "committed"),
    }
    quarantine = json.loads(cvm("quarantine", "-w", str(ws), "--json").stdout)
    assert sorted((q["table"], q["line"], q["field"]) for q in quarantine) == [
        ("customers", 6, "acquired_at"),  # 31/02/2024
        ("customers", 7, "kind"),  # Indépendant is not mapped
        ("payments", 5, "customer_id"),  # C005 was rejected
        ("payments", 6, "paid_date"),  # paid in the future
        ("transactions", 4, "ts"),  # in the future
    ]
    _drop(ws)  # the same exports dropped again: nothing is stored twice
    again = json.loads(cvm("run", "-w", str(ws), "--json").stdout)
    assert {t: c[3] for t, c in _counts(again).items()} == dict.fromkeys(
        ("customers", "payments", "transactions"), "unchanged"
    )
    engine = Engine.open(ws)
    try:
        customers = engine.offline.read("customers").sort("customer_id")
        payments = engine.offline.read("payments").sort("invoice_id")
        transactions = engine.offline.read("transactions").sort("transaction_id")
    finally:
        engine.close()
    for frame, key in ((customers, "customer_id"), (payments, "invoice_id"), (transactions, "transaction_id")):
        assert frame[key].is_unique().all()
    assert customers.select("customer_id", "kind", "channel").rows() == [
        ("C001", "B2C", "direct"),
        ("C002", "B2B", "distribution"),
        ("C003", "B2C", "direct"),
        ("C004", "B2B", None),
    ]
    assert customers["name"].to_list()[0] == "Éloïse Dupré"
    assert payments["amount"].to_list() == [1234.5, 89.9, 12.0]
    assert transactions["amount"].to_list() == [1250.0, -20.0, 99.99]


def test_cvm_ingest_uses_the_same_saved_mapping(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    path = tmp_path / "klanten.csv"
    path.write_bytes(CUSTOMERS.encode("latin-1"))
    out = json.loads(cvm("ingest", "customers", str(path), "-w", str(ws), "--json").stdout)
    assert (out["read"], out["accepted"], out["rejected"]) == (6, 4, 2)


def test_from_sql_uses_the_same_saved_mapping(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute('CREATE TABLE klanten ("N° client" text, "Nom" text, "Date d\'acquisition" text, "Type" text)')
        conn.executemany(
            "INSERT INTO klanten VALUES (?, ?, ?, ?)",
            [("C001", "Éloïse", "03/02/2024", "Particulier"), ("C002", "Léon SA", "15/11/2023", "Entreprise")],
        )
    conn.close()
    out = cvm("ingest", "customers", "--from-sql", f"sqlite:///{db}", "--query", "SELECT * FROM klanten", "-w", str(ws))
    assert "committed" in out.stdout
    engine = Engine.open(ws)
    try:
        stored = engine.offline.read("customers").sort("customer_id")
    finally:
        engine.close()
    assert stored.select("customer_id", "kind", pl.col("acquired_at").cast(pl.String)).rows() == [
        ("C001", "B2C", "2024-02-03"),
        ("C002", "B2B", "2023-11-15"),
    ]


def test_flags_override_the_saved_mapping(tmp_path: Path) -> None:
    wrong = SOURCES.replace(
        'delimiter: ";", decimal: ",", date_format: "%d/%m/%Y", encoding',
        'delimiter: "|", decimal: ",", date_format: "%m/%d/%Y", encoding',
    )
    ws = _workspace(tmp_path, wrong)
    path = tmp_path / "klanten.csv"
    path.write_bytes(CUSTOMERS.encode("latin-1"))
    flags = ("--delimiter", ";", "--date-format", "%d/%m/%Y", "--rename", "Région=sector")
    out = json.loads(cvm("ingest", "customers", str(path), *flags, "-w", str(ws), "--json").stdout)
    assert (out["read"], out["accepted"], out["rejected"]) == (6, 4, 2)
    engine = Engine.open(ws)
    try:
        stored = engine.offline.read("customers").sort("customer_id")
    finally:
        engine.close()
    assert stored["sector"].to_list() == ["Bruxelles", "Liège", "Gent", "Namur"]
    assert stored["region"].null_count() == 4
    assert stored["acquired_at"].cast(pl.String).to_list()[0] == "2024-02-03"


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            'sources:\n  customers:\n    columns: {"N° client": custmer_id}\n',
            "sources.customers.columns.\"N° client\": unknown column 'custmer_id' of table customers; columns are "
            "customer_id, name,",
        ),
        (
            "sources:\n  customers:\n    values: {knd: {Particulier: B2C}}\n",
            "sources.customers.values.knd: unknown column 'knd' of table customers",
        ),
        ("sources:\n  clients: {}\n", "sources.clients: unknown table 'clients'; tables are customers, subscriptions"),
        ("sources:\n  payments:\n    options: {decimal: ';'}\n", "sources.payments.options.decimal"),
        ("sources:\n  payments:\n    options: {encoding: klingon}\n", "sources.payments.options.encoding"),
        ("sources:\n  payments:\n    colums: {}\n", "sources.payments.colums"),
    ],
)
def test_a_mapping_to_an_unknown_table_or_column_is_refused_at_load(tmp_path: Path, block: str, message: str) -> None:
    ws = _workspace(tmp_path, block)
    out = cvm("ingest", "customers", str(tmp_path / "none.csv"), "-w", str(ws), code=2)
    assert message in out.output
    assert "Traceback" not in out.output
    cvm("run", "-w", str(ws), code=2)


def test_a_file_refused_under_an_incomplete_mapping_loads_once_the_mapping_is_fixed(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, SOURCES.replace("Particulier: B2C, ", ""))
    (ws / "inbox/customers/klanten.csv").write_bytes(CUSTOMERS.encode("latin-1"))
    refused = json.loads(cvm("run", "-w", str(ws), "--json", code=1).stdout)
    assert _counts(refused)["customers"] == (6, 2, 4, "refused")
    config = ws / "cvm.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("{kind: {", "{kind: {Particulier: B2C, "))
    fixed = json.loads(cvm("run", "-w", str(ws), "--json").stdout)
    assert _counts(fixed)["customers"] == (6, 4, 2, "committed")
    assert not (ws / "inbox/customers/klanten.csv").exists()


def test_frames_keep_the_hub_names_whatever_the_saved_mapping(tmp_path: Path) -> None:
    """API rows and Python frames are in hub column names: the mapping of exports does not touch them."""
    ws = _workspace(tmp_path)
    engine = Engine.open(ws)
    try:
        rows = pl.DataFrame({"customer_id": ["C1"], "acquired_at": ["2024-02-03"], "kind": ["B2C"], "Type": ["x"]})
        result = engine.ingest("customers", rows)
        assert (result.read, result.accepted, result.ignored_columns) == (1, 1, ("type",))
    finally:
        engine.close()


def test_a_file_without_a_mapping_says_how_to_map_it(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, "sources: {}\n")
    path = tmp_path / "klanten.csv"
    path.write_bytes(CUSTOMERS.encode("latin-1"))
    out = cvm("ingest", "customers", str(path), "-w", str(ws), code=2)
    assert "needs column(s) customer_id, acquired_at, kind; the source has n°_client, nom," in out.stderr
    assert "sources.customers.columns in cvm.yaml (`cvm sources suggest FILE --table customers`" in out.stderr
