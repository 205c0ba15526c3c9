"""Reason codes as sentences with the customer's values, in English, French and Dutch; the codes stay."""

from __future__ import annotations

from pathlib import Path

from cvm.customers.profile import customer_profile
from cvm.engine import Engine
from cvm.features.sql import FEATURES as FEATURE_COLUMNS
from cvm.i18n import Lang, use_locale
from cvm.scoring.reasons import FEATURES, explain_scores, reasons_text, row_text, sentences

VALUES = {"dpd_mean_365d": 34.2, "sector": "retail", "current_dpd": 12, "channel": "distribution", "mrr": 120.0}


def _in(lang: str, reasons: str, values: dict[str, object] | None = VALUES) -> str:
    with use_locale(Lang(lang)):
        return reasons_text(reasons, values)


def test_feature_codes_become_sentences_with_the_value() -> None:
    codes = "dpd_mean_365d;sector;current_dpd"
    assert _in("en", codes) == (
        "paid on average 34 days late over the last year; works in the retail sector; has an invoice 12 days overdue"
    )
    assert _in("fr", codes) == (
        "paie en moyenne avec 34 jours de retard sur l'année écoulée; travaille dans le secteur retail; "
        "a une facture en retard de 12 jours"
    )
    assert _in("nl", codes) == (
        "betaalt gemiddeld 34 dagen te laat over het afgelopen jaar; werkt in de sector retail; "
        "heeft een factuur die 12 dagen achterstallig is"
    )


def test_amounts_and_codes_inside_sentences_follow_the_language() -> None:
    assert _in("fr", "mrr;channel") == "paie 120\xa0€ par mois en abonnements; est arrivé par le canal distribution"
    assert (
        _in("nl", "mrr;channel")
        == "betaalt €\xa0120 per maand aan abonnementen; kwam binnen via het kanaal distributie"
    )


def test_valued_phrases_of_the_value_scores() -> None:
    assert _in("en", "MRR 120;tenure 14m;one-off 0", None) == (
        "pays €120 a month in subscriptions; customer for 14 months; one-off purchases worth €0 expected"
    )
    assert _in("fr", "exp purchases 2.3;exp spend 45;p_alive 0.87", None) == (
        "devrait acheter 2,3 fois dans les 12 prochains mois; devrait dépenser 45\xa0€ par achat; "
        "87\xa0% de chances d'être encore client"
    )
    assert _in("nl", "no purchase yet", None) == "nog geen aankoop"


def test_missing_values_and_unknown_codes() -> None:
    assert _in("en", "dpd_mean_365d;late_share_90d", {"dpd_mean_365d": None, "late_share_90d": None}) == (
        "no invoice was due over the last year; no invoice was due over the last 90 days"
    )
    assert _in("fr", "dpd_mean_365d", None) == "en raison de\u00a0: dpd_mean_365d"
    assert _in("en", "a_new_code;holds_fibre", {"holds_fibre": 1}) == "a_new_code; already holds fibre"
    assert sentences(None) == [] == sentences("")


def test_every_feature_has_a_sentence() -> None:
    assert set(FEATURES) == set(FEATURE_COLUMNS)


def test_explained_rows_keep_the_codes_and_say_them_again_in_another_language() -> None:
    rows = [{"score": "churn", "value": 0.4, "reasons": "dpd_mean_365d;sector"}, {"score": "clv", "reasons": None}]
    explained = explain_scores(rows, {**VALUES, "unused": 1})
    assert [r["reasons"] for r in explained] == ["dpd_mean_365d;sector", None]
    assert explained[0]["reason_values"] == {"dpd_mean_365d": 34.2, "sector": "retail"}
    assert explained[0]["reasons_text"].startswith("paid on average 34 days late")
    with use_locale(Lang("nl")):
        assert (
            row_text(explained[0])
            == "betaalt gemiddeld 34 dagen te laat over het afgelopen jaar; werkt in de sector retail"
        )


def test_a_customers_profile_has_the_sentences_with_its_own_values(tmp_path: Path) -> None:
    engine = Engine.init(tmp_path / "ws")
    try:
        customers = tmp_path / "customers.csv"
        customers.write_text("customer_id,acquired_at,kind,sector\nC1,2024-01-01,B2B,retail\n", encoding="utf-8")
        payments = tmp_path / "payments.csv"
        payments.write_text(
            "invoice_id,customer_id,due_date,paid_date,amount\nI1,C1,2025-03-01,2025-03-21,100\n"
            "I2,C1,2025-06-01,2025-06-11,200\n",
            encoding="utf-8",
        )
        assert engine.ingest("customers", customers).ok
        assert engine.ingest("payments", payments).ok
        scored = [{"score": "default", "value": 0.2, "as_of": "2025-12-31", "reasons": "dpd_mean_365d;dpd_max_365d"}]
        profile = customer_profile(engine.offline, "C1", scores=scored)
    finally:
        engine.close()
    row = profile["scores"][0]
    assert row["reasons"] == "dpd_mean_365d;dpd_max_365d"
    assert row["reason_values"] == {"dpd_mean_365d": 15.0, "dpd_max_365d": 20}
    assert (
        row["reasons_text"]
        == "paid on average 15 days late over the last year; paid up to 20 days late over the last year"
    )
    with use_locale(Lang("fr_BE")):
        assert row_text(row) == (
            "paie en moyenne avec 15 jours de retard sur l'année écoulée; "
            "a payé jusqu'à 20 jours en retard sur l'année écoulée"
        )


def test_early_warning_reasons() -> None:
    reasons = "points 612->571 since 2025-06-30;grade low->medium;dpd_max_90d"
    assert _in("en", reasons, {"dpd_max_90d": 45}) == (
        "credit score fell from 612 to 571 points since Jun 30, 2025; risk grade went from low to medium; "
        "paid up to 45 days late over the last 90 days"
    )
    assert _in("nl", reasons, {"dpd_max_90d": 45}) == (
        "de kredietscore daalde van 612 naar 571 punten sinds 30 jun 2025; het risiconiveau ging van laag naar "
        "gemiddeld; betaalde tot 45 dagen te laat in de afgelopen 90 dagen"
    )
