"""`cvm sources suggest`: a mapping block proposed from French and Dutch exports, pasted, then used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cvm.cli.main import app
from cvm.engine import Engine
from cvm.ingest.synonyms import fold

FR = """\
N° client;Nom;Date d'acquisition;Type;Région;Canal;Chiffre d'affaires
C001;Éloïse Dupré;03/02/2024;Particulier;Bruxelles;Direct;1.234,50
C002;Brasserie Léon SA;15/11/2023;Entreprise;Liège;Revendeur;99,90
C003;Jürgen Groß;28/02/2024;particulier;Namur;direct;12,00
"""

NL = """\
Factuurnr;Klant nr;Vervaldatum;Betaaldatum;Bedrag;Opmerking
F1;C001;15.03.2024;14.03.2024;1.234,50;ok
F2;C002;15.04.2024;;89,90;
"""


def cvm(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_fold_ignores_accents_case_and_punctuation() -> None:
    assert fold("N° Client") == fold("n_client") == "n client"
    assert fold("Date d'échéance") == "date d echeance"
    assert fold("  Klant-Nr. ") == "klant nr"


def test_french_latin1_export(tmp_path: Path) -> None:
    path = tmp_path / "klanten.csv"
    path.write_bytes(FR.encode("latin-1"))
    got = json.loads(cvm("sources", "suggest", str(path), "--table", "customers", "--json"))
    assert got["columns"] == {
        "N° client": "customer_id",
        "Nom": "name",
        "Date d'acquisition": "acquired_at",
        "Type": "kind",
        "Région": "region",
        "Canal": "channel",
    }
    assert got["values"] == {
        "kind": {"Particulier": "B2C", "Entreprise": "B2B"},
        "channel": {"Revendeur": "distribution"},
    }
    assert got["options"] == {"delimiter": ";", "decimal": ",", "date_format": "%d/%m/%Y", "encoding": "cp1252"}
    assert got["unmatched_headers"] == ["Chiffre d'affaires"]
    assert got["missing_required"] == []
    assert '# not matched, ignored unless mapped: "Chiffre d\'affaires"' in got["yaml"]


def test_pasted_suggestions_load_and_ingest(tmp_path: Path) -> None:
    """The YAML the user pastes is valid configuration, and the files then load with no rejected row."""
    fr, nl = tmp_path / "klanten.csv", tmp_path / "facturen.csv"
    fr.write_bytes(FR.encode("latin-1"))
    nl.write_text(NL, encoding="utf-8")
    blocks = [
        yaml.safe_load(cvm("sources", "suggest", str(fr), "--table", "customers")),
        yaml.safe_load(cvm("sources", "suggest", str(nl), "--table", "payments")),
    ]
    ws = tmp_path / "ws"
    Engine.init(ws).close()
    config = ws / "cvm.yaml"
    sources = {**blocks[0]["sources"], **blocks[1]["sources"]}
    text = yaml.safe_dump({"sources": sources}, allow_unicode=True)
    config.write_text(config.read_text(encoding="utf-8").replace("\nsources: {}\n", "\n" + text), encoding="utf-8")
    engine = Engine.open(ws)
    try:
        customers = engine.ingest("customers", fr)
        payments = engine.ingest("payments", nl)
        stored = engine.offline.read("payments").sort("invoice_id")
    finally:
        engine.close()
    assert (customers.read, customers.accepted, payments.read, payments.accepted) == (3, 3, 2, 2)
    assert stored["amount"].to_list() == [1234.5, 89.9]


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("Klantnummer", "customer_id"),
        ("numéro client", "customer_id"),
        ("Date d'échéance", "due_date"),
        ("vervaldatum", "due_date"),
        ("Montant", "amount"),
        ("date de paiement", "paid_date"),
        ("N° facture", "invoice_id"),
    ],
)
def test_dutch_and_french_headers_of_payments(tmp_path: Path, header: str, column: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(f"{header},x\n1,2\n", encoding="utf-8")
    got = json.loads(cvm("sources", "suggest", str(path), "--table", "payments", "--json"))
    assert got["columns"] == {header: column}
    assert got["unmatched_headers"] == ["x"]


def test_dutch_customers_export(tmp_path: Path) -> None:
    path = tmp_path / "klanten.csv"
    text = (
        "Klantnummer;Naam;Klant sinds;Soort klant;Provincie;Verkoopkanaal;Kleur\n"
        "K1;Jan Peeters;03-02-2024;Particulier;Antwerpen;Distributie;rood\n"
        "K2;Bakkerij Claes BV;15-11-2023;Bedrijf;Limburg;Rechtstreeks;blauw\n"
        "K3;An Maes;28-02-2024;Vereniging;Gent;Direct;groen\n"
    )
    path.write_bytes(text.encode("utf-8-sig"))
    got = json.loads(cvm("sources", "suggest", str(path), "--table", "customers", "--json"))
    assert got["columns"] == {
        "Klantnummer": "customer_id",
        "Naam": "name",
        "Klant sinds": "acquired_at",
        "Soort klant": "kind",
        "Provincie": "region",
        "Verkoopkanaal": "channel",
    }
    assert got["values"] == {
        "kind": {"Particulier": "B2C", "Bedrijf": "B2B"},
        "channel": {"Distributie": "distribution", "Rechtstreeks": "direct"},
    }
    assert got["unmapped_values"] == {"kind": ["Vereniging"]}
    assert got["options"] == {"delimiter": ";", "date_format": "%d-%m-%Y"}
    assert got["unmatched_headers"] == ["Kleur"]
    assert "# kind: values not recognised: Vereniging" in got["yaml"]


def test_missing_file_or_unknown_table_is_one_line(tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["sources", "suggest", str(tmp_path / "none.csv"), "--table", "customers"])
    assert missing.exit_code == 2
    assert "none.csv: file not found" in missing.stderr
    assert "Traceback" not in missing.output
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    unknown = CliRunner().invoke(app, ["sources", "suggest", str(path), "--table", "clients"])
    assert unknown.exit_code == 2
    assert "unknown table 'clients'" in unknown.stderr
