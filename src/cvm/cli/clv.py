"""``cvm clv``: customer lifetime value of any transaction file, no workspace needed."""

from __future__ import annotations

import math
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled
from cvm.cli.options import DateFormat, DecimalMark, Delimiter, Encoding, JsonFlag

app = typer.Typer(help="Customer lifetime value (BG/NBD, Pareto/NBD, MBG/NBD + Gamma-Gamma) of a transaction file.")


class PurchaseModelName(StrEnum):
    bgnbd = "bgnbd"
    pnbd = "pnbd"
    mbgnbd = "mbgnbd"


class SpendModelName(StrEnum):
    gg = "gg"
    none = "none"


class FreqName(StrEnum):
    D = "D"
    W = "W"


def _params_table(title: str, info: dict[str, Any]) -> None:
    ses = info["standard_errors"]
    console.table(
        f"{title}: {info['model']} ({info['version']}), {info['n_customers']:,} customers, "
        f"LL {info['log_likelihood']:,.2f}, converged {info['converged']}",
        ["param", "estimate", "std. error"],
        ([k, f"{v:.6g}", _se(ses.get(k))] for k, v in info["params"].items()),
    )


def _se(value: float | None) -> str:
    """A standard error, or n/a when it could not be computed (NaN or missing)."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4g}"


@app.command()
def fit(
    transactions: Annotated[
        Path, typer.Argument(help="Transactions: CSV, JSON lines or Parquet, read as `cvm ingest` reads them.")
    ],
    model: Annotated[PurchaseModelName, typer.Option(help="Purchase model.")] = PurchaseModelName.bgnbd,
    spend: Annotated[SpendModelName, typer.Option(help="Spend model (none: purchases only).")] = SpendModelName.gg,
    freq: Annotated[FreqName, typer.Option(help="Time unit: D (days) or W (weeks).")] = FreqName.D,
    horizon: Annotated[int, typer.Option(min=1, max=240, help="Horizon in months (predictions and CLV).")] = 12,
    discount_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Annual discount rate.")] = 0.10,
    margin: Annotated[float, typer.Option(min=0.0, max=1.0, help="Margin on spend (1: CLV of revenue).")] = 1.0,
    customer_col: Annotated[str, typer.Option(help="Customer id column.")] = "customer_id",
    time_col: Annotated[str, typer.Option(help="Timestamp column.")] = "ts",
    amount_col: Annotated[str, typer.Option(help="Amount column.")] = "amount",
    end: Annotated[str | None, typer.Option(help="End of observation (default: last transaction).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write per-customer predictions (.parquet or .csv).")] = None,
    plots: Annotated[Path | None, typer.Option(help="Write diagnostic plots (HTML, PNG if possible) here.")] = None,
    delimiter: Delimiter = None,
    encoding: Encoding = None,
    decimal: DecimalMark = None,
    date_format: DateFormat = None,
    json_out: JsonFlag = False,
) -> None:
    """Fit a purchase model and a spend model on TRANSACTIONS and predict every customer's value."""
    from cvm.ingest.readers import ReadOptions
    from cvm.models.clv import ConvergenceWarning
    from cvm.reporting.clv_plots import write_figures
    from cvm.scoring.clv_file import ClvOptions, fit_clv_file, make_figures, predictions_table

    if out is not None and out.suffix.lower() not in (".parquet", ".pq", ".csv"):
        console.fail(f"--out must end in .parquet or .csv, got {out.name}")
    options = ClvOptions(
        customer_col=customer_col,
        time_col=time_col,
        amount_col=amount_col,
        model=model.value,
        spend=None if spend is SpendModelName.none else spend.value,
        freq="W" if freq is FreqName.W else "D",
        horizon_months=horizon,
        discount_rate=discount_rate,
        margin=margin,
        observation_end=end,
        read=ReadOptions(delimiter=delimiter, encoding=encoding, decimal=decimal, date_format=date_format),
    )
    with console.progress() as bar, handled(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        task = bar.add_task("Reading", total=None)
        result = fit_clv_file(transactions, options, step=lambda s: bar.update(task, description=s))
        figures = make_figures(result, step=lambda s: bar.update(task, description=s)) if plots else {}
    for w in caught:
        console.warn(str(w.message))
    with handled():
        if out is not None:
            _write(predictions_table(result), out)
        written = write_figures(figures, plots) if plots is not None else None
    if written is not None and written.png_error:
        console.note(written.png_error)
    info = result.to_dict() | {"out": str(out) if out else None}
    info["plots"] = [str(p) for p in written.files] if written else []
    if json_out:
        console.json(info)
    else:
        _print_fit(info)


def _print_fit(info: dict[str, Any]) -> None:
    _params_table("Purchase model", info["purchase_model"])
    if info["spend_model"]:
        _params_table("Spend model", info["spend_model"])
    totals = info["totals"]
    console.print(
        f"{info['customers']:,} customers; expected purchases in {info['horizon_months']} months: "
        f"{totals['exp_purchases']:,.1f}" + (f"; CLV total {totals['clv']:,.2f}" if totals["clv"] is not None else "")
    )
    for path in info["plots"] + ([info["out"]] if info["out"] else []):
        console.note(f"wrote {path}")


def _write(frame: Any, path: Path) -> None:
    from cvm.contracts.csvsafe import safe_pandas

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        safe_pandas(frame).to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
