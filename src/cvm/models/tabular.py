"""Shared input handling of the tabular models: column checks, number parsing and categories.

A :class:`TabularSchema` is learned from the training frame and then applied to every frame the
model sees, so that training and scoring agree:

- a column is *numeric* when its dtype is numeric or boolean, or when it holds text whose every
  non-empty value parses as a number ("12.5", "-3", "12,5" with a decimal comma, " 7 ");
- every other column is *categorical*; its categories are those seen in training, and a value not
  seen then (an unknown category) becomes missing;
- missing values stay missing (NaN): the models handle them themselves;
- a column present at training but absent later is refused with a ``ValueError`` naming it;
  columns not seen at training are ignored.

Polars frames are accepted and converted to pandas.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from cvm.models.base import check_document, cvm_version

_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


def to_pandas(x: Any) -> pd.DataFrame:
    """``x`` as a pandas frame (polars frames converted; anything else refused)."""
    if isinstance(x, pd.DataFrame):
        return x
    if hasattr(x, "to_pandas") and hasattr(x, "columns"):
        frame = x.to_pandas()
        if isinstance(frame, pd.DataFrame):
            return frame
    raise TypeError(f"expected a pandas or polars DataFrame, got {type(x).__name__}")


def to_binary(y: Any, name: str = "y") -> np.ndarray[Any, np.dtype[np.int64]]:
    """Labels as an int array of 0/1; missing or other values are refused."""
    values = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y, dtype=np.float64).ravel()
    if np.isnan(values).any():
        raise ValueError(f"{name} has missing labels; drop those rows first")
    if not np.isin(values, (0.0, 1.0)).all():
        raise ValueError(f"{name} must contain only 0 and 1")
    return values.astype(np.int64)


def parse_numbers(values: pd.Series) -> pd.Series:
    """Text to float: trims, accepts a decimal comma; empty or unparseable text becomes NaN."""
    text = values.astype("string").str.strip().str.replace(",", ".", regex=False)
    return pd.to_numeric(text.mask(text == ""), errors="coerce").astype("float64")


def _looks_numeric(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return True
    if not (pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype)):
        return False
    present = values.dropna()
    if isinstance(present.dtype, pd.CategoricalDtype):
        return False
    text = present.astype(str).str.strip()
    text = text[text != ""]
    return bool(len(text)) and bool(text.map(lambda v: bool(_NUMBER.match(v))).all())


@dataclass
class TabularSchema:
    """Columns, their kinds and the training categories; see the module docstring."""

    numeric: list[str] = field(default_factory=list)
    categorical: dict[str, list[str]] = field(default_factory=dict)
    max_categories: int = 200

    @property
    def columns(self) -> list[str]:
        """All input columns, in training order."""
        return [*self.numeric, *self.categorical]

    @classmethod
    def learn(cls, x: Any, max_categories: int = 200, exclude: tuple[str, ...] = ()) -> TabularSchema:
        """Learn the kinds and categories from a training frame."""
        frame = to_pandas(x)
        schema = cls(max_categories=max_categories)
        for name in frame.columns:
            if name in exclude:
                continue
            col = frame[name]
            if _looks_numeric(col) and not isinstance(col.dtype, pd.CategoricalDtype):
                schema.numeric.append(str(name))
            else:
                counts = col.dropna().astype(str).value_counts()
                schema.categorical[str(name)] = sorted(counts.index[:max_categories].tolist())
        if not schema.columns:
            raise ValueError("x has no usable columns")
        return schema

    def check(self, x: Any) -> pd.DataFrame:
        """``x`` as pandas, or a ``ValueError`` naming the training columns it lacks."""
        frame = to_pandas(x)
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"x lacks the column(s) the model was trained on: {', '.join(missing)}")
        return frame

    def transform(self, x: Any) -> pd.DataFrame:
        """Numbers as float64, categories as a fixed pandas ``Categorical`` (unknown → missing)."""
        frame = self.check(x)
        out: dict[str, pd.Series] = {}
        for name in self.numeric:
            col = frame[name]
            if pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
                out[name] = col.astype("float64")
            else:
                out[name] = parse_numbers(col)
        for name, cats in self.categorical.items():
            text = frame[name].astype("string").astype(object).where(frame[name].notna(), None)
            known = text.where(text.isin(cats), None)  # an unseen category becomes missing
            out[name] = pd.Series(pd.Categorical(known, categories=cats), index=frame.index)
        return pd.DataFrame(out, index=frame.index)[self.columns]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "numeric": list(self.numeric),
            "categorical": dict(self.categorical),
            "max_categories": self.max_categories,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TabularSchema:
        """Inverse of :meth:`to_dict`."""
        return cls(
            numeric=[str(c) for c in data["numeric"]],
            categorical={str(k): [str(v) for v in vs] for k, vs in data["categorical"].items()},
            max_categories=int(data["max_categories"]),
        )


# -- estimator plumbing shared by the models ---------------------------------------------------------

META_FIELDS = ("format", "model", "version", "parameters", "training_window", "features", "metrics", "created_at")


def meta_record(model: str, fmt: int, meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata fields of a saved tabular model (all of :data:`META_FIELDS`) around ``meta``."""
    record = {"format": fmt, "model": model, "version": cvm_version(), "created_at": datetime.now(UTC).isoformat()}
    record.update(meta)
    missing = [f for f in META_FIELDS if f not in record]
    if missing:
        raise ValueError(f"model metadata lacks {', '.join(missing)}")
    return record


def check_meta(doc: Any, model: str, fmt: int, extra: tuple[str, ...] = ()) -> Mapping[str, Any]:
    """``doc`` if it is a saved ``model`` of format ``fmt`` with every metadata field, else a ``FormatError``."""
    return check_document(
        doc, fmt_key="format", fmt=fmt, model_key="model", model=model, required=(*META_FIELDS, *extra)
    )


def window_of(training_window: tuple[Any, Any] | None) -> list[str] | None:
    """A training window as two ISO strings (or None)."""
    if training_window is None:
        return None
    start, end = training_window
    return [str(start), str(end)]
