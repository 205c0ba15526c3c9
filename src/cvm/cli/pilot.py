"""``cvm pilot``: create pilots (randomized tests of plans), list them, and report on them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled, open_engine
from cvm.cli.language import LangOption, chosen
from cvm.cli.options import JsonFlag, Workspace
from cvm.experiments.verdicts import reason_text
from cvm.i18n import _, use_locale
from cvm.i18n.labels import label
from cvm.i18n.notes import note_text

app = typer.Typer(help="Pilots: holdout groups and randomized tests of plans, with their measured uplift.",
                  no_args_is_help=True)  # fmt: skip

ArmOption = Annotated[
    list[str] | None,
    typer.Option(
        "--arm",
        help="NAME:SHARE[:OPTION,...], repeated. Options: holdout, channel=phone, offer=X, action=X, content=X, "
        "cost=4, cap.all.month=2 (contact pressure). Default: control:0.5:holdout and treatment:0.5.",
    ),
]


def parse_arm(text: str) -> tuple[str, dict[str, Any]]:
    """``call:0.5:channel=phone,cost=4`` → ``("call", {"share": 0.5, "channel": "phone", "cost": 4.0})``."""
    parts = text.split(":", 2)
    if len(parts) < 2:
        raise typer.BadParameter(f"{text!r}: write NAME:SHARE[:OPTIONS], e.g. control:0.5:holdout")
    name, share = parts[0].strip(), parts[1].strip()
    try:
        arm: dict[str, Any] = {"share": float(share)}
    except ValueError:
        raise typer.BadParameter(f"{text!r}: the share {share!r} is not a number") from None
    for option in (o.strip() for o in (parts[2].split(",") if len(parts) > 2 else []) if o.strip()):
        key, _, value = option.partition("=")
        if key == "holdout" and not value:
            arm["holdout"] = True
        elif key.startswith("cap."):
            _, scope, window = [*key.split("."), "", ""][:3]
            arm.setdefault("caps", {}).setdefault(scope, {})[window] = int(value)
        elif key == "cost":
            arm["cost"] = float(value)
        elif key in ("channel", "offer", "action", "content") and value:
            arm[key] = value
        else:
            raise typer.BadParameter(f"{text!r}: unknown option {option!r}")
    return name, arm


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Pilot name (lower case letters, digits and _).")],
    plan: Annotated[str, typer.Option(help="The plan under test.")],
    step: Annotated[str | None, typer.Option(help="Only this step of the plan (default: every step).")] = None,
    arm: ArmOption = None,
    control: Annotated[str, typer.Option(help="The arm the others are compared with.")] = "control",
    window: Annotated[int, typer.Option(min=1, max=730, help="Outcome window in days after assignment.")] = 90,
    primary: Annotated[str, typer.Option(help="revenue, margin, retention, conversion or nps.")] = "revenue",
    product: Annotated[str | None, typer.Option(help="Conversion: adopting this product.")] = None,
    segment_by: Annotated[list[str] | None, typer.Option(help="kind, region, sector, channel (repeat).")] = None,
    start: Annotated[str | None, typer.Option(help="First day of assignment (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="No new assignment from this day (YYYY-MM-DD).")] = None,
    description: Annotated[str, typer.Option(help="What the pilot tests.")] = "",
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Add a pilot to cvm.yaml: customers are assigned when the plan would act, from the next decision on."""
    pilot: dict[str, Any] = {"plan": plan, "control": control, "outcome_days": window, "primary": primary}
    optional = {"step": step, "product": product, "description": description or None, "start": start, "end": end}
    pilot |= {k: v for k, v in optional.items() if v is not None}
    if arm:
        pilot["arms"] = dict(parse_arm(a) for a in arm)
    if segment_by:
        pilot["segment_by"] = segment_by
    for key in ("start", "end"):
        if key in pilot:
            with handled():
                date.fromisoformat(pilot[key])
    engine = open_engine(workspace)
    with handled():
        created = engine.pilots.create_pilot(name, pilot)
    if json_out:
        console.json({"name": name, **created})
        return
    arms = ", ".join(
        f"{a} {v['share']:.0%}{' (holdout)' if v.get('holdout') else ''}" for a, v in created["arms"].items()
    )
    console.print(
        f"Pilot [bold]{name}[/bold] added to cvm.yaml: plan {plan}{f', step {step}' if step else ''}; {arms}."
    )


@app.command("list")
def list_cmd(workspace: Workspace = Path("."), json_out: JsonFlag = False) -> None:
    """Every pilot: live ones with their arm sizes, finished ones with their recommendation."""
    engine = open_engine(workspace)
    with handled():
        pilots = engine.pilots.pilots()
    if json_out:
        console.json({"data": pilots, "count": len(pilots)})
        return
    console.table(
        "Pilots",
        ["name", "kind", "status", "plan", "primary", "arms", "recommendation"],
        ([p["name"], p["kind"] + (" (simulated)" if p["simulated"] else ""), p["status"],
          f"{p['plan']}.{p['step']}" if p["step"] else p["plan"], p["primary"],
          ", ".join(f"{a} {n:,}" for a, n in p["arms"].items()), p["recommendation"] or ""] for p in pilots),
    )  # fmt: skip


@app.command("report")
def report(
    name: Annotated[str, typer.Argument(help="The pilot.")],
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
    lang: LangOption = None,
) -> None:
    """Arm sizes, SRM check, lifts per outcome and segment with CIs, incremental value and a recommendation.

    The notes and the recommendation's reason are said in ``--lang`` (default ``reporting.locale``);
    ``--json`` keeps the recommendation's ``code`` and ``values`` next to its English ``reason``.
    """
    engine = open_engine(workspace)
    with handled():
        language = chosen(lang, engine.settings)
        data = engine.pilots.pilot_report(name)
    if json_out:
        console.json(data)
        return
    with use_locale(language):
        print_report(data)


# -- rendering -----------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:+.1f}%"


def _ci(lo: float | None, hi: float | None, pct: bool = True, digits: int = 2) -> str:
    if lo is None or hi is None:
        return "–"
    return f"{_pct(lo)} … {_pct(hi)}" if pct else f"{lo:,.{digits}f} … {hi:,.{digits}f}"


def _p(x: float | None) -> str:
    return "–" if x is None else f"{x:.3g}"


def _outcome_row(r: Mapping[str, Any]) -> list[object]:
    c = r.get("cuped") or {}
    s = r["sequential"]
    return [r["outcome"], r["arm"], f"{r['control_mean']:,.3f}", f"{r['arm_mean']:,.3f}", _pct(r["lift"]),
            _ci(r["ci_low"], r["ci_high"]), _p(r["p_value"]), _pct(c.get("lift")),
            _ci(c.get("ci_low"), c.get("ci_high")),
            _pct(c.get("variance_reduction")) if c else "–", _ci(s["ci_low"], s["ci_high"], pct=False, digits=3),
            f"{r['chance_to_win']:.0%}"]  # fmt: skip


def print_report(data: Mapping[str, Any]) -> None:
    """The report as tables, for people."""
    where = f"{data['plan']}.{data['step']}" if data.get("step") else data.get("plan")
    console.print(f"[bold]Pilot {data['name']}[/bold] ({data['status']}): plan {where}; primary outcome "
                  f"{data['primary']} over {data['window_days']} days; control arm {data['control']}.")  # fmt: skip
    if data.get("description"):
        console.print(data["description"])
    for note in data.get("notes", []):
        console.print(f"[yellow]{note_text(note)}[/yellow]")
    console.table("Arms", ["arm", "share", "holdout", "assigned", "outcome window done", "action cost"],
                  ([a["arm"], f"{a['share']:.0%}", "yes" if a["holdout"] else "", a["assigned"], a["mature"],
                    a["cost"]] for a in data["arms"]))  # fmt: skip
    srm = data["srm"]
    flag = "[red]MISMATCH[/red]" if srm["mismatch"] else "ok"
    console.print(f"Sample-ratio check: χ² = {srm['chi2']:.4f}, p = {srm['p_value']:.4g} ({flag}; warns below 0.001)")
    console.table(
        "Outcomes (treatment arm vs control; 95% intervals)",
        ["outcome", "arm", "control", "arm mean", "lift", "CI", "p", "CUPED lift", "CUPED CI", "var. cut",
         "always-valid CI (diff)", "P(win)"],
        (_outcome_row(r) for r in data["outcomes"]),
    )  # fmt: skip
    if data["segments"]:
        method = "Holm" if data["correction"] == "holm" else "Benjamini–Hochberg"
        console.table(
            f"{data['primary']} by segment (p adjusted by {method})",
            ["by", "segment", "arm", "n control", "n arm", "lift", "CI", "p adj.", "significant"],
            ([s["segment_by"], s["segment"], s["arm"], s["n_control"], s["n_arm"], _pct(s["lift"]),
              _ci(s["ci_low"], s["ci_high"]), _p(s["p_adjusted"]), "yes" if s["significant"] else ""]
             for s in data["segments"]),
        )  # fmt: skip
    console.table(
        "Incremental value (CUPED-adjusted difference × customers; net of action costs)",
        ["arm", "customers", "revenue", "revenue CI", "margin", "margin CI", "cost", "net", "net CI"],
        ([v["arm"], v["customers"], v["incremental_revenue"], _ci(v["revenue_ci_low"], v["revenue_ci_high"], False, 0),
          v["incremental_margin"], _ci(v["margin_ci_low"], v["margin_ci_high"], False, 0), v["cost"], v["net"],
          _ci(v["net_ci_low"], v["net_ci_high"], False, 0)] for v in data["value"]),
    )  # fmt: skip
    rec = data["recommendation"]
    arm = f" ({rec['arm']})" if rec.get("arm") else ""
    head = _("Recommendation: %(decision)s") % {"decision": label(rec["decision"], "decision")}
    console.print(f"[bold]{head}{arm}[/bold]: {reason_text(rec)}.")
