"""Routes of risk and scores: the early-warning list and a customer's score history (analyst, admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from cvm.api import errors
from cvm.api.deps import EngineDep, Reader
from cvm.api.errors import KEYED
from cvm.api.language import ApiLang
from cvm.api.schemas import IsoDate
from cvm.i18n import use_locale
from cvm.scoring.reasons import explain_scores

router = APIRouter(tags=["risk"])


@router.get("/risk/early-warning", responses=errors.responses(*KEYED, 422))
def early_warning(
    engine: EngineDep,
    _: Reader,
    lang: ApiLang,
    as_of: Annotated[IsoDate | None, Query(description="Scoring date (default: the latest with flags).")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> dict[str, Any]:
    """Customers whose default score fell past the configured drop or whose grade worsened, worst first.

    Each row keeps its ``reasons`` codes and adds ``reasons_text``, the same reasons as sentences in the
    language of ``Accept-Language`` (else ``reporting.locale``).
    """
    day, rows = engine.scoring.early_warning(as_of)
    with use_locale(lang):
        data = explain_scores(rows.head(limit).to_dicts())
    return {"as_of": day, "data": data, "count": rows.height}


@router.get(
    "/customers/{customer_id:path}/scores", responses=errors.responses(*KEYED, 404, 422, e404="Unknown customer.")
)
def customer_scores(
    customer_id: str,
    engine: EngineDep,
    _: Reader,
    lang: ApiLang,
    score: Annotated[str | None, Query(description="Only this score, e.g. churn or default_points.")] = None,
) -> dict[str, Any]:
    """Every stored score of one customer, newest first; ``reasons_text`` (``Accept-Language``) next to the codes."""
    if not engine.customers.known(customer_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown customer {customer_id!r}")
    with use_locale(lang):
        rows = explain_scores(engine.scoring.history(customer_id, score))
    return {"data": rows, "count": len(rows)}
