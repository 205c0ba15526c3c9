"""Score reasons over the API and in acceptance decisions: the codes stay, sentences with values come next to them."""

from __future__ import annotations

import httpx
import pytest

from cvm.api import create_app
from cvm.engine import Engine
from cvm.i18n import Lang, use_locale
from cvm.risk.accept import Acceptor
from cvm.scoring.reasons import FEATURES
from tests.integration.test_lifecycle_scores import FIRST, _at, engine, trained
from tests.serving import serve

__all__ = ["engine", "trained"]  # the trained workspace of test_lifecycle_scores
pytestmark = pytest.mark.slow


def test_reasons_come_as_sentences_next_to_the_codes(engine: Engine) -> None:
    key = engine.access.create_key("analyst")[1]
    scored = _at(engine, FIRST)
    cid = scored.filter(scored["score"] == "churn")["customer_id"][0]
    with serve(create_app(engine)) as base, httpx.Client(base_url=base, timeout=60) as client:
        view = client.get(f"/customers/{cid}", headers={"X-API-Key": key}).json()
        history = client.get(f"/customers/{cid}/scores", headers={"X-API-Key": key}).json()
    rows = {r["score"]: r for r in view["scores"]}
    churn_row = rows["churn"]
    codes = churn_row["reasons"].split(";")
    assert set(codes) <= set(FEATURES) | {"no adverse factor"}
    sentences = churn_row["reasons_text"].split("; ")
    assert len(sentences) == len(codes)
    assert not any(code in churn_row["reasons_text"] for code in codes)  # sentences, not feature names
    assert set(churn_row["reason_values"]) == set(codes) - {"no adverse factor"}
    assert all("reasons_text" in r and "reasons" in r for r in history["data"])

    decision = Acceptor.open(engine.workspace).decide({"dpd_mean_365d": 34.0, "late_share_365d": 0.5})
    assert len(decision.reasons_text) == len(decision.reasons)
    assert decision.to_dict()["reasons"] == decision.reasons
    with use_locale(Lang("fr")):
        french = Acceptor.open(engine.workspace).decide({"dpd_mean_365d": 34.0, "late_share_365d": 0.5})
    assert french.reasons == decision.reasons
    for code, text in zip(french.reasons, french.reasons_text, strict=True):
        if code == "dpd_mean_365d":
            assert text == "paie en moyenne avec 34 jours de retard sur l'année écoulée"
