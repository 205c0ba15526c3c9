"""The plan batch's payload travels to Spark's workers: it never carries the online store's password."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cvm.config import Settings
from cvm.jobs import plan_load
from cvm.plans.partitioned import context, payload


def test_the_payload_masks_the_password_and_the_worker_takes_it_from_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "postgresql+psycopg://cvm:s3cret@db.example:5432/cvm"
    text = payload(Settings().plans, None, None, datetime(2026, 3, 1, tzinfo=UTC), url)
    assert "s3cret" not in text
    masked = context(text).online_url
    assert masked == "postgresql+psycopg://cvm:***@db.example:5432/cvm"
    monkeypatch.delenv("CVM__STORE__ONLINE_URL", raising=False)
    plan_load.forget_online()
    with pytest.raises(ValueError, match="CVM__STORE__ONLINE_URL"):
        plan_load._online(masked)
    monkeypatch.setenv("CVM__STORE__ONLINE_URL", url)
    plan_load.forget_online()
    store = plan_load._online(masked)
    assert store.engine.url.password == "s3cret"
    store.dispose()
    plan_load.forget_online()
