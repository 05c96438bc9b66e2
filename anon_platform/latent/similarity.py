"""Similarity of sparse codes: the overlap of their active (non-zero) units."""

from __future__ import annotations

import numpy as np


def active_sets(codes: np.ndarray) -> np.ndarray:
    """Boolean matrix: which units of each code are active (non-zero)."""
    return np.asarray(codes) != 0


def overlap(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Number of active units each query shares with each reference ([q, r] int matrix)."""
    a = active_sets(queries).astype(np.float32)
    b = active_sets(references).astype(np.float32)
    return np.rint(a @ b.T).astype(np.int64)


def nearest_by_overlap(
    query: np.ndarray, references: np.ndarray, k: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and overlaps of the `k` references sharing the most active units with `query`
    (one code or a [q, units] batch), best first; ties keep the lower index first."""
    single = np.asarray(query).ndim == 1
    queries = np.atleast_2d(query)
    k = min(k, len(references))
    scores = overlap(queries, references)
    # stable sort on the negated score: equal overlaps keep reference order
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(scores, order, axis=1)
    return (order[0], best[0]) if single else (order, best)


def unique_active_set_share(codes: np.ndarray) -> float:
    """Share of codes whose active set no other code has (1.0 = every code singles a row out
    by its active units alone)."""
    sets = active_sets(codes)
    packed = np.packbits(sets, axis=1)
    _, inverse, counts = np.unique(packed, axis=0, return_inverse=True, return_counts=True)
    return float((counts[inverse.ravel()] == 1).mean()) if len(codes) else 0.0
