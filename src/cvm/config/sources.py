"""Source mappings saved in ``cvm.yaml``: how a company's own exports map onto the hub tables.

One block per hub table, used by the inbox (``cvm run``), ``cvm ingest`` and ``cvm ingest --from-sql``::

    sources:
      customers:
        columns: {"N° client": customer_id, "Date d'acquisition": acquired_at, "Type": kind}
        values: {kind: {Particulier: B2C, Entreprise: B2B}}
        options: {delimiter: ";", decimal: ",", date_format: "%d/%m/%Y", encoding: cp1252}

Headers match exactly or in their normalised form (trimmed, lower case, spaces and ``-`` as ``_``),
like ``cvm ingest --rename``. A mapping naming an unknown table or column is refused when the
configuration is loaded, with its key path. This module imports nothing heavy (``cvm --help`` loads it).
"""

from __future__ import annotations

import codecs
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from cvm.contracts.tables import DATA_TABLES

__all__ = ["SourceOptions", "SourcesConfig", "TableSource"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _text(value: object) -> object:
    """YAML scalars as text: ``true`` -> "true", ``1`` -> "1" (a mapping holds source texts)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


class SourceOptions(_Strict):
    """How to read the exports of one table; every empty option is detected from the file."""

    format: Literal["auto", "csv", "parquet", "jsonl"] | None = None
    delimiter: str | None = Field(default=None, min_length=1, max_length=1, description="CSV field delimiter.")
    decimal: Literal[".", ","] | None = None
    date_format: str | None = Field(default=None, description="strftime pattern such as %d/%m/%Y.")
    encoding: str | None = Field(default=None, description="Text encoding such as utf-8, cp1252, latin-1.")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @field_validator("date_format")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None and "%" not in value:
            raise ValueError(f"{value!r} is not a strftime pattern (e.g. %d/%m/%Y)")
        return value


class TableSource(_Strict):
    """The mapping of one hub table: source headers, source values and read options."""

    columns: dict[str, str] = Field(default_factory=dict, description="Source header -> hub column.")
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Hub column -> {source value: hub value}."
    )
    options: SourceOptions = Field(default_factory=SourceOptions)

    @field_validator("columns", mode="before")
    @classmethod
    def _columns_text(cls, value: Any) -> Any:
        return {str(_text(k)): _text(v) for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("values", mode="before")
    @classmethod
    def _values_text(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            str(col): {str(_text(k)): _text(v) for k, v in m.items()} if isinstance(m, dict) else m
            for col, m in value.items()
        }


def _key(name: str) -> str:
    """A key path element, quoted when it is not a plain identifier."""
    return name if name.isidentifier() else f'"{name}"'


def _error(loc: tuple[str, ...], message: str, value: object) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("source_mapping", message), loc=loc, input=value)


def _unknown_column(table: str, loc: tuple[str, ...], column: str) -> InitErrorDetails:
    known = ", ".join(DATA_TABLES[table].column_names)
    return _error(loc, f"unknown column {column!r} of table {table}; columns are {known}", column)


class SourcesConfig(RootModel[dict[str, TableSource]]):
    """Saved source mappings per hub table (``sources:`` in ``cvm.yaml``)."""

    root: dict[str, TableSource] = Field(default_factory=dict)

    def table(self, name: str) -> TableSource | None:
        """The mapping saved for ``name``, if any."""
        return self.root.get(name)

    @model_validator(mode="after")
    def _known_targets(self) -> SourcesConfig:
        errors: list[InitErrorDetails] = []
        for table, source in self.root.items():
            if table not in DATA_TABLES:
                msg = f"unknown table {table!r}; tables are {', '.join(DATA_TABLES)}"
                errors.append(_error((_key(table),), msg, table))
                continue
            names = DATA_TABLES[table].column_names
            for header, column in source.columns.items():
                if column not in names:
                    errors.append(_unknown_column(table, (table, "columns", _key(header)), column))
            for column in source.values:
                if column not in names:
                    errors.append(_unknown_column(table, (table, "values", _key(column)), column))
        if errors:
            raise ValidationError.from_exception_data("sources", errors)
        return self
