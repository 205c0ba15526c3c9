"""Benchmark the CLV pipeline against lifetimes, side by side on the same raw transaction log.

Usage: ``python bench/clv.py [--customers 1000000] [--log sim|cdnow|all] [--ts-unit ns|us] [--seed 1]
[--repeat 1] [--cvm-only] [--json]``.

1. Write a raw log (customer_id, ts, amount) of ``--customers`` customers to a Parquet file, in row groups of
   122,880 rows as CVM's offline store (and DuckDB) write them; a reader can then share a file between cores.
   ``--log sim`` simulates BG/NBD + Gamma-Gamma customers (about 3 transactions each); ``--log cdnow``
   replicates CDNOW master, a log CVM did not generate, with id offsets and date jitter (``clv_logs.py``);
   ``--ts-unit us`` stores ``ts`` as ``datetime64[us]`` instead of nanoseconds. ``--log all`` runs the
   simulated log, CDNOW in ns and CDNOW in us one after the other and ends with one summary table.
2. Run each library in a fresh Python process (so neither inherits the other's memory), step by step:
   imports (a fresh interpreter imports what the pipeline needs), load (lifetimes only: pandas needs the log
   in memory; CVM's DuckDB reads the file itself), RFM summary, BG/NBD fit, Gamma-Gamma fit, then 12-month
   expected purchases and 12-month CLV (lifetimes' convention: 30-day months, 1% a month) for every customer.
3. Print seconds and peak memory per step, the ratio, and how closely parameters and predictions agree.
   With ``--repeat N`` the two pipelines run N times, alternately; each step shows its fastest time and
   its largest memory, "end to end" the fastest complete run (every run's total is printed below).

CPU seconds (user + system, all threads, from ``getrusage``) are printed next to wall seconds: on a machine
shared with other jobs they say what each library cost, while wall time also counts waiting for a core.
Memory: a thread samples the process's resident set size (``/proc/self/statm``) every 2 ms; a step's
figure is its peak RSS minus the RSS when it started (native DuckDB memory included, which tracemalloc
would miss). Short spikes between samples can be missed. The process's overall peak (``ru_maxrss``) is
printed too. Exits 1 when a target is missed: >= 20x faster end to end (imports included) and parameters
within 1e-3 (1M mode); under 60 s and 12 GB (``--cvm-only``, meant for ``--customers 10000000``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only the standard library at the top: a worker's "imports" step then measures everything its library needs.
if TYPE_CHECKING:
    import pandas as pd

TRUE_PARAMS = {"r": 0.5, "alpha": 70.0, "a": 0.8, "b": 2.5, "p": 4.0, "q": 3.0, "gamma": 40.0}
START = "2023-01-01"
END_DAYS = 730  # observation ends two years after START; customers arrive during the first year
HORIZON_DAYS = 365.0
TARGET_SPEEDUP, TARGET_AGREEMENT = 20.0, 1e-3
TARGET_10M_SECONDS, TARGET_10M_BYTES = 60.0, 12 * 1024**3
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- data -------------------------------------------------------------------------------------
def simulate(n: int, seed: int) -> pd.DataFrame:
    """A raw log from BG/NBD purchases (per day) with Gamma-Gamma amounts, rounded to cents."""
    import numpy as np
    import pandas as pd

    t = TRUE_PARAMS
    rng = np.random.default_rng(seed)
    lam = rng.gamma(t["r"], 1.0 / t["alpha"], n)
    drop = rng.beta(t["a"], t["b"], n)
    nu = rng.gamma(t["q"], 1.0 / t["gamma"], n)
    now = rng.uniform(0, 365, n)
    ids, times = [np.arange(n)], [now]
    alive = np.arange(n)
    while alive.size:
        now = now + rng.exponential(1.0, alive.size) / lam[alive]
        inside = now < END_DAYS
        alive, now = alive[inside], now[inside]
        ids.append(alive)
        times.append(now)
        stays = rng.random(alive.size) >= drop[alive]
        alive, now = alive[stays], now[stays]
    cid, days = np.concatenate(ids), np.concatenate(times)
    amount = np.round(rng.gamma(t["p"], 1.0, cid.size) / nu[cid], 2)
    ts = (np.datetime64(START, "s") + (days * 86_400).astype("timedelta64[s]")).astype("datetime64[ns]")
    return pd.DataFrame({"customer_id": cid, "ts": ts, "amount": amount})


# -- measurement ------------------------------------------------------------------------------
def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


class Steps:
    """Times each step and samples RSS in a background thread."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self._peak = max(self._peak, rss())

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start_rss = rss()
        self._peak = start_rss
        t0, c0 = time.perf_counter(), cpu_seconds()
        yield
        seconds = time.perf_counter() - t0
        peak = max(self._peak, rss())
        cpu = cpu_seconds() - c0
        self.rows.append(
            {"step": name, "seconds": seconds, "cpu": cpu, "peak_rss": peak, "extra_rss": peak - start_rss}
        )

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds() -> float:
    """CPU time of the process so far, all threads (less sensitive than wall time to a busy machine)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return float(usage.ru_utime + usage.ru_stime)


def max_rss() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


# -- the two pipelines (each runs in its own process) -------------------------------------------
def run_cvm(path: Path, out: Path, end: str) -> dict[str, Any]:
    steps = Steps()
    with steps.step("imports"):
        from cvm.features.rfm import rfm_arrays
        from cvm.models.clv import BetaGeo, GammaGamma, clv
    with steps.step("RFM summary"):
        s = rfm_arrays(path, monetary_value_col="amount", observation_period_end=end)
    f, r, t, m = (s[c] for c in ("frequency", "recency", "T", "monetary_value"))
    with steps.step("BG/NBD fit"):
        bg = BetaGeo().fit(f, r, t)
    with steps.step("Gamma-Gamma fit"):
        rep = (f > 0) & (m > 0)
        gg = GammaGamma().fit(f[rep], m[rep])
    with steps.step("predictions + CLV"):
        exp = bg.expected_purchases(HORIZON_DAYS, f, r, t)
        value = clv(bg, gg, f, r, t, m, horizon=12, discount_rate=0.01, freq="D")
    steps.close()
    _save(out, s["customer_id"], exp, value, f, m)
    return _result(steps, len(f), {**bg.params_, **gg.params_}, bool(bg.converged_ and gg.converged_))


def run_lifetimes(path: Path, out: Path, end: str) -> dict[str, Any]:
    warnings.simplefilter("ignore")  # lifetimes 0.11 on pandas 3 warns about deprecated options
    steps = Steps()
    with steps.step("imports"):
        import pandas as pd
        from lifetimes import BetaGeoFitter, GammaGammaFitter  # type: ignore[import-untyped]
        from lifetimes.utils import summary_data_from_transaction_data  # type: ignore[import-untyped]
    with steps.step("load"):
        log = pd.read_parquet(path)
    with steps.step("RFM summary"):
        s = summary_data_from_transaction_data(
            log, "customer_id", "ts", monetary_value_col="amount", observation_period_end=end
        )
    f, r, t, m = s["frequency"], s["recency"], s["T"], s["monetary_value"]
    with steps.step("BG/NBD fit"):
        bg = BetaGeoFitter().fit(f, r, t)
    with steps.step("Gamma-Gamma fit"):
        rep = (f > 0) & (m > 0)
        gg = GammaGammaFitter().fit(f[rep], m[rep])
    with steps.step("predictions + CLV"):
        exp = bg.conditional_expected_number_of_purchases_up_to_time(HORIZON_DAYS, f, r, t)
        value = gg.customer_lifetime_value(bg, f, r, t, m, time=12, discount_rate=0.01, freq="D")
    steps.close()
    _save(out, s.index, exp, value, f, m)
    params = {**bg.params_.to_dict(), **{("gamma" if k == "v" else k): v for k, v in gg.params_.items()}}
    return _result(steps, len(s), params, True)


def _save(out: Path, ids: Any, exp: Any, value: Any, frequency: Any, monetary: Any) -> None:
    import numpy as np
    import pandas as pd

    columns = {"exp": exp, "clv": value, "frequency": frequency, "monetary_value": monetary}
    frame = pd.DataFrame({"customer_id": np.asarray(ids), **{k: np.asarray(v) for k, v in columns.items()}})
    frame.to_parquet(out)


def sim_end() -> str:
    """The simulated log's observation end: ``END_DAYS`` after ``START``."""
    import numpy as np

    return str(np.datetime64(START, "D") + np.timedelta64(END_DAYS, "D"))


def _result(steps: Steps, customers: int, params: dict[str, float], converged: bool) -> dict[str, Any]:
    total = {"step": "end to end", "seconds": sum(r["seconds"] for r in steps.rows), "peak_rss": max_rss()}
    total["cpu"] = sum(r["cpu"] for r in steps.rows)
    total["extra_rss"] = max(r["extra_rss"] for r in steps.rows)
    return {"steps": [*steps.rows, total], "customers": customers, "params": params, "converged": converged}


def worker(which: str, data: Path, out: Path, end: str) -> dict[str, Any]:
    """Run one library in a fresh interpreter and return its JSON report."""
    cmd = [sys.executable, __file__, "--worker", which, "--data", str(data), "--out", str(out), "--end", end]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{which} worker failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# -- reporting ------------------------------------------------------------------------------
def _runs(result: dict[str, Any]) -> str:
    return ", ".join(f"{t:.2f}" for t in result["repeats"])


def _gb(n: float) -> str:
    return f"{n / 1024**3:.2f}"


def steps_table(cvm: dict[str, Any], peer: dict[str, Any] | None) -> tuple[list[str], list[list[Any]]]:
    """Columns and one row per step: wall and CPU seconds and extra memory of CVM (and lifetimes, with the
    speed-up in wall time)."""
    cvm_rows = {r["step"]: r for r in cvm["steps"]}
    peer_rows = {r["step"]: r for r in peer["steps"]} if peer else {}
    rows: list[list[Any]] = []
    for name in [r["step"] for r in (peer or cvm)["steps"]]:
        c, p = cvm_rows.get(name), peer_rows.get(name)
        row = [name, f"{c['seconds']:.2f}" if c else "(in RFM)", f"{c['cpu']:.2f}" if c else ""]
        row.append(_gb(c["extra_rss"]) if c else "")
        if peer:
            row += [
                f"{p['seconds']:.2f}" if p else "",
                f"{p['cpu']:.2f}" if p else "",
                _gb(p["extra_rss"]) if p else "",
            ]
            row.append(f"{p['seconds'] / c['seconds']:.1f}x" if c and p else "")
        rows.append(row)
    last = ["process peak RSS", "", "", _gb(cvm["steps"][-1]["peak_rss"])]
    rows.append(last + (["", "", _gb(peer["steps"][-1]["peak_rss"]), ""] if peer else []))
    cols = ["step", "CVM s", "CVM cpu s", "CVM +GB"]
    cols += ["lifetimes s", "lifetimes cpu s", "lifetimes +GB", "speed-up"] if peer else []
    return cols, rows


def agreement(cvm: dict[str, Any], peer: dict[str, Any], cvm_out: Path, peer_out: Path) -> dict[str, float]:
    """Largest relative differences: each parameter, and predictions over all customers."""
    import numpy as np
    import pandas as pd

    diffs = {k: abs(cvm["params"][k] / peer["params"][k] - 1.0) for k in cvm["params"]}
    a = pd.read_parquet(cvm_out).set_index("customer_id").sort_index()
    b = pd.read_parquet(peer_out).set_index("customer_id").sort_index()
    if not a.index.equals(b.index):
        raise RuntimeError("CVM and lifetimes summarised different customers")
    # A repeat buyer whose purchases sum to zero (CDNOW has some) has no usable spend: CVM's Gamma-Gamma gives
    # them the population mean, lifetimes its formula with m = 0. Their CLV is compared apart.
    no_spend = (b["frequency"].to_numpy() > 0) & (b["monetary_value"].to_numpy() <= 0)
    for col in ("exp", "clv"):
        x, y = a[col].to_numpy(), b[col].to_numpy()
        gap = np.abs(x - y) / np.where(y == 0, 1.0, np.abs(y))  # absolute where lifetimes gives 0
        if col == "clv" and no_spend.any():
            diffs[f"clv (max over {int((~no_spend).sum()):,} customers with usable spend)"] = float(
                gap[~no_spend].max()
            )
            diffs[f"clv ({int(no_spend.sum()):,} repeat buyers of zero spend, by convention)"] = float(
                gap[no_spend].max()
            )
        else:
            diffs[f"{col} (max over customers)"] = float(np.max(gap))
    return diffs


LOGS = {"sim": ("sim", "ns"), "cdnow": ("cdnow", "ns"), "cdnow-us": ("cdnow", "us")}


def main(argv: list[str] | None = None) -> int:
    """Write the log(s), run both pipelines, print the tables; 0 when the targets are met."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--log", choices=["sim", "cdnow", "all"], default="sim", help="which log (all: the three)")
    parser.add_argument("--ts-unit", choices=["ns", "us"], default="ns", help="resolution of the ts column")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cvm-only", action="store_true", help="skip lifetimes (for 10M customers)")
    parser.add_argument("--repeat", type=int, default=1, help="run each pipeline N times, report the fastest")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", choices=["cvm", "lifetimes"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--end", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run: Callable[[Path, Path, str], dict[str, Any]] = run_cvm if args.worker == "cvm" else run_lifetimes
        print(json.dumps(run(args.data, args.out, args.end)))
        return 0
    logs = list(LOGS.values()) if args.log == "all" else [(args.log, args.ts_unit)]
    results = [
        compare(args.customers, args.seed, args.cvm_only, args.json, max(1, args.repeat), log, unit)
        for log, unit in logs
    ]
    if len(results) > 1 and not args.json:
        summary_table(results)
    return 0 if all(r["pass"] for r in results) else 1


def write_log(log: str, customers: int, seed: int, ts_unit: str, path: Path) -> tuple[int, float, str]:
    """Write the raw log to ``path``; its transactions, the seconds it took and its observation end."""
    from clv_logs import CDNOW_END, replicated_cdnow
    from cvm.store.offline import ROW_GROUP_ROWS

    t0 = time.perf_counter()
    if log == "sim":
        frame, end = simulate(customers, seed), sim_end()
        frame["ts"] = frame["ts"].astype(f"datetime64[{ts_unit}]")
    else:
        frame, end = replicated_cdnow(customers, seed, ts_unit), CDNOW_END
    frame.to_parquet(path, row_group_size=ROW_GROUP_ROWS)  # as CVM's offline store writes Parquet
    return len(frame), time.perf_counter() - t0, end


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def summary_table(results: list[dict[str, Any]]) -> None:
    """One row per log: end-to-end seconds of both, the speed-up and the parameters' agreement."""
    from cvm.cli.console import console

    cols = ["log", "customers", "transactions", "CVM s", "lifetimes s", "speed-up", "CPU ratio", "params within"]
    cols += ["load", "pass"]
    rows = [
        [
            r["log"],
            f"{r['customers']:,}",
            f"{r['transactions']:,}",
            f"{r['cvm']['steps'][-1]['seconds']:.2f}",
            f"{r['lifetimes']['steps'][-1]['seconds']:.2f}" if r["lifetimes"] else "",
            f"{r['speedup']:.1f}x" if r["speedup"] else "",
            f"{r['cpu_ratio']:.1f}x" if r["cpu_ratio"] else "",
            f"{r['param_diff']:.1e}",
            r["load"],
            "pass" if r["pass"] else "FAIL",
        ]
        for r in results
    ]
    console.table("CLV end to end (imports included) on each log", cols, rows)


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per step the fastest time and the largest memory over repeated runs (parameters are deterministic)."""
    best = dict(runs[0])
    best["steps"] = [
        {
            "step": rows[0]["step"],
            "seconds": min(r["seconds"] for r in rows),
            "cpu": min(r["cpu"] for r in rows),
            "peak_rss": max(r["peak_rss"] for r in rows),
            "extra_rss": max(r["extra_rss"] for r in rows),
        }
        for rows in zip(*(run["steps"] for run in runs), strict=True)
    ]
    best["repeats"] = [run["steps"][-1]["seconds"] for run in runs]
    return best


def compare(
    customers: int, seed: int, cvm_only: bool, as_json: bool, repeat: int = 1, log: str = "sim", ts_unit: str = "ns"
) -> dict[str, Any]:
    """Bench one log: both pipelines, the tables (or JSON); the result, with ``pass``."""
    from cvm.cli.console import console

    name = log if ts_unit == "ns" else f"{log} (ts in {ts_unit})"
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="cvm-clv-bench-") as tmp:
        data = Path(tmp) / "transactions.parquet"
        n_tx, log_seconds, end = write_log(log, customers, seed, ts_unit, data)
        cvm_runs, peer_runs = [], []
        for _ in range(repeat):  # alternate, so that both see the same changes in machine load
            cvm_runs.append(worker("cvm", data, Path(tmp) / "cvm.parquet", end))
            if not cvm_only:
                peer_runs.append(worker("lifetimes", data, Path(tmp) / "lifetimes.parquet", end))
        cvm, peer = best_of(cvm_runs), best_of(peer_runs) if peer_runs else None
        agree = agreement(cvm, peer, Path(tmp) / "cvm.parquet", Path(tmp) / "lifetimes.parquet") if peer else {}
    load = f"{load_before} -> {_load()}"
    total = cvm["steps"][-1]
    speedup = peer["steps"][-1]["seconds"] / total["seconds"] if peer else None
    cpu_ratio = peer["steps"][-1]["cpu"] / total["cpu"] if peer else None
    param_diff = max((v for k, v in agree.items() if k in TRUE_PARAMS), default=0.0)
    if cvm_only:
        ok = total["seconds"] < TARGET_10M_SECONDS and total["peak_rss"] < TARGET_10M_BYTES
    else:
        ok = speedup is not None and speedup >= TARGET_SPEEDUP and param_diff <= TARGET_AGREEMENT
    result = {
        "log": name,
        "customers": cvm["customers"],
        "transactions": n_tx,
        "log_seconds": log_seconds,
        "cpus": os.cpu_count(),
        "load": load,
        "cvm": cvm,
        "lifetimes": peer,
        "agreement": agree,
        "speedup": speedup,
        "cpu_ratio": cpu_ratio,
        "param_diff": param_diff,
        "pass": ok,
    }
    if as_json:
        console.json(result)
        return result
    title = f"{name}: {cvm['customers']:,} customers, {n_tx:,} transactions, {os.cpu_count()} CPUs"
    title += f" (log written in {log_seconds:.1f} s; load average {load}); +GB: peak RSS above the step's start"
    console.table(title, *steps_table(cvm, peer))
    console.print(f"End-to-end seconds of each run: CVM {_runs(cvm)}" + (f", lifetimes {_runs(peer)}" if peer else ""))
    if peer:
        truth = TRUE_PARAMS if log == "sim" else {}
        rows = [
            [
                k,
                f"{cvm['params'][k]:.6g}",
                f"{peer['params'][k]:.6g}",
                f"{truth[k]:g}" if truth else "",
                f"{agree[k]:.1e}",
            ]
            for k in cvm["params"]
        ]
        rows += [[k, "", "", "", f"{v:.1e}"] for k, v in agree.items() if k not in TRUE_PARAMS]
        console.table("Agreement (relative difference)", ["", "CVM", "lifetimes", "simulated", "rel. diff"], rows)
        console.print(
            f"End to end (imports included): {speedup:.1f}x faster (target {TARGET_SPEEDUP:.0f}x), "
            f"{cpu_ratio:.1f}x less CPU time; parameters within {param_diff:.1e} (target {TARGET_AGREEMENT:.0e})"
        )
    else:
        console.print(
            f"End to end {total['seconds']:.1f} s (target {TARGET_10M_SECONDS:.0f} s), "
            f"peak RSS {_gb(total['peak_rss'])} GB (target {_gb(TARGET_10M_BYTES)} GB)"
        )
    console.print("pass" if ok else "FAIL")
    return result


if __name__ == "__main__":
    raise SystemExit(main())
