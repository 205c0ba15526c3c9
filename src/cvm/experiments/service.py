"""Pilots for the engine: list them, report on them, create them in ``cvm.yaml``, keep finished ones.

Two kinds of pilot, and the rungs of the holdout ladder (:mod:`cvm.experiments.ladder_report`):

- **live** pilots are configured (``experiments.pilots`` in ``cvm.yaml``): the decision assigns
  customers when the plan would act (:mod:`cvm.plans.pilots`); the report reads the
  ``assignments`` table, the hub's outcomes and the outbox's actions for the costs;
- **finished** pilots are kept as a report file, ``<workspace>/pilots/<name>.json`` (the demo's
  retrospective pilot, :mod:`cvm.experiments.retro`); their assignments stay in the table, so the
  customer 360 shows them.

Imports from a sibling stage: :mod:`cvm.reporting.churn` (``data_end``): the demo's pilot is dated
at the end of the data exactly as the churn report dates it.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
import yaml
from pydantic import ValidationError

from cvm.config import CONFIG_FILE, ConfigError, Settings, load_settings
from cvm.config.settings import PilotSettings
from cvm.errors import BadValueError, NotFoundError
from cvm.experiments import ladder_report, records
from cvm.experiments.outcomes import pilot_outcomes
from cvm.experiments.report import PilotSpec, build_report
from cvm.store import OfflineStore, OnlineStore
from cvm.store.tables import action_requests

FOLDER = "pilots"


class UnknownPilotError(NotFoundError, ValueError):
    """No pilot of that name, configured or finished."""


def saved_path(workspace: Path, name: str) -> Path:
    return workspace / FOLDER / f"{name}.json"


def save_report(workspace: Path, report: dict[str, Any]) -> Path:
    """Keep a finished pilot's report (written atomically)."""
    path = saved_path(workspace, str(report["name"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)
    return path


def _saved(workspace: Path) -> dict[str, dict[str, Any]]:
    folder = workspace / FOLDER
    out = {}
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        data = json.loads(path.read_text(encoding="utf-8"))
        out[str(data.get("name", path.stem))] = data
    return out


def spec_of(name: str, pilot: PilotSettings) -> PilotSpec:
    """The report's view of a configured pilot."""
    return PilotSpec(
        name=name,
        arms={a: arm.share for a, arm in pilot.arms.items()},
        control=pilot.control,
        holdout=[a for a, arm in pilot.arms.items() if arm.holdout],
        primary=pilot.primary,
        window_days=pilot.outcome_days,
        alpha=pilot.alpha,
        correction=pilot.correction,
        segment_by=list(pilot.segment_by),
        description=pilot.description,
        plan=pilot.plan,
        step=pilot.step,
    )


def _costs(conn: sa.Connection, settings: Settings, pilot: PilotSettings, asg: pl.DataFrame) -> dict[str, float]:
    """Arm → cost of the pilot's plan actions sent (or queued) to the arm's customers since their assignment."""
    r = action_requests.c
    query = sa.select(r.customer_id, r.step, r.channel, r.created_at).where(
        r.plan == pilot.plan, r.status != "dead", r.customer_id.in_(sa.bindparam("ids", expanding=True))
    )
    arms = dict(zip(asg["customer_id"].to_list(), asg["arm"].to_list(), strict=True))
    since = dict(zip(asg["customer_id"].to_list(), asg["assigned_at"].to_list(), strict=True))
    steps = {s.name: s for s in settings.plans.definitions[pilot.plan].steps}
    policy = settings.plans.policy
    out: dict[str, float] = {}
    ids = list(arms)
    for i in range(0, len(ids), 5_000):
        for cid, step, channel, created in conn.execute(query, {"ids": ids[i : i + 5_000]}):
            created = created if created.tzinfo else created.replace(tzinfo=UTC)
            if (pilot.step and step != pilot.step) or created < since[cid]:
                continue
            arm = pilot.arms.get(arms[cid])
            base = steps.get(step)
            explicit = arm.cost if arm is not None and arm.cost is not None else (base.cost if base else None)
            cost = explicit if explicit is not None else policy.cost(channel)
            out[arms[cid]] = out.get(arms[cid], 0.0) + cost
    return out


def live_report(
    offline: OfflineStore, online: OnlineStore, settings: Settings, name: str, now: datetime | None = None
) -> dict[str, Any]:
    """The report of a configured pilot as of ``now`` (assignments from the plan states are synced first)."""
    pilot = settings.experiments.pilots[name]
    now = now or datetime.now(UTC)
    with online.begin() as conn:
        records.sync_from_profiles(conn)
        asg = records.frame(conn, name)
        costs = _costs(conn, settings, pilot, asg) if asg.height else {}
    outcomes = pilot_outcomes(offline, asg, pilot.outcome_days, now, pilot.product, settings.scoring.margin_rate)
    ended = pilot.end is not None and now.date() >= pilot.end
    status = "finished" if ended and asg.height and bool(outcomes["mature"].all()) else "running"
    return build_report(spec_of(name, pilot), outcomes, costs, status, now.isoformat())


def report(
    workspace: Path, offline: OfflineStore, online: OnlineStore, settings: Settings, name: str
) -> dict[str, Any]:
    """A configured pilot's live report, a rung of the holdout ladder's, else a finished pilot's kept report."""
    if name in settings.experiments.pilots:
        return live_report(offline, online, settings, name)
    if ladder_report.is_rung(name) and name in ladder_report.rung_names(settings):
        return ladder_report.rung_report(offline, online, settings, name)
    saved = _saved(workspace)
    if name not in saved:
        known = ", ".join(sorted({*settings.experiments.pilots, *saved, *ladder_report.rung_names(settings)}))
        known = known or "none yet"
        raise UnknownPilotError(f"unknown pilot {name!r}; pilots: {known}")
    return saved[name]


def list_pilots(workspace: Path, online: OnlineStore, settings: Settings) -> list[dict[str, Any]]:
    """Every pilot: configured ones with their assignment counts, then finished ones with their verdict."""
    try:
        with online.begin() as conn:
            records.sync_from_profiles(conn)
            counts = records.counts(conn)
    except sa.exc.DBAPIError:  # an online store without the assignments table yet
        counts = {}
    out = []
    for name, p in sorted(settings.experiments.pilots.items()):
        out.append({"name": name, "kind": "live", "status": "running" if p.enabled else "disabled",
                    "plan": p.plan, "step": p.step, "primary": p.primary, "description": p.description,
                    "arms": {a: counts.get(name, {}).get(a, 0) for a in p.arms}, "recommendation": None,
                    "simulated": False})  # fmt: skip
    with contextlib.suppress(sa.exc.DBAPIError):  # an online store without the decision log yet
        out += ladder_report.counts(online, settings)  # the rungs of the holdout ladder
    for name, rep in _saved(workspace).items():
        if name in settings.experiments.pilots:
            continue
        out.append({"name": name, "kind": "finished", "status": rep.get("status", "finished"), "plan": rep.get("plan"),
                    "step": rep.get("step"), "primary": rep.get("primary"), "description": rep.get("description", ""),
                    "arms": {a["arm"]: a["assigned"] for a in rep.get("arms", [])},
                    "recommendation": (rep.get("recommendation") or {}).get("decision"),
                    "simulated": bool(rep.get("simulated"))})  # fmt: skip
    return out


# -- creating a pilot in cvm.yaml --------------------------------------------------------------
def _flow(data: Any) -> str:
    return (
        yaml.safe_dump(data, default_flow_style=True, width=10_000, sort_keys=False).strip().removesuffix("...").strip()
    )


def _insert_pilot(text: str, name: str, data: dict[str, Any]) -> str:
    """``text`` with the pilot added under ``experiments.pilots``, keeping every comment."""
    lines = text.splitlines()
    entry = f"{name}: {_flow(data)}"
    top = next((i for i, ln in enumerate(lines) if re.match(r"^experiments:\s*(#.*)?$", ln)), None)
    if top is None:
        return text.rstrip("\n") + f"\n\nexperiments:\n  pilots:\n    {entry}\n"
    end = next((i for i in range(top + 1, len(lines)) if re.match(r"^[^\s#]", lines[i])), len(lines))
    for i in range(top + 1, end):
        m = re.match(r"^(\s+)pilots:\s*(\{\s*\})?\s*(#.*)?$", lines[i])
        if m is None:
            continue
        indent = m.group(1)
        child = next((ln for ln in lines[i + 1 : end] if ln.strip() and not ln.lstrip().startswith("#")), "")
        child_pad = child[: len(child) - len(child.lstrip())]
        pad = child_pad if len(child_pad) > len(indent) else indent * 2
        lines[i] = f"{indent}pilots:"
        lines.insert(i + 1, f"{pad}{entry}")
        return "\n".join(lines) + "\n"
    if any(re.match(r"^\s+pilots:", lines[i]) for i in range(top + 1, end)):
        raise ConfigError("cvm.yaml: experiments.pilots is not a block mapping; add the pilot by hand")
    lines.insert(top + 1, f"  pilots:\n    {entry}")
    return "\n".join(lines) + "\n"


def create_pilot(workspace: Path, name: str, pilot: dict[str, Any]) -> Settings:
    """Add a pilot to the workspace's ``cvm.yaml`` (validated first; comments kept); returns the new settings."""
    path = workspace / CONFIG_FILE
    before = path.read_text(encoding="utf-8")
    current = yaml.safe_load(before) or {}
    if name in ((current.get("experiments") or {}).get("pilots") or {}):
        raise BadValueError(f"pilot {name!r} already exists in {path}")
    try:
        PilotSettings.model_validate(pilot)
    except ValidationError as exc:
        raise ConfigError(
            f"pilot {name}: {exc.errors()[0]['msg']} ({'.'.join(map(str, exc.errors()[0]['loc']))})"
        ) from None
    path.write_text(_insert_pilot(before, name, pilot), encoding="utf-8")
    try:
        settings = load_settings(workspace)
        if name not in settings.experiments.pilots:
            raise ConfigError(f"{path}: the pilot could not be added; add it by hand under experiments.pilots")
    except ConfigError:
        path.write_text(before, encoding="utf-8")
        raise
    return settings


def run_demo_pilot(
    workspace: Path, offline: OfflineStore, online: OnlineStore, settings: Settings, truth: Path
) -> dict[str, Any]:
    """Build the demo's retrospective pilot (:mod:`cvm.experiments.retro`), record its assignments, keep its report."""
    from cvm.experiments import retro
    from cvm.reporting.churn import data_end

    end = data_end(offline.scan("transactions"), offline.scan("subscriptions"))
    if end is None:
        raise BadValueError("the hub holds no transactions or subscriptions: no pilot to build")
    at = datetime.combine(end, datetime.min.time(), UTC)
    cost = settings.plans.policy.cost("phone")
    pilot = retro.demo_pilot(offline, truth, at, cost, margin_rate=settings.scoring.margin_rate)
    with online.begin() as conn:
        records.replace_experiment(conn, retro.NAME, pilot.assignments)
    save_report(workspace, pilot.report)
    return pilot.report
