"""The autoencoder: an input layer that applies the fitted preprocessing, an MLP encoder, a
sparse (k-winners-take-all) or dense bottleneck, and an MLP decoder trained with a mixed loss.

Training (`fit_autoencoder`) is seeded, runs on CUDA when present (else the CPU), holds out a
validation split for early stopping, and reports one ProgressEvent per epoch.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from anon_platform.common.progress import Progress, ProgressEvent, no_progress
from anon_platform.latent.preprocessing import PreprocessingSpec, scaled_targets

if TYPE_CHECKING:
    from anon_platform.latent.privacy import TrainingObjective

# Activations of the winners are softplus(h) + ACTIVE_FLOOR > 0, so a code has exactly k non-zero
# entries: the active set is the support of the code.
ACTIVE_FLOOR = 1e-3


class InputLayer(nn.Module):
    """Raw numeric values (NaN = null) and category indices -> the network's input vector.

    Robust scaling, clipping, null indicators and one-hot categories, with the constants of the
    fitted spec as buffers: the exported encoder applies exactly what training applied.
    """

    def __init__(self, spec: PreprocessingSpec) -> None:
        super().__init__()
        self.register_buffer(
            "median", torch.tensor([c.median for c in spec.numeric], dtype=torch.float32)
        )
        self.register_buffer(
            "scale", torch.tensor([c.scale for c in spec.numeric], dtype=torch.float32)
        )
        self.indicator_columns = [j for j, c in enumerate(spec.numeric) if c.null_indicator]
        self.sizes = [c.size for c in spec.categorical]
        self.clip = spec.clip

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        nulls = torch.isnan(numeric)
        scaled = (torch.where(nulls, self.median, numeric) - self.median) / self.scale
        parts = [scaled.clamp(-self.clip, self.clip)]
        for j in self.indicator_columns:
            parts.append(nulls[:, j : j + 1].to(scaled.dtype))
        for j, size in enumerate(self.sizes):
            index = categorical[:, j].clamp(0, size - 1)
            parts.append(F.one_hot(index, size).to(scaled.dtype))
        return torch.cat(parts, dim=1)


class KWinnersTakeAll(nn.Module):
    """Keep the k units with the highest boosted activation; every other unit outputs 0.

    Pre-activations are batch-normalised per unit (running statistics at inference), then
    values = softplus(.) + ACTIVE_FLOOR > 0, so a code has exactly k non-zero entries. Gradients
    flow through the winners only (the mask is constant).

    Against dead units, each unit's activation is multiplied, for the choice of winners only,
    by exp(strength * (k/n - duty_cycle) / (k/n)): the duty-cycle boosting of Ahmad & Scheinkman
    (2019, 'How can we be so dense?'), relative to the target density, so a never-winning unit
    gets e^strength and one winning twice its share e^-strength. Measured on the demo customers
    after 5 epochs: 198 of 256 units dead with Numenta's unnormalised factor and no batch norm,
    168 with the relative factor alone, 0 with both. The duty cycle is a running average over
    about `duty_cycle_period` rows; the strength decays per epoch (`anneal`); the factors at the
    end of training are frozen into the exported encoder.
    """

    def __init__(
        self, units: int, k: int, boost_strength: float = 1.5, duty_cycle_period: int = 1000
    ) -> None:
        super().__init__()
        if not 1 <= k < units:
            raise ValueError(f"k must be in [1, {units - 1}], not {k}")
        self.units = units
        self.k = k
        self.duty_cycle_period = duty_cycle_period
        self.register_buffer("duty_cycle", torch.full((units,), k / units))
        self.register_buffer("boost_strength", torch.tensor(float(boost_strength)))
        self.register_buffer("seen", torch.tensor(0.0))
        # per-unit standardisation before the competition, so that no unit starts out of reach
        self.norm = nn.BatchNorm1d(units, affine=False)

    def boost_factors(self) -> torch.Tensor:
        target = self.k / self.units
        return torch.exp(self.boost_strength * (target - self.duty_cycle) / target)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        values = F.softplus(self.norm(h)) + ACTIVE_FLOOR
        ranking = values.detach() * self.boost_factors()
        winners = torch.topk(ranking, self.k, dim=1).indices
        mask = torch.zeros_like(values).scatter(1, winners, 1.0)
        if self.training:
            with torch.no_grad():
                batch = float(h.shape[0])
                period = min(float(self.duty_cycle_period), float(self.seen) + batch)
                self.duty_cycle.mul_((period - batch) / period).add_(mask.sum(0) / period)
                self.seen.add_(batch)
        return values * mask

    def anneal(self, factor: float) -> None:
        """Multiply the boost strength by `factor` (called once per epoch)."""
        self.boost_strength.mul_(factor)


@dataclass(frozen=True)
class NetworkShape:
    """Sizes of the autoencoder."""

    bottleneck: str  # 'sparse' or 'dense'
    code_size: int
    active_units: int  # k of the k-WTA layer (sparse); the code size (dense)
    hidden: int
    boost_strength: float = 1.5


class Encoder(nn.Module):
    """Input layer, MLP and bottleneck: raw inputs -> code.

    With `variational` (dense only) the MLP outputs a mean and a log-variance; in training the
    code is a sample mu + sigma * noise and `last_kl` holds the batch's mean KL(q(z|x) || N(0, I));
    in eval mode (and so in the exported program) the code is the mean."""

    def __init__(
        self, spec: PreprocessingSpec, shape: NetworkShape, variational: bool = False
    ) -> None:
        super().__init__()
        self.inputs = InputLayer(spec)
        self.variational = variational and shape.bottleneck == "dense"
        self.mlp = nn.Sequential(
            nn.Linear(spec.input_width, shape.hidden),
            nn.ReLU(),
            nn.Linear(shape.hidden, shape.hidden),
            nn.ReLU(),
            nn.Linear(shape.hidden, shape.code_size * (2 if self.variational else 1)),
        )
        self.kwta = (
            KWinnersTakeAll(shape.code_size, shape.active_units, shape.boost_strength)
            if shape.bottleneck == "sparse"
            else None
        )
        self.last_kl: torch.Tensor | None = None

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        h = self.mlp(self.inputs(numeric, categorical))
        if self.variational:
            mu, log_var = h.chunk(2, dim=1)
            if not self.training:
                return mu
            log_var = log_var.clamp(-10.0, 10.0)
            self.last_kl = 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum(1).mean()
            return mu + torch.randn_like(mu) * (0.5 * log_var).exp()
        return self.kwta(h) if self.kwta is not None else h


class Decoder(nn.Module):
    """Code -> numeric reconstructions (scaled values, null-indicator logits) and category
    logits, one block per categorical column."""

    def __init__(self, spec: PreprocessingSpec, shape: NetworkShape) -> None:
        super().__init__()
        self.numeric_outputs = spec.numeric_outputs
        self.indicators = spec.numeric_outputs - len(spec.numeric)
        self.sizes = [c.size for c in spec.categorical]
        self.mlp = nn.Sequential(
            nn.Linear(shape.code_size, shape.hidden),
            nn.ReLU(),
            nn.Linear(shape.hidden, shape.hidden),
            nn.ReLU(),
            nn.Linear(shape.hidden, spec.numeric_outputs + sum(self.sizes)),
        )

    def forward(self, code: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out = self.mlp(code)
        numeric = out[:, : self.numeric_outputs]
        logits = list(torch.split(out[:, self.numeric_outputs :], self.sizes, dim=1))
        return numeric, logits


def mixed_loss(
    decoder: Decoder,
    code: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    categories: torch.Tensor,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over columns of: masked MSE for scaled numerics, BCE for null indicators,
    cross-entropy for categoricals; with `weights` (one per term, in that order) the weighted
    mean, so a column of weight 0 is not reconstructed at all."""
    numeric, logits = decoder(code)
    losses = []
    n_values = decoder.numeric_outputs - decoder.indicators
    for j in range(n_values):
        weight = mask[:, j]
        err = (numeric[:, j] - targets[:, j]) ** 2
        losses.append((err * weight).sum() / weight.sum().clamp(min=1.0))
    for j in range(n_values, decoder.numeric_outputs):
        losses.append(F.binary_cross_entropy_with_logits(numeric[:, j], targets[:, j]))
    for j, block in enumerate(logits):
        losses.append(F.cross_entropy(block, categories[:, j]))
    stacked = torch.stack(losses)
    if weights is None:
        return stacked.mean()
    return (stacked * weights).sum() / weights.sum().clamp(min=1e-12)


@dataclass(frozen=True)
class TrainingSettings:
    """How the autoencoder trains."""

    epochs: int = 60
    patience: int = 6
    batch_size: int = 256
    learning_rate: float = 1e-3
    validation_fraction: float = 0.1
    boost_anneal: float = 0.95


@dataclass
class TrainingResult:
    """The trained halves, the loss curves, and which rows were held out for validation."""

    encoder: Encoder
    decoder: Decoder
    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    validation_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    device: str = "cpu"


@contextmanager
def cpu_threads(device: str, threads: int = 1) -> Iterator[None]:
    """Run torch on `threads` CPU threads while training on the CPU (the caller's setting is
    restored). The network is small: on the 2-core machine with other jobs running, one thread
    trained an epoch of the demo customers in 0.57 s and two threads in 6.5 s (oversubscription).
    """
    if device != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit_autoencoder(
    spec: PreprocessingSpec,
    shape: NetworkShape,
    numeric: np.ndarray,
    categorical: np.ndarray,
    settings: TrainingSettings,
    seed: int,
    device: str = "cpu",
    progress: Progress = no_progress,
    objective: TrainingObjective | None = None,
) -> TrainingResult:
    """Train encoder and decoder on the rows given (train split only), early-stopping on a
    seeded validation split; returns the weights of the epoch with the best validation loss.
    With `objective` (privacy.py) its loss replaces the plain reconstruction loss and its heads
    train alongside; early stopping reads its validation loss (without the adversary term)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    rows = len(numeric)
    order = rng.permutation(rows)
    n_val = max(1, round(rows * settings.validation_fraction)) if rows > 1 else 0
    val_rows, fit_rows = np.sort(order[:n_val]), order[n_val:]
    targets, mask = scaled_targets(spec, numeric)

    def tensors(index: np.ndarray) -> tuple[torch.Tensor, ...]:
        return tuple(
            torch.as_tensor(a[index]).to(device) for a in (numeric, categorical, targets, mask)
        )

    fit_data, val_data = tensors(fit_rows), tensors(val_rows if n_val else fit_rows)
    fit_index = torch.as_tensor(fit_rows).to(device)
    val_index = torch.as_tensor(val_rows if n_val else fit_rows).to(device)
    variational = objective is not None and objective.variational
    encoder = Encoder(spec, shape, variational).to(device)
    decoder = Decoder(spec, shape).to(device)
    heads = [] if objective is None else list(objective.to(device).parameters())
    optimiser = torch.optim.Adam(
        [*encoder.parameters(), *decoder.parameters(), *heads], lr=settings.learning_rate
    )

    def loss_of(index: torch.Tensor, data: tuple[torch.Tensor, ...], train: bool) -> torch.Tensor:
        x_num, x_cat, y, m = data
        if objective is None:
            return mixed_loss(decoder, encoder(x_num, x_cat), y, m, x_cat)
        return objective.loss(encoder, decoder, index, x_num, x_cat, y, m, train)

    result = TrainingResult(encoder, decoder, validation_rows=val_rows, device=device)
    best = (math.inf, copy.deepcopy(encoder.state_dict()), copy.deepcopy(decoder.state_dict()))
    generator = torch.Generator().manual_seed(seed)
    stale = 0
    for epoch in range(settings.epochs):
        started = time.perf_counter()
        encoder.train()
        decoder.train()
        permutation = torch.randperm(len(fit_rows), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(fit_rows), settings.batch_size):
            batch = permutation[start : start + settings.batch_size]
            loss = loss_of(fit_index[batch], tuple(t[batch] for t in fit_data), True)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        if encoder.kwta is not None:
            encoder.kwta.anneal(settings.boost_anneal)
        encoder.eval()
        decoder.eval()
        if objective is not None:
            objective.eval()
        with torch.no_grad():
            val_loss = float(loss_of(val_index, val_data, False))
        if objective is not None:
            objective.train()
        result.train_loss.append(total / max(1, len(fit_rows)))
        result.validation_loss.append(val_loss)
        elapsed = time.perf_counter() - started
        progress(
            ProgressEvent(
                epoch + 1,
                settings.epochs,
                loss=val_loss,
                rows_per_second=len(fit_rows) / elapsed if elapsed > 0 else None,
                message="validation loss",
            )
        )
        if val_loss < best[0] - 1e-5:
            best = (
                val_loss,
                copy.deepcopy(encoder.state_dict()),
                copy.deepcopy(decoder.state_dict()),
            )
            result.best_epoch = epoch + 1
            stale = 0
        else:
            stale += 1
            if stale >= settings.patience:
                break
    encoder.last_kl = None  # a graph tensor: no deepcopy (export) while it is held
    encoder.load_state_dict(best[1])
    decoder.load_state_dict(best[2])
    encoder.eval()
    decoder.eval()
    return result
