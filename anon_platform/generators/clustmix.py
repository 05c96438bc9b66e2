"""ClustMix: differentially private cluster mixing (Approximate, Adapt, Anonymize).

Approximate the table by clusters per class of the target, adapt the cluster means so a kernel
classifier fitted on them keeps its loss on the training rows, and release only noisy means of
groups of about `group_size` rows; synthetic rows are drawn around those released means. The
whole model (domains, bounds, means, spreads, adapted points) is (ε, δ)-DP, so every table
sampled from it is too (post-processing).

Proof sketch.
* Neighbouring relation: replace-one — D and D' have the same number n of rows of the root
  table and differ in one row. n is public (it also sets the default δ = 1/(10·n)).
* Mechanisms, all Gaussian, in this order (each may depend on the outputs of earlier ones):
  1. `domains` (privacy/domains.py): noisy counts of every column's categories and of numeric
     values on a public power-of-two grid; Δ = √(2d) for d modelled columns. Categories pass a
     threshold τ (stability histogram), which costs δ_threshold = (1 + e^ε)·d_cat·η on top of
     the Gaussian part (argument in privacy/domains.py). Public `bounds` skip the grid estimate.
  2. `marginals`: per-class noisy histograms of the other columns; Δ = √(2(d − 1)) with a
     target, √(2d) without. They fix tighter bounds (noisy quantiles), class sizes and the
     initial centroids (drawn from the class marginals), all post-processing.
  3. `lloyd_<t>_sums`, `lloyd_<t>_counts` for t < iterations, and `spread`: DP Lloyd iterations
     per class on encoded rows clipped to norm C around a public centre; Δ_S ≤ 2C, Δ_N = √2,
     Δ_Q = √(2·n_numeric) (privacy/clustering.py). A row's cluster is a function of public
     centroids and of the row itself, so replacing a row changes at most two cells — including
     when the replacement has another class (per-class processing is a partition by the row's
     own label, and a change of label is a change of cell).
  4. `adapt_<t>` (only with `adapt`): DP gradient steps on the released points, per-row
     gradients clipped to G, Δ = 2G (privacy/adapt.py).
* Composition: mechanism i is μ_i-GDP with μ_i = Δ_i/σ_i; their adaptive composition is
  √(Σμ_i²)-GDP (Dong, Roth & Su 2022, Cor. 3.3). The budget gives mechanism i the weight w_i of
  μ² (Σw_i = 1), with μ from the analytic Gaussian mechanism (Balle & Wang 2018) for
  (ε, δ_gauss), δ_gauss = δ − δ_threshold. The card records every Δ_i, σ_i, μ_i and w_i.
* Sampling reads only the released means, counts, spreads and domains; the saved state holds
  nothing else (no raw row).
Limits of the claim: the noise comes from NumPy's PCG64 and floating-point Gaussian sampling,
which is not hardened against the floating-point attacks of Mironov (CCS 2012); the claim covers
the root table only (multi-table datasets are refused: a person's child rows would need a
contribution bound across tables); n is treated as public. The base card's
`training_data_fingerprint` (and a release manifest's source fingerprints) are exact hashes of the
data, kept for lineage: they are not covered by the claim, which is about the released tables and
the model state (everything in state.pkl and `differential_privacy`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from anon_platform.catalog.schema import ColumnSchema, TableSchema
from anon_platform.catalog.specs import ColumnType
from anon_platform.common.progress import Progress, ProgressEvent
from anon_platform.errors import GeneratorError
from anon_platform.generators.base import Generator, GeneratorParams
from anon_platform.generators.table_by_table import fresh_keys
from anon_platform.privacy.accountant import ACCOUNTANT, GaussianBudget, epsilon_for
from anon_platform.privacy.adapt import dp_adapt
from anon_platform.privacy.clustering import ReleasedClusters, dp_lloyd, sum_sensitivity
from anon_platform.privacy.domains import (
    BINS,
    CategoricalDomain,
    Domain,
    NumericDomain,
    is_numeric,
    refined_bounds,
    release_domains,
    release_marginals,
)
from anon_platform.privacy.encoding import Encoder
from anon_platform.sources.readers import POLARS_TYPES

MECHANISM = "Gaussian mechanism (analytic calibration, Balle & Wang 2018), DP Lloyd cluster means"
# shares of μ² (see the module docstring); adapt's share goes to the Lloyd steps when it is off
SHARE_DOMAINS = 0.10
SHARE_MARGINALS = 0.10
SHARE_LLOYD = 0.45
SHARE_SPREAD = 0.05
SHARE_ADAPT = 0.30
COUNT_SHARE_OF_LLOYD = 0.2
THRESHOLD_SHARE_OF_DELTA = 0.1


class ClustMixParams(GeneratorParams):
    epsilon: float = Field(default=3.0, gt=0.0, le=50.0)
    delta: float | None = Field(
        default=None, gt=0.0, lt=0.01, description="None: 1/(10·n) for n training rows"
    )
    group_size: int = Field(default=25, ge=2, le=100_000, description="rows per released mean")
    clip_norm: float | None = Field(
        default=None, gt=0.0, description="L2 clip of encoded rows; None: the encoding's radius"
    )
    adapt: bool = Field(
        default=False, description="DP adapt step (off by default: see benchmarks/RESULTS.md)"
    )
    iterations: int = Field(default=3, ge=1, le=20, description="DP Lloyd iterations")
    adapt_steps: int = Field(default=5, ge=1, le=100)
    adapt_clip: float = Field(default=0.3, gt=0.0, le=100.0)
    adapt_step_size: float = Field(default=0.01, gt=0.0, le=1.0)
    bounds: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="public numeric bounds per column (spend no budget)"
    )

    @model_validator(mode="after")
    def _bounds_ordered(self) -> ClustMixParams:
        for name, (low, high) in self.bounds.items():
            if not high > low:
                raise ValueError(f"bounds of '{name}': high must exceed low")
        return self


def budget_weights(iterations: int, adapt_steps: int | None) -> dict[str, float]:
    """Shares of μ² per mechanism name: each Lloyd iteration equal, adapt steps equal."""
    lloyd = SHARE_LLOYD + (0.0 if adapt_steps else SHARE_ADAPT)
    weights = {"domains": SHARE_DOMAINS, "marginals": SHARE_MARGINALS, "spread": SHARE_SPREAD}
    for t in range(iterations):
        weights[f"lloyd_{t}_sums"] = lloyd * (1 - COUNT_SHARE_OF_LLOYD) / iterations
        weights[f"lloyd_{t}_counts"] = lloyd * COUNT_SHARE_OF_LLOYD / iterations
    for t in range(adapt_steps or 0):
        weights[f"adapt_{t}"] = SHARE_ADAPT / adapt_steps
    return weights


def initial_centroids(
    histograms: list[np.ndarray],
    coarse: list[Domain],
    encoder: Encoder,
    clusters: int,
    y: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """`clusters` points drawn from the product of class y's noisy marginals, encoded."""
    out = np.zeros((clusters, encoder.dimension))
    for block, domain, histogram in zip(encoder.blocks, coarse, histograms, strict=True):
        weights = histogram[y] + 1e-9
        cells = rng.choice(len(weights), size=clusters, p=weights / weights.sum())
        final = block.domain
        if isinstance(final, NumericDomain) and isinstance(domain, NumericDomain):
            position = (cells - 1 + rng.random(clusters)) / BINS
            values = domain.low + position * (domain.high - domain.low)
            scaled = np.clip((values - final.low) / ((final.high - final.low) or 1.0), 0, 1)
            out[:, block.start] = np.where(cells == 0, 0.5, scaled)
            if final.nullable:
                out[:, block.start + 1] = cells == 0
        else:
            inside = cells < block.width
            out[np.flatnonzero(inside), block.start + cells[inside]] = 1.0
    return out


BETWEEN_CELL_VARIANCE = 0.05


def shrink_to_class_marginals(
    released: ReleasedClusters,
    encoder: Encoder,
    histograms: list[np.ndarray],
    sigma_sums: float,
) -> np.ndarray:
    """Released points with categorical blocks shrunk towards their class's noisy marginal and
    null flags set to the class's noisy null share (post-processing of DP outputs).

    A cell's category shares carry noise of sd σ_S/Ñ; clipping them at 0 inflates rare
    categories. Each block becomes λ·p_cell + (1 − λ)·p_class with
    λ = v/(v + (σ_S/Ñ)²), v = BETWEEN_CELL_VARIANCE (a James-Stein-style weight).
    """
    points = released.points.copy()
    noise = (sigma_sums / np.maximum(released.counts, 1.0)) ** 2
    weight = BETWEEN_CELL_VARIANCE / (BETWEEN_CELL_VARIANCE + noise)
    for block, histogram in zip(encoder.blocks, histograms, strict=True):
        shares = histogram / np.maximum(histogram.sum(axis=1, keepdims=True), 1e-9)
        if isinstance(block.domain, CategoricalDomain):
            cell = np.clip(points[:, block.start : block.start + block.width], 0.0, None)
            cell /= np.maximum(cell.sum(axis=1, keepdims=True), 1e-9)
            prior = shares[released.classes, : block.width]
            prior = prior / np.maximum(prior.sum(axis=1, keepdims=True), 1e-9)
            points[:, block.start : block.start + block.width] = (
                weight[:, None] * cell + (1.0 - weight[:, None]) * prior
            )
        elif block.width == 2:
            points[:, block.start + 1] = shares[released.classes, 0]
    return points


class ClustMixGenerator(Generator):
    """(ε, δ)-DP synthesis of one table from noisy cluster means per class (see module text)."""

    name: ClassVar[str] = "clustmix"
    libraries: ClassVar[tuple[str, ...]] = ("numpy", "scipy")
    Params: ClassVar[type[GeneratorParams]] = ClustMixParams

    def _table(self) -> TableSchema:
        if len(self.schema.tables) != 1:
            raise GeneratorError(
                f"generator 'clustmix': dataset '{self.schema.name}' has "
                f"{len(self.schema.tables)} tables; only single-table datasets are supported, "
                "because a DP claim over child tables needs a bound on each person's child rows"
            )
        return self.schema.tables[0]

    def _columns(self) -> tuple[TableSchema, str | None, list[ColumnSchema]]:
        """The table, its target (when modelled) and the feature columns besides it."""
        table = self._table()
        columns = table.modelled_columns
        target = table.target if table.target in {c.name for c in columns} else None
        return table, target, [c for c in columns if c.name != target]

    def check_schema(self) -> None:
        """One table, a column to model besides the target, `bounds` naming only features."""
        table, _, features = self._columns()
        if not features:
            raise GeneratorError(f"table '{table.name}': no column to model besides the target")
        cfg = self.config
        assert isinstance(cfg, ClustMixParams)
        unknown = sorted(set(cfg.bounds) - {c.name for c in features})
        if unknown:
            raise GeneratorError(f"parameter 'bounds' names unknown column(s) {unknown}")

    def _fit(self, tables: dict[str, pl.DataFrame], progress: Progress) -> None:
        table, target, features = self._columns()
        cfg = self.config
        assert isinstance(cfg, ClustMixParams)
        frame = tables[table.name]
        n = frame.height
        columns = table.modelled_columns
        delta = cfg.delta if cfg.delta is not None else 1.0 / (10.0 * n)
        categorical = [c for c in columns if c.name == target or not is_numeric(c)]
        delta_threshold = THRESHOLD_SHARE_OF_DELTA * delta if categorical else 0.0
        adapt_steps = cfg.adapt_steps if cfg.adapt and target is not None else None
        budget = GaussianBudget(
            cfg.epsilon, delta - delta_threshold, budget_weights(cfg.iterations, adapt_steps)
        )
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        total_steps = 2 + cfg.iterations + (adapt_steps or 0)

        # 1. domains: categories (stability histogram) and coarse numeric bounds
        eta = delta_threshold / (1.0 + math.exp(cfg.epsilon)) / max(len(categorical), 1)
        ordered = ([c for c in columns if c.name == target]) + features
        sigma = budget.charge("domains", math.sqrt(2.0 * len(ordered)), "categories, bounds")
        domains = release_domains(
            frame,
            _as_categorical(ordered, target),
            sigma,
            eta or 0.5,
            dict(cfg.bounds),
            rng,
            table.name,
        )
        progress(ProgressEvent(1, total_steps, message="DP domains released"))
        if target is not None:
            target_domain = domains[0]
            assert isinstance(target_domain, CategoricalDomain)
            index = {repr(k): i for i, k in enumerate(target_domain.categories)}
            row_class = np.array([index.get(repr(v), -1) for v in frame[target].to_list()])
            n_classes = len(target_domain.categories)
            coarse = domains[1:]
        else:
            target_domain, row_class, n_classes, coarse = None, np.zeros(n, np.int64), 1, domains

        # 2. per-class marginals: refined bounds, class sizes, initial centroids
        sigma = budget.charge("marginals", math.sqrt(2.0 * len(coarse)), "class marginals")
        histograms = release_marginals(frame, coarse, row_class, n_classes, sigma, rng)
        final = [
            refined_bounds(d, h, 3.0 * sigma * math.sqrt(n_classes))
            if isinstance(d, NumericDomain) and d.name not in cfg.bounds
            else d
            for d, h in zip(coarse, histograms, strict=True)
        ]
        encoder = Encoder(final)
        class_sizes = np.mean([h.sum(axis=1) for h in histograms], axis=0)
        init = [
            initial_centroids(
                histograms, coarse, encoder, max(1, int(class_sizes[y] // cfg.group_size)), y, rng
            )
            for y in range(n_classes)
        ]
        progress(ProgressEvent(2, total_steps, message="DP marginals released"))

        # 3. DP Lloyd per class, released cells of at least group_size noisy rows
        rows = encoder.encode(frame)
        clip_norm = cfg.clip_norm if cfg.clip_norm is not None else encoder.radius
        released = dp_lloyd(
            rows,
            row_class,
            init,
            encoder.center,
            clip_norm,
            encoder.radius,
            encoder.diameter,
            encoder.value_dims,
            cfg.group_size,
            cfg.iterations,
            budget,
            rng,
        )
        if len(released.points) == 0:
            raise GeneratorError(
                f"table '{table.name}': no cluster holds {cfg.group_size} rows after noise at "
                f"epsilon {cfg.epsilon}; lower group_size or raise epsilon"
            )
        progress(ProgressEvent(2 + cfg.iterations, total_steps, message="DP clusters released"))

        released.points = shrink_to_class_marginals(
            released,
            encoder,
            histograms,
            budget.sigma(f"lloyd_{cfg.iterations - 1}_sums", 1.0)
            * sum_sensitivity(clip_norm, encoder.radius, encoder.diameter),
        )

        # 4. adapt on the released points (charged per step)
        if adapt_steps:
            released.points = dp_adapt(
                released.points,
                released.classes,
                rows,
                row_class,
                n_classes,
                adapt_steps,
                cfg.adapt_clip,
                cfg.adapt_step_size,
                budget,
                rng,
            )
            progress(ProgressEvent(total_steps, total_steps, message="points adapted"))
        self.encoder = encoder
        self.released = released
        self.target_domain = target_domain
        self.privacy = {
            "mechanism": MECHANISM,
            "neighbouring": "replace-one row of the root table (n public)",
            "epsilon": cfg.epsilon,
            "delta": delta,
            "delta_split": {"gaussian": delta - delta_threshold, "threshold": delta_threshold},
            "accountant": ACCOUNTANT,
            "mu": round(budget.mu, 6),
            "epsilon_spent": round(epsilon_for(budget.spent_mu, delta - delta_threshold), 6),
            "sigma": {c.mechanism: round(c.sigma, 6) for c in budget.charges},
            "budget_split": budget.ledger(),
            "clip_norm": clip_norm,
            "sum_sensitivity": sum_sensitivity(clip_norm, encoder.radius, encoder.diameter),
            "group_size": cfg.group_size,
            "sigma_of_group_mean": round(
                budget.sigma(f"lloyd_{cfg.iterations - 1}_sums", 1.0)
                * sum_sensitivity(clip_norm, encoder.radius, encoder.diameter)
                / cfg.group_size,
                6,
            ),
            "released_points": len(released.points),
            "adapt": bool(adapt_steps),
        }

    def _card_extras(self) -> dict[str, Any]:
        return {"differential_privacy": self.privacy}

    def _sample(self, root_rows: int) -> dict[str, pl.DataFrame]:
        table = self._table()
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        released = self.released
        weights = np.maximum(released.counts, 0.0)
        pick = rng.choice(len(weights), size=root_rows, p=weights / weights.sum())
        matrix = released.points[pick].copy()
        dims = self.encoder.value_dims
        matrix[:, dims] += rng.normal(0.0, 1.0, (root_rows, len(dims))) * released.spread[pick]
        body = self.encoder.decode(matrix, rng)
        if self.target_domain is not None:
            body = body.with_columns(
                pl.Series(
                    self.target_domain.name,
                    [self.target_domain.categories[c] for c in released.classes[pick]],
                    dtype=_polars_type(table, self.target_domain.name),
                    strict=False,
                )
            )
        parts = []
        for column in table.columns:
            if column.name == table.primary_key:
                parts.append(fresh_keys(column, root_rows, f"syn-{table.name}"))
            elif column.name in body.columns:
                parts.append(body[column.name])
        return {table.name: pl.DataFrame(parts)}

    def _state(self) -> Any:
        return {
            "encoder_domains": self.encoder.domains,
            "released": self.released,
            "target_domain": self.target_domain,
            "privacy": self.privacy,
        }

    def _restore(self, state: Any) -> None:
        self.encoder = Encoder(state["encoder_domains"])
        self.released = state["released"]
        assert isinstance(self.released, ReleasedClusters)
        self.target_domain = state["target_domain"]
        self.privacy = state["privacy"]


def _as_categorical(columns: list[ColumnSchema], target: str | None) -> list[ColumnSchema]:
    """The target is always categorical (its values are the classes), whatever its type."""
    out = []
    for column in columns:
        if column.name == target and is_numeric(column):
            column = ColumnSchema(name=column.name, type=ColumnType.STRING, role=column.role)
        out.append(column)
    return out


def _polars_type(table: TableSchema, name: str) -> pl.DataType:
    return POLARS_TYPES[next(c.type for c in table.columns if c.name == name)]
