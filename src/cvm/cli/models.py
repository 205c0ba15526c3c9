"""``cvm train`` and ``cvm models``: train, list, show, promote and monitor the life-cycle models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled, open_engine
from cvm.cli.options import JsonFlag, Workspace
from cvm.cli.score import _parse_date

app = typer.Typer(help="Life-cycle models (churn, default scorecard, propensity): registry and monitoring.")
AsOf = Annotated[str | None, typer.Option("--as-of", help="Date YYYY-MM-DD (default: the end of the data).")]


def _auc(meta: dict[str, Any]) -> str:
    value = meta.get("metrics", {}).get("auc")
    return "" if value is None else f"{value:.3f}"


def _rows(entries: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            m["name"],
            m["version"],
            m["status"],
            m["created_at"][:19],
            ", ".join(m["training_window"].get("snapshots", [])),
            m["training_window"].get("holdout"),
            _auc(m),
        ]
        for m in entries
    ]


COLUMNS = ["model", "version", "status", "created", "training snapshots", "held-out window", "AUC (held out)"]


def train(
    as_of: AsOf = None,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
    uplift: Annotated[bool, typer.Option("--uplift", help="Train the uplift models from the decision log.")] = False,
) -> None:
    """Train churn, default (scorecard) and propensity models and register them.

    Labels must be observed: each model trains on snapshots that end its label horizon before
    --as-of (default: the end of the data); the latest labelled window is held out to measure it.
    The first version of a model becomes the champion, later ones challengers (`cvm models promote`).
    With --uplift: the uplift models per action instead, from the logged randomised decisions whose
    horizon has elapsed (as `cvm run` does; see docs/uplift.md).
    """
    day = _parse_date(as_of)
    engine = open_engine(workspace)
    if uplift:
        _train_uplift(engine, json_out)
        return
    with console.progress() as bar, handled():
        bar.add_task("Training", total=None)
        report = engine.scoring.train(day)
    if json_out:
        console.json(report.to_dict())
        return
    console.table(f"Models trained on data until {report.data_until}", COLUMNS, _rows(report.models))
    for note in report.notes:
        console.warn(note)


def _train_uplift(engine: Any, json_out: bool) -> None:
    with console.progress() as bar, handled():
        bar.add_task("Training uplift", total=None)
        report = engine.scoring.uplift()
    if json_out:
        console.json(report)
        return
    trained = report.get("trained")
    if trained:
        for action, verdict in trained["gate"]["actions"].items():
            qini = verdict.get("qini")
            shown = "n/a" if qini is None else f"{qini:.4g}"
            state = "passed" if verdict["passed"] else "failed: " + "; ".join(verdict["reasons"])
            console.print(f"{trained['version']} {action}: held-out Qini {shown}, {state}")
    for note in report["notes"]:
        console.warn(note)
    console.print(report["message"])


@app.command("list")
def list_models(workspace: Workspace = Path("."), json_out: JsonFlag = False) -> None:
    """Every registered version with its status and held-out AUC."""
    entries = [v.summary() for v in open_engine(workspace).scoring.models()]
    if json_out:
        console.json({"data": entries, "count": len(entries)})
        return
    console.table("Model registry", COLUMNS, _rows(entries))


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="churn, default or propensity.")],
    version: Annotated[str | None, typer.Option(help="Version (default: the champion, else the latest).")] = None,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """The metadata of one version: window, features, data hash, metrics and status."""
    engine = open_engine(workspace)
    with handled():
        entry = engine.scoring.model(name, version)
    meta = entry.summary()
    if json_out:
        console.json(meta)
        return
    console.table(f"{entry.tag} ({entry.status})", ["field", "value"], _fields(meta))


def _fields(meta: dict[str, Any]) -> list[list[Any]]:
    window = meta["training_window"]
    metrics = {k: v for k, v in meta["metrics"].items() if k != "targets"}
    rows: list[list[Any]] = [
        ["kind", meta["kind"]],
        ["created", meta["created_at"]],
        ["training snapshots", ", ".join(window.get("snapshots", []))],
        ["held-out window", window.get("holdout")],
        ["data until", window.get("data_until")],
        ["training rows", window.get("rows")],
        ["data hash", meta["data_hash"]],
        ["features", f"{len(meta['features'])}: {', '.join(meta['features'][:12])}"],
    ]
    if "gate" in meta:  # versions trained before the champion gate have none
        rows.append(["champion gate", "; ".join(meta["gate"]["reasons"]) or "passed"])
    rows += [[f"metric {k}", f"{v:.4f}" if isinstance(v, float) else v] for k, v in metrics.items()]
    rows += [[f"AUC {t}", f"{m['auc']:.4f}"] for t, m in meta["metrics"].get("targets", {}).items()]
    return rows


@app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="churn, default or propensity.")],
    version: Annotated[str, typer.Argument(help="The challenger's version, e.g. v2.")],
    force: Annotated[bool, typer.Option("--force", help="Promote even if it is worse than the champion.")] = False,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Make a challenger the champion, after comparing both on the latest labelled window."""
    engine = open_engine(workspace)
    with handled():
        entry = engine.scoring.promote(name, version, force=force)
    if json_out:
        console.json(entry.summary())
        return
    cmp = entry.meta.get("promotion") or {}
    if cmp:
        console.print(
            f"{entry.tag} is the champion (AUC {cmp['challenger_auc']:.4f} vs {cmp['champion_auc']:.4f}"
            f" for {cmp['champion']} on {cmp['window']}{', forced' if force else ''})."
        )
    else:
        console.print(f"{entry.tag} is the champion.")


@app.command("monitor")
def monitor(as_of: AsOf = None, workspace: Workspace = Path("."), json_out: JsonFlag = False) -> None:
    """PSI of features and scores against training, and AUC on the latest labelled window."""
    day = _parse_date(as_of)
    engine = open_engine(workspace)
    with handled():
        report = engine.scoring.monitor(day)
    if json_out:
        console.json(report.to_dict())
        return
    console.table(
        f"Model monitoring as of {report.as_of}",
        ["model", "version", "AUC trained", "AUC now", "window", "score PSI", "worst feature PSI"],
        (
            [
                m.name,
                m.version,
                m.auc_train,
                m.auc_now,
                m.auc_window,
                ", ".join(f"{k} {v:.3f}" for k, v in m.score_psi.items()),
                ", ".join(f"{k} {v:.3f}" for k, v in sorted(m.feature_psi.items(), key=lambda kv: -kv[1])[:3]),
            ]
            for m in report.models
        ),
    )
    for note in report.notes:
        console.note(note)
    for warning in report.warnings:
        console.warn(warning)
