"""Customer search ignores accents and case: "societe" finds "Société Générale" (issue 16).

The search runs on the offline store (Polars), in the engine's list and the dashboard's index alike;
neither touches the online store, so there is no SQL dialect to check.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import polars as pl
import pytest

from cvm.engine import Engine
from cvm.i18n.fold import fold, fold_expr
from cvm.web.cache import ReportCache
from cvm.web.search import search
from tests.conftest import write

ACCENTED = """customer_id,name,email,acquired_at,kind,region,sector,channel,consent_email
C10,Société Générale,contact@societe.example,2024-01-05,B2B,North,services,direct,true
C11,ÉCOLE Ångström,ecole@example.com,2024-01-05,B2B,North,services,direct,true
C12,Smith & Co,smith@example.com,2024-01-05,B2B,North,services,direct,true
C13,Ofﬁce Müller,office@example.com,2024-01-05,B2B,North,services,direct,true
"""


@pytest.fixture
def accented(loaded: Engine, tmp_path: Path) -> Engine:
    assert loaded.ingest("customers", write(tmp_path / "more.csv", ACCENTED)).ok
    return loaded


@pytest.mark.parametrize(
    ("q", "ids"),
    [
        ("societe", ["C10"]),
        ("SOCIÉTÉ gén", ["C10"]),
        ("generale", ["C10"]),
        ("ecole angstrom", ["C11"]),
        ("école", ["C11"]),
        ("office muller", ["C13"]),  # the ﬁ ligature folds to "fi"
        ("smith", ["C1", "C12"]),  # Ann Smith and Smith & Co
    ],
)
def test_search_ignores_accents_and_case(accented: Engine, q: str, ids: list[str]) -> None:
    rows, count = accented.customers.customers(q=q)
    assert [r["customer_id"] for r in rows] == ids
    assert count == len(ids)
    assert search(accented, ReportCache(), q, 25, 0) == (rows, count)  # the dashboard's index agrees
    assert rows[0]["name"] in {"Société Générale", "ÉCOLE Ångström", "Ofﬁce Müller", "Ann Smith"}  # shown as stored


def test_fold_in_python_and_polars_agree() -> None:
    texts = ["Société Générale", "ÉCOLE Ångström", "Ofﬁce", "Straße", "Łódź", "Çà et là", "naïve café", "ǅemal"]
    folded = pl.Series(texts).to_frame("t").select(fold_expr(pl.col("t")))["t"].to_list()
    assert folded == [fold(t) for t in texts]
    assert fold("Société Générale") == "societe generale"
    assert all(unicodedata.category(c) != "Mn" for c in "".join(folded))
