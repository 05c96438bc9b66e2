"""DP Lloyd iterations per class: noisy cluster sums, counts and spreads of encoded records.

Setting: rows x_i ∈ B = [0, 1]^D (see encoding.py), centre c, clip norm C' = min(C, R) where R
bounds ‖x − c‖ on B, so clipping changes nothing when C ≥ R. Each row has a class (−1: a class
that was not released; such rows count nowhere).

One iteration, given centroids that are already public (drawn from DP marginals, or the output
of the previous iteration): every row goes to its nearest centroid of its own class — a fixed
function of the public centroids and of that row alone, so the partition of the other rows does
not depend on the row. Then, per (class, cluster) cell a, release
    S̃_a = Σ_{i→a} clip(x_i − c, C') + N(0, σ_S² I_D)     and     Ñ_a = |{i → a}| + N(0, σ_N²).
Replace-one: row i (cell a) becomes i' (cell b). If a = b, S moves by clip(x_i'−c) − clip(x_i−c),
of norm ≤ min(2C', diam B); if a ≠ b, S_a and S_b move by vectors of norm ≤ C' each: ≤ √2·C'.
So Δ_S = max(min(2C', diam B), √2·C') ≤ 2C and Δ_N = √2 (counts move by −1 and +1, or not at
all); a class change is just a ≠ b, so per-class processing costs nothing extra. The released
mean of a cell, c + S̃_a/Ñ_a, is the mean of its rows plus noise of scale σ_S/Ñ_a: with cells of
about k rows this is the issue's "group mean of k rows, sensitivity 2C/k", but with the group
sizes data-dependent, the sensitivity argument is on sums and counts, where it holds exactly.
Between iterations the cells are rebalanced from the noisy counts alone (post-processing): small
cells vanish, large ones split. The last iteration also releases per-class sums of squared
numeric values (`class_spread`, Δ_Q = √(2·n_v)). Means and spreads follow by post-processing,
and only cells with Ñ_a ≥ k are kept, so no released point stands for fewer than about k rows.
Each release is one Gaussian mechanism charged to the GaussianBudget (GDP composition).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from anon_platform.privacy.accountant import GaussianBudget

CHUNK = 4096


@dataclass
class ReleasedClusters:
    """The released cells: noisy means (in the encoding's box), noisy counts, classes, spreads."""

    points: np.ndarray
    counts: np.ndarray
    classes: np.ndarray
    spread: np.ndarray


def nearest(rows: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (squared Euclidean distance) of every row."""
    out = np.empty(len(rows), dtype=np.int64)
    c2 = (centroids**2).sum(axis=1)
    for start in range(0, len(rows), CHUNK):
        part = rows[start : start + CHUNK]
        out[start : start + CHUNK] = np.argmin(c2[None, :] - 2.0 * part @ centroids.T, axis=1)
    return out


def clip_rows(deltas: np.ndarray, clip_norm: float) -> np.ndarray:
    """Each row scaled down to L2 norm at most `clip_norm`."""
    norms = np.linalg.norm(deltas, axis=1, keepdims=True)
    return deltas * np.minimum(1.0, clip_norm / np.maximum(norms, 1e-12))


def sum_sensitivity(clip_norm: float, radius: float, diameter: float) -> float:
    """Δ_S = max(min(2C', diam), √2·C') with C' = min(C, R) (see the module docstring)."""
    c = min(clip_norm, radius)
    return max(min(2.0 * c, diameter), math.sqrt(2.0) * c)


def dp_lloyd(
    rows: np.ndarray,
    row_class: np.ndarray,
    init: list[np.ndarray],
    center: np.ndarray,
    clip_norm: float,
    radius: float,
    diameter: float,
    value_dims: np.ndarray,
    group_size: int,
    iterations: int,
    budget: GaussianBudget,
    rng: np.random.Generator,
) -> ReleasedClusters:
    """Run `iterations` DP Lloyd steps per class from the public `init` centroids (one array per
    class) and release the cells of the last step that hold at least `group_size` noisy rows.

    Charges mechanisms 'lloyd_<t>_sums', 'lloyd_<t>_counts' for every t and 'spread' once.
    """
    clip = min(clip_norm, radius)
    delta_s = sum_sensitivity(clip_norm, radius, diameter)
    delta_q = math.sqrt(2.0 * max(len(value_dims), 1))
    clipped = clip_rows(rows - center, clip)
    n_classes = len(init)
    classes = np.concatenate([np.full(len(c), y) for y, c in enumerate(init)])
    centroids = np.concatenate(init)
    dim = rows.shape[1]
    for t in range(iterations):
        cell = np.full(len(rows), -1, dtype=np.int64)
        for y in range(n_classes):
            members = np.flatnonzero(row_class == y)
            own = np.flatnonzero(classes == y)
            if len(members) and len(own):
                cell[members] = own[nearest(rows[members], centroids[own])]
        keep = cell >= 0
        sums = np.zeros((len(centroids), dim))
        np.add.at(sums, cell[keep], clipped[keep])
        counts = np.bincount(cell[keep], minlength=len(centroids)).astype(float)
        sigma_s = budget.charge(f"lloyd_{t}_sums", delta_s, "cluster sums of clipped rows")
        sigma_n = budget.charge(f"lloyd_{t}_counts", math.sqrt(2.0), "cluster sizes")
        noisy_sums = sums + rng.normal(0.0, sigma_s, sums.shape)
        noisy_counts = counts + rng.normal(0.0, sigma_n, counts.shape)
        means = np.clip(center + noisy_sums / np.maximum(noisy_counts, 1.0)[:, None], 0.0, 1.0)
        if t < iterations - 1:
            centroids, classes = rebalance(means, noisy_counts, classes, group_size, rng)
            continue
        spread = class_spread(
            rows, row_class, means, noisy_counts, classes, value_dims, delta_q, budget, rng
        )
        released = noisy_counts >= group_size
        return ReleasedClusters(
            points=means[released],
            counts=noisy_counts[released],
            classes=classes[released],
            spread=spread[classes[released]],
        )
    raise ValueError("iterations must be at least 1")


SPLIT_JITTER = 0.02
MAX_SPLIT = 8


def rebalance(
    means: np.ndarray,
    noisy_counts: np.ndarray,
    classes: np.ndarray,
    group_size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Next centroids from released cells (post-processing): cells under half a group vanish
    (unless that would empty a class), cells of r ≥ 2 groups split into min(r, MAX_SPLIT)
    jittered copies, so that the cells drift towards groups of about `group_size` rows."""
    out_points, out_classes = [], []
    for y in np.unique(classes):
        own = np.flatnonzero(classes == y)
        kept = own[noisy_counts[own] >= group_size / 2]
        if not len(kept):
            kept = own[[int(np.argmax(noisy_counts[own]))]]
        for a in kept:
            copies = int(min(max(noisy_counts[a] // group_size, 1), MAX_SPLIT))
            jitter = rng.normal(0.0, SPLIT_JITTER, (copies, means.shape[1]))
            jitter[0] = 0.0
            out_points.append(np.clip(means[a] + jitter, 0.0, 1.0))
            out_classes.append(np.full(copies, y))
    return np.concatenate(out_points), np.concatenate(out_classes)


def class_spread(
    rows: np.ndarray,
    row_class: np.ndarray,
    means: np.ndarray,
    noisy_counts: np.ndarray,
    classes: np.ndarray,
    value_dims: np.ndarray,
    delta_q: float,
    budget: GaussianBudget,
    rng: np.random.Generator,
) -> np.ndarray:
    """Per class, the pooled within-cell standard deviation of each numeric value coordinate.

    Releases Q̃_y = Σ_{i in class y} x_{i,v}² + N(0, σ_Q²) (mechanism 'spread', Δ_Q = √(2·n_v):
    a replaced row moves at most two classes' sums by vectors of norm ≤ √n_v each); then
    var_y = (Q̃_y − Σ_a Ñ_a·m̃_a²)/Σ_a Ñ_a over the class's cells a. The noise in the means m̃_a
    lowers this estimate by about the noise variance, which the noisy means add back at
    sampling time. Returns an array (n_classes × n_v).
    """
    n_classes = int(classes.max()) + 1
    squares = np.zeros((n_classes, len(value_dims)))
    keep = row_class >= 0
    if len(value_dims):
        np.add.at(squares, row_class[keep], rows[keep][:, value_dims] ** 2)
    sigma_q = budget.charge("spread", delta_q, "per-class sums of squared numeric values")
    noisy_squares = squares + rng.normal(0.0, sigma_q, squares.shape)
    spread = np.zeros_like(squares)
    weights = np.maximum(noisy_counts, 0.0)
    for y in range(n_classes):
        own = classes == y
        total = weights[own].sum()
        if total <= 0:
            continue
        between = (weights[own, None] * means[own][:, value_dims] ** 2).sum(axis=0)
        spread[y] = np.sqrt(np.clip((noisy_squares[y] - between) / total, 1e-4, 0.25))
    return spread
