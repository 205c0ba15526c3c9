"""Schemas of the customer data hub tables.

Each table declares its columns (type, required, range, allowed values, personal
data, whether a date may lie in the future), its natural key, the column that
places a row in time, and whether its rows must reference a known customer.
Ingestion validates against these declarations (``docs/tables.md`` lists them,
``cvm schema`` prints them); the offline store writes Parquet with the matching
Arrow types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cvm.contracts.features import FEATURE_COLUMNS, PRODUCTS_HELD

DType = Literal["string", "int", "float", "bool", "date", "timestamp"]

VOLUNTARY_REASONS = (
    "too_expensive",
    "switched_service",
    "low_quality",
    "customer_service",
    "missing_features",
    "unused",
    "too_complex",
    "other",
)
INVOLUNTARY_REASONS = ("payment_failed", "payment_disputed")
COMPLAINT_STATUSES = ("open", "resolved")
"""The status of a complaint: a complaint contact's ``outcome`` in files, a complaint event's ``status``."""
COMPLAINT_STATUS_SYNONYMS = {
    "opened": "open",
    "new": "open",
    "pending": "open",
    "closed": "resolved",
    "solved": "resolved",
}
"""Other spellings accepted for :data:`COMPLAINT_STATUSES` (any case), read as the canonical status."""


def complaint_status(value: str | None) -> str | None:
    """The canonical complaint status of ``value`` (``"Opened"`` -> ``"open"``); ``None`` when it is not one.

    Examples
    --------
    >>> complaint_status(" Closed "), complaint_status("resolved"), complaint_status("escalated")
    ('resolved', 'resolved', None)
    """
    if value is None:
        return None
    word = value.strip().lower()
    return word if word in COMPLAINT_STATUSES else COMPLAINT_STATUS_SYNONYMS.get(word)


def complaint_status_sql(column: str) -> str:
    """A SQL expression of the canonical complaint status of ``column`` (a fixed column name, never user input)."""
    cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in COMPLAINT_STATUS_SYNONYMS.items())
    word = f"lower(trim({column}))"
    return f"(CASE {word} {cases} ELSE {word} END)"


@dataclass(frozen=True)
class Column:
    """One column of a hub table."""

    name: str
    dtype: DType
    required: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    pii: bool = False
    description: str = ""
    future: bool = False  # a date or timestamp may lie after today (a due date, a contract end)


@dataclass(frozen=True)
class TableSchema:
    """A hub table: columns, natural key and time column."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    time_column: str | None = None
    customer_fk: bool = True
    description: str = ""
    extra_time_columns: tuple[str, ...] = field(default=())
    #: A date column whose values split the stored table into partitions (``<table>/<column>=<value>/``):
    #: a run rewrites only its own partition (see :meth:`cvm.store.offline.Transaction.overwrite_partition`).
    partition_by: str | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def pii_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.pii)

    @property
    def time_columns(self) -> tuple[str, ...]:
        cols = (self.time_column,) if self.time_column else ()
        return cols + self.extra_time_columns


def _c(name: str, dtype: DType, **kw: object) -> Column:
    return Column(name, dtype, **kw)  # type: ignore[arg-type]


CUSTOMERS = TableSchema(
    name="customers",
    description="One row per customer: profile, firmographics and consent.",
    key=("customer_id",),
    time_column="acquired_at",
    customer_fk=False,
    columns=(
        _c("customer_id", "string", required=True),
        _c("name", "string", pii=True),
        _c("email", "string", pii=True),
        _c("phone", "string", pii=True),
        _c("birth_date", "date", pii=True),
        _c("acquired_at", "date", required=True),
        _c("kind", "string", required=True, choices=("B2B", "B2C")),
        _c("region", "string"),
        _c("sector", "string"),
        _c("channel", "string", choices=("direct", "distribution")),
        _c("timezone", "string"),
        _c("consent_email", "bool"),
        _c("consent_sms", "bool"),
        _c("consent_phone", "bool"),
        _c("consent_mail", "bool"),
    ),
)

SUBSCRIPTIONS = TableSchema(
    name="subscriptions",
    description="Contracts and products held, with monthly recurring revenue.",
    key=("subscription_id",),
    time_column="start",
    extra_time_columns=("end",),
    columns=(
        _c("subscription_id", "string", required=True),
        _c("customer_id", "string", required=True),
        _c("product", "string", required=True),
        _c("start", "date", required=True),
        _c("end", "date", future=True, description="empty while running; a fixed-term contract ends later"),
        _c("mrr", "float", required=True, min=0.0),
        _c("end_reason", "string", choices=VOLUNTARY_REASONS + INVOLUNTARY_REASONS),
    ),
)

TRANSACTIONS = TableSchema(
    name="transactions",
    description="Invoices and orders; negative amounts are refunds or credit notes.",
    key=("transaction_id",),
    time_column="ts",
    columns=(
        _c("transaction_id", "string", required=True),
        _c("customer_id", "string", required=True),
        _c("ts", "timestamp", required=True),
        _c("amount", "float", required=True, min=-1e9, max=1e9),
        _c("margin", "float", min=-1e9, max=1e9),
        _c("product", "string"),
    ),
)

PAYMENTS = TableSchema(
    name="payments",
    description="Invoices due and when they were paid (empty while unpaid).",
    key=("invoice_id",),
    time_column="due_date",
    extra_time_columns=("paid_date",),
    columns=(
        _c("invoice_id", "string", required=True),
        _c("customer_id", "string", required=True),
        _c("due_date", "date", required=True, future=True, description="open invoices fall due later"),
        _c("paid_date", "date"),
        _c("amount", "float", required=True, min=0.0, max=1e9),
    ),
)

CONTACTS = TableSchema(
    name="contacts",
    description="Service-desk contacts, complaints, sales visits and cancellation requests.",
    key=("contact_id",),
    time_column="ts",
    columns=(
        _c("contact_id", "string", required=True),
        _c("customer_id", "string", required=True),
        _c("ts", "timestamp", required=True),
        _c("channel", "string", required=True),
        _c("direction", "string", choices=("inbound", "outbound")),
        _c("topic", "string"),
        _c("outcome", "string", description="For a complaint: open or resolved (opened, closed, ... read as these)."),
        _c("text", "string", pii=True),
    ),
)

SURVEYS = TableSchema(
    name="surveys",
    description="Survey answers: NPS 0-10, would recommend, did recommend.",
    key=("customer_id", "ts"),
    time_column="ts",
    columns=(
        _c("customer_id", "string", required=True),
        _c("ts", "timestamp", required=True),
        _c("nps", "int", min=0, max=10),
        _c("would_recommend", "bool"),
        _c("did_recommend", "bool"),
        _c("comment", "string", pii=True),
    ),
)

RATINGS = TableSchema(
    name="ratings",
    description="External credit ratings; score is the numeric form (higher is safer).",
    key=("customer_id", "ts", "source"),
    time_column="ts",
    columns=(
        _c("customer_id", "string", required=True),
        _c("ts", "date", required=True),
        _c("source", "string", required=True),
        _c("rating", "string", required=True),
        _c("score", "float", min=0.0, max=100.0),
    ),
)

QUARANTINE = TableSchema(
    name="quarantine",
    description="Rejected rows: where they came from and why.",
    key=("batch_id", "line", "field"),
    time_column="ingested_at",
    customer_fk=False,
    columns=(
        _c("batch_id", "string", required=True),
        _c("table", "string", required=True),
        _c("source", "string", required=True),
        _c("line", "int", required=True),
        _c("field", "string", required=True),
        _c("value", "string", pii=True),
        _c("reason", "string", required=True),
        _c("customer_id", "string"),
        _c("ingested_at", "timestamp", required=True),
        _c(
            "status",
            "string",
            choices=("refused", "rejected", "resolved"),
            description="refused: its whole batch was refused; rejected: left out of a committed batch; "
            "resolved: a later batch loaded the row (empty in entries stored before statuses: rejected)",
        ),
        _c("row_key", "string", description="the row's natural key as text (parts joined by '|'), when valid"),
        _c("resolved_by", "string", description="the batch that loaded the row, once resolved"),
    ),
)

SCORES = TableSchema(
    name="scores",
    description="Scores per customer and as-of date, with grade and reason codes; the history is kept.",
    key=("customer_id", "as_of", "score"),
    time_column="as_of",
    partition_by="as_of",
    columns=(
        _c("customer_id", "string", required=True),
        _c("as_of", "date", required=True),
        _c("score", "string", required=True, description="e.g. clv, p_alive, churn, default"),
        _c("value", "float"),
        _c("grade", "string", choices=("low", "medium", "high")),
        _c("model_version", "string"),
        _c("reasons", "string", description="reason codes, most important first, joined by ';'"),
    ),
)

SEGMENT_MEMBERSHIP = TableSchema(
    name="segment_membership",
    description="Segments and life-cycle stage of each customer per as-of date (stage:<x>, value_risk:<v>/<r>, names).",
    key=("customer_id", "as_of", "segment"),
    time_column="as_of",
    partition_by="as_of",
    columns=(
        _c("customer_id", "string", required=True),
        _c("as_of", "date", required=True),
        _c("segment", "string", required=True),
    ),
)

FEATURES_TABLE = TableSchema(
    name="features",
    description="Point-in-time features of each customer per as-of date (cvm.contracts.features), as scored.",
    key=("customer_id", "as_of"),
    time_column="as_of",
    partition_by="as_of",
    columns=(
        _c("customer_id", "string", required=True),
        _c("as_of", "date", required=True),
        *(_c(name, dtype, description=meaning) for name, dtype, meaning in FEATURE_COLUMNS),
        _c(PRODUCTS_HELD, "string", description="products of the active subscriptions (slugs, sorted, ';'-joined)"),
    ),
)

DECISION_OUTCOMES = TableSchema(
    name="decision_outcomes",
    description="What followed each logged decision over the uplift horizon (contracts.decisionlog.DecisionOutcome).",
    key=("decision_id",),
    columns=(
        _c("decision_id", "string", required=True),
        _c("customer_id", "string", required=True),
        _c("chosen", "string", required=True, description="the action chosen, or none"),
        _c("horizon_days", "int", required=True),
        _c("margin", "float", required=True, description="margin over the horizon net of the contact's cost"),
        _c("converted", "bool"),
        _c("churned", "bool"),
        _c("defaulted", "bool"),
        _c("unsubscribed", "bool"),
        _c("complained", "bool"),
        _c("source", "string", choices=("hub", "simulated")),
    ),
)

DECISION_LOG = TableSchema(
    name="decision_log",
    description="Logged decisions exported from the online store (cvm.contracts.decisionlog), for training.",
    key=("decision_id",),
    time_column="decided_at",
    columns=(
        _c("decision_id", "string", required=True),
        _c("customer_id", "string", required=True),
        _c("decided_at", "timestamp", required=True),
        _c("path", "string", required=True, choices=("batch", "realtime")),
        _c("arbitration", "string", required=True),
        _c("policy_version", "string", required=True),
        _c("rung", "string", required=True),
        _c("chosen", "string", required=True, description="the action id, or 'none'"),
        _c("probability", "float", required=True, min=0.0, max=1.0),
        _c("exploration", "float"),
        _c("candidates", "string", description="JSON list of the candidates' terms"),
        _c("model_versions", "string", description="JSON object"),
        _c("context", "string", description="JSON object of numeric attributes at decision time"),
        _c("logged_at", "timestamp", required=True, description="when the online store logged it"),
    ),
)

DATA_TABLES: dict[str, TableSchema] = {
    t.name: t for t in (CUSTOMERS, SUBSCRIPTIONS, TRANSACTIONS, PAYMENTS, CONTACTS, SURVEYS, RATINGS)
}
CHILD_TABLES: tuple[str, ...] = tuple(n for n, t in DATA_TABLES.items() if t.customer_fk)
DERIVED_TABLES: dict[str, TableSchema] = {
    SCORES.name: SCORES,
    FEATURES_TABLE.name: FEATURES_TABLE,
    SEGMENT_MEMBERSHIP.name: SEGMENT_MEMBERSHIP,
    DECISION_OUTCOMES.name: DECISION_OUTCOMES,
    DECISION_LOG.name: DECISION_LOG,
}
TABLES: dict[str, TableSchema] = {**DATA_TABLES, QUARANTINE.name: QUARANTINE, **DERIVED_TABLES}


def table_schema(name: str) -> TableSchema:
    """Return the schema of a hub table, or raise ``KeyError`` listing the known ones."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(DATA_TABLES)}") from None
