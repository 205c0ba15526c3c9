"""Read the logged decisions and their outcomes from the offline store, for off-policy evaluation.

The decision log is read by its one reader, :func:`cvm.store.decision_log.records` (a bad row is an
error naming the row and field); ``decision_outcomes`` (:data:`~cvm.contracts.decisionlog.OUTCOME_COLUMNS`)
is read here.
"""

from __future__ import annotations

from cvm.contracts.decisionlog import OUTCOME_COLUMNS, DecisionOutcome, DecisionRecord
from cvm.errors import BadValueError
from cvm.store import OfflineStore, decision_log

LOG_TABLE = decision_log.TABLE
OUTCOME_TABLE = "decision_outcomes"


def read_log(offline: OfflineStore) -> tuple[list[DecisionRecord], dict[str, DecisionOutcome]]:
    """Every logged decision, and the outcome of each decision that has one (by decision id)."""
    records = decision_log.records(offline)
    frame = offline.read(OUTCOME_TABLE)
    outcomes: dict[str, DecisionOutcome] = {}
    for i, row in enumerate(frame.iter_rows(named=True)):
        data = {k: v for k, v in row.items() if k in OUTCOME_COLUMNS and v is not None}
        if not isinstance(data.get("margin"), int | float):
            raise BadValueError(f"{OUTCOME_TABLE} row {i + 1}: field 'margin' is not a number")
        outcomes[str(data["decision_id"])] = DecisionOutcome(**data)
    return records, outcomes
