"""Webhook signatures as a CRM verifies them: the off-the-shelf ``standardwebhooks`` library, secret roll-over.

The worker runs as ``cvm worker --once`` with its secrets in the environment, against a
real receiver on loopback that verifies every request with ``standardwebhooks.Webhook``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from standardwebhooks import Webhook, WebhookVerificationError

from cvm.config import ConfigError, load_settings
from cvm.delivery import signing, verify
from cvm.engine import Engine
from tests.integration.test_outbox import SECRET, count, fill_outbox
from tests.integration.webhook_receiver import MisbehavingReceiver


def _whsec() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def test_standardwebhooks_verifies_each_active_secret_and_nothing_else() -> None:
    new, old, other = _whsec(), _whsec(), _whsec()
    body = b'{"idempotency_key":"k1"}'
    headers = signing.headers([new, old], "k1", body)
    assert headers["webhook-id"] == "k1"
    assert [s.split(",")[0] for s in headers["webhook-signature"].split(" ")] == ["v1", "v1"]
    assert Webhook(new).verify(body, headers) == {"idempotency_key": "k1"}
    assert Webhook(old).verify(body, headers) == {"idempotency_key": "k1"}
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body.replace(b"k1", b"k2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body, {**headers, "webhook-id": "k2"})  # the id is signed too
    assert verify(new, headers[signing.HEADER], body)  # the earlier header, for receivers that use it
    assert verify(old, headers[signing.HEADER], body)
    assert not verify(other, headers[signing.HEADER], body)
    plain = signing.headers([SECRET], "k1", body)  # a secret without whsec_: its UTF-8 bytes are the key
    assert Webhook(SECRET.encode()).verify(body, plain) == {"idempotency_key": "k1"}
    assert Webhook("whsec_" + base64.b64encode(SECRET.encode()).decode()).verify(body, plain)


def _deliver_once(ws: Path, url: str, env: dict[str, str]) -> None:
    environ = {
        **os.environ,
        "CVM__DELIVERY__DEFAULT_TRANSPORT": "webhook",
        "CVM__DELIVERY__WEBHOOK_URL": url,
        "CVM__DELIVERY__POLL_SECONDS": "0.05",
        **env,
    }
    cmd = [sys.executable, "-m", "cvm.cli.main", "worker", "-w", str(ws), "--once", "--json"]
    done = subprocess.run(cmd, env=environ, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["delivered"] > 0


def test_a_secret_roll_over_signs_with_both_and_each_receiver_verifies(workspace: Path) -> None:
    new, old, other = _whsec(), _whsec(), _whsec()
    engine = Engine.open(workspace)
    engine.online.migrate()
    keys = fill_outbox(engine, 6)
    with MisbehavingReceiver(lambda key, n: "ok", secrets=[new, old, other]) as rx:
        rolling = {"CVM__DELIVERY__WEBHOOK_SECRET": new, "CVM__DELIVERY__WEBHOOK_PREVIOUS_SECRET": old}
        _deliver_once(workspace, rx.url, rolling)
        assert sorted(rx.acted) == keys
        assert all(a.verified == {new: True, old: True, other: False} for a in rx.arrivals)
        assert all(verify(old, a.headers["x-cvm-signature"], a.body) for a in rx.arrivals)
        rolled = fill_outbox(engine, 2, prefix="after")
        _deliver_once(workspace, rx.url, {"CVM__DELIVERY__WEBHOOK_SECRET": new})  # the roll-over is over
        late = [a for a in rx.arrivals if a.key in rolled]
        assert len(late) == 2
        assert all(a.verified == {new: True, old: False, other: False} for a in late)
    assert count(engine, "action_requests", "WHERE status = 'delivered'") == 8
    engine.close()


def test_secrets_stay_out_of_files_and_a_bad_whsec_is_named_not_shown(workspace: Path) -> None:
    config = yaml.safe_load((workspace / "cvm.yaml").read_text())
    config["delivery"]["webhook_previous_secret"] = "committed"
    (workspace / "cvm.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="CVM__DELIVERY__WEBHOOK_PREVIOUS_SECRET in the environment"):
        load_settings(workspace, environ={})
    bad = "whsec_not*base64*at-all"
    with pytest.raises(ConfigError, match=r"delivery\.webhook_previous_secret: a whsec_ secret must be") as err:
        load_settings(None, environ={"CVM__DELIVERY__WEBHOOK_PREVIOUS_SECRET": bad})
    assert "not*base64" not in str(err.value)
