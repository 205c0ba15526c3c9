"""The JSON text of the online store and the event API, against the standard library's."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime

import numpy as np
import pytest

from cvm.contracts import jsontext


def test_reads_back_what_json_dumps_would_store() -> None:
    doc = {"a": [1, 2.5, None, True, "é"], "b": {"c": -1e-9, "d": 12345678901234}, "": {}}
    assert jsontext.loads(jsontext.dumps(doc)) == json.loads(json.dumps(doc))
    assert jsontext.dumps({}) == "{}"


def test_numeric_keys_numpy_and_dates_are_written_as_json_dumps_or_isoformat_would() -> None:
    t = datetime(2025, 1, 2, 3, 4, 5, 600, tzinfo=UTC)
    doc = {1: np.float64(0.25), "n": np.int64(3), "arr": np.array([1.5, 2.0]), "t": t, "d": date(2025, 1, 2)}
    assert jsontext.loads(jsontext.dumps(doc)) == {
        "1": 0.25,
        "n": 3,
        "arr": [1.5, 2.0],
        "t": t.isoformat(),
        "d": "2025-01-02",
    }


def test_nan_and_infinity_become_null_and_unknown_types_fail() -> None:
    assert jsontext.loads(jsontext.dumps([math.nan, math.inf, -math.inf])) == [None, None, None]
    with pytest.raises(TypeError):
        jsontext.dumps({"x": object()})
