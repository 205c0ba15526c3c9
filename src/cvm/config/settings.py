"""The settings tree and its loader.

Layers, lowest first: defaults, the workspace's ``cvm.yaml``, then environment
variables ``CVM__SECTION__KEY`` (for example ``CVM__INGEST__MAX_REJECT_RATIO=0.1``).
Nothing else in CVM reads ``os.environ`` for configuration.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cvm.config.plan_checks import check_columns
from cvm.config.plans import CHANNELS, NAME_PATTERN, CapConfig, Channel, PlansConfig, SegmentsConfig
from cvm.config.sources import SourcesConfig
from cvm.config.storage_url import check_offline_path
from cvm.contracts.ids import DEFAULT_CUSTOMER_ID_PATTERN, compile_id_pattern
from cvm.errors import InvalidError

CONFIG_FILE = "cvm.yaml"
ENV_PREFIX = "CVM__"


class ConfigError(InvalidError, ValueError):
    """An invalid configuration value, named by its key path."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SparkSettings(_Section):
    """The Spark session of the ``spark`` offline backend (``store.offline: spark``)."""

    master: str = Field(
        default="local[2]", description="Spark master URL: local[N], spark://host:7077, yarn, k8s://https://host:443."
    )
    app_name: str = Field(default="cvm", description="Application name shown by the cluster manager.")
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="Extra Spark configuration, e.g. {spark.executor.memory: 8g}; the session time zone is always UTC.",
    )


class StoreSettings(_Section):
    """Where the offline (Parquet + DuckDB or Spark) and online (SQLAlchemy) stores live."""

    offline: Literal["duckdb", "spark"] = Field(
        default="duckdb",
        description="Offline compute backend: duckdb (one machine) or spark (a cluster, see store.spark).",
    )
    offline_path: str = Field(
        default="offline",
        description="The offline store: a folder (relative to the workspace) or s3://bucket/prefix.",
    )
    spark: SparkSettings = Field(default_factory=SparkSettings)
    online_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the online store; empty means SQLite at <workspace>/online.db.",
    )

    @field_validator("offline_path")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        return check_offline_path(value)  # never a local folder named "hdfs:" (cvm.config.storage_url)


class IngestSettings(_Section):
    """Validation rules applied to every batch."""

    max_reject_ratio: float = Field(default=0.05, ge=0.0, le=1.0)
    future_tolerance_days: int = Field(default=1, ge=0)
    timezone: str = Field(default="UTC", description="Zone of naive timestamps in source files.")
    customer_id_pattern: str = Field(
        default=DEFAULT_CUSTOMER_ID_PATTERN,
        description="Regular expression every customer id must match in full (see cvm.contracts.ids).",
    )

    @field_validator("customer_id_pattern")
    @classmethod
    def _id_pattern_compiles(cls, value: str) -> str:
        try:
            compile_id_pattern(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class ApiSettings(_Section):
    """The HTTP service."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        le=1024**3,
        description="Largest request body accepted; a larger one is refused with 413 before it is read.",
    )


class WebSettings(_Section):
    """The dashboard's login protection, and the API's ``/docs`` page."""

    login_per_minute: float = Field(
        default=10, gt=0, description="Failed logins per client address per minute, after login_burst."
    )
    login_burst: int = Field(default=10, ge=1, description="Failed logins a client address may make at once.")
    key_login_per_minute: float = Field(
        default=30,
        gt=0,
        description="Failed logins per API key id per minute, from any address, after the burst.",
    )
    key_login_burst: int = Field(default=30, ge=1, description="Failed logins with one key id at once.")
    sessions_per_key: int = Field(default=20, ge=1, description="Open sessions per key; its own oldest ends first.")
    max_sessions: int = Field(default=10_000, ge=1, description="Open sessions in all; past it new keys wait.")
    docs: bool = Field(default=True, description="Serve Swagger UI at /docs from local files (/openapi.json stays).")


class ReportingSettings(_Section):
    """Reports (``cvm report``, the HTML report, the dashboard): language, currency, small samples."""

    locale: str = Field(
        default="en", description="en, fr or nl, with a region for formats (fr_BE, nl_BE, fr_FR, nl_NL, en_GB)."
    )
    currency: str = Field(default="EUR", description="ISO 4217 code of every amount shown (EUR, GBP, USD...).")

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        from cvm.i18n import LANGUAGES, parse_locale

        locale = parse_locale(value)
        if locale is None:
            raise ValueError(f"{value!r} is not a supported locale: use {', '.join(LANGUAGES)}, e.g. fr_BE or nl_NL")
        return locale

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        from babel.numbers import is_currency

        code = value.strip().upper()
        if not is_currency(code):
            raise ValueError(f"{value!r} is not an ISO 4217 currency code (EUR, GBP, USD...)")
        return code

    min_sample: int = Field(
        default=30, ge=1, description="Survey answers below which a figure (NPS, % recommend) carries a warning."
    )


class CostToServeSettings(_Section):
    """What serving a customer costs: net margin over the last 12 months and net CLV (docs/net-margin.md)."""

    contact: dict[str, float] = Field(
        default_factory=dict,
        description="Cost of one hub contact per channel; a channel not here costs plans.policy.channel_cost.",
    )
    other_contact: float = Field(default=1.0, ge=0.0, description="A contact on a channel priced nowhere.")
    complaint: float = Field(default=15.0, ge=0.0, description="Handling a complaint, on top of the contact.")
    reminder: float = Field(default=2.0, ge=0.0, description="A payment reminder, on top of the contact.")
    late_payment: float = Field(default=5.0, ge=0.0, description="Each invoice paid late or still overdue.")
    bad_debt_days: int = Field(default=90, ge=1, le=3650, description="Unpaid this long past due: a loss.")
    bad_debt_share: float = Field(default=1.0, ge=0.0, le=1.0, description="Share of such an invoice counted lost.")

    @field_validator("contact")
    @classmethod
    def _non_negative(cls, value: dict[str, float]) -> dict[str, float]:
        for channel, cost in value.items():
            if not cost >= 0.0:
                raise ValueError(f"contact.{channel}: a cost must be a number >= 0, not {cost!r}")
        return value


class ScoringSettings(_Section):
    """Value scores (``cvm score``): models, horizon, discounting, margin and grades."""

    value_model: Literal["bgnbd", "pnbd", "mbgnbd"] = "bgnbd"
    spend_model: Literal["gg"] = "gg"
    contractual_model: Literal["sbg"] = "sbg"
    freq: Literal["D", "W"] = Field(default="D", description="Time unit the purchase model is fitted in.")
    horizon_months: int = Field(default=12, ge=1, le=120)
    discount_rate: float = Field(default=0.10, ge=0.0, le=1.0, description="Annual; applied monthly as (1+r)^(1/12)-1.")
    margin_source: Literal["transactions", "rate"] = "transactions"
    margin_rate: float = Field(default=0.30, ge=0.0, le=1.0)
    grading: Literal["quantile", "threshold"] = "quantile"
    high_share: float = Field(default=0.20, gt=0.0, lt=1.0)
    medium_share: float = Field(default=0.30, ge=0.0, lt=1.0)
    high_threshold: float | None = None
    medium_threshold: float | None = None
    min_customers: int = Field(default=50, ge=2, description="Fewer buyers than this: no models are fitted.")
    # Guardrails on thin data (cvm.scoring.grades, cvm.scoring.guards): absolute floors of the CLV grades.
    medium_floor: float | None = Field(default=0.0, description="A CLV not above this is low, whatever its rank.")
    high_floor: float | None = Field(default=0.0, description="A CLV not above this is at most medium.")
    cost_to_serve: CostToServeSettings = CostToServeSettings()
    # Bounded memory (cvm.scoring.chunks): customers scored per chunk; peak memory grows with this, not the base.
    chunk_customers: int = Field(
        default=500_000, ge=1, description="Customers per scoring chunk (value and life-cycle scores, early warning)."
    )

    @model_validator(mode="after")
    def _grades_consistent(self) -> ScoringSettings:
        if self.high_share + self.medium_share > 1.0:
            raise ValueError("high_share + medium_share must not exceed 1")
        if self.medium_floor is not None and self.high_floor is not None and self.medium_floor > self.high_floor:
            raise ValueError("medium_floor must not exceed high_floor")
        if self.grading == "threshold":
            if self.high_threshold is None or self.medium_threshold is None:
                raise ValueError("grading: threshold needs high_threshold and medium_threshold")
            if self.medium_threshold > self.high_threshold:
                raise ValueError("medium_threshold must not exceed high_threshold")
        return self


class ModelsSettings(_Section):
    """Life-cycle models (``cvm train``): label horizons, training snapshots and grades."""

    churn_horizon_days: int = Field(default=90, ge=7, le=730)
    default_horizon_days: int = Field(default=365, ge=90, le=730, description="Behavioural bad: 60+ dpd within it.")
    adoption_horizon_days: int = Field(default=90, ge=7, le=730)
    inactivity_days: int = Field(default=365, ge=30, le=1095, description="Non-contract churn: no purchase this long.")
    snapshots: int = Field(default=3, ge=1, le=24, description="Training snapshots stacked, the latest labelled first.")
    snapshot_step_days: int = Field(default=90, ge=7, le=365)
    max_training_rows: int = Field(default=300_000, ge=1_000, description="Training rows kept (random sample).")
    n_estimators: int = Field(default=150, ge=10, le=5000, description="Most boosting rounds (scoring cost grows).")
    thresholds: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="Fixed (medium, high) grade thresholds per score (churn, default, propensity); else quantiles.",
    )
    high_share: float = Field(default=0.20, gt=0.0, lt=1.0)
    medium_share: float = Field(default=0.30, ge=0.0, lt=1.0)
    # Guardrails on thin data (cvm.scoring.grades, cvm.scoring.gate): absolute grade floors and the champion gate.
    grade_floors: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"churn": (0.01, 0.05), "default": (0.002, 0.01), "propensity": (0.001, 0.01)},
        description="(medium, high) probability floors per score: a probability not above them is graded lower.",
    )
    min_auc: float = Field(
        default=0.55,
        ge=0.5,
        le=1.0,
        description="A version whose held-out AUC is not above this never becomes champion.",
    )
    min_positives: int = Field(
        default=30, ge=1, description="Nor one trained on fewer events (churners, bads, adoptions of each product)."
    )

    @field_validator("grade_floors")
    @classmethod
    def _floors_ordered(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for score, (medium, high) in value.items():
            if score not in ("churn", "default", "propensity"):
                raise ValueError(f"unknown score {score!r}: floors are set for churn, default and propensity")
            if not 0.0 <= medium <= high <= 1.0:
                raise ValueError(f"{score}: floors must be probabilities with medium <= high")
        return value


class AcceptanceSettings(_Section):
    """The acceptance policy: applicants scoring at or above ``cutoff`` points are accepted."""

    cutoff: float | None = Field(default=None, description="Scorecard points; null accepts everyone.")


class RiskSettings(_Section):
    """Risk appetite: exposure, loss given default, margin, points scaling, cut-off and early warning."""

    exposure: float = Field(default=1000.0, gt=0.0, description="Exposure at default per accepted customer.")
    lgd: float = Field(default=0.45, ge=0.0, le=1.0, description="Loss given default (share of the exposure).")
    margin: float = Field(default=0.15, ge=0.0, le=10.0, description="Margin on a good customer's exposure.")
    pdo: float = Field(default=20.0, gt=0.0)
    odds: float = Field(default=50.0, gt=0.0)
    target_score: float = 600.0
    band_width: float = Field(default=20.0, gt=0.0, description="Points per band of the cut-off table.")
    acceptance: AcceptanceSettings = AcceptanceSettings()
    early_warning_drop: float = Field(default=20.0, gt=0.0, description="Points the default score must fall by.")
    early_warning_days: int = Field(default=90, ge=1, le=730, description="Window the fall is measured over.")


Transport = Literal["webhook", "csv", "parquet", "log"]


class DeliverySettings(_Section):
    """The outbox worker (``cvm worker``): where actions go, deadlines, leases, retries and dead letters.

    The webhook secrets are read from the environment only (``CVM__DELIVERY__WEBHOOK_SECRET`` and,
    during a roll-over, ``CVM__DELIVERY__WEBHOOK_PREVIOUS_SECRET``).
    """

    default_transport: Transport = Field(default="log", description="Transport of channels without a route.")
    routes: dict[str, Transport] = Field(
        default_factory=dict, description="Transport per contact channel, e.g. {email: webhook, mail: csv}."
    )
    webhook_url: str | None = Field(default=None, description="Where the webhook transport POSTs actions.")
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC key (whsec_<base64> or any string); environment only."
    )
    webhook_previous_secret: SecretStr | None = Field(
        default=None, description="The old key during a roll-over: requests are signed with both; environment only."
    )
    timeout_seconds: float = Field(
        default=5.0, gt=0.0, le=300.0, description="Timeout of each network step (connect, write, each read)."
    )
    request_deadline_seconds: float | None = Field(
        default=None,
        gt=0.0,
        le=300.0,
        description="Total time of one webhook request (connect, send, whole answer); past it the attempt has "
        "failed and is retried. Default: timeout_seconds. Must be shorter than lease_seconds.",
    )
    max_attempts: int = Field(default=8, ge=1, le=100, description="Attempts before a request is dead-lettered.")
    backoff_base_seconds: float = Field(default=2.0, gt=0.0)
    backoff_max_seconds: float = Field(default=600.0, gt=0.0)
    lease_seconds: float = Field(
        default=60.0, gt=0.0, description="A claim not renewed for this long is taken back (workers renew theirs)."
    )
    concurrency: int = Field(
        default=32, ge=1, le=256, description="Webhook requests in flight per worker; each is settled on its own."
    )
    poll_seconds: float = Field(default=1.0, gt=0.0, le=60.0)
    export_dir: str = Field(default="exports", description="Folder of csv/parquet exports, relative to the workspace.")
    run_seconds: float = Field(
        default=60.0, gt=0.0, description="How long `cvm run` delivers before it returns; `cvm worker` does the rest."
    )

    @property
    def deadline_seconds(self) -> float:
        """The total deadline of one webhook request (``request_deadline_seconds``, else ``timeout_seconds``)."""
        return self.timeout_seconds if self.request_deadline_seconds is None else self.request_deadline_seconds

    @model_validator(mode="after")
    def _consistent(self) -> DeliverySettings:
        if self.lease_seconds <= self.timeout_seconds:
            raise ValueError("lease_seconds must exceed timeout_seconds (a claim must outlive one delivery)")
        if self.lease_seconds <= self.deadline_seconds:
            raise ValueError(
                f"delivery.request_deadline_seconds ({self.deadline_seconds:g}) must be shorter than "
                f"delivery.lease_seconds ({self.lease_seconds:g}): a claim must outlive its slowest request"
            )
        if self.backoff_max_seconds < self.backoff_base_seconds:
            raise ValueError("backoff_max_seconds must not be below backoff_base_seconds")
        for key in ("webhook_secret", "webhook_previous_secret"):
            _check_whsec(f"delivery.{key}", getattr(self, key))
        return self


def _check_whsec(key: str, secret: SecretStr | None) -> None:
    """A ``whsec_`` secret is the base64 of the key bytes (Standard Webhooks); the value is never echoed."""
    value = "" if secret is None else secret.get_secret_value()
    if value.startswith("whsec_"):
        try:
            if not base64.b64decode(value[6:] + "=" * (-len(value[6:]) % 4), validate=True):
                raise ValueError("empty")
        except ValueError:
            raise ValueError(f"{key}: a whsec_ secret must be non-empty base64 after the prefix") from None


class EventsSettings(_Section):
    """Real-time events (``POST /events``)."""

    unknown_customer: Literal["reject", "provisional"] = Field(
        default="reject", description="reject: 404; provisional: create a provisional online profile."
    )
    contact_lookback_days: int = Field(
        default=90, ge=1, le=3660, description="How far back sent and planned contacts count for caps."
    )
    concurrent_batches: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Batches one process ingests at the same time; the others wait their turn (single events "
        "never wait). Threads of one process share its interpreter lock and contend for the same rows: "
        "for more throughput run more API processes.",
    )
    max_depth: int = Field(
        default=8, ge=1, le=64, description="Levels of objects and lists one event property may nest."
    )
    max_property_bytes: int = Field(
        default=16 * 1024, ge=64, description="Size of one event property (its name and JSON value, UTF-8)."
    )
    max_event_bytes: int = Field(
        default=64 * 1024, ge=256, description="Size of all the properties of one event together."
    )


class PrivacySettings(_Section):
    """Erasure and logs: what is kept of a person after ``cvm customer erase``, and what logs may show."""

    erasure_key: SecretStr | None = Field(
        default=None,
        description="HMAC key of the erased-id tokens in the audit log; environment only. "
        "Unset: a random key kept in <workspace>/.erasure-key (mode 0600).",
    )
    log_dir: str | None = Field(
        default=None,
        description="Folder (relative to the workspace, or absolute) where `cvm serve` also writes its access log.",
    )


# -- experiments: the global holdout and pilots (cvm.experiments) ---------------------------------
Outcome = Literal["revenue", "margin", "retention", "conversion", "nps"]
SegmentColumn = Literal["kind", "region", "sector", "channel"]
GLOBAL_HOLDOUT = "global"


def _check_names(names: Mapping[str, Any], what: str) -> None:
    for name in names:
        if not re.match(NAME_PATTERN, name):
            raise ValueError(f"{what} name {name!r}: lower case letters, digits and _ (starting with a letter)")


class ArmSettings(_Section):
    """One arm of a pilot: its share of the targeted customers and the levers it changes.

    ``holdout`` arms are controls: the step is not sent (it is recorded as suppressed,
    reason ``holdout:<pilot>``). Other arms send the step with their overrides: offer,
    channel (relationship treatment, e.g. an account-manager call instead of an e-mail),
    action, content, cost, and ``caps`` (contact pressure, merged over ``plans.policy.caps``
    key by key, window by window; a variant may raise a cap as well as lower it).
    """

    share: float = Field(gt=0.0, le=1.0)
    holdout: bool = False
    offer: str | None = None
    channel: Channel | None = None
    action: str | None = None
    content: str | None = None
    cost: float | None = Field(default=None, ge=0.0)
    caps: dict[str, CapConfig] = Field(default_factory=dict)

    @field_validator("caps")
    @classmethod
    def _cap_keys(cls, caps: dict[str, CapConfig]) -> dict[str, CapConfig]:
        unknown = set(caps) - {"all", *CHANNELS}
        if unknown:
            raise ValueError(f"unknown cap keys {sorted(unknown)}; use 'all' or a channel: {', '.join(CHANNELS)}")
        return caps


def _default_arms() -> dict[str, ArmSettings]:
    return {"control": ArmSettings(share=0.5, holdout=True), "treatment": ArmSettings(share=0.5)}


class PilotSettings(_Section):
    """A randomized pilot of one plan (or one step of it), analysed by ``cvm pilot report``."""

    description: str = ""
    enabled: bool = True
    plan: str
    step: str | None = Field(default=None, description="None: every step of the plan follows the arm.")
    arms: dict[str, ArmSettings] = Field(default_factory=_default_arms)
    control: str = Field(default="control", description="The arm the others are compared with.")
    start: date | None = Field(default=None, description="No assignment before this date (UTC).")
    end: date | None = Field(default=None, description="No new assignment from this date; assigned arms stay.")
    outcome_days: int = Field(default=90, ge=1, le=730, description="Outcome window after assignment.")
    primary: Outcome = "revenue"
    product: str | None = Field(default=None, description="Conversion: adopting this product (any purchase if None).")
    segment_by: list[SegmentColumn] = Field(default_factory=lambda: list[SegmentColumn](["kind"]))
    correction: Literal["holm", "bh"] = Field(default="holm", description="Per-segment multiple-testing adjustment.")
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5)
    allocation: Literal["fixed", "thompson"] = Field(
        default="fixed", description="thompson: the non-holdout arms share by Thompson sampling (experiments.ladder)."
    )

    @model_validator(mode="after")
    def _arms_consistent(self) -> PilotSettings:
        _check_names(self.arms, "arm")
        if len(self.arms) < 2:
            raise ValueError("a pilot needs at least two arms")
        total = sum(a.share for a in self.arms.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"arm shares must add up to 1 (they add up to {total:g})")
        if self.control not in self.arms:
            raise ValueError(f"control arm {self.control!r} is not one of the arms {sorted(self.arms)}")
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end must come after start")
        return self


class LadderSettings(_Section):
    """The holdout ladder below the global holdout (``docs/decision-log.md``): plan holdouts, exploration, Thompson."""

    plan_holdout: dict[str, float] = Field(
        default_factory=dict, description="Plan name -> share of customers held out of that plan's marketing steps."
    )
    exploration: float = Field(
        default=0.0, ge=0.0, le=0.5, description="Share of decisions chosen uniformly among eligible actions and none."
    )
    thompson_floor: float = Field(
        default=0.05, ge=0.0, le=0.5, description="Least share of each variant of a pilot allocated by Thompson."
    )

    @field_validator("plan_holdout")
    @classmethod
    def _shares(cls, shares: dict[str, float]) -> dict[str, float]:
        for plan, share in shares.items():
            if not 0.0 <= share <= 0.5:
                raise ValueError(f"plan_holdout.{plan}: share {share:g} must lie between 0 and 0.5")
        return shares


class ExperimentsSettings(_Section):
    """The holdout ladder (global holdout, plan holdouts, exploration, Thompson sampling) and the pilots."""

    holdout_share: float = Field(
        default=0.0, ge=0.0, le=0.5, description="Share of customers in the global holdout (rung 1 of the ladder)."
    )
    ladder: LadderSettings = LadderSettings()
    pilots: dict[str, PilotSettings] = Field(default_factory=dict)

    @field_validator("pilots")
    @classmethod
    def _pilot_names(cls, pilots: dict[str, PilotSettings]) -> dict[str, PilotSettings]:
        _check_names(pilots, "pilot")
        if GLOBAL_HOLDOUT in pilots:
            raise ValueError(f"{GLOBAL_HOLDOUT!r} is reserved for the global holdout")
        return pilots


def check_pilots(experiments: ExperimentsSettings, plans: PlansConfig) -> None:
    """Each pilot names a plan and step that exist; no two enabled pilots share a step."""
    taken: dict[tuple[str, str], str] = {}
    for plan_name in experiments.ladder.plan_holdout:
        if plan_name not in plans.definitions:
            known = ", ".join(sorted(plans.definitions))
            raise ValueError(f"ladder.plan_holdout: unknown plan {plan_name!r}; plans: {known}")
    for name, pilot in experiments.pilots.items():
        plan = plans.definitions.get(pilot.plan)
        if plan is None:
            known = ", ".join(sorted(plans.definitions))
            raise ValueError(f"pilots.{name}: unknown plan {pilot.plan!r}; plans: {known}")
        steps = [s.name for s in plan.steps]
        if pilot.step is not None and pilot.step not in steps:
            known = ", ".join(steps)
            raise ValueError(f"pilots.{name}: plan {pilot.plan!r} has no step {pilot.step!r}; steps: {known}")
        if not pilot.enabled:
            continue
        for step in [pilot.step] if pilot.step else steps:
            other = taken.setdefault((pilot.plan, step), name)
            if other != name:
                raise ValueError(f"pilots.{name}: step {pilot.plan}.{step} is already tested by pilot {other!r}")


class Settings(_Section):
    """The whole CVM configuration."""

    store: StoreSettings = StoreSettings()
    ingest: IngestSettings = IngestSettings()
    sources: SourcesConfig = Field(default_factory=SourcesConfig, description="Saved mappings of source exports.")
    api: ApiSettings = ApiSettings()
    web: WebSettings = WebSettings()
    reporting: ReportingSettings = ReportingSettings()
    scoring: ScoringSettings = ScoringSettings()
    models: ModelsSettings = ModelsSettings()
    risk: RiskSettings = RiskSettings()
    delivery: DeliverySettings = DeliverySettings()
    events: EventsSettings = EventsSettings()
    segments: SegmentsConfig = SegmentsConfig()
    plans: PlansConfig = Field(default_factory=PlansConfig, validate_default=True)
    experiments: ExperimentsSettings = ExperimentsSettings()
    privacy: PrivacySettings = PrivacySettings()

    @field_validator("plans")
    @classmethod
    def _plan_columns(cls, plans: PlansConfig, info: ValidationInfo) -> PlansConfig:
        segments = info.data.get("segments")
        if isinstance(segments, SegmentsConfig):
            check_columns(segments, plans)
        return plans

    @field_validator("plans")
    @classmethod
    def _credit_cutoff(cls, plans: PlansConfig, info: ValidationInfo) -> PlansConfig:
        """``plans.credit.cutoff`` left null gates credit offers at the acceptance cut-off (issue 18)."""
        risk = info.data.get("risk")
        if isinstance(risk, RiskSettings) and plans.credit.cutoff is None and risk.acceptance.cutoff is not None:
            plans.credit = plans.credit.model_copy(update={"cutoff": risk.acceptance.cutoff})
        return plans

    @field_validator("experiments")
    @classmethod
    def _pilot_plans(cls, experiments: ExperimentsSettings, info: ValidationInfo) -> ExperimentsSettings:
        plans = info.data.get("plans")
        if isinstance(plans, PlansConfig):
            check_pilots(experiments, plans)
        return experiments


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: {'.'.join(path)} conflicts with another CVM__ variable")
            node = child
        node[path[-1]] = value
    return tree


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(err: ValidationError, origin: str) -> str:
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"])
        got = "" if isinstance(e.get("input"), dict | list) else f"got {e.get('input')!r}, "
        lines.append(f"{path}: {e['msg']} ({got}from {origin})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


ENV_ONLY = (
    ("delivery", "webhook_secret"),
    ("delivery", "webhook_previous_secret"),
    ("privacy", "erasure_key"),
)


def _refuse_file_secrets(file_layer: Mapping[str, Any], origin: str) -> None:
    """Secrets come from the environment, never from a committed ``cvm.yaml``."""
    for section, key in ENV_ONLY:
        node = file_layer.get(section)
        if isinstance(node, Mapping) and node.get(key) not in (None, ""):
            env = f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
            raise ConfigError(f"{origin}: {section}.{key} is a secret; set {env} in the environment instead")


def load_settings(workspace: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load the settings of a workspace.

    Parameters
    ----------
    workspace
        Folder holding ``cvm.yaml``; without one, only defaults and environment apply.
    environ
        Environment to read ``CVM__*`` variables from (default: the process environment).
    """
    file_layer: dict[str, Any] = {}
    origin = "defaults"
    if workspace is not None and (workspace / CONFIG_FILE).exists():
        file_layer = _read_yaml(workspace / CONFIG_FILE)
        origin = str(workspace / CONFIG_FILE)
        _refuse_file_secrets(file_layer, origin)
    env_layer = _env_layer(os.environ if environ is None else environ)
    try:
        Settings.model_validate(file_layer)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None
    try:
        return Settings.model_validate(_merge(file_layer, env_layer))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "CVM__* environment variables")) from None
