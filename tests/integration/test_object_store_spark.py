"""The spark backend with the offline store on S3: without Hadoop's S3 connector in the session, one clear error
naming the missing class and the setting that adds it, never a JVM stack trace."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from cvm.cli.main import app
from cvm.config import Settings
from cvm.store import OfflineStore
from cvm.store.backend import UnsupportedOperationError
from cvm.store.spark import SparkBackend
from cvm.store.spark_fs import S3A_CLASS
from tests.s3_server import s3_endpoint_fixture, s3_url_fixture
from tests.spark_session import SPARK_MARKS, spark

__all__ = ["s3_endpoint_fixture", "s3_url_fixture", "spark"]  # the fixtures

pytestmark = SPARK_MARKS


def _s3_store(url: str) -> OfflineStore:
    store = OfflineStore(url)
    store.create()
    with store.transaction() as tx:
        tx.append("customers", pl.DataFrame({"customer_id": ["A"], "acquired_at": [date(2024, 1, 1)], "kind": ["B2C"]}))
    return store


def test_spark_without_the_s3a_connector_names_the_class_and_the_setting(s3_url: str, spark: Any) -> None:
    backend = SparkBackend(_s3_store(s3_url), Settings().store.spark)
    with pytest.raises(UnsupportedOperationError) as caught:
        backend.query("SELECT count(*) AS n FROM customers")
    message = str(caught.value)
    assert S3A_CLASS in message
    assert "store.spark.conf" in message
    assert "spark.jars.packages" in message
    assert s3_url.replace("s3://", "s3a://") in message  # the URL Spark was given
    assert "\n" not in message  # one line, no JVM stack trace


def test_cvm_score_on_spark_with_an_s3_store_fails_in_one_line(tmp_path: Path, s3_url: str, spark: Any) -> None:
    env = {"CVM__STORE__OFFLINE_PATH": s3_url, "CVM__STORE__OFFLINE": "spark", "COLUMNS": "200"}
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(tmp_path / "ws")], env=env).exit_code == 0
    _s3_store(s3_url)
    result = runner.invoke(app, ["score", "--as-of", "2024-06-30", "-w", str(tmp_path / "ws")], env=env)
    assert result.exit_code == 2, result.output
    assert S3A_CLASS in result.output
    assert "spark.jars.packages" in result.output
    assert "Traceback" not in result.output
    assert "at org.apache" not in result.output
