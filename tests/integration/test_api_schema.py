"""The API is true to its OpenAPI schema: schemathesis against a real ``cvm serve``, on SQLite and PostgreSQL.

Every check runs (``--checks all``) in positive and negative mode and in every phase (examples,
coverage, fuzzing, stateful), deterministic and with a fixed number of examples per operation, so a
run is bounded and repeatable. The server is the CLI in a subprocess, on a workspace with a small
loaded hub, called with an admin key. Target: no failure of any kind.

``POST /events`` is run on its own (``part="events"``) so its findings stay apart from the rest.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cvm.engine import Engine
from tests.conftest import CUSTOMERS_CSV, TRANSACTIONS_CSV, write
from tests.integration.conftest import make_workspace
from tests.serving import cvm_serve

pytestmark = pytest.mark.slow

EXAMPLES = 30  # per operation and phase: about 1,000 cases for the API, 30 s to a minute per backend
EVENTS = "^/events$"
CONFIG = """
# A body that matches the JSON Schema may still break the table's data contract (its required
# columns, dates, known customers): the rows API answers that with a 422 naming each row and field,
# which the schema cannot say in advance since the table is a path parameter. So for this operation
# only, a 422 to a schema-valid body is expected; every other check and status stays as strict.
[[operations]]
include-path = "/tables/{table}/rows"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

# The same holds for an event's extra properties: they are free-form JSON that must be sound (depth,
# size, 64-bit integers, text without NUL or lone surrogates: cvm.contracts.event_values), limits that JSON
# Schema cannot state for arbitrary keys. The typed fields are in the schema (a survey's answer, an
# end reason); a 422 naming the unsound extra field is expected for this operation only.
[[operations]]
include-path = "/events"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
"""
PARTS = {
    "api": ("--exclude-path-regex", EVENTS),
    "events": ("--include-path-regex", EVENTS),
}


@pytest.fixture
def served(tmp_path: Path, online_url: str) -> Iterator[tuple[str, str]]:
    """A real ``cvm serve`` on a workspace with three customers and four transactions, and an admin key."""
    workspace = make_workspace(tmp_path / "ws", online_url)
    engine = Engine.open(workspace)
    try:
        engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
        engine.ingest("transactions", write(tmp_path / "t.csv", TRANSACTIONS_CSV))
        secret = engine.access.create_key("admin", "schemathesis")[1]
    finally:
        engine.close()
    with cvm_serve(workspace, workspace.parent / "serve.log") as url:
        yield url, secret


def run_schemathesis(url: str, key: str, out: Path, *filters: str) -> dict[str, Any]:
    """``schemathesis run --checks all`` against ``url``: its JSON report, with the console text as ``output``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "schemathesis.toml").write_text(CONFIG)
    report = out / "report.json"
    options = {
        "--checks": "all",
        "--mode": "all",
        "--max-examples": str(EXAMPLES),
        "--workers": "1",
        "--header": f"X-API-Key: {key}",
        "--request-timeout": "60",
        "--report": "json",
        "--report-json-path": str(report),
    }
    cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(out / "schemathesis.toml"), "run"]
    cmd += [f"{url}/openapi.json", "--generation-deterministic", "--no-color", *filters]
    cmd += [word for pair in options.items() for word in pair]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, check=False, cwd=out)
    found: dict[str, Any] = json.loads(report.read_text()) if report.exists() else {}
    return {**found, "output": done.stdout + done.stderr}


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """Cases run and unique failures by kind, for the closing note."""
    return {
        "cases": report.get("test_cases", {}).get("generated"),
        "operations": report.get("operations", {}).get("tested"),
        "failures": {f"{f['code']} {f['title']}": f["count"] for f in report.get("failures", [])},
        "seconds": round(report.get("running_time", 0)),
    }


@pytest.mark.parametrize("part", ["api", "events"])
def test_schemathesis_finds_no_failure(served: tuple[str, str], tmp_path: Path, part: str) -> None:
    url, key = served
    report = run_schemathesis(url, key, tmp_path / "schemathesis", *PARTS[part])
    print(json.dumps({"part": part, **figures(report)}))  # the figures, shown with -s or on failure
    assert report.get("complete"), report["output"][-5000:]
    assert report["test_cases"]["generated"] > 0
    assert report["errors"] == [], report["output"][-5000:]
    assert report["failures"] == [], report["output"][-20000:]
