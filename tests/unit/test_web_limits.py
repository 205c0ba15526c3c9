"""The dashboard's login buckets, session bounds and CSRF tokens, on a controlled clock."""

from __future__ import annotations

import pytest

from cvm.web.csrf import LoginTokens, same
from cvm.web.ratelimit import LoginLimits, TokenBuckets, key_id
from cvm.web.sessions import SessionsFullError, SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_its_rate_and_says_how_long_to_wait() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=6, burst=3, clock=clock)  # one token every 10 s
    assert [buckets.take("x") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("x") == pytest.approx(10.0)
    assert buckets.take("y") == 0.0  # names are independent
    clock.now = 4.0
    assert buckets.wait("x") == pytest.approx(6.0)
    clock.now = 10.0
    assert buckets.take("x") == 0.0
    assert buckets.take("x") == pytest.approx(10.0)
    clock.now = 1000.0  # refilled, but never beyond the burst
    assert [buckets.take("x") for _ in range(4)][-1] > 0


def test_buckets_stay_bounded_and_forget_the_fullest_first() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=1, burst=5, max_names=100, clock=clock)
    for _ in range(5):
        buckets.take("target")  # emptied
    for n in range(1000):
        buckets.take(f"spray{n}")
    assert len(buckets._levels) <= 100
    assert buckets.take("target") > 0  # the emptied bucket was kept


def test_login_limits_cost_only_failures_and_name_the_key_id() -> None:
    clock = Clock()
    limits = LoginLimits(TokenBuckets(60, 2, clock=clock), TokenBuckets(60, 3, clock=clock))
    assert key_id("cvm_0123abcd_secret_with_underscores") == "0123abcd"
    assert key_id("nonsense") is None
    assert key_id("cvm__x") is None
    for _ in range(10):  # right keys give their tokens back
        assert limits.admit("1.2.3.4", "cvm_k1_right") == 0
        limits.succeeded("1.2.3.4", "cvm_k1_right")
    assert [limits.admit("1.2.3.4", "cvm_k1_wrong") for _ in range(3)] == [0, 0, 1]
    for address in ("5.6.7.8", "9.9.9.9"):  # the key id's bucket holds 3 failures from anywhere
        assert limits.admit(address, "cvm_k1_wrong") == (0 if address == "5.6.7.8" else 1)
    assert limits.admit("9.9.9.9", "cvm_k2_other") == 0  # not the client's fault: its token came back
    assert limits.blocked("9.9.9.9", "cvm_k1_x") == 1
    clock.now = 1.0
    assert limits.blocked("9.9.9.9", "cvm_k1_x") == 0


def test_a_keys_logins_end_only_its_own_sessions_and_a_full_store_refuses_new_keys() -> None:
    store = SessionStore(max_sessions=4, per_key=2)
    b = store.open("B", "analyst", None)
    a_tokens = [store.open("A", "analyst", None) for _ in range(50)]
    assert store.get(b) is not None
    assert [store.get(t) is not None for t in a_tokens[-3:]] == [False, True, True]
    c = store.open("C", "analyst", None)
    assert len(store) == 4
    with pytest.raises(SessionsFullError):
        store.open("D", "analyst", None)
    store.open("C", "analyst", None)  # a key at the limit of a full store gives up its own oldest
    assert store.get(c) is None
    assert store.get(b) is not None
    assert len(store) == 4
    csrf = {s.csrf for s in (store.get(t) for t in a_tokens[-2:]) if s is not None}
    assert len(csrf) == 2  # each session has its own form token
    assert all(len(token) > 30 for token in csrf)


def test_login_tokens_are_signed_by_the_process() -> None:
    tokens = LoginTokens()
    token = tokens.issue()
    assert tokens.check(token, token)
    assert not tokens.check(token, token + "x")
    assert not tokens.check(None, token)
    assert not tokens.check("made.up", "made.up")
    assert not LoginTokens().valid(token)
    assert not same("é", "é" * 2)
    assert same("é", "é")
