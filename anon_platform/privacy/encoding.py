"""Mixed-type rows as bounded numeric vectors, and back.

A numeric column becomes one value in [0, 1] (clipped to its DP or public bounds, then scaled;
a null becomes 0.5) plus, when the column has nulls, a 0/1 null flag. A categorical column
becomes a one-hot block over its released categories (all zeros for a category that was not
released). Every encoded row therefore lies in the box B = [0, 1]^D, and around the public
centre c (0.5 for values, 0 for flags and one-hot cells) it has norm at most
R = √(n_values/4 + n_flags + n_categorical): these two facts carry the sensitivity bounds of the
clustering step. Decoding takes vectors in (or near) B: values are clipped, rescaled and rounded
as the column type asks, a flag is a Bernoulli draw, a one-hot block is read as probabilities of
its categories and sampled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from anon_platform.privacy.domains import (
    CategoricalDomain,
    Domain,
    NumericDomain,
    from_numeric,
    to_numeric,
)
from anon_platform.sources.readers import POLARS_TYPES


@dataclass(frozen=True)
class Block:
    """Where one column lives in the encoded vector."""

    domain: Domain
    start: int
    width: int


class Encoder:
    """Encodes frames to rows of [0, 1]^D and decodes such rows back to typed frames."""

    def __init__(self, domains: list[Domain]) -> None:
        self.domains = list(domains)
        self.blocks: list[Block] = []
        start = 0
        for domain in self.domains:
            if isinstance(domain, NumericDomain):
                width = 2 if domain.nullable else 1
            else:
                width = len(domain.categories)
            self.blocks.append(Block(domain, start, width))
            start += width
        self.dimension = start

    @property
    def value_dims(self) -> np.ndarray:
        """Indices of the numeric value coordinates (not flags, not one-hot cells)."""
        return np.array(
            [b.start for b in self.blocks if isinstance(b.domain, NumericDomain)], dtype=np.int64
        )

    @property
    def center(self) -> np.ndarray:
        """The public centre c: 0.5 on numeric values, 0 elsewhere."""
        c = np.zeros(self.dimension)
        c[self.value_dims] = 0.5
        return c

    @property
    def radius(self) -> float:
        """The largest ‖x − c‖ over the box B."""
        n_values = len(self.value_dims)
        others = sum(
            1 if isinstance(b.domain, CategoricalDomain) else b.width - 1 for b in self.blocks
        )
        return math.sqrt(n_values / 4 + others)

    @property
    def diameter(self) -> float:
        """The largest ‖x − x'‖ between two encoded rows (one-hot blocks differ by at most √2)."""
        squared = 0.0
        for block in self.blocks:
            squared += 2.0 if isinstance(block.domain, CategoricalDomain) else block.width
        return math.sqrt(squared)

    def encode(self, frame: pl.DataFrame) -> np.ndarray:
        """Rows of `frame` as an (n × D) array in [0, 1]^D."""
        out = np.zeros((frame.height, self.dimension))
        for block in self.blocks:
            domain = block.domain
            series = frame[domain.name]
            if isinstance(domain, NumericDomain):
                values = to_numeric(series, domain.type)
                width = (domain.high - domain.low) or 1.0
                scaled = np.clip((values - domain.low) / width, 0.0, 1.0)
                missing = np.isnan(values)
                out[:, block.start] = np.where(missing, 0.5, scaled)
                if domain.nullable:
                    out[:, block.start + 1] = missing
            else:
                index = {repr(k): i for i, k in enumerate(domain.categories)}
                cells = np.array([index.get(repr(k), -1) for k in series.to_list()])
                rows = np.flatnonzero(cells >= 0)
                out[rows, block.start + cells[rows]] = 1.0
        return out

    def decode(self, matrix: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
        """A typed frame from rows near [0, 1]^D (values clipped, flags and categories drawn)."""
        columns = []
        n = matrix.shape[0]
        for block in self.blocks:
            domain = block.domain
            part = matrix[:, block.start : block.start + block.width]
            if isinstance(domain, NumericDomain):
                values = domain.low + np.clip(part[:, 0], 0.0, 1.0) * (domain.high - domain.low)
                if domain.nullable:
                    null = rng.random(n) < np.clip(part[:, 1], 0.0, 1.0)
                    values = np.where(null, np.nan, values)
                columns.append(from_numeric(domain.name, values, domain.type))
            else:
                weights = np.clip(part, 0.0, None)
                totals = weights.sum(axis=1, keepdims=True)
                weights = np.where(totals > 0, weights / np.where(totals > 0, totals, 1), 1.0)
                weights /= weights.sum(axis=1, keepdims=True)
                draws = (weights.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
                draws = np.minimum(draws, len(domain.categories) - 1)
                values = [domain.categories[i] for i in draws]
                columns.append(
                    pl.Series(domain.name, values, dtype=POLARS_TYPES[domain.type], strict=False)
                )
        return pl.DataFrame(columns)
