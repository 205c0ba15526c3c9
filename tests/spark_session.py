"""One Spark session in local mode for the whole test run (a JVM start costs seconds).

Tests that need Spark request the ``spark`` fixture: ``from tests.spark_session import spark``.
pyspark is a hard test dependency: a missing pyspark fails the import, it never skips.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    # Python workers (mapInArrow / mapInPandas) run this interpreter, with its packages, not the first python3.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("cvm-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    yield session
    session.stop()
