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

#: The marks of every Spark test module (``pytestmark = SPARK_MARKS``): slow, and PySpark's Arrow conversion
#: path's warnings on pandas 3 internals it still touches, and its sockets, silenced.
SPARK_MARKS = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:pyspark.*"),
    pytest.mark.filterwarnings("ignore::FutureWarning:pyspark.*"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers import cvm, polars, pyarrow from this venv
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
