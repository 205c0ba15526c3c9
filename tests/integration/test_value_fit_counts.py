"""The value models of ``cvm score`` are fitted on the base's sufficient statistics, merged chunk by chunk
(:func:`cvm.scoring.value_chunks.fit_values`): the parameters equal those of fits on one row per customer of the
whole base, to the last bit, however many chunks the base is read in."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from cvm.config import Settings
from cvm.engine import Engine
from cvm.features.rfm import rfm_summary
from cvm.scoring.inputs import end_of_day
from cvm.scoring.models import fit_contract_model, fit_purchase_model, fit_spend_model
from cvm.scoring.value_chunks import fit_values
from cvm.scoring.value_inputs import contract_sql, value_inputs_sql
from cvm.store import OfflineStore
from cvm.store.backend import DuckDBBackend
from cvm.store.chunks import customer_ranges
from tests.demo_hub import ingest_demo

N = 800
AS_OF = date(2024, 11, 30)
TABLES = ("customers", "subscriptions", "transactions", "payments")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> OfflineStore:
    from cvm.demo import generate

    root = tmp_path_factory.mktemp("fit")
    generate(N, 11, root / "data", end=date(2024, 12, 31))
    eng = Engine.init(root / "ws")
    try:
        ingest_demo(eng, root / "data", TABLES)
    finally:
        eng.close()
    return OfflineStore(root / "ws" / "offline")


@pytest.mark.parametrize("chunk", [10 * N, 97])
def test_the_fit_on_counts_equals_the_fit_on_one_row_per_customer(store: OfflineStore, chunk: int) -> None:
    s = Settings().scoring
    ranges = customer_ranges(store, chunk)
    assert len(ranges) == (1 if chunk > N else -(-N // chunk))
    backend = DuckDBBackend(store, chunk_customers=chunk)
    fit = fit_values(backend.batches(value_inputs_sql(AS_OF, s), per_customer=True), s, AS_OF)

    # the whole base, one row per customer (the fit before counts)
    tx = store.scan("transactions").filter(pl.col("ts") < end_of_day(AS_OF), pl.col("amount") > 0).collect()
    rfm = rfm_summary(tx, "customer_id", "ts", "amount", observation_period_end=AS_OF, freq=s.freq)
    purchase = fit_purchase_model(s.value_model, rfm, s.min_customers)
    spend = fit_spend_model(s.spend_model, rfm)
    subscribers = backend.query(contract_sql(AS_OF)).to_pandas()
    contract = fit_contract_model(s.contractual_model, subscribers, s.min_customers)
    assert fit.contract is not None
    for got, expected in ((fit.purchase, purchase), (fit.spend, spend), (fit.contract, contract)):
        assert got.params == expected.params  # bit for bit
        assert got.n_customers == expected.n_customers > 0
        assert got.model.log_likelihood_ == expected.model.log_likelihood_
    assert np.isfinite(fit.base_margin)
