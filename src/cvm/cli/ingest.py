"""``cvm ingest``: load files or a SQL query into one hub table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled, open_engine
from cvm.cli.options import DateFormat, DecimalMark, Delimiter, Encoding, JsonFlag, Workspace
from cvm.cli.schema import print_schema
from cvm.contracts import DATA_TABLES

if TYPE_CHECKING:
    from cvm.ingest.batch import BatchResult

SHOWN_REJECTS = 20


def _rename(pairs: list[str]) -> dict[str, str] | None:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"{pair!r}: expected SOURCE=COLUMN", param_hint="--rename")
        src, dst = pair.split("=", 1)
        out[src.strip()] = dst.strip()
    return out or None


def _print_result(result: BatchResult, json_out: bool, rejects_out: Path | None) -> None:
    rejects = result.rejects
    if rejects_out is not None and rejects is not None:
        from cvm.contracts.csvsafe import safe_polars

        safe_polars(rejects).write_csv(rejects_out)
    if json_out:
        retried = result.status == "retried"
        extra = {k: result.explain(0)[k] for k in ("status", "message", "retry_of")} if retried else {}
        console.json({**result.summary(), **extra})
    else:
        console.table(
            f"Ingest into {result.table}",
            ["batch", "status", "read", "accepted", "rejected"],
            [[result.batch_id, result.status, result.read, result.accepted, result.rejected]],
        )
    for note in result.notes:
        console.note(f"detected {note}")
    if result.ignored_columns:
        console.warn(f"columns not in the {result.table} table were ignored: {', '.join(result.ignored_columns)}")
    if rejects is not None and rejects.height:
        shown = rejects.head(SHOWN_REJECTS)
        console.err.print(f"Rejected rows ({result.rejected}; first {shown.height} problems):")
        for r in shown.iter_rows(named=True):
            console.err.print(f"  {r['source']}:{r['line']} {r['field']}={r['value']!r}: {r['reason']}")
    if result.status == "refused":
        console.err.print(
            f"[red]refused:[/red] {result.reject_ratio:.1%} of rows rejected, above --max-reject-ratio "
            f"{result.max_reject_ratio:.1%}; nothing of this batch was stored."
        )
    elif result.message:
        console.err.print(result.message)
    elif result.status == "unchanged":
        console.note("this content was already ingested: nothing changed")


def ingest(
    table: Annotated[str, typer.Argument(help=f"Hub table: {', '.join(DATA_TABLES)}.")],
    paths: Annotated[list[Path] | None, typer.Argument(help="CSV, Parquet or JSON-lines files (one batch).")] = None,
    from_sql: Annotated[str | None, typer.Option("--from-sql", help="SQLAlchemy URL of a CRM/ERP database.")] = None,
    query: Annotated[str | None, typer.Option(help="SQL query to run with --from-sql.")] = None,
    upsert: Annotated[bool, typer.Option(help="Replace stored rows that have the same natural key.")] = False,
    max_reject_ratio: Annotated[
        float | None, typer.Option(help="Refuse the whole batch above this rejected share (default 0.05).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="auto, csv, parquet or jsonl.")] = "auto",
    delimiter: Delimiter = None,
    encoding: Encoding = None,
    decimal: DecimalMark = None,
    date_format: DateFormat = None,
    rename: Annotated[list[str] | None, typer.Option(help="Map a source column: SOURCE=COLUMN (repeatable).")] = None,
    rejects_out: Annotated[Path | None, typer.Option(help="Write every rejected cell to this CSV.")] = None,
    show_schema: Annotated[
        bool, typer.Option("--schema", help="Show the table's columns and rules instead of ingesting.")
    ] = False,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Validate and load a batch into a hub table; rejected rows go to quarantine with their reasons.

    The table's mapping in cvm.yaml (``sources:``) applies; flags override it. The same content
    ingested again is a no-op. The exit code is 1 when the batch is refused.
    """
    if table not in DATA_TABLES:
        console.fail(f"unknown table {table!r}; tables: {', '.join(DATA_TABLES)}")
    if show_schema:
        print_schema([table], json_out)
        return
    if bool(from_sql) == bool(paths):
        console.fail("give either PATH... or --from-sql URL --query SQL")
    if from_sql and not query:
        console.fail("--from-sql needs --query")
    from cvm.ingest.readers import ReadOptions

    engine = open_engine(workspace)
    options = ReadOptions(
        format=fmt,  # type: ignore[arg-type]
        delimiter=delimiter,
        encoding=encoding,
        decimal=decimal,
        date_format=date_format,
        rename=_rename(rename or []),
    )
    with handled():
        if from_sql:
            result = engine.ingest.ingest_sql(
                table, from_sql, query or "", options=options, upsert=upsert, max_reject_ratio=max_reject_ratio
            )
        else:
            result = engine.ingest(
                table, paths or [], options=options, upsert=upsert, max_reject_ratio=max_reject_ratio
            )
    _print_result(result, json_out, rejects_out)
    if not result.ok:
        raise typer.Exit(1)
