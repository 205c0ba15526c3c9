"""SIMULATED ground truth of the demo's treatment effects: what each action really does to each customer.

Every demo customer gets a hidden response type, drawn from their latent traits (see
``docs/demo-ground-truth.md``):

- **persuadable**: the action raises conversion (and a retention offer halves churn);
- **sure thing**: buys anyway, the action changes nothing (a retention discount is pure cost);
- **lost cause**: never buys, with or without the action;
- **sleeping dog**: buys often when left alone, but a sales call pushes them to churn.

Types follow engagement (the log purchase rate, which the demo's propensity model sees) and
satisfaction: sure things and sleeping dogs are the most engaged customers, so *propensity*
(who buys) and *uplift* (who buys because of the action) disagree by construction. On top:

- **fatigue**: each contact in the trailing 30 days lowers the response by ``fatigue_decay`` and
  raises the unsubscribe and complaint probabilities (more for unhappy customers);
- **credit risk**: a credit or deferred-payment offer raises the default probability over the
  horizon only for risky customers (true 12-month default probability at least ``risky_pd``).

:func:`true_uplift` is pure and vectorised: the TRUE expected incremental margin over the horizon
of an action kind against no action, given the contacts in the last 30 days, so the true value of
any policy is computable. :func:`draw_outcomes` draws what followed a decision from the same
probabilities. Everything here is SIMULATED: it exists only in the demo.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from cvm.demo.arrays import BoolArray, FloatArray, IntArray

Kind = Literal["none", "inform", "sell", "call", "retention", "credit"]
KINDS: tuple[Kind, ...] = ("none", "inform", "sell", "call", "retention", "credit")
TYPES = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")
PERSUADABLE, SURE_THING, LOST_CAUSE, SLEEPING_DOG = range(4)
LABEL = "SIMULATED"
CALL_CHANNELS = frozenset({"phone", "crm_task", "visit"})


@dataclass(frozen=True)
class EffectParams:
    """Parameters of the simulated treatment effects (documented in ``docs/demo-ground-truth.md``).

    Probabilities are over ``horizon_days``. Per kind ``k``, ``lift[k]`` is a persuadable's added
    conversion probability and ``dog_churn[k]`` a sleeping dog's added churn probability.
    """

    horizon_days: int = 90
    shares: tuple[float, float, float, float] = (0.30, 0.25, 0.30, 0.15)
    base_conversion: tuple[float, float, float, float] = (0.05, 0.60, 0.01, 0.40)
    lift: tuple[tuple[str, float], ...] = (("inform", 0.04), ("sell", 0.30), ("call", 0.45), ("credit", 0.35))
    dog_churn: tuple[tuple[str, float], ...] = (
        ("inform", 0.01),
        ("sell", 0.05),
        ("call", 0.15),
        ("retention", 0.0),
        ("credit", 0.03),
    )
    retention_churn_cut: float = 0.5
    retention_discount: float = 0.15
    retention_take: tuple[float, float, float, float] = (0.6, 0.6, 0.1, 0.3)
    churn_loss_days: float = 180.0
    fatigue_decay: float = 0.25
    unsubscribe_base: float = 0.01
    complaint_base: float = 0.004
    fatigue_power: float = 1.5
    unsubscribe_cost: float = 8.0
    complaint_cost: float = 20.0
    risky_pd: float = 0.08
    credit_pd_multiplier: float = 2.0
    credit_exposure_orders: float = 3.0
    lgd: float = 0.6
    noise: float = 0.7

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return asdict(self)


@dataclass(frozen=True)
class Truth:
    """Per-customer hidden response and the quantities the effects scale with (one element per customer)."""

    customer_id: tuple[str, ...]
    type: IntArray
    alive: BoolArray
    order_amount: FloatArray
    """Expected amount of one purchase (the spend scale): a credit offer's exposure is a few of them."""
    order_margin: FloatArray
    """Expected margin of one extra purchase: spend scale × margin rate."""
    base_margin: FloatArray
    """Expected margin over the horizon with no action."""
    churn_loss: FloatArray
    """Margin lost when the customer churns: ``churn_loss_days`` of expected margin."""
    base_churn: FloatArray
    """Churn probability over the horizon with no action."""
    base_default: FloatArray
    """Default probability over the horizon from the latent default hazard."""
    risky: BoolArray
    fatigue_scale: FloatArray
    """Sensitivity to contact pressure: ``exp(-0.5 × satisfaction)``."""
    params: EffectParams

    @property
    def n(self) -> int:
        """Number of customers."""
        return len(self.customer_id)

    def index(self, customer_ids: Any) -> IntArray:
        """Positions of ``customer_ids`` (KeyError naming the first unknown one)."""
        pos = {c: i for i, c in enumerate(self.customer_id)}
        try:
            return np.fromiter((pos[c] for c in customer_ids), dtype=np.int64)
        except KeyError as exc:
            raise KeyError(f"customer {exc.args[0]!r} is not in the demo's ground truth") from None


def response_types(log_rate: FloatArray, satisfaction: FloatArray, shares: tuple[float, ...], rng: Any) -> IntArray:
    """Response type per customer from engagement (log purchase rate) and satisfaction, in the stated shares.

    Lost causes are the least engaged, persuadables the middle; the most engaged (sleeping dogs' and sure
    things' shares together) split by satisfaction: the least satisfied are sleeping dogs, the rest sure things.
    """
    n = log_rate.size
    noise = rng.standard_normal((2, n))
    engage = _z(log_rate) + 0.3 * noise[0]
    affect = _z(satisfaction) + 0.5 * noise[1]
    counts = np.round(np.asarray(shares) * n).astype(np.int64)
    out = np.full(n, PERSUADABLE, dtype=np.int64)
    by_engage = np.argsort(engage, kind="stable")
    out[by_engage[: counts[LOST_CAUSE]]] = LOST_CAUSE
    top = by_engage[n - counts[SLEEPING_DOG] - counts[SURE_THING] :]
    dogs = top[np.argsort(affect[top], kind="stable")[: counts[SLEEPING_DOG]]]
    out[dogs] = SLEEPING_DOG
    rest = top[~np.isin(top, dogs)]
    out[rest[np.argsort(-engage[rest], kind="stable")[: counts[SURE_THING]]]] = SURE_THING
    return out


def _z(x: FloatArray) -> FloatArray:
    x = np.nan_to_num(np.asarray(x, dtype=float))
    return np.asarray((x - x.mean()) / max(float(x.std()), 1e-9))


def build_truth(frame: pl.DataFrame, seed: int, params: EffectParams | None = None) -> Truth:
    """The ground truth of effects from ``ground_truth/customers_truth.parquet`` (a pure function of frame and seed)."""
    p = params or EffectParams()
    rng = np.random.default_rng([seed, 7919])
    col = {c: frame[c].to_numpy().astype(float) for c in _NUMERIC}
    rate = np.maximum(col["purchase_rate"], 1e-6)
    order_margin = col["spend_scale"] * col["margin_rate"]
    daily_churn = -np.log(np.clip(1.0 - col["churn_hazard"], 1e-12, 1.0)) / 30.44
    h = p.horizon_days
    return Truth(
        customer_id=tuple(frame["customer_id"].to_list()),
        type=response_types(np.log(rate), col["satisfaction"], p.shares, rng),
        alive=frame["alive"].to_numpy().astype(bool),
        order_amount=col["spend_scale"],
        order_margin=order_margin,
        base_margin=rate * h * order_margin,
        churn_loss=rate * p.churn_loss_days * order_margin,
        base_churn=1.0 - np.exp(-daily_churn * h),
        base_default=1.0 - np.exp(-col["default_hazard"] * h),
        risky=col["default_probability"] >= p.risky_pd,
        fatigue_scale=np.exp(-0.5 * col["satisfaction"]),
        params=p,
    )


_NUMERIC = (
    "purchase_rate",
    "spend_scale",
    "margin_rate",
    "churn_hazard",
    "default_hazard",
    "default_probability",
    "satisfaction",
)


def action_kind(action: str, objective: str, channel: str) -> Kind:
    """The effect kind of an action from its id, objective and channel.

    ``credit`` when the id names credit, deferred payment or payment terms; ``retention`` when it names
    retention, win-back or save offers; ``call`` on a person-to-person channel (phone, CRM task, visit);
    ``sell`` for the sell, propose and give objectives; ``inform`` otherwise.
    """
    a = action.lower()
    if action == "none":
        return "none"
    if any(w in a for w in ("credit", "defer", "payment_terms", "instal")):
        return "credit"
    if any(w in a for w in ("retention", "retain", "winback", "win_back", "save")):
        return "retention"
    if channel in CALL_CHANNELS:
        return "call"
    if objective in ("sell", "propose", "give"):
        return "sell"
    return "inform"


@dataclass(frozen=True)
class Probabilities:
    """Outcome probabilities over the horizon for each (customer, action) pair."""

    convert: FloatArray
    churn: FloatArray
    default: FloatArray
    unsubscribe: FloatArray
    complain: FloatArray
    discount: FloatArray
    """Expected retention discount given away (currency)."""


def probabilities(truth: Truth, idx: IntArray, kinds: Any, contacts: Any) -> Probabilities:
    """Outcome probabilities of customers ``idx`` under action kinds ``kinds`` with ``contacts`` in the last 30 days."""
    p = truth.params
    idx = np.asarray(idx, dtype=np.int64)
    kind = np.broadcast_to(np.asarray(kinds, dtype=object), idx.shape)
    n = np.broadcast_to(np.asarray(contacts, dtype=float), idx.shape)
    typ = truth.type[idx]
    acted = kind != "none"
    response = (1.0 - p.fatigue_decay) ** n
    lift = np.array([dict(p.lift).get(k, 0.0) for k in kind.tolist()], dtype=float).reshape(idx.shape)
    dog = np.array([dict(p.dog_churn).get(k, 0.0) for k in kind.tolist()], dtype=float).reshape(idx.shape)
    base = np.asarray(p.base_conversion)[typ]
    convert = np.clip(base + np.where(typ == PERSUADABLE, lift * response, 0.0), 0.0, 1.0)
    churn0 = truth.base_churn[idx]
    retention = kind == "retention"
    cut = np.where(retention & (typ == PERSUADABLE), p.retention_churn_cut * response, 0.0)
    churn = np.clip(churn0 * (1.0 - cut) + np.where(typ == SLEEPING_DOG, dog, 0.0), 0.0, 1.0)
    take = np.asarray(p.retention_take)[typ] * response
    discount = np.where(retention, take * p.retention_discount * truth.base_margin[idx], 0.0)
    credit = (kind == "credit") & truth.risky[idx]
    pd0 = truth.base_default[idx]
    default = np.where(credit, 1.0 - (1.0 - pd0) ** (1.0 + p.credit_pd_multiplier), pd0)
    pressure = truth.fatigue_scale[idx] * (1.0 + n) ** p.fatigue_power
    unsub = np.where(acted, np.clip(p.unsubscribe_base * pressure, 0.0, 1.0), 0.0)
    complain = np.where(acted, np.clip(p.complaint_base * pressure, 0.0, 1.0), 0.0)
    alive = truth.alive[idx]  # a churned customer is beyond any action's reach
    return Probabilities(
        convert=np.where(alive, convert, 0.0),
        churn=np.where(alive, churn, 0.0),
        default=np.where(alive, default, 0.0),
        unsubscribe=np.where(alive, unsub, 0.0),
        complain=np.where(alive, complain, 0.0),
        discount=np.where(alive, discount, 0.0),
    )


def expected_margin(truth: Truth, idx: IntArray, kinds: Any, contacts: Any) -> FloatArray:
    """TRUE expected margin over the horizon (before the contact's cost) of customers ``idx`` under ``kinds``."""
    p, idx = truth.params, np.asarray(idx, dtype=np.int64)
    pr = probabilities(truth, idx, kinds, contacts)
    exposure = p.credit_exposure_orders * truth.order_amount[idx]
    return np.asarray(
        truth.base_margin[idx] * truth.alive[idx]
        + pr.convert * truth.order_margin[idx]
        - pr.churn * truth.churn_loss[idx]
        - pr.default * exposure * p.lgd
        - pr.unsubscribe * p.unsubscribe_cost
        - pr.complain * p.complaint_cost
        - pr.discount
    )


def true_uplift(truth: Truth, idx: IntArray, kinds: Any, contacts: Any = 0) -> FloatArray:
    """TRUE expected incremental margin over the horizon of ``kinds`` against no action (contact cost excluded).

    Vectorised over customers ``idx``; ``contacts`` is the number of contacts in the last 30 days before
    the decision. ``none`` gives 0. SIMULATED.
    """
    idx = np.asarray(idx, dtype=np.int64)
    return expected_margin(truth, idx, kinds, contacts) - expected_margin(truth, idx, "none", contacts)


def draw_outcomes(
    truth: Truth, idx: IntArray, kinds: Any, contacts: Any, cost: Any, rng: np.random.Generator
) -> dict[str, Any]:
    """Draw what followed each decision: flags and the margin over the horizon net of the contact's ``cost``.

    The margin's expectation is :func:`expected_margin` minus ``cost``: the base margin is drawn from a
    Gamma with mean ``base_margin`` (coefficient of variation ``params.noise``), and each event adds or
    removes its amount.
    """
    p, idx = truth.params, np.asarray(idx, dtype=np.int64)
    pr = probabilities(truth, idx, kinds, contacts)
    m = idx.size
    u = rng.random((6, m))
    shape = 1.0 / p.noise**2
    base = rng.gamma(shape, 1.0, m) / shape * truth.base_margin[idx] * truth.alive[idx]
    converted, churned, defaulted = u[0] < pr.convert, u[1] < pr.churn, u[2] < pr.default
    unsub, complained = u[3] < pr.unsubscribe, u[4] < pr.complain
    exposure = p.credit_exposure_orders * truth.order_amount[idx]
    margin = (
        base
        + converted * truth.order_margin[idx]
        - churned * truth.churn_loss[idx]
        - defaulted * exposure * p.lgd
        - unsub * p.unsubscribe_cost
        - complained * p.complaint_cost
        - pr.discount
        - np.broadcast_to(np.asarray(cost, dtype=float), idx.shape)
    )
    return {
        "margin": margin,
        "converted": converted,
        "churned": churned,
        "defaulted": defaulted,
        "unsubscribed": unsub,
        "complained": complained,
    }
