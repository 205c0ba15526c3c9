"""The value scores come from one per-customer query and per-batch functions on both backends (on DuckDB chunk by
chunk, :mod:`cvm.scoring.value_chunks`): the ``scores`` rows equal those written before the one path, the fit
travels as JSON, and an empty partition writes nothing.

``tests/data/value-scores-{daily,weekly}.parquet`` are the value rows that ``cvm score``'s DuckDB path wrote on the
hub of :func:`_hub` before its Polars aggregation of the inputs was replaced by the query (commit b1b8737), with
the settings of :data:`SETTINGS`: the same ids, grades, model versions and reason codes, values to 1e-9. After a
deliberate change of the value scores (e.g. a model's fit), write them again with
``python -m tests.unit.test_value_batch`` and say why in the commit.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from cvm.config.settings import CostToServeSettings, ScoringSettings
from cvm.contracts.tables import SCORES
from cvm.scoring.models import fit_contract_model
from cvm.scoring.value import VALUE_SCORES
from cvm.scoring.value_batch import ValueJob, rows_batch, values_batch
from cvm.scoring.value_chunks import fit_values, write_value_scores
from cvm.scoring.value_inputs import contract_counts_sql, contract_sql, value_inputs_sql
from cvm.store import OfflineStore
from cvm.store.backend import DuckDBBackend
from tests.demo_hub import demo_store

AS_OF = date(2024, 6, 30)
TABLES = ("customers", "transactions", "subscriptions", "contacts", "payments")
CHANNEL_COST = {"phone": 3.0, "sms": 0.05}  # as plans.policy.channel_cost
SETTINGS = {
    "daily": ScoringSettings(),
    "weekly": ScoringSettings(  # priced contacts, and 97 customers per chunk: five chunks
        freq="W",
        horizon_months=24,
        chunk_customers=97,
        cost_to_serve=CostToServeSettings(contact={"email": 0.7, "it's": 2.5}, complaint=4.0, bad_debt_days=60),
    ),
}
DATA = Path(__file__).parents[1] / "data"


def _hub(out: Path) -> OfflineStore:
    return demo_store(out, 400, 7, date(2024, 12, 31), TABLES)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> OfflineStore:
    return _hub(tmp_path_factory.mktemp("value-batch"))


@pytest.mark.parametrize("name", list(SETTINGS))
def test_the_value_rows_equal_those_written_before_the_one_path(tmp_path: Path, name: str) -> None:
    store = _hub(tmp_path)
    report = write_value_scores(store, SETTINGS[name], AS_OF, CHANNEL_COST)
    got = store.read("scores").sort("customer_id", "score")
    expected = pl.read_parquet(DATA / f"value-scores-{name}.parquet")
    assert got.schema == expected.schema
    assert got.height == expected.height == report.customers * len(VALUE_SCORES) > 2500
    assert got.drop("value").equals(expected.drop("value"))  # ids, dates, grades, versions and reason codes exactly
    np.testing.assert_allclose(got["value"].to_numpy(), expected["value"].to_numpy(), rtol=1e-9, atol=0, equal_nan=True)
    clv = expected.filter(pl.col("score") == "clv")["grade"].value_counts()
    assert report.grades == {g: n for g, n in clv.iter_rows() if g is not None}
    assert set(report.grades) == {"high", "medium", "low"}
    costs = expected.filter(pl.col("score") == "cost_to_serve_12m", pl.col("value") > 0)
    assert costs.height > 40  # the contact, complaint and payment prices are exercised


def _shipped(job: ValueJob) -> ValueJob:
    """The job as an executor gets it: models and settings through JSON text."""
    models = json.loads(json.dumps([list(m) for m in job.models]))
    return ValueJob(job.as_of, json.loads(json.dumps(job.settings)), tuple(tuple(m) for m in models), job.base_margin)  # type: ignore[misc]


def test_a_job_shipped_as_json_values_its_batch_as_the_driver_does(hub: OfflineStore) -> None:
    s = SETTINGS["weekly"]
    inputs = DuckDBBackend(hub).query(value_inputs_sql(AS_OF, s, CHANNEL_COST))
    job = ValueJob.of(AS_OF, s, fit_values(inputs.to_batches(), s, AS_OF))
    batch = inputs.to_batches(max_chunksize=97)[1]
    assert values_batch(_shipped(job), batch).equals(values_batch(job, batch))


def test_contract_fit_on_counts_equals_the_fit_on_subscribers(hub: OfflineStore) -> None:
    base = DuckDBBackend(hub).query(contract_sql(AS_OF)).to_pandas()  # one row per subscriber
    counts = DuckDBBackend(hub).query(contract_counts_sql(AS_OF)).to_pandas()
    assert int(counts["customers"].sum()) == len(base) > len(counts)
    by_row = fit_contract_model("sbg", base, 10)
    by_count = fit_contract_model("sbg", counts, 10)
    assert by_count.to_dict() == by_row.to_dict()  # the same parameters to the bit, so the same version


def test_an_empty_partition_gives_no_rows(hub: OfflineStore) -> None:
    s = ScoringSettings()
    inputs = DuckDBBackend(hub).query(value_inputs_sql(AS_OF, s))
    job = ValueJob.of(AS_OF, s, fit_values(inputs.to_batches(), s, AS_OF))
    batch = pa.RecordBatch.from_pylist([], schema=inputs.schema)
    assert values_batch(job, batch).num_rows == 0
    rows = rows_batch(job, {}, batch)
    assert rows.num_rows == 0
    assert rows.schema.names == list(SCORES.column_names)


def test_money_is_summed_exactly_whatever_the_order_of_the_rows(tmp_path: Path) -> None:
    """Sums of doubles depend on the order of their rows, which varies with DuckDB's threads and Spark's partitions
    (a 1M-customer base gave one different revenue in 500,000 from one run to the next): amounts are summed as
    decimals."""
    store = OfflineStore(tmp_path / "offline")
    store.create()
    ts = [datetime(2024, 5, d, 12, tzinfo=UTC) for d in (1, 2, 3)]
    with store.transaction() as tx:
        tx.append("customers", pl.DataFrame({"customer_id": ["A"], "kind": ["B2C"], "acquired_at": [date(2024, 1, 1)]}))
        tx.append(
            "transactions",
            pl.DataFrame(
                {
                    "transaction_id": ["t1", "t2", "t3"],
                    "customer_id": ["A"] * 3,
                    "ts": ts,
                    "amount": [0.1, 0.2, 0.3],
                    "margin": [0.1, 0.2, 0.3],
                }
            ),
        )
        tx.append(
            "contacts",
            pl.DataFrame(
                {"contact_id": ["c1", "c2", "c3"], "customer_id": ["A"] * 3, "ts": ts, "channel": ["sms"] * 3}
            ),
        )
    assert 0.1 + 0.2 + 0.3 != 0.6  # what a sum of doubles in this order gives
    s = ScoringSettings(cost_to_serve=CostToServeSettings(contact={"sms": 0.1}))
    row = DuckDBBackend(store).query(value_inputs_sql(AS_OF, s)).to_pylist()[0]
    assert (row["revenue"], row["margin"], row["margin_12m"], row["margin_ratio"]) == (0.6, 0.6, 0.6, 1.0)
    assert row["contact_cost"] == 0.3  # 0.1 + 0.1 + 0.1 in doubles is 0.30000000000000004


def _write_expected(root: Path) -> None:
    """Write the expected tables anew from the current code (see the module)."""
    for name, s in SETTINGS.items():
        store = _hub(root / name)
        write_value_scores(store, s, AS_OF, CHANNEL_COST)
        store.read("scores").sort("customer_id", "score").write_parquet(
            DATA / f"value-scores-{name}.parquet", compression="zstd"
        )


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _write_expected(Path(tmp))
