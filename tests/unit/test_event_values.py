"""The soundness walk over event properties, and the lenient reading of request bodies."""

from __future__ import annotations

import json
import timeit
from typing import Any

import pytest

from cvm.contracts import jsontext
from cvm.contracts.event_values import EXCERPT, ValueLimits, check_properties, excerpt, loc

LIMITS = ValueLimits(max_depth=3, max_property_bytes=100, max_event_bytes=150)


def _types(props: dict[str, Any], limits: ValueLimits = LIMITS) -> list[tuple[list[Any], str]]:
    return [(e["loc"], e["type"]) for e in check_properties(props, limits)]


def test_the_edges_of_what_is_sound() -> None:
    sound = {"a": 2**63 - 1, "b": -(2**63), "c": 1e308, "d": "é😀", "e": [[[1]]], "f": None, "g": True}
    assert _types(sound, ValueLimits()) == []
    assert _types({"a": 2**63}) == [(["properties", "a"], "int_range")]
    assert _types({"a": [0, {"b": -(2**63) - 1}]}) == [(["properties", "a", 1, "b"], "int_range")]
    assert _types({"a": float("nan"), "b": float("-inf")}) == [
        (["properties", "a"], "finite_number"),
        (["properties", "b"], "finite_number"),
    ]
    assert _types({"a": "x\ud800"}) == [(["properties", "a"], "unicode")]
    assert _types({"a": {"k\udc80": 1}}) == [(["properties", "a", "k\\udc80"], "unicode")]  # escaped
    assert _types({"a": "x\x00"}) == [(["properties", "a"], "nul_character")]
    assert _types({"a": [[[[1]]]]}) == [(["properties", "a", 0, 0, 0], "too_deep")]


def test_sizes_per_property_and_per_event() -> None:
    assert _types({"a": "x" * 90}) == []  # 1 + 4 + 92 bytes
    assert _types({"a": "x" * 96}) == [(["properties", "a"], "too_large")]
    assert _types({"a": ["x" * 40] * 3}) == [(["properties", "a"], "too_large")]  # stops inside the list
    assert _types({"a": "x" * 80, "b": "y" * 80}) == [(["properties"], "too_large")]
    assert _types({"a": "é" * 48}) == [(["properties", "a"], "too_large")]  # UTF-8 bytes, not characters


def test_errors_quote_short_escaped_excerpts() -> None:
    assert excerpt("k" * 500) == "k" * (EXCERPT - 1) + "…"
    assert excerpt("a\ud800") == "a\\ud800"
    assert loc(("properties", "x" * 200, 3)) == ["properties", "x" * 79 + "…", 3]


def test_a_request_body_reads_leniently_and_fails_without_quoting() -> None:
    body = json.dumps({"a": float("nan"), "b": 2**70, "c": "\ud800"}).encode() + b" "
    read = jsontext.loads_request(b"\xef\xbb\xbf" + body)
    assert (read["b"], read["c"], read["a"] != read["a"]) == (2**70, "\ud800", True)
    assert jsontext.loads_request(b'{"s": "caf\xe9"}') == {"s": "caf\udce9"}  # refused later, naming the field
    for bad, words in [(b'{"secret": ', "line 1"), (b"[" * 100_000, "nested"), (b"9" * 5000, "digits")]:
        with pytest.raises(ValueError, match=words) as info:
            jsontext.loads_request(bad)
        assert "secret" not in str(info.value)


def test_the_walk_costs_about_a_microsecond_per_typical_event() -> None:
    typical = {"amount": 120.5, "product": "hardware", "channel": "web", "basket": [{"sku": "A1", "qty": 2}]}
    limits = ValueLimits()
    seconds = min(timeit.repeat(lambda: check_properties(typical, limits), number=2000, repeat=5)) / 2000
    assert seconds < 20e-6  # measured 1-4 µs on a loaded 2-core machine; a serializing check costs tens
