"""Shared fixtures: workspaces, small hub files, real online stores (SQLite and PostgreSQL), and how tests run.

Fixtures (any test may ask for them by name):

- ``pg_url``: a fresh, empty PostgreSQL database per test (dropped afterwards), on the server `make test` starts.
- ``online_url``: the online store URL of each backend (the test runs on SQLite, then on PostgreSQL).
- ``workspace`` / ``engine`` / ``loaded``: an empty workspace, an engine on it, and one with 3 customers and
  4 transactions (CUSTOMERS_CSV, TRANSACTIONS_CSV).
- tests/integration/conftest.py: ``any_engine``, an engine whose online store is SQLite, then PostgreSQL.
- tests/e2e/conftest.py: ``browser``, one headless Chromium for the whole e2e package (open a context per
  test, never a browser); ``pages_workspace``, the scored demo company of the dashboard pages, built once.

Time (CI has 2 cores; the whole suite must stay well under 15 minutes):

- Build expensive data once: a module-scoped fixture for one module, a package-scoped fixture in the
  package's conftest.py when several modules need the same workspace. A test or module that changes the
  data works on a ``shutil.copytree`` copy (a fraction of a second) instead of building its own.
- ``make test`` runs pytest-xdist with two workers and ``--dist loadfile``: each module stays on one worker, so
  its module fixtures are built once. The slowest files start first, and the e2e package runs on one worker, so
  its package fixtures are built once (tests/scheduling.py: keep its list of the longest files up to date).
  Every worker has its own temporary folders, PostgreSQL databases (random names), free ports, Chromium and
  Spark session.
  (``--dist loadgroup`` would also keep modules that share a fixture together, but pytest-xdist 3.8 under
  pytest 9 ignores ``xdist_group``: it renames ``item._nodeid``, which pytest 9 no longer reads.)
"""

from __future__ import annotations

import os

# LightGBM's OpenMP threads spin while they wait by default: on 2 busy cores (two xdist workers, or a shared
# machine) that burns the CPU the other worker needs; one uplift test took 112 s instead of 37 s, with 2.5 times
# the CPU. Passive waiting changes no result. Set before anything loads libgomp; `cvm` subprocesses inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# An xdist worker starts with COLUMNS=80 and LINES=24 in its environment; cvm's console, created on import, would
# keep that width for good, and a test's own COLUMNS (CliRunner's env) would be ignored. A plain run has neither.
if "PYTEST_XDIST_WORKER" in os.environ:
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cvm.engine import Engine
from tests.scheduling import LongestFirstScheduling, longest_first

PG_ENV = "CVM_TEST_PG_URL"


def _pg_server_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.fail(f"{PG_ENV} is not set: run the suite with `make test`, which starts PostgreSQL")
    return url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    longest_first(items)  # the same order on every worker: xdist hands out the units in this order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> LongestFirstScheduling | None:
    return LongestFirstScheduling(config, log) if config.getoption("dist") == "loadfile" else None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the server that `make test` started."""
    server = sa.make_url(_pg_server_url())
    name = f"cvm_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def online_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The online store URL of each supported backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'online.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    Engine.init(ws).close()
    return ws


@pytest.fixture
def engine(workspace: Path) -> Iterator[Engine]:
    eng = Engine.open(workspace)
    yield eng
    eng.close()


CUSTOMERS_CSV = """customer_id,name,email,acquired_at,kind,region,sector,channel,consent_email
C1,Ann Smith,ann@example.com,2024-01-05,B2C,North,consumer,direct,true
C2,Bob Jones,bob@example.com,2024-02-10,B2B,South,retail,distribution,false
C3,Cas Berg,cas@example.com,2024-03-15,B2B,East,services,direct,true
"""

TRANSACTIONS_CSV = """transaction_id,customer_id,ts,amount,margin,product
T1,C1,2024-02-01T10:00:00Z,100.00,30.00,hardware
T2,C1,2024-03-01T10:00:00Z,50.50,15.00,supplies
T3,C2,2024-03-05T09:30:00+01:00,1200,300,services
T4,C3,2024-04-01,-20,-5,hardware
"""


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


@pytest.fixture
def loaded(engine: Engine, tmp_path: Path) -> Engine:
    """An engine with three customers and four transactions."""
    assert engine.ingest("customers", write(tmp_path / "customers.csv", CUSTOMERS_CSV)).status == "committed"
    assert engine.ingest("transactions", write(tmp_path / "transactions.csv", TRANSACTIONS_CSV)).ok
    return engine
