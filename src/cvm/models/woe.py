"""Binned characteristics of a scorecard as plain numbers: bin edges or category groups, and the WoE of each bin.

A :class:`BinnedCharacteristic` is what the scorecard keeps of an optbinning ``OptimalBinning`` once it is
fitted, and it transforms values exactly as optbinning's ``transform(metric="woe", metric_missing="empirical")``
does:

- numbers: bin ``i`` holds ``edges[i-1] <= x < edges[i]`` (``numpy.digitize``, ``right=False``);
- categories: the bin whose group holds the value; a category not seen in training gets ``unknown_woe``,
  the WoE of the overall bad rate (0 up to rounding: neutral);
- missing values: the WoE of the training rows that were missing (0 when there were none).

``WoE = ln(%good / %bad)`` per bin, and 0 for a bin without goods or without bads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def woe_of_counts(events: FloatArray, nonevents: FloatArray) -> tuple[FloatArray, float]:
    """WoE of each bin from its bad (event) and good counts, and the WoE of the overall bad rate."""
    total_e, total_ne = float(events.sum()), float(nonevents.sum())
    woe = np.zeros(len(events), dtype=np.float64)
    ok = (events > 0) & (nonevents > 0)
    rate = events[ok] / (events[ok] + nonevents[ok])
    woe[ok] = np.log((1.0 / rate - 1.0) * total_e / total_ne)
    overall = total_e / (total_e + total_ne)
    return woe, float(np.log((1.0 / overall - 1.0) * total_e / total_ne))


@dataclass(frozen=True)
class BinnedCharacteristic:
    """One characteristic's bins and WoE values; see the module docstring."""

    name: str
    kind: Literal["numerical", "categorical"]
    edges: tuple[float, ...]  # numerical: the split points
    groups: tuple[tuple[str, ...], ...]  # categorical: the categories of each bin
    woe: tuple[float, ...]  # one per bin
    missing_woe: float
    unknown_woe: float

    @property
    def n_bins(self) -> int:
        return len(self.edges) + 1 if self.kind == "numerical" else len(self.groups)

    @classmethod
    def from_optbinning(cls, name: str, binning: Any) -> BinnedCharacteristic:
        """The bins of a fitted optbinning ``OptimalBinning`` (no special codes)."""
        events = np.asarray(binning._n_event, dtype=np.float64)
        nonevents = np.asarray(binning._n_nonevent, dtype=np.float64)
        woe, unknown = woe_of_counts(events, nonevents)
        edges: tuple[float, ...] = ()
        groups: tuple[tuple[str, ...], ...] = ()
        if binning.dtype == "numerical":
            edges = tuple(float(s) for s in binning.splits)
        else:
            groups = tuple(tuple(str(c) for c in group) for group in binning.splits)
        n_bins = len(edges) + 1 if binning.dtype == "numerical" else len(groups)
        # counts: the bins, then the special-codes bin, then the missing bin
        return cls(name, binning.dtype, edges, groups, tuple(woe[:n_bins].tolist()), float(woe[-1]), unknown)

    def transform(self, values: pd.Series) -> FloatArray:
        """The WoE of each value."""
        woe = np.asarray(self.woe, dtype=np.float64)
        missing = values.isna().to_numpy()
        if self.kind == "numerical":
            x = values.to_numpy(dtype=np.float64, na_value=np.nan)
            out = woe[np.digitize(np.where(missing, 0.0, x), np.asarray(self.edges), right=False)]
        else:
            out = np.full(len(values), self.unknown_woe, dtype=np.float64)
            text = values.astype(object)
            for i, group in enumerate(self.groups):
                out[text.isin(group).to_numpy()] = woe[i]
        out[missing] = self.missing_woe
        return np.asarray(out, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "kind": self.kind,
            "edges": list(self.edges),
            "groups": [list(g) for g in self.groups],
            "woe": list(self.woe),
            "missing_woe": self.missing_woe,
            "unknown_woe": self.unknown_woe,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BinnedCharacteristic:
        """Inverse of :meth:`to_dict`; a malformed entry is refused naming the characteristic."""
        name = str(data.get("name", "?"))
        try:
            kind = data["kind"]
            if kind not in ("numerical", "categorical"):
                raise ValueError(f"kind {kind!r}")
            item = cls(
                name,
                kind,
                tuple(float(e) for e in data["edges"]),
                tuple(tuple(str(c) for c in g) for g in data["groups"]),
                tuple(float(w) for w in data["woe"]),
                float(data["missing_woe"]),
                float(data["unknown_woe"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"saved bins of characteristic {name!r} are malformed: {exc}") from exc
        if len(item.woe) != item.n_bins:
            raise ValueError(
                f"saved bins of characteristic {name!r} have {len(item.woe)} WoE values for {item.n_bins} bins"
            )
        return item


def table_of(card: Any) -> pd.DataFrame:
    """The scorecard table of a fitted optbinning ``Scorecard``, with CVM's column names."""
    raw = card.table(style="detailed")
    table = pd.DataFrame(
        {
            "characteristic": raw["Variable"].astype(str),
            "bin_id": raw["Bin id"].astype(int),
            "bin": raw["Bin"].map(lambda b: ", ".join(map(str, b)) if isinstance(b, list | np.ndarray) else str(b)),
            "count": raw["Count"].astype(int),
            "count_share": raw["Count (%)"].astype(float),
            "goods": raw["Non-event"].astype(int),
            "bads": raw["Event"].astype(int),
            "bad_rate": raw["Event rate"].astype(float),
            "woe": raw["WoE"].astype(float),
            "iv": raw["IV"].astype(float),
            "coefficient": raw["Coefficient"].astype(float),
            "points": raw["Points"].astype(float),
        }
    )
    return table.reset_index(drop=True)
