"""`cvm` with its offline store in an S3 bucket (a real S3-compatible server), and a storage URL it cannot reach."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cvm.cli.main import app
from cvm.contracts import DATA_TABLES
from cvm.demo import generate
from cvm.store import OfflineStore
from tests.s3_server import s3_endpoint_fixture, s3_url_fixture  # noqa: F401 (fixtures)

END = date(2024, 6, 30)
AS_OF = "2024-06-30"


def cvm(*args: str, env: dict[str, str] | None = None, code: int = 0) -> Result:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})
    assert result.exit_code == code, result.output
    return result


def _batch(ws: Path, data: Path, env: dict[str, str]) -> dict[str, Any]:
    """init, ingest every table, score and the growth report, as a user runs them; the growth JSON."""
    cvm("init", str(ws), env=env)
    for table in DATA_TABLES:
        cvm("ingest", table, *map(str, sorted(data.glob(f"{table}.*"))), "-w", str(ws), "--json", env=env)
    cvm("score", "--as-of", AS_OF, "-w", str(ws), "--json", env=env)
    growth: dict[str, Any] = json.loads(cvm("report", "growth", "-w", str(ws), "--json", env=env).stdout)
    return growth


@pytest.mark.slow
def test_ingest_score_and_growth_on_s3_equal_those_of_a_local_store(tmp_path: Path, s3_url: str) -> None:
    generate(300, seed=3, out=tmp_path / "data", end=END)
    local = _batch(tmp_path / "local", tmp_path / "data", {})
    remote = _batch(tmp_path / "s3", tmp_path / "data", {"CVM__STORE__OFFLINE_PATH": s3_url})
    assert remote == local
    assert remote["tables"]
    assert not (tmp_path / "s3" / "offline").exists()  # nothing of the store on the local disk
    on_s3, on_disk = OfflineStore(s3_url), OfflineStore(tmp_path / "local" / "offline")
    assert on_s3.location.listing("scores", ".parquet") == sorted(on_s3.parts("scores"))
    keys = ["customer_id", "score"]
    s3_scores, local_scores = on_s3.read("scores").sort(keys), on_disk.read("scores").sort(keys)
    assert s3_scores.height > 0
    assert s3_scores.drop("computed_at", strict=False).equals(local_scores.drop("computed_at", strict=False))

    env = {"CVM__STORE__OFFLINE_PATH": s3_url}
    run = json.loads(cvm("run", "-w", str(tmp_path / "s3"), "--json", env=env).stdout)  # plans, saved reports
    assert run["ok"]
    assert list((tmp_path / "s3" / "offline-scratch" / "_reports").glob("*.parquet"))  # local, beside the workspace


@pytest.mark.parametrize(
    "url", ["hdfs://namenode:8020/cvm", "abfss://data@account.dfs.core.windows.net/cvm", "gs://b/c"]
)
def test_an_unsupported_storage_url_is_refused_naming_the_setting(tmp_path: Path, url: str) -> None:
    """Before: the URL became a local folder named after its scheme (``hdfs:``), silently."""
    ws = tmp_path / "ws"
    result = cvm("init", str(ws), env={"CVM__STORE__OFFLINE_PATH": url}, code=2)
    scheme = url.split("://", 1)[0]
    assert "store.offline_path" in result.output
    assert f"{scheme}://" in result.output  # what is wrong
    assert "s3://" in result.output  # and what is supported
    assert "Traceback" not in result.output
    assert not list(tmp_path.rglob(f"{scheme}:*"))  # no local folder named after the scheme

    cvm("init", str(ws))  # the same URL in cvm.yaml is refused when the settings load
    config = ws / "cvm.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("offline_path: offline", f"offline_path: {url}"))
    result = cvm("report", "growth", "-w", str(ws), code=2)
    assert "store.offline_path" in result.output
    assert str(config) in result.output
    assert not list(ws.rglob(f"{scheme}:*"))


def test_a_missing_bucket_or_server_is_one_line_naming_the_store(tmp_path: Path, s3_url: str) -> None:
    """Before: an unexpected NoSuchBucket / OSError from the S3 client, exit 1."""
    missing = s3_url.replace("s3://cvm-", "s3://nobucket-")
    result = cvm("init", str(tmp_path / "a"), env={"CVM__STORE__OFFLINE_PATH": missing}, code=2)
    assert f"cannot reach the offline store {missing}" in result.output
    assert "NoSuchBucket" in result.output
    assert "AWS_ENDPOINT_URL" in result.output
    no_server = {"CVM__STORE__OFFLINE_PATH": s3_url, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    result = cvm("init", str(tmp_path / "b"), env=no_server, code=2)
    assert f"cannot reach the offline store {s3_url}" in result.output
    assert "unexpected" not in result.output
