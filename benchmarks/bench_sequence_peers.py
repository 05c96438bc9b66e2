"""Sequences against peers: `autoregressive` next to TabularARGN and PAR on real panel tables.

    .venv/bin/python benchmarks/bench_sequence_peers.py [--tables wages,dropouts,bank]
        [--epochs 30] [--argn-minutes 5] [--par-epochs 32] [--seed 0]
        [--generators autoregressive,tabularargn,par] [--peer-python PATH]

Generators, fitted on the same 80/20 split by parent as benchmarks/bench_sequences.py (its
table builders, numpy seed 0):

- anon_platform `autoregressive` with the sequence declared (bench_sequences' "sequence"
  variant, `epochs` 30), sampling as many new parents as the holdout has;
- mostlyai-engine 2.7.3 TabularARGN in sequential mode with the parents as context
  (`TabularARGN(tgt_context_key=pk, ctx_data=train_parents, ctx_primary_key=pk,
  max_training_time=MINUTES).fit(children)`, then `.sample(ctx_data=holdout_parents)`: one
  history per holdout parent). It runs as a subprocess of its own venv (`--peer-python`,
  installed as /work/shared/BENCHMARKS.md says), through a small runner script this file writes
  into a temporary folder with the parquet files it reads and writes; its time is the runner's
  fit + sample seconds (the subprocess' wall time, with imports and parquet, is printed too);
- SDV 2.0 PARSynthesizer on the children joined with their parents' columns (the parent
  columns as `context_columns`, the parent key as sequence key, the order column as sequence
  index), `epochs` from `--par-epochs`, `sample_sequences(len(holdout parents))`.

Scores, each generator's synthetic children against the real ones, with the project's own
functions (anon_platform.evaluation.sequences): `sequence_fidelity(...)["synthetic"]` (order
values distinct per parent, in-step share, never-falls share, lag-1 autocorrelation of the
main numeric, KS of history lengths and of the order column's increments) and
`history_discriminator(...)["sequence_discriminator_auc"]` (0.5: histories not told from
train's); the SDMetrics single-table QualityReport of the flattened child rows (keys dropped)
against train children (metadata from `Metadata.detect_from_dataframes`); and TSTR / TRTR R²
of a per-parent regression: target = the main numeric's value on the parent's last row
(ordered by the order column), features = the mean of the main numeric over the earlier rows,
its value on the row before the last and the number of rows (NaN where a history has one row),
HistGradientBoostingRegressor(random_state=0) trained on the generator's parents (TRTR: train
parents), R² on the holdout parents. The "real holdout" row gives each score for the holdout
against train (the real-data reference). Prints one markdown table, then time ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_sequences as b

from anon_platform.evaluation.sequences import (
    history_discriminator,
    sequence_fidelity,
)
from anon_platform.generators.autoregressive import AutoregressiveGenerator

PEER_PYTHON = "/work/peers/mostlyai/bin/python"

RUNNER = '''"""TabularARGN runner (written by bench_sequence_peers.py): WORKDIR KEY MINUTES SEED."""
import json
import sys
import time
from pathlib import Path

import pandas as pd
from mostlyai.engine import TabularARGN

workdir, key = Path(sys.argv[1]), sys.argv[2]
minutes, seed = float(sys.argv[3]), int(sys.argv[4])
parents = pd.read_parquet(workdir / "train_parents.parquet")
children = pd.read_parquet(workdir / "train_children.parquet")
new_parents = pd.read_parquet(workdir / "new_parents.parquet")
started = time.perf_counter()
model = TabularARGN(
    tgt_context_key=key, ctx_data=parents, ctx_primary_key=key, max_training_time=minutes,
    random_state=seed, workspace_dir=workdir / "workspace", verbose=0,
)
model.fit(children)
fitted = time.perf_counter()
synthetic = model.sample(ctx_data=new_parents)
done = time.perf_counter()
synthetic.to_parquet(workdir / "synthetic_children.parquet")
print(json.dumps({"fit_s": fitted - started, "sample_s": done - fitted, "rows": len(synthetic)}))
'''


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def conform(frame: pl.DataFrame, case: dict) -> pl.DataFrame:
    """A peer's children in the train children's columns and dtypes, child keys renumbered."""
    train_c, ck = case["children"], case["ck"]
    columns = []
    for name, dtype in train_c.schema.items():
        if name == ck:
            columns.append(pl.Series(ck, np.arange(frame.height), dtype=dtype))
        elif name in frame.columns:
            columns.append(frame[name].cast(dtype, strict=False))
        else:
            columns.append(pl.Series(name, [None] * frame.height, dtype=dtype))
    return pl.DataFrame(columns)


def run_autoregressive(case, train_p, train_c, hold_p, args) -> tuple[pl.DataFrame, dict]:
    _, sequence, params = b.VARIANTS["sequence"]
    started = time.perf_counter()
    model = AutoregressiveGenerator(
        b.schema(case, sequence), {"epochs": args.epochs, **params}, args.seed
    )
    model.fit({"parents": train_p, "children": train_c})
    fitted = time.perf_counter()
    synthetic = model.sample(hold_p.height)["children"]
    done = time.perf_counter()
    return synthetic, {"fit_s": fitted - started, "sample_s": done - fitted}


def run_tabularargn(case, train_p, train_c, hold_p, args) -> tuple[pl.DataFrame, dict]:
    with tempfile.TemporaryDirectory(prefix="argn_") as folder:
        work = Path(folder)
        (work / "runner.py").write_text(RUNNER)
        train_p.to_pandas().to_parquet(work / "train_parents.parquet")
        train_c.drop(case["ck"]).to_pandas().to_parquet(work / "train_children.parquet")
        hold_p.to_pandas().to_parquet(work / "new_parents.parquet")
        started = time.perf_counter()
        done = subprocess.run(
            [args.peer_python, str(work / "runner.py"), str(work), case["pk"],
             str(args.argn_minutes), str(args.seed)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"TabularARGN runner failed: {done.stderr[-2000:]}")
        timing = json.loads(done.stdout.strip().splitlines()[-1])
        synthetic = pl.read_parquet(work / "synthetic_children.parquet")
    return conform(synthetic, case), {**timing, "wall_s": wall}


def run_par(case, train_p, train_c, hold_p, args) -> tuple[pl.DataFrame, dict]:
    import torch
    from sdv.metadata import Metadata
    from sdv.sequential import PARSynthesizer

    pk, order = case["pk"], case["order"]
    context = [c for c in train_p.columns if c != pk]
    frame = train_c.drop(case["ck"]).join(train_p, on=pk, how="left").to_pandas()
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metadata = Metadata.detect_from_dataframes({"children": frame}, infer_keys=None)
        metadata.update_column(pk, "children", sdtype="id")
        # the sequence index must be numerical or datetime (a year is detected as categorical)
        if train_c.schema[order].is_numeric():
            metadata.update_column(order, "children", sdtype="numerical")
        metadata.set_sequence_key(pk, "children")
        metadata.set_sequence_index(order, "children")
        model = PARSynthesizer(
            metadata, context_columns=context, epochs=args.par_epochs, cuda=False, verbose=False
        )
        model.fit({"children": frame})  # SDV 2.0: a dict of table name -> frame
        fitted = time.perf_counter()
        sampled = model.sample_sequences(num_sequences=hold_p.height)
    done = time.perf_counter()
    if isinstance(sampled, dict):
        sampled = sampled["children"]
    synthetic = pl.from_pandas(sampled)
    # PAR invents its own sequence keys: number them 0.. (only grouping matters to the scores)
    codes = synthetic[pk].cast(pl.String).rank("dense").cast(pl.Int64)
    synthetic = synthetic.with_columns(codes.alias(pk))
    return conform(synthetic, case), {"fit_s": fitted - started, "sample_s": done - fitted}


RUNNERS = {"autoregressive": run_autoregressive, "tabularargn": run_tabularargn, "par": run_par}
LABELS = {
    "autoregressive": "anon_platform autoregressive (sequence declared)",
    "tabularargn": "mostlyai TabularARGN (sequential, parent context)",
    "par": "SDV PARSynthesizer",
}


def quality(train_c: pl.DataFrame, other: pl.DataFrame, case: dict) -> float:
    """SDMetrics QualityReport of the flattened child rows (keys dropped) against train."""
    keys = [case["pk"], case["ck"]]
    real, synthetic = train_c.drop(keys).to_pandas(), other.drop(keys).to_pandas()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sdmetrics.reports.single_table import QualityReport
        from sdv.metadata import Metadata

        metadata = Metadata.detect_from_dataframes({"children": real})
        report = QualityReport()
        report.generate(real, synthetic, metadata.to_dict()["tables"]["children"], verbose=False)
    return float(report.get_score())


def parent_features(frame: pl.DataFrame, case: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per parent: (mean of main over the earlier rows, main on the row before the last, rows)
    and the target, main on the last row; rows without main or order are left out."""
    main, pk = case["main"], case["pk"]
    per = (
        frame.drop_nulls([main, case["order"]])
        .sort(pk, case["order"])
        .group_by(pk)
        .agg(
            pl.len().alias("rows"),
            pl.col(main).cast(pl.Float64).sum().alias("total"),
            pl.col(main).cast(pl.Float64).shift(1).last().alias("previous"),
            pl.col(main).cast(pl.Float64).last().alias("target"),
        )
        .with_columns(
            pl.when(pl.col("rows") > 1)
            .then((pl.col("total") - pl.col("target")) / (pl.col("rows") - 1))
            .otherwise(None)
            .alias("earlier_mean")
        )
    )
    x = per.select("earlier_mean", "previous", "rows").cast(pl.Float64).to_numpy()
    return x, per["target"].to_numpy()


def tstr(fit_on: pl.DataFrame, hold_c: pl.DataFrame, case: dict) -> float:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import r2_score

    x_fit, y_fit = parent_features(fit_on, case)
    x_test, y_test = parent_features(hold_c, case)
    model = HistGradientBoostingRegressor(random_state=0).fit(x_fit, y_fit)
    return float(r2_score(y_test, model.predict(x_test)))


def row(case: dict, label: str, scores: dict, extra: dict) -> str:
    def f(key: str, source: dict = scores) -> str:
        value = source.get(key)
        return "–" if value is None or not np.isfinite(value) else f"{value:.3f}"

    step = f(f"in_step/{case['in_step'][0]}") if case["in_step"] else "–"
    falls = f(f"never_falls/{case['cumulative'][0]}") if case["cumulative"] else "–"
    lag1 = f(f"lag1_autocorr/{case['main']}")
    seconds = extra.get("seconds")
    time_s = "–" if seconds is None else f"{seconds:.1f}"
    return (
        f"| {case['name']} | {label} | {f('order_distinct')} | {step} | {falls} | "
        f"{lag1} | {f('length_ks')} | {f('inter_event_ks')} | "
        f"{f('auc', extra)} | {f('quality', extra)} | {extra.get('tstr', '–')} | {time_s} |"
    )


def run(case: dict, args: argparse.Namespace, notes: list[str]) -> None:
    rng = np.random.default_rng(0)
    pk = case["pk"]
    ids = case["parents"][pk].to_numpy()
    held = set(rng.permutation(ids)[: len(ids) // 5].tolist())
    is_held = pl.col(pk).is_in(list(held))
    train_p, train_c = case["parents"].filter(~is_held), case["children"].filter(~is_held)
    hold_p, hold_c = case["parents"].filter(is_held), case["children"].filter(is_held)
    kw = dict(parent=pk, order_by=case["order"], numeric=[case["main"]],
              categorical=case["categorical"], in_step=case["in_step"],
              cumulative=case["cumulative"])  # fmt: skip
    judge = dict(parent=pk, order_by=case["order"], numeric=[case["main"]],
                 categorical=case["categorical"], seed=0)  # fmt: skip
    reference = sequence_fidelity(train_c, hold_c, hold_c, **kw)
    held_auc = history_discriminator(train_c, hold_c, hold_c, **judge)
    trtr = tstr(train_c, hold_c, case)
    print(row(case, "real train", reference["train"], {"tstr": f"– / {trtr:.3f}"}), flush=True)
    held_extra = {
        "auc": held_auc["sequence_discriminator_auc_reference"],
        "quality": quality(train_c, hold_c, case),
    }
    print(row(case, "real holdout", reference["holdout"], held_extra), flush=True)
    seconds = {}
    for generator in args.generators.split(","):
        log(f"{case['name']}: {generator} ...")
        try:
            synthetic, timing = RUNNERS[generator](case, train_p, train_c, hold_p, args)
        except Exception as error:  # a peer that cannot run is reported, not fatal
            notes.append(f"{case['name']} / {generator}: FAILED: {error!r}"[:3000])
            print(
                f"| {case['name']} | {LABELS[generator]} | failed (see notes) |||||||||", flush=True
            )
            continue
        seconds[generator] = timing["fit_s"] + timing["sample_s"]
        notes.append(
            f"{case['name']} / {generator}: "
            + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in timing.items())
            + f", {synthetic.height} rows for {synthetic[pk].n_unique()} parents"
        )  # fmt: skip
        scores = sequence_fidelity(train_c, hold_c, synthetic, **kw)["synthetic"]
        extra = {
            "auc": history_discriminator(train_c, hold_c, synthetic, **judge)[
                "sequence_discriminator_auc"
            ],
            "quality": quality(train_c, synthetic, case),
            "tstr": f"{tstr(synthetic, hold_c, case):.3f} / {trtr:.3f}",
            "seconds": seconds[generator],
        }
        print(row(case, LABELS[generator], scores, extra), flush=True)
    if "autoregressive" in seconds:
        for peer in ("tabularargn", "par"):
            if peer in seconds:
                notes.append(
                    f"{case['name']}: time autoregressive / {peer} = "
                    f"{seconds['autoregressive']:.1f} s / {seconds[peer]:.1f} s = "
                    f"{seconds['autoregressive'] / seconds[peer]:.2f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", default="wages,dropouts,bank", help=", ".join(b.CASES))
    parser.add_argument("--generators", default="autoregressive,tabularargn,par")
    parser.add_argument("--epochs", type=int, default=30, help="autoregressive epochs")
    parser.add_argument("--argn-minutes", type=float, default=5.0, help="TabularARGN cap")
    parser.add_argument("--par-epochs", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peer-python", default=PEER_PYTHON, help="python of the mostlyai venv")
    args = parser.parse_args()
    print(
        f"autoregressive epochs {args.epochs}; TabularARGN max_training_time "
        f"{args.argn_minutes:g} min; PAR epochs {args.par_epochs}; seed {args.seed}\n"
    )
    print(
        "| table | generator | order distinct | in step | never falls | lag-1 autocorr. (main) | "
        "KS lengths | KS inter-event | history discriminator AUC | SDMetrics quality | "
        "TSTR / TRTR R² | train+sample s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    notes: list[str] = []
    for name in args.tables.split(","):
        run(b.CASES[name](), args, notes)
    print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
