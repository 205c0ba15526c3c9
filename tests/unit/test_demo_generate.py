"""The demo company obeys the table contracts and its data follows the hidden ground truth."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from cvm.contracts.tables import CHILD_TABLES, DATA_TABLES, INVOLUNTARY_REASONS, TableSchema
from cvm.demo import DemoSummary, generate
from cvm.ingest.readers import read_source
from cvm.ingest.validate import Rules, check, duplicate_rejects, unknown_customer_rejects
from cvm.store.schema import ARROW_TYPES

END = date(2024, 12, 31)
N = 2_000
SEED = 7
PRODUCTS = ("basic", "plus", "premium", "support")
PROBABILITIES = ("churn_hazard", "default_probability", *(f"propensity_{p}" for p in PRODUCTS))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    return generate(N, seed=SEED, out=tmp_path_factory.mktemp("demo"), end=END)


@pytest.fixture(scope="module")
def frames(demo: DemoSummary) -> dict[str, pl.DataFrame]:
    return {name: pl.read_parquet(demo.out / f"{name}.parquet") for name in DATA_TABLES}


@pytest.fixture(scope="module")
def truth(demo: DemoSummary) -> pl.DataFrame:
    return pl.read_parquet(demo.out / "ground_truth" / "customers_truth.parquet")


def _quartile_means(truth: pl.DataFrame, driver: str, outcome: pl.DataFrame, value: str) -> tuple[float, float]:
    """Mean of ``value`` among customers in the bottom and top quartile of the true ``driver``."""
    joined = truth.select("customer_id", driver).join(outcome.select("customer_id", value), on="customer_id")
    lo, hi = joined[driver].quantile(0.25), joined[driver].quantile(0.75)
    bottom = joined.filter(pl.col(driver) <= lo)[value].mean()
    top = joined.filter(pl.col(driver) >= hi)[value].mean()
    return _number(bottom), _number(top)


def _number(value: object) -> float:
    """A polars aggregate that must be a number."""
    assert isinstance(value, int | float)
    return float(value)


# --- contract -------------------------------------------------------------------------------------


def test_summary_reports_the_rows_written(demo: DemoSummary, frames: dict[str, pl.DataFrame]) -> None:
    assert demo.rows == {name: frame.height for name, frame in frames.items()}
    assert demo.rows["customers"] == N
    assert all(demo.rows[name] > 0 for name in DATA_TABLES)
    assert json.loads(json.dumps(demo.to_dict()))["rows"] == demo.rows
    assert demo.seconds > 0


@pytest.mark.parametrize("name", list(DATA_TABLES))
def test_columns_and_arrow_types_match_the_contract(demo: DemoSummary, name: str) -> None:
    schema = pq.read_schema(demo.out / f"{name}.parquet")
    contract = DATA_TABLES[name]
    assert tuple(schema.names) == contract.column_names
    for col in contract.columns:
        assert schema.field(col.name).type == ARROW_TYPES[col.dtype], col.name


@pytest.mark.parametrize("name", list(DATA_TABLES))
def test_rows_obey_required_range_and_choice_rules(frames: dict[str, pl.DataFrame], name: str) -> None:
    frame, contract = frames[name], DATA_TABLES[name]
    for col in contract.columns:
        values = frame[col.name]
        if col.required:
            assert values.null_count() == 0, col.name
        if col.min is not None:
            assert (values.drop_nulls() >= col.min).all(), col.name
        if col.max is not None:
            assert (values.drop_nulls() <= col.max).all(), col.name
        if col.choices:
            assert set(values.drop_nulls().unique()) <= set(col.choices), col.name


@pytest.mark.parametrize("name", list(DATA_TABLES))
def test_natural_keys_are_unique(frames: dict[str, pl.DataFrame], name: str) -> None:
    key = list(DATA_TABLES[name].key)
    assert not frames[name].select(key).is_duplicated().any()


@pytest.mark.parametrize("name", CHILD_TABLES)
def test_every_child_row_references_a_known_customer(frames: dict[str, pl.DataFrame], name: str) -> None:
    orphans = frames[name].join(frames["customers"], on="customer_id", how="anti")
    assert orphans.height == 0


@pytest.mark.parametrize("name", list(DATA_TABLES))
def test_no_date_lies_after_the_end(frames: dict[str, pl.DataFrame], name: str) -> None:
    for col in DATA_TABLES[name].time_columns:
        values = frames[name][col]
        days = values.dt.date() if values.dtype == pl.Datetime("us", "UTC") else values
        assert (days.drop_nulls() <= END).all(), col


def _ingest_rejects(path: Path, schema: TableSchema, customers: pl.Series) -> int:
    now = datetime.combine(END, time(23, 59, 59), tzinfo=UTC)
    checked = check(read_source(path), schema, Rules(now=now, future_tolerance_days=0))
    rejected = checked.rejects.height + duplicate_rejects(checked.frame, schema).height
    if schema.customer_fk:
        rejected += unknown_customer_rejects(checked.frame, customers).height
    return rejected


@pytest.mark.parametrize("name", list(DATA_TABLES))
def test_the_ingest_validator_accepts_every_row(demo: DemoSummary, frames: dict[str, pl.DataFrame], name: str) -> None:
    path = demo.out / f"{name}.parquet"
    assert _ingest_rejects(path, DATA_TABLES[name], frames["customers"]["customer_id"]) == 0


# --- determinism and options -------------------------------------------------------------------------


def test_same_seed_gives_identical_tables_and_another_seed_does_not(demo: DemoSummary, tmp_path: Path) -> None:
    again = generate(N, seed=SEED, out=tmp_path / "again", end=END)
    other = generate(N, seed=SEED + 1, out=tmp_path / "other", end=END)
    files = [f"{name}.parquet" for name in DATA_TABLES] + ["ground_truth/customers_truth.parquet"]
    for f in files:
        assert pq.read_table(demo.out / f).equals(pq.read_table(again.out / f)), f
    assert (demo.out / "ground_truth/meta.json").read_text() == (again.out / "ground_truth/meta.json").read_text()
    for f in ("customers.parquet", "transactions.parquet", "ground_truth/customers_truth.parquet"):
        assert not pq.read_table(demo.out / f).equals(pq.read_table(other.out / f)), f


def test_csv_output_is_iso_text_that_ingest_accepts(tmp_path: Path) -> None:
    as_csv = generate(300, seed=1, out=tmp_path / "csv", end=END, fmt="csv")
    as_parquet = generate(300, seed=1, out=tmp_path / "pq", end=END)
    assert as_csv.rows == as_parquet.rows
    assert sorted(p.name for p in as_csv.out.glob("*.csv")) == sorted(f"{n}.csv" for n in DATA_TABLES)
    lines = (as_csv.out / "transactions.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "transaction_id,customer_id,ts,amount,margin,product"
    ts = lines[1].split(",")[2].strip('"')
    assert datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")
    customers = pl.read_parquet(as_parquet.out / "customers.parquet")["customer_id"]
    for name, schema in DATA_TABLES.items():
        assert _ingest_rejects(as_csv.out / f"{name}.csv", schema, customers) == 0, name


def test_end_defaults_to_today_and_covers_the_years(tmp_path: Path) -> None:
    summary = generate(100, seed=3, out=tmp_path, years=2)
    meta = json.loads((tmp_path / "ground_truth" / "meta.json").read_text())
    today = datetime.now(UTC).date()
    assert date.fromisoformat(meta["end"]) in (today, today - timedelta(days=1))
    assert date.fromisoformat(meta["start"]).year == date.fromisoformat(meta["end"]).year - 2
    acquired = pl.read_parquet(summary.out / "customers.parquet")["acquired_at"]
    assert (acquired >= date.fromisoformat(meta["start"])).all()


@pytest.mark.parametrize(("customers", "seed", "fmt"), [(0, 1, "parquet"), (10, -1, "parquet"), (10, 1, "xlsx")])
def test_bad_arguments_are_refused(tmp_path: Path, customers: int, seed: int, fmt: str) -> None:
    with pytest.raises(ValueError, match=r"customers|format"):
        generate(customers, seed=seed, out=tmp_path, fmt=fmt)  # type: ignore[arg-type]


# --- a believable company --------------------------------------------------------------------------


def test_customers_mix_kinds_channels_and_profiles(frames: dict[str, pl.DataFrame]) -> None:
    c = frames["customers"]
    b2b = c.filter(pl.col("kind") == "B2B")
    b2c = c.filter(pl.col("kind") == "B2C")
    assert 0.18 < b2b.height / c.height < 0.32
    assert set(c["channel"]) == {"direct", "distribution"}
    assert set(b2c["sector"]) == {"consumer"}
    assert "consumer" not in set(b2b["sector"])
    assert len(set(b2b["sector"])) >= 5
    assert b2b["birth_date"].null_count() == b2b.height
    assert b2c["birth_date"].null_count() == 0
    assert c["email"].n_unique() == c.height
    assert c["email"].str.contains(r"^[a-z]+\.[a-z]+\d+@example\.com$").all()
    assert len(set(c["region"])) == 5
    assert len(set(c["timezone"])) == 3
    by_year = c.group_by(pl.col("acquired_at").dt.year()).len().sort("acquired_at")["len"]
    assert by_year[-1] > by_year[1]  # growth: the last full year acquires more than the first


def test_every_customer_first_buys_on_the_acquisition_day(frames: dict[str, pl.DataFrame]) -> None:
    first = frames["transactions"].group_by("customer_id").agg(pl.col("ts").min().dt.date().alias("first"))
    joined = frames["customers"].join(first, on="customer_id", how="left")
    assert (joined["first"] == joined["acquired_at"]).all()


def test_transactions_have_margins_products_and_some_refunds(frames: dict[str, pl.DataFrame]) -> None:
    tx = frames["transactions"]
    assert 0.01 < _number((tx["amount"] < 0).mean()) < 0.06
    rate = tx["margin"] / tx["amount"]
    assert rate.is_between(0.19, 0.46).all()
    assert set(tx["product"]) == {"hardware", "supplies", "services", "training"}


def test_subscriptions_start_expand_and_end_with_reasons(frames: dict[str, pl.DataFrame]) -> None:
    subs = frames["subscriptions"]
    assert set(subs["product"]) == set(PRODUCTS)
    assert (subs.filter(pl.col("end").is_not_null())["end"] >= subs.filter(pl.col("end").is_not_null())["start"]).all()
    changed = subs.filter(pl.col("end").is_not_null() & pl.col("end_reason").is_null())
    assert changed.height > 0  # upgrades and downgrades end a tier without a churn reason
    assert subs["end_reason"].drop_nulls().n_unique() >= 8
    assert subs.filter(pl.col("end").is_null() & pl.col("end_reason").is_not_null()).height == 0


def test_contacts_include_complaints_visits_reminders_and_cancellations(frames: dict[str, pl.DataFrame]) -> None:
    contacts = frames["contacts"]
    topics = set(contacts["topic"])
    assert {"complaint", "sales_visit", "cancellation_request", "payment_reminder", "service"} <= topics
    visits = contacts.filter(pl.col("topic") == "sales_visit")
    assert set(visits["direction"]) == {"outbound"}
    assert set(contacts["outcome"]) == {"resolved", "open"}
    assert contacts["text"].null_count() == 0


def test_surveys_and_ratings_cover_their_ranges(frames: dict[str, pl.DataFrame]) -> None:
    surveys = frames["surveys"]
    assert (surveys["nps"] <= 3).any()
    assert (surveys["nps"] == 10).any()
    assert surveys["did_recommend"].null_count() > 0
    assert surveys["comment"].null_count() > 0
    ratings = frames["ratings"]
    assert set(ratings["source"]) == {"creditsafe", "graydon"}
    assert {"AAA", "BBB", "D"} <= set(ratings["rating"])
    per_customer = ratings.group_by("customer_id", "source").len()["len"]
    assert (per_customer > 2).any()


# --- ground truth -----------------------------------------------------------------------------------


def test_truth_has_one_row_per_customer_and_valid_probabilities(
    demo: DemoSummary, frames: dict[str, pl.DataFrame], truth: pl.DataFrame
) -> None:
    assert truth["customer_id"].to_list() == frames["customers"]["customer_id"].to_list()
    for col in PROBABILITIES:
        assert truth[col].null_count() == 0, col
        assert truth[col].is_between(0.0, 1.0).all(), col
    for col in ("purchase_rate", "dropout_p", "spend_scale", "regular_buyer", "cadence_days", "silent_churn"):
        assert col in truth.columns
    meta = json.loads((demo.out / "ground_truth" / "meta.json").read_text())
    assert (meta["seed"], meta["customers"], meta["end"]) == (SEED, N, END.isoformat())
    assert meta["products"]["subscription"] == list(PRODUCTS)
    assert meta["parameters"]["b2b_share"] == 0.25


def test_propensities_are_zero_for_churned_customers_and_held_products(truth: pl.DataFrame) -> None:
    churned = truth.filter(~pl.col("alive"))
    assert churned.select(pl.sum_horizontal(f"propensity_{p}" for p in PRODUCTS)).to_series().max() == 0.0
    for tier in ("basic", "plus", "premium"):
        held = truth.filter(pl.col("tier_at_end") == tier)
        assert held.height > 0
        assert held[f"propensity_{tier}"].max() == 0.0
    assert (truth.filter(pl.col("alive"))["propensity_premium"] > 0).any()


def test_silent_churners_have_no_contact_before_churn(frames: dict[str, pl.DataFrame], truth: pl.DataFrame) -> None:
    churned = truth.filter(~pl.col("alive")).select("customer_id", "churned_at", "silent_churn")
    assert churned["silent_churn"].sum() >= 20
    assert (~churned["silent_churn"]).sum() >= 20
    before = (
        frames["contacts"]
        .join(churned, on="customer_id")
        .with_columns((pl.col("churned_at") - pl.col("ts").dt.date()).dt.total_days().alias("lead"))
    )
    silent = before.filter(pl.col("silent_churn"))
    assert silent.filter(pl.col("lead").is_between(0, 180)).height == 0
    assert silent.filter(pl.col("topic").is_in(["complaint", "cancellation_request"])).height == 0
    warned = before.filter(~pl.col("silent_churn") & pl.col("lead").is_between(0, 90))["customer_id"].n_unique()
    assert warned == (~churned["silent_churn"]).sum()


def test_subscription_churn_matches_the_truth(frames: dict[str, pl.DataFrame], truth: pl.DataFrame) -> None:
    subs = frames["subscriptions"].join(truth, on="customer_id")
    open_subs = subs.filter(pl.col("end").is_null())
    assert open_subs["alive"].all()
    involuntary = subs.filter(pl.col("end_reason").is_in(INVOLUNTARY_REASONS))
    assert involuntary.height > 0
    assert involuntary["defaulted"].all()
    assert (involuntary["end"] == involuntary["churned_at"]).all()


def test_late_payers_and_defaulters_are_present(frames: dict[str, pl.DataFrame], truth: pl.DataFrame) -> None:
    pay = frames["payments"].with_columns((pl.col("paid_date") - pl.col("due_date")).dt.total_days().alias("late"))
    assert pay.filter(pl.col("late").is_between(1, 59)).height > 100
    assert pay.filter(pl.col("late") >= 60).height > 0
    assert pay.filter(pl.col("paid_date").is_null() & (pl.col("due_date") < END - timedelta(days=60))).height > 0
    assert truth["defaulted"].sum() >= 20


def test_default_probability_drives_late_payment(frames: dict[str, pl.DataFrame], truth: pl.DataFrame) -> None:
    overdue = pl.col("paid_date").fill_null(END) - pl.col("due_date")
    late = (
        frames["payments"]
        .filter(pl.col("due_date") < END - timedelta(days=30))
        .group_by("customer_id")
        .agg((overdue.dt.total_days() >= 30).mean().alias("late_share"))
    )
    bottom, top = _quartile_means(truth, "default_probability", late, "late_share")
    assert top > 2 * bottom


def test_ratings_follow_credit_quality(frames: dict[str, pl.DataFrame], truth: pl.DataFrame) -> None:
    scores = frames["ratings"].group_by("customer_id").agg(pl.col("score").mean())
    joined = scores.join(truth, on="customer_id")
    assert joined.select(pl.corr("score", "default_probability", method="spearman")).item() < -0.4


def test_churn_hazard_drives_observed_churn(frames: dict[str, pl.DataFrame], truth: pl.DataFrame) -> None:
    churned = truth.select("customer_id", (~pl.col("alive")).cast(pl.Float64).alias("churned"))
    bottom, top = _quartile_means(truth, "churn_hazard", churned, "churned")
    assert top > 1.5 * bottom
    subs = frames["subscriptions"].group_by("customer_id").agg(pl.col("end").is_not_null().all().cast(float))
    bottom, top = _quartile_means(truth.join(subs, on="customer_id", how="semi"), "churn_hazard", subs, "end")
    assert top > 1.5 * bottom


def test_satisfaction_shows_in_nps_and_complaints(frames: dict[str, pl.DataFrame], truth: pl.DataFrame) -> None:
    nps = frames["surveys"].group_by("customer_id").agg(pl.col("nps").mean().alias("nps"))
    low, high = _quartile_means(truth.join(nps, on="customer_id", how="semi"), "satisfaction", nps, "nps")
    assert high > low + 1.0
    complained = frames["contacts"].filter(pl.col("topic") == "complaint").select("customer_id").unique()
    complaints = truth.select(
        "customer_id", pl.col("customer_id").is_in(complained["customer_id"].implode()).cast(float).alias("share")
    )
    low, high = _quartile_means(truth, "satisfaction", complaints, "share")
    assert low > 1.5 * high


def test_nps_drops_before_churn(frames: dict[str, pl.DataFrame], truth: pl.DataFrame) -> None:
    surveys = frames["surveys"].join(truth.select("customer_id", "churned_at"), on="customer_id")
    lead = (pl.col("churned_at") - pl.col("ts").dt.date()).dt.total_days()
    near = _number(surveys.filter(lead.is_between(0, 120))["nps"].mean())
    rest = _number(surveys.filter(lead.is_null() | (lead > 120))["nps"].mean())
    assert near < rest - 1.0


def test_regular_buyers_order_at_a_steady_cadence(frames: dict[str, pl.DataFrame], truth: pl.DataFrame) -> None:
    gaps = (
        frames["transactions"]
        .filter(pl.col("amount") > 0)
        .sort("customer_id", "ts")
        .with_columns(pl.col("ts").diff().over("customer_id").dt.total_hours().alias("gap"))
        .group_by("customer_id")
        .agg((pl.col("gap").std() / pl.col("gap").mean()).alias("cv"), pl.col("gap").count().alias("n"))
        .filter(pl.col("n") >= 4)
        .join(truth.select("customer_id", "regular_buyer", "cadence_days"), on="customer_id")
    )
    regular = gaps.filter(pl.col("regular_buyer"))
    assert regular.height >= 20
    assert regular["cadence_days"].null_count() == 0
    assert _number(regular["cv"].median()) < 0.2 < _number(gaps.filter(~pl.col("regular_buyer"))["cv"].median())
