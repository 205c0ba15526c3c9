"""A real S3-compatible HTTP server (moto's) for the object-store tests, one per test run.

``s3_endpoint`` starts moto's threaded server on a free port of 127.0.0.1; ``s3_url`` gives each test its own
bucket and points the process's AWS_* variables at the server (the store reads nothing else), so a ``cvm``
subprocess started by the test inherits them. A module imports both fixtures to use ``s3_url``:
``from tests.s3_server import s3_endpoint_fixture, s3_url_fixture``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

#: The environment a process needs to reach the test server (besides AWS_ENDPOINT_URL).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


@pytest.fixture(scope="session", name="s3_endpoint")
def s3_endpoint_fixture() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(name="s3_url")
def s3_url_fixture(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://<a new bucket>/cvm``, with this process's AWS_* variables set to reach it."""
    import boto3

    for name, value in {**CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(name, value)
    bucket = f"cvm-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/cvm"
