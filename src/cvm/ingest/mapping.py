"""The read options of a batch: a table's saved source mapping (``sources:`` in cvm.yaml) under the flags."""

from __future__ import annotations

from dataclasses import replace

from cvm.config.sources import TableSource
from cvm.ingest.readers import ReadOptions, normalise_header


def with_source(flags: ReadOptions | None, saved: TableSource | None) -> ReadOptions:
    """``flags`` completed by the saved mapping: every flag given wins over the file.

    Renames are merged per normalised header (a ``--rename`` of the same header wins) and value
    maps per column; ``format="auto"`` counts as not given.
    """
    flags = flags or ReadOptions()
    if saved is None:
        return flags
    o = saved.options
    rename = {normalise_header(k): v for k, v in saved.columns.items()}
    rename.update({normalise_header(k): v for k, v in (flags.rename or {}).items()})
    values = {col: dict(m) for col, m in saved.values.items()}
    for col, m in (flags.values or {}).items():
        values[col] = {**values.get(col, {}), **m}
    return replace(
        flags,
        format=flags.format if flags.format != "auto" or o.format is None else o.format,
        delimiter=flags.delimiter or o.delimiter,
        encoding=flags.encoding or o.encoding,
        decimal=flags.decimal or o.decimal,
        date_format=flags.date_format or o.date_format,
        rename=rename or None,
        values=values or None,
    )
