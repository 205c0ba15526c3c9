"""A corpus of malformed requests to ``POST /events``, each with the answer the API documents.

Used by ``test_events_hardening`` (posted to a real server on SQLite and PostgreSQL).
Each case uses event ids of its own, so the cases can run one after the other against
one workspace; customers C1-C3 exist, and two write keys send them: ``a`` (label
``crm-a``) and ``b`` (label ``shop-b``), i.e. two sources.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

JSON = "application/json"
BODY_LIMIT = 4 * 1024 * 1024
"""``api.max_body_bytes`` as the tests set it (the default)."""


def event(event_id: str, customer: str = "C1", type_: str = "transaction", **props: Any) -> dict[str, Any]:
    """A valid event (a transaction of 150.0 unless ``props`` say otherwise)."""
    return {
        "event_id": event_id,
        "customer_id": customer,
        "type": type_,
        "ts": "2024-06-01T10:00:00+02:00",
        "properties": props or {"amount": 150.0, "product": "hardware"},
    }


def text(value: Any) -> bytes:
    """JSON as the standard library writes it (``NaN``, ``Infinity`` and ``\\ud800`` escapes included)."""
    return json.dumps(value).encode()


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@dataclass(frozen=True)
class Case:
    """One request and the answer it must get.

    ``loc``: a field path expected among the errors of a 422 (without ``body``); ``outcome``:
    the ``status`` of a single event's 200 answer; ``statuses``: the status of each event of a
    batch; ``setup``: requests sent first, as ``(key, body)``.
    """

    name: str
    body: bytes | Iterator[bytes]
    status: int
    loc: tuple[str | int, ...] | None = None
    outcome: str | None = None
    statuses: tuple[str, ...] | None = None
    content_type: str | None = JSON
    key: str = "a"
    setup: tuple[tuple[str, bytes], ...] = field(default=())

    @property
    def accepted(self) -> int:
        """Events this case stores (its setup included)."""
        mine = self.statuses.count("accepted") if self.statuses else int(self.outcome == "accepted")
        return mine + len(self.setup)


def _bad(name: str, change: dict[str, Any], loc: tuple[str | int, ...], **props: Any) -> Case:
    """A single event with ``change`` applied to a valid one: a 422 naming ``loc``."""
    return Case(name, text({**event(name, **props), **change}), 422, loc)


def _bad_prop(name: str, loc: str, value: Any, type_: str = "transaction", **props: Any) -> Case:
    base = {"amount": 10.0} if type_ == "transaction" else {}
    return Case(name, text(event(name, type_=type_, **{**base, **props, loc: value})), 422, ("properties", loc))


def _raw(event_id: str, props: str) -> bytes:
    """An event whose properties are written as given (for literals JSON has no Python value for)."""
    head = text(event(event_id))[: -len(text(event(event_id)["properties"])) - 1]
    return head + props.encode() + b"}"


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A chunked body of ``total`` bytes (no ``Content-Length``), the start of a JSON object."""
    yield b'{"events": ['
    sent = 12
    while sent < total:
        yield b" " * size
        sent += size


def _batch(n: int, prefix: str) -> bytes:
    return text({"events": [event(f"{prefix}{i}", f"C{1 + i % 3}") for i in range(n)]})


def body_level() -> list[Case]:
    """The body as a whole is wrong: no event is read."""
    e = text(event("ct"))
    return [
        Case("empty body", b"", 422),
        Case("not JSON", b"hello", 422),
        Case("truncated JSON", b'{"event_id": "x", ', 422),
        Case("JSON null", b"null", 422),
        Case("JSON number", b"42", 422),
        Case("JSON string", b'"an event"', 422),
        Case("JSON true", b"true", 422),
        Case("array of events", text([event("arr")]), 422),
        Case("array of non-objects", b'[1, "a", null]', 422),
        Case("events not a list", b'{"events": "x"}', 422, ("events",)),
        Case("events empty", b'{"events": []}', 422, ("events",)),
        Case("events beside another key", text({"events": [event("bx")], "x": 1}), 422),
        Case("1,001 events", _batch(1001, "k"), 422, ("events",)),
        Case("text/plain", e, 415, content_type="text/plain"),
        Case("form content-type", e, 415, content_type="application/x-www-form-urlencoded"),
        Case("UTF-16 body", json.dumps(event("u16")).encode("utf-16"), 422),
        Case("1e6 nested arrays", b"[" * 1_000_000 + b"]" * 1_000_000, 422),
        Case("5,000-digit integer", _raw("digits", '{"amount": 1, "n": ' + "9" * 5000 + "}"), 422),
        Case("body over the limit", text(event("big", amount=1.0, blob="x" * BODY_LIMIT)), 413),
        Case("chunked body over the limit", _chunks(BODY_LIMIT + 1024 * 1024), 413),
        Case("100,000 events", _batch(100_000, "h"), 413),
    ]


def envelope() -> list[Case]:
    """The fields every event has."""
    return [
        _bad("event_id a number", {"event_id": 123}, ("event_id",)),
        _bad("event_id null", {"event_id": None}, ("event_id",)),
        _bad("event_id too long", {"event_id": "e" * 201}, ("event_id",)),
        _bad("event_id a lone surrogate", {"event_id": "e\ud800"}, ("event_id",)),
        _bad("event_id with NUL", {"event_id": "e\x00nul"}, ("event_id",)),
        _bad("customer_id null", {"customer_id": None}, ("customer_id",)),
        _bad("customer_id an object", {"customer_id": {"id": "C1"}}, ("customer_id",)),
        _bad("customer_id a lone low surrogate", {"customer_id": "C\udc00"}, ("customer_id",)),
        _bad("customer_id with NUL", {"customer_id": "C1\x00"}, ("customer_id",)),
        _bad("unknown type", {"type": "purchase"}, ("type",)),
        _bad("type a list", {"type": ["transaction"]}, ("type",)),
        _bad("naive ts", {"ts": "2024-06-01T10:00:00"}, ("ts",)),
        _bad("ts not a date", {"ts": "yesterday"}, ("ts",)),
        _bad("future ts", {"ts": "2999-01-01T00:00:00Z"}, ("ts",)),
        _bad("ts before year 1 in UTC", {"ts": "0001-01-01T00:30:00+01:00"}, ("ts",)),
        _bad("unknown top-level field", {"extra": 1}, ("extra",)),
        _bad("unknown field named with a lone surrogate", {"x\ud800": 1}, ("x\\ud800",)),
        _bad("source too long", {"source": "s" * 201}, ("source",)),
        _bad("source with NUL", {"source": "s\x00"}, ("source",)),
        _bad("source a number", {"source": 7}, ("source",)),
        _bad("properties a list", {"properties": [1]}, ("properties",)),
        _bad("properties null", {"properties": None}, ("properties",)),
    ]


def typed_properties() -> list[Case]:
    """The properties each event type defines."""
    return [
        _bad_prop("amount true", "amount", True),
        _bad_prop("amount false", "amount", False),
        _bad_prop("amount text", "amount", "lots"),
        _bad_prop("amount out of range", "amount", 1e10),
        _bad_prop("amount a list", "amount", [1]),
        Case("amount NaN", _raw("nan", '{"amount": NaN}'), 422, ("properties", "amount")),
        Case("amount Infinity", _raw("inf", '{"amount": Infinity}'), 422, ("properties", "amount")),
        _bad_prop("margin true", "margin", True),
        _bad_prop("nps true", "nps", True, type_="survey"),
        _bad_prop("nps 9.5", "nps", 9.5, type_="survey"),
        _bad_prop("nps 11", "nps", 11, type_="survey"),
        _bad_prop("days_late 2^64", "days_late", 2**64, type_="payment_late"),
        _bad_prop("days_late negative", "days_late", -1, type_="payment_late"),
        _bad_prop("mrr true", "mrr", True, type_="subscription_started", product="p"),
        _bad_prop("unknown consent channel", "consents", {"fax": True}, type_="contact", channel="phone"),
        _bad_prop("empty channel", "channel", "", type_="contact"),
        _bad_prop("unknown end reason", "reason", "bored", type_="subscription_ended", product="p"),
        _bad_prop("product too long", "product", "p" * 201),
        _bad_prop("product a lone surrogate", "product", "caf\udcff"),
    ]


def extra_properties() -> list[Case]:
    """Properties no event type defines, kept as they are when they are sound."""
    return [
        _bad_prop("extra nested 255 levels", "deep", nested(255)),
        _bad_prop("extra nested 20 levels", "deep", nested(20)),
        _bad_prop("extra integer 2^64", "n", 2**64),
        _bad_prop("extra integer 2^63", "n", 2**63),
        _bad_prop("extra integer -2^63-1", "n", -(2**63) - 1),
        _bad_prop("extra integer in a list 2^70", "n", [1, 2**70]),
        _bad_prop("extra lone surrogate", "note", "hi \ud800"),
        _bad_prop("extra lone surrogate in a key", "x", {"k\udfff": 1}),
        _bad_prop("extra NUL", "note", "a\x00b"),
        Case("extra Infinity", _raw("xinf", '{"amount": 1, "f": Infinity}'), 422, ("properties", "f")),
        Case("extra -Infinity", _raw("xninf", '{"amount": 1, "f": [-Infinity]}'), 422, ("properties", "f")),
        Case("extra NaN", _raw("xnan", '{"amount": 1, "f": {"g": NaN}}'), 422, ("properties", "f")),
        Case("extra 1e400", _raw("x1e400", '{"amount": 1, "f": 1e400}'), 422, ("properties", "f")),
        Case(
            "extra invalid UTF-8 byte",
            text(event("x-utf8", amount=1.0, note="NOTE")).replace(b"NOTE", b"caf\xe9"),
            422,
            ("properties", "note"),
        ),
        _bad_prop("extra 100 kB string", "blob", "x" * 100_000),
        _bad_prop("extra 20 kB key", "x", {"k" * 20_000: 1}),
        _bad_prop("extra list of 50,000 numbers", "ns", list(range(50_000))),
        Case(
            "10,000 extra properties",
            text(event("x-keys", amount=1.0, **{f"p{i}": i for i in range(10_000)})),
            422,
            ("properties",),
        ),
        Case(
            "extras over the event limit",
            text(event("x-many", amount=1.0, **{f"p{i}": "x" * 10_000 for i in range(10)})),
            422,
            ("properties",),
        ),
    ]


def _mixed() -> Case:
    bad = [
        event("m-deep", amount=1.0, deep=nested(255)),
        event("m-big", amount=1.0, n=2**64),
        event("m-surrogate", amount=1.0, note="\ud800"),
        event("m-nul", customer="C\x002"),
        event("m-bool", amount=True),
        event("m-huge", amount=1.0, blob="x" * 100_000),
    ]
    good = [event(f"m-good{i}", f"C{1 + i % 3}") for i in range(6)]
    batch = [x for pair in zip(good, bad, strict=True) for x in pair]
    return Case("mixed batch: 6 good, 6 bad", text({"events": batch}), 200, statuses=("accepted", "invalid") * 6)


def repeats() -> list[Case]:
    """Repeated and conflicting event ids, within a source and across sources."""
    first = text(event("r-1"))
    return [
        _mixed(),
        Case(
            "batch of non-objects and a good event",
            text({"events": [1, "x", None, [event("no")], event("n-ok")]}),
            200,
            statuses=("invalid", "invalid", "invalid", "invalid", "accepted"),
        ),
        Case("same id, same content again", first, 200, outcome="duplicate", setup=(("a", first),)),
        Case("same id, other content", text(event("r-2", amount=999.0)), 409, setup=(("a", text(event("r-2"))),)),
        Case(
            "same id, other customer",
            text(event("r-3", "C2")),
            409,
            setup=(("a", text(event("r-3"))),),
        ),
        Case(
            "batch: same id twice, other content",
            text({"events": [event("r-4"), event("r-4", amount=5.0), event("r-4")]}),
            200,
            statuses=("accepted", "conflict", "duplicate"),
        ),
        Case(
            "batch: an id stored before, other content",
            text({"events": [event("r-5", amount=7.0), event("r-5b")]}),
            200,
            statuses=("conflict", "accepted"),
            setup=(("a", text(event("r-5"))),),
        ),
        Case(
            "another source reuses an id",
            text(event("r-6", "C2", amount=42.0)),
            200,
            outcome="accepted",
            key="b",
            setup=(("a", text(event("r-6"))),),
        ),
    ]


def corpus() -> list[Case]:
    return body_level() + envelope() + typed_properties() + extra_properties() + repeats()


@dataclass(frozen=True)
class Answer:
    """What the server said to one case: HTTP status, the event statuses, the size of the reply."""

    status: int
    outcome: str | None
    statuses: tuple[str, ...] | None
    size: int
    seconds: float
    locs: tuple[tuple[str | int, ...], ...] = ()


def send(client: httpx.Client, case: Case, keys: dict[str, str]) -> Answer:
    """Post ``case`` (its setup first) with the key it names."""
    import time

    for key, body in case.setup:
        done = client.post("/events", content=body, headers={"X-API-Key": keys[key], "Content-Type": JSON})
        assert done.status_code == 200, (case.name, done.text[:300])
    headers = {"X-API-Key": keys[case.key]}
    if case.content_type:
        headers["Content-Type"] = case.content_type
    start = time.perf_counter()
    response = client.post("/events", content=case.body, headers=headers)
    seconds = time.perf_counter() - start
    outcome = statuses = None
    locs: tuple[tuple[str | int, ...], ...] = ()
    if response.status_code == 200:
        reply = response.json()
        if "data" in reply:
            statuses = tuple(d["status"] for d in reply["data"])
        else:
            outcome = reply["status"]
    elif response.status_code == 422:
        locs = tuple(tuple(d["loc"]) for d in response.json()["detail"])
    return Answer(response.status_code, outcome, statuses, len(response.content), seconds, locs)
