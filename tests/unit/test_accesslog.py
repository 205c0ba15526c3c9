"""The access log of `cvm serve` masks customer ids and search terms (issue 19)."""

from __future__ import annotations

import logging
import logging.config
import os
from pathlib import Path

import pytest

from cvm.api.accesslog import MaskingFilter, log_config, mask_target


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/customers/C1", "/customers/***"),
        ("/customers/C1/timeline", "/customers/***/timeline"),
        ("/customers/C1/next-best-action", "/customers/***/next-best-action"),
        ("/customers/C1/scores", "/customers/***/scores"),
        ("/customers/a%2Fb/timeline", "/customers/***/timeline"),
        ("/customers/a/b/c", "/customers/***"),
        ("/%63ustomers/C1", "/customers/***"),
        ("/CUSTOMERS/C1", "/CUSTOMERS/***"),
        ("/ui/customers/C1", "/ui/customers/***"),
        ("/customers?q=ann%40example.com&limit=50&offset=100", "/customers?q=***&limit=50&offset=100"),
        ("/ui/customers?q=Ann+Smith", "/ui/customers?q=***"),
        ("/ui/login?next=%2Fui%2Fcustomers%2FC1", "/ui/login?next=***"),
        ("/actions?customer_id=C1&status=dead", "/actions?customer_id=***&status=dead"),
        ("/customers?limit=ann@example.com", "/customers?limit=***"),
        ("/customers?ann%40example.com=1", "/customers?***"),
        ("/customers", "/customers"),
        ("/health", "/health"),
        ("/actions/12/retry", "/actions/12/retry"),
    ],
)
def test_targets_are_masked(target: str, logged: str) -> None:
    assert mask_target(target) == logged


def test_the_filter_rewrites_uvicorn_access_records() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/customers/C1?q=ann", "1.1", 200), None,
    )  # fmt: skip
    assert MaskingFilter().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /customers/***?q=*** HTTP/1.1" 200'


def test_log_files_are_private_and_masked(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        logging.config.dictConfig(log_config(tmp_path / "logs"))
    finally:
        os.umask(old)
    try:
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/customers/C1/timeline", "1.1", 200
        )
        for handler in logging.getLogger("uvicorn.access").handlers:
            handler.flush()
        text = (tmp_path / "logs" / "access.log").read_text()
        assert '"GET /customers/***/timeline HTTP/1.1" 200' in text
        assert "C1" not in text
        modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "logs").iterdir()}
        assert modes == {"access.log": 0o600, "server.log": 0o600}
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
        for name in ("uvicorn", "uvicorn.access"):
            for handler in list(logging.getLogger(name).handlers):
                logging.getLogger(name).removeHandler(handler)
                handler.close()


def test_the_api_app_masks_its_access_log_however_it_is_served(tmp_path: Path) -> None:
    """A plain uvicorn server (no log configuration of ours) running the app logs masked targets."""
    import threading
    import time

    import httpx
    import uvicorn

    from cvm.api import create_app
    from cvm.engine import Engine
    from tests.serving import free_port

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    access, keep, port = logging.getLogger("uvicorn.access"), Keep(), free_port()
    access.addHandler(keep)
    config = uvicorn.Config(create_app(Engine.init(tmp_path / "ws")), port=port, log_config=None, log_level="info")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        httpx.get(f"http://127.0.0.1:{port}/customers/C1/timeline")
        httpx.get(f"http://127.0.0.1:{port}/customers", params={"q": "ann@example.com"})
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        access.removeHandler(keep)
    assert any("/customers/***/timeline" in r for r in records), records
    assert any("/customers?q=***" in r for r in records), records
    assert not any("C1" in r or "ann" in r for r in records)
