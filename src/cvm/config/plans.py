"""Configuration of segments, triggers, plans and the contact policy.

Every expression (segment definitions, life-cycle stages, triggers, step
eligibility, expected-value terms, suppression rules) is checked when the
configuration loads: a syntax error, a function outside the whitelist or an
unknown column is refused with its key path, line, column and reason.

The built-in defaults (life-cycle stages, VIP, the welcome, qualification,
contact and unprofitable plans, a contact policy) live in :mod:`cvm.config.plan_defaults`; a
``cvm.yaml`` overrides them key by key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import time
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cvm.config import plan_defaults as defaults
from cvm.config.feature_columns import feature_column_problems
from cvm.config.uplift import UpliftConfig
from cvm.rules import ExpressionError, Kind, compile_rule

Channel = Literal["email", "sms", "phone", "visit", "mail", "crm_task"]
Objective = Literal["inform", "sell", "give", "ask", "propose", "end"]  # end: waits for a person's confirmation
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MessageKind = Literal["marketing", "service", "transactional"]
Arbitration = Literal["incremental", "propensity"]
EarlyWarningRule = Literal["send", "skip"]
TriggerType = Literal[
    "event",
    "condition",
    "new_customer",
    "score_crossing",
    "segment_enter",
    "segment_leave",
    "anniversary",
    "renewal_due",
    "inactivity",
    "birthday",
    "next_order_due",
]
CHANNELS: tuple[str, ...] = get_args(Channel)
OBJECTIVES: tuple[str, ...] = get_args(Objective)
WEEKDAYS: tuple[str, ...] = get_args(Weekday)
EVENT_TYPES: tuple[str, ...] = (
    "transaction",
    "payment_late",
    "payment_received",
    "contact",
    "complaint",
    "survey_answer",
    "subscription_started",
    "subscription_ended",
    "segment_entered",
    "segment_left",
    "score_changed",
)
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"


def _syntax(text: str | None, expect: Kind) -> str | None:
    """Check syntax and whitelist now; columns are checked against the catalogue by the settings tree."""
    if text is None:
        return None
    if isinstance(text, (bool, int | float)):
        text = str(text).lower() if isinstance(text, bool) else str(text)
    try:
        compile_rule(str(text), None, expect)
    except ExpressionError as exc:
        raise ValueError(str(exc)) from None
    return str(text)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


# -- segments ------------------------------------------------------------------------------------
class SegmentDef(_Model):
    """A named segment: customers for whom ``when`` holds; flag column ``seg_<name>``."""

    when: str
    description: str = ""

    _check = field_validator("when", mode="before")(lambda v: _syntax(v, "bool"))


class RegularBuyerConfig(_Model):
    """Regular buyers order at a steady cadence: enough orders, low variation of the gaps."""

    min_orders: int = Field(default=4, ge=3)
    max_cv: float = Field(default=0.5, gt=0.0, description="Coefficient of variation of inter-purchase gaps.")


class SegmentsConfig(_Model):
    """Life-cycle stages, VIP, the value × risk matrix and named segments."""

    lifecycle: dict[str, str] = Field(default_factory=lambda: dict(defaults.LIFECYCLE))
    fallback_stage: str = "active"
    vip: str = defaults.VIP
    value_score: str = Field(
        default="clv", description="Score behind value and value_grade (VIP, value × risk): clv, or net_clv."
    )
    value_column: str = "value_grade"
    risk_column: str = "risk_grade"
    definitions: dict[str, SegmentDef] = Field(default_factory=dict)
    scores: list[str] = Field(default_factory=lambda: list(defaults.SCORES))
    columns: dict[str, Literal["number", "string", "bool"]] = Field(
        default_factory=dict,
        description="Extra attribute columns from the features table (a feature, or holds_<product>) and their kinds.",
    )
    reactivation_gap_days: int = Field(default=180, ge=1)
    regular_buyer: RegularBuyerConfig = RegularBuyerConfig()

    @field_validator("lifecycle", mode="before")
    @classmethod
    def _merge_stages(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        merged = {**defaults.LIFECYCLE, **value}
        return {k: _syntax(v, "bool") for k, v in merged.items() if v is not None}

    _vip = field_validator("vip", mode="before")(lambda v: _syntax(v, "bool"))

    @field_validator("scores")
    @classmethod
    def _net_scores(cls, value: list[str]) -> list[str]:
        return [*value, *(n for n in defaults.NET_VALUE_SCORES if n not in value)]

    @field_validator("columns")
    @classmethod
    def _features(cls, value: dict[str, Any]) -> dict[str, Any]:
        problems = feature_column_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _value_score_read(self) -> SegmentsConfig:
        if self.value_score not in self.scores:
            raise ValueError(f"value_score {self.value_score!r} is not in scores: {', '.join(self.scores)}")
        return self

    @field_validator("definitions", "lifecycle", "columns")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        import re

        for name in value:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"{name!r}: names are lower case letters, digits and _ (starting with a letter)")
        return value

    @property
    def segment_names(self) -> list[str]:
        """Named segments with a ``seg_<name>`` flag: ``vip`` first, then the definitions."""
        return ["vip", *[n for n in self.definitions if n != "vip"]]


# -- plans ---------------------------------------------------------------------------------------
class TriggerConfig(_Model):
    """What enrols a customer in a plan: an event, or a condition on the customer's attributes."""

    type: TriggerType
    event: str | None = None
    where: str | None = Field(default=None, description="Condition on the event's properties.")
    when: str | None = Field(default=None, description="Condition on the customer (type: condition).")
    score: str | None = None
    above: float | None = None
    below: float | None = None
    segment: str | None = None
    days: int | None = Field(default=None, ge=0)

    _where = field_validator("where", "when", mode="before")(lambda v: _syntax(v, "bool"))

    @model_validator(mode="after")
    def _complete(self) -> TriggerConfig:
        need = {
            "event": ("event",),
            "condition": ("when",),
            "score_crossing": ("score",),
            "segment_enter": ("segment",),
            "segment_leave": ("segment",),
        }.get(self.type, ())
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a {self.type} trigger needs {', '.join(missing)}")
        if self.type == "event" and self.event not in EVENT_TYPES:
            raise ValueError(f"unknown event {self.event!r}; known events: {', '.join(EVENT_TYPES)}")
        if self.type == "score_crossing" and (self.above is None) == (self.below is None):
            raise ValueError("a score_crossing trigger needs exactly one of above and below")
        return self

    def condition(self) -> str | None:
        """The condition on the customer's attributes that enrols, or ``None`` for event triggers."""
        days = self.days
        generated = {
            "condition": self.when,
            "new_customer": f"tenure_days <= {7 if days is None else days}",
            "anniversary": f"days_to_anniversary <= {days or 0}",
            "renewal_due": f"days_to_renewal between 0 and {30 if days is None else days}",
            "inactivity": f"days_inactive >= {90 if days is None else days}",
            "birthday": f"days_to_birthday <= {days or 0}",
            "next_order_due": f"is_regular_buyer and days_to_next_order <= {3 if days is None else days}",
        }
        if self.type == "score_crossing":
            op, bound = (">=", self.above) if self.above is not None else ("<=", self.below)
            column = '"' + str(self.score).replace('"', '""') + '"'
            return f"{column} {op} {float(bound or 0.0)!r}"
        return generated.get(self.type)

    def event_types(self) -> tuple[str, ...]:
        """Event types that can fire this trigger."""
        return {
            "event": (self.event or "",),
            "segment_enter": ("segment_entered",),
            "segment_leave": ("segment_left",),
        }.get(self.type, ())


class StepConfig(_Model):
    """One step of a plan: what, on which channel, when, for whom, and what it is worth.

    Expected value = propensity × value × margin − cost; ``propensity``, ``value``
    and ``margin`` are numeric expressions over the customer's attributes.
    """

    name: str = Field(pattern=NAME_PATTERN)
    day: int = Field(default=0, ge=0, description="Days after enrolment the step is due.")
    objective: Objective
    channel: Channel
    action: str | None = None
    offer: str | None = None
    content: str | None = None
    eligibility: str | None = None
    propensity: str = "0.05"
    value: str = "coalesce(value, 100)"
    margin: str = "1"
    cost: float | None = Field(default=None, ge=0.0, description="Default: the policy's cost of the channel.")
    cooldown_days: int = Field(default=0, ge=0, description="Days since the last contact with the same objective.")
    priority: int = 0
    expires_days: int = Field(default=14, ge=0, description="A step held back longer than this is skipped.")
    kind: MessageKind = Field(
        default="marketing",
        description="Marketing steps never reach the global holdout; service and transactional ones may.",
    )
    # -- incremental value and credit risk (plans.arbitration: incremental; cvm.plans.incremental, cvm.plans.credit)
    uplift: str | None = Field(
        default=None,
        description="Incremental margin of this step against no action (number); default: attribute uplift_<action>.",
    )
    extends_credit: bool = Field(
        default=False, description="Extends credit or defers payment: gated by the cut-off, carries credit loss."
    )
    exposure: str | None = Field(default=None, description="Exposure of a credit offer (number); default: credit's.")
    lgd: float | None = Field(default=None, ge=0.0, le=1.0, description="Loss given default; default: credit's.")
    on_early_warning: EarlyWarningRule | None = Field(
        default=None,
        description="For a customer on the early-warning list: send or skip (default: skip sell, propose, credit).",
    )

    _elig = field_validator("eligibility", mode="before")(lambda v: _syntax(v, "bool"))
    _nums = field_validator("propensity", "value", "margin", "uplift", "exposure", mode="before")(
        lambda v: _syntax(v, "number")
    )


class PlanConfig(_Model):
    """A plan: a trigger, an entry condition, steps on a day schedule, an exit condition."""

    description: str = ""
    enabled: bool = True
    trigger: TriggerConfig
    entry: str | None = None
    exit: str | None = None
    reentry_days: int | None = Field(default=None, ge=0, description="None: a customer goes through it once.")
    steps: list[StepConfig] = Field(min_length=1)

    _exprs = field_validator("entry", "exit", mode="before")(lambda v: _syntax(v, "bool"))

    @field_validator("steps")
    @classmethod
    def _schedule(cls, steps: list[StepConfig]) -> list[StepConfig]:
        names = [s.name for s in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"step names must be unique: {names}")
        days = [s.day for s in steps]
        if days != sorted(days):
            raise ValueError(f"step days must not decrease: {days}")
        return steps


# -- contact policy ------------------------------------------------------------------------------
class CapConfig(_Model):
    """Most contacts in any rolling window of 1, 7 and 30 days (None: no cap)."""

    day: int | None = Field(default=None, ge=0)
    week: int | None = Field(default=None, ge=0)
    month: int | None = Field(default=None, ge=0)

    def windows(self) -> Iterator[tuple[str, int, int]]:
        """``(name, days, cap)`` for each set cap."""
        for name, days in (("day", 1), ("week", 7), ("month", 30)):
            cap = getattr(self, name)
            if cap is not None:
                yield name, days, cap


class QuietHoursConfig(_Model):
    """No contact between ``start`` and ``end`` (local time; may wrap midnight) nor on ``days``."""

    start: time = time(21, 0)
    end: time = time(8, 0)
    days: list[Weekday] = Field(default_factory=lambda: list[Weekday](["sun"]))
    channels: list[Channel] = Field(default_factory=lambda: list[Channel](["email", "sms", "phone", "visit"]))


class SuppressionRule(_Model):
    """Hold back steps with these objectives or channels while ``when`` holds."""

    when: str
    objectives: list[Objective] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    reason: str = ""

    _when = field_validator("when", mode="before")(lambda v: _syntax(v, "bool"))


class PolicyConfig(_Model):
    """Contact pressure, quiet times, consent, suppression and the arbitration threshold."""

    caps: dict[str, CapConfig] = Field(default_factory=lambda: {k: CapConfig(**v) for k, v in defaults.CAPS.items()})
    exempt_from_total: list[Channel] = Field(default_factory=lambda: list[Channel](["crm_task"]))
    quiet_hours: QuietHoursConfig = QuietHoursConfig()
    consent_required: dict[Channel, bool] = Field(default_factory=lambda: dict(defaults.CONSENT_REQUIRED))  # type: ignore[arg-type]
    suppress: dict[str, SuppressionRule] = Field(
        default_factory=lambda: {k: SuppressionRule(**v) for k, v in defaults.SUPPRESS.items()}
    )
    channel_cost: dict[Channel, float] = Field(default_factory=lambda: dict(defaults.CHANNEL_COST))  # type: ignore[arg-type]
    min_expected_value: float = Field(default=0.0, description="Actions worth less are held back.")
    max_actions: int = Field(default=1, ge=1, description="Most actions chosen per customer per decision.")
    timezone: str = Field(default="UTC", description="Zone of customers without a known one.")

    @field_validator("caps")
    @classmethod
    def _cap_keys(cls, caps: dict[str, CapConfig]) -> dict[str, CapConfig]:
        unknown = set(caps) - {"all", *CHANNELS}
        if unknown:
            raise ValueError(f"unknown cap keys {sorted(unknown)}; use 'all' or a channel: {', '.join(CHANNELS)}")
        return caps

    def cost(self, channel: str) -> float:
        return float(self.channel_cost.get(channel, 0.0))  # type: ignore[call-overload]


class CreditConfig(_Model):
    """Credit risk in the decision: expected credit loss = PD × exposure × LGD, the cut-off and early warning.

    The attributes are the scorecard's scores (``segments.scores``): the probability of default
    (``default``), the points (``default_points``) and the early-warning flag (``early_warning``).
    """

    pd_attribute: str = Field(default="default", description="Attribute holding the probability of default.")
    points_attribute: str = Field(default="default_points", description="Attribute holding the scorecard points.")
    early_warning_attribute: str = Field(default="early_warning", description="Set for customers on the list.")
    cutoff: float | None = Field(
        default=None, description="No credit offer below these points; null: risk.acceptance.cutoff (or none)."
    )
    exposure: float = Field(default=1000.0, ge=0.0, description="Exposure of a credit offer without its own.")
    lgd: float = Field(default=0.45, ge=0.0, le=1.0, description="Loss given default of a step without its own.")


class FatigueConfig(_Model):
    """Priced contact pressure: the fatigue model's window and the value lost with an adverse event per channel."""

    window_days: int = Field(default=30, ge=1, le=365, description="Window the n-th contact is counted in.")
    max_contacts: int = Field(default=8, ge=1, le=50, description="Contacts in a window the hazard is fitted for.")
    loss: dict[Channel, float] = Field(
        default_factory=lambda: dict(defaults.FATIGUE_LOSS),  # type: ignore[arg-type]
        description="Value lost when a contact makes the customer unsubscribe, complain or withdraw consent.",
    )


class PlansConfig(_Model):
    """The plans (built-in welcome, qualification, contact and unprofitable, plus yours) and the contact policy."""

    policy: PolicyConfig = PolicyConfig()
    arbitration: Arbitration = Field(
        default="propensity",
        description="Rank candidates by propensity × value × margin − cost, or by incremental value "
        "(uplift − cost − fatigue cost − expected credit loss).",
    )
    credit: CreditConfig = CreditConfig()
    fatigue: FatigueConfig = FatigueConfig()
    definitions: dict[str, PlanConfig] = Field(default_factory=lambda: _default_plans())
    uplift: UpliftConfig = UpliftConfig()

    @field_validator("definitions", mode="before")
    @classmethod
    def _merge_builtins(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        merged: dict[str, Any] = {k: dict(v) for k, v in defaults.PLANS.items()}
        for name, plan in value.items():
            base = merged.get(name, {})
            merged[name] = {**base, **plan} if isinstance(plan, Mapping) else plan
        return merged

    @field_validator("definitions")
    @classmethod
    def _plan_names(cls, value: dict[str, PlanConfig]) -> dict[str, PlanConfig]:
        import re

        for name in value:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"plan name {name!r}: lower case letters, digits and _ (starting with a letter)")
        return value

    @property
    def active(self) -> dict[str, PlanConfig]:
        """Enabled plans, by name."""
        return {n: p for n, p in sorted(self.definitions.items()) if p.enabled}


def _default_plans() -> dict[str, PlanConfig]:
    return {name: PlanConfig.model_validate(plan) for name, plan in defaults.PLANS.items()}
