"""The value scores from one per-customer query and per-batch functions (what a Spark partition runs) equal the
one-machine value scores, run here on DuckDB: the query's inputs, the JSON-shipped fit and the grade plans."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from cvm.config.settings import CostToServeSettings, ScoringSettings
from cvm.scoring.grade_plans import plan
from cvm.scoring.inputs import contract_base, load_point_in_time
from cvm.scoring.models import fit_contract_model
from cvm.scoring.value import GRADED, compute_value_scores, fit_values, grade_rule
from cvm.scoring.value_batch import ValueJob, rows_batch, values_batch
from cvm.scoring.value_inputs import contract_counts_sql, value_inputs_sql
from cvm.store import OfflineStore
from cvm.store.backend import DuckDBBackend
from cvm.store.chunks import ALL
from tests.demo_hub import demo_store
from tests.unit.test_grade_plans import _stats

AS_OF = date(2024, 6, 30)
TABLES = ("customers", "transactions", "subscriptions", "contacts", "payments")
WEEKLY = ScoringSettings(
    freq="W",
    horizon_months=24,
    cost_to_serve=CostToServeSettings(contact={"email": 0.7, "it's": 2.5}, complaint=4.0, bad_debt_days=60),
)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> OfflineStore:
    return demo_store(tmp_path_factory.mktemp("value-batch"), 700, 7, date(2024, 12, 31), TABLES)


def _shipped(job: ValueJob) -> ValueJob:
    """The job as an executor gets it: models and settings through JSON text."""
    models = json.loads(json.dumps([list(m) for m in job.models]))
    return ValueJob(job.as_of, json.loads(json.dumps(job.settings)), tuple(tuple(m) for m in models), job.base_margin)  # type: ignore[misc]


@pytest.mark.parametrize("s", [ScoringSettings(), WEEKLY], ids=["daily", "weekly-priced"])
def test_query_and_batches_give_the_one_machine_value_rows(hub: OfflineStore, s: ScoringSettings) -> None:
    channel_cost = {"phone": 3.0, "sms": 0.05}
    pit = load_point_in_time(hub, AS_OF)
    expected, _ = compute_value_scores(pit, s, channel_cost)
    job = _shipped(ValueJob.of(AS_OF, s, fit_values(lambda _: pit, [ALL], s, AS_OF)))
    inputs = DuckDBBackend(hub).query(value_inputs_sql(AS_OF, s, channel_cost))
    assert inputs.num_rows == pit.customers.height
    batches = inputs.to_batches(max_chunksize=97)  # many small partitions
    values = pl.concat([pl.DataFrame(pl.from_arrow(values_batch(job, b))) for b in batches])
    rule = grade_rule(s)
    plans = {
        col: plan(rule, _stats(values.filter(pl.col("score") == col)["value"].to_numpy().astype(float), rule), "CLV")
        for col in GRADED
    }
    got = pl.concat([pl.DataFrame(pl.from_arrow(rows_batch(job, plans, b))) for b in batches])
    got, expected = got.sort("customer_id", "score"), expected.sort("customer_id", "score")
    assert got.schema == expected.schema
    assert got.height == expected.height > 4000
    assert got.drop("value").equals(expected.drop("value"))  # ids, grades, versions and reasons (money) exactly
    np.testing.assert_allclose(got["value"].to_numpy(), expected["value"].to_numpy(), rtol=1e-9, atol=0, equal_nan=True)
    assert set(expected["grade"].drop_nulls()) == {"high", "medium", "low"}
    costs = expected.filter(pl.col("score") == "cost_to_serve_12m", pl.col("value") > 0)
    assert costs.height > 100  # the contact, complaint and payment prices are exercised


def test_contract_fit_on_counts_equals_the_fit_on_subscribers(hub: OfflineStore) -> None:
    base = contract_base(load_point_in_time(hub, AS_OF)).to_pandas()
    counts = DuckDBBackend(hub).query(contract_counts_sql(AS_OF)).to_pandas()
    assert int(counts["customers"].sum()) == len(base) > len(counts)
    by_row = fit_contract_model("sbg", base, 10)
    by_count = fit_contract_model("sbg", counts, 10)
    assert by_count.to_dict() == by_row.to_dict()  # the same parameters to the bit, so the same version


def test_an_empty_partition_gives_no_rows(hub: OfflineStore) -> None:
    s = ScoringSettings()
    pit = load_point_in_time(hub, AS_OF)
    job = ValueJob.of(AS_OF, s, fit_values(lambda _: pit, [ALL], s, AS_OF))
    empty = DuckDBBackend(hub).query(value_inputs_sql(AS_OF, s) + " LIMIT 0")
    batch = pa.RecordBatch.from_pylist([], schema=empty.schema)
    assert values_batch(job, batch).num_rows == 0
    rows = rows_batch(job, {}, batch)
    assert rows.num_rows == 0
    assert rows.schema.names == list(expected_columns())


def expected_columns() -> tuple[str, ...]:
    from cvm.contracts.tables import SCORES

    return SCORES.column_names
