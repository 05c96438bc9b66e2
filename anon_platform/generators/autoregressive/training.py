"""Mini-batch training of an OrderedMADE on a memory-mapped code matrix, with early stopping.

The encoded table lives in one int32 memory map (rows x columns); an epoch reads it in shuffled
mini-batches through an index permutation, so memory grows with the batch and the model, not
with the table, and no copy is made per epoch.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch

from anon_platform.common.progress import Progress, ProgressEvent
from anon_platform.generators.autoregressive.network import OrderedMADE, training_ranks


@dataclass(frozen=True)
class TrainingPlan:
    """How long and how fast to train (from the generator's parameters)."""

    max_epochs: int
    patience: int
    batch_size: int
    learning_rate: float
    validation_fraction: float
    max_training_seconds: float | None
    device: str


def _batches(codes: np.ndarray, rows: np.ndarray, size: int, device: str):
    for start in range(0, len(rows), size):
        index = np.sort(rows[start : start + size])
        yield torch.from_numpy(np.asarray(codes[index], dtype=np.int64)).to(device)


def validation_split(
    n_rows: int, fraction: float, rng: np.random.Generator, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(validation rows, training rows): about `fraction` of the rows, none for fewer than 20.

    With `groups` (a child table's parent row per row), whole groups go to validation, so that
    early stopping measures how well the model does on unseen parents: a row-level split would
    validate on other children of the training parents and reward learning each parent's
    children by heart.
    """
    if n_rows < 20 or fraction == 0:
        return np.zeros(0, dtype=np.int64), rng.permutation(n_rows)
    if groups is None:
        permutation = rng.permutation(n_rows)
        n_valid = round(n_rows * fraction)
        return permutation[:n_valid], permutation[n_valid:]
    unique = np.unique(groups)
    held = rng.permutation(unique)[: max(1, round(len(unique) * fraction))]
    in_valid = np.isin(groups, held)
    if in_valid.all():
        return np.zeros(0, dtype=np.int64), rng.permutation(n_rows)
    return rng.permutation(np.flatnonzero(in_valid)), rng.permutation(np.flatnonzero(~in_valid))


def train(
    net: OrderedMADE,
    codes: np.ndarray,
    plan: TrainingPlan,
    progress: Progress,
    rng: np.random.Generator,
    label: str,
    groups: np.ndarray | None = None,
) -> list[float]:
    """Train `net` on `codes` (context columns first) and keep the epoch with the best
    validation loss; returns the training loss per epoch.

    `groups` (a child table's parent row per row) makes the validation split one of whole
    parents (`validation_split`). Stops after `patience` epochs without a better validation
    loss, after `max_epochs`, or once `max_training_seconds` have passed.
    """
    net.to(plan.device)
    n_columns = len(net.cardinalities)
    valid_rows, train_rows = validation_split(len(codes), plan.validation_fraction, rng, groups)
    n_valid = len(valid_rows)
    generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
    # small tables still get about 32 steps per epoch
    batch_size = int(np.clip(len(train_rows) // 32, min(64, plan.batch_size), plan.batch_size))
    optimizer = torch.optim.Adam(net.parameters(), lr=plan.learning_rate)
    best_loss, best_state, stale = float("inf"), None, 0
    losses: list[float] = []
    started = time.perf_counter()
    for epoch in range(1, plan.max_epochs + 1):
        net.train()
        epoch_started = time.perf_counter()
        shuffled = rng.permutation(train_rows)
        total, seen = 0.0, 0
        for batch in _batches(codes, shuffled, batch_size, plan.device):
            ranks = training_ranks(n_columns, generator).to(plan.device)
            loss = net.loss(batch, ranks)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
            seen += len(batch)
        train_loss = total / max(seen, 1)
        losses.append(train_loss)
        valid_loss = _validation_loss(net, codes, valid_rows, plan) if n_valid else train_loss
        elapsed = time.perf_counter() - epoch_started
        progress(
            ProgressEvent(
                step=epoch,
                total=plan.max_epochs,
                loss=train_loss,
                rows_per_second=seen / elapsed if elapsed > 0 else None,
                message=f"{label}: validation loss {valid_loss:.4f}",
            )
        )
        if valid_loss < best_loss - 1e-4:
            best_loss, best_state, stale = valid_loss, copy.deepcopy(net.state_dict()), 0
        else:
            stale += 1
        out_of_time = (
            plan.max_training_seconds is not None
            and time.perf_counter() - started > plan.max_training_seconds
        )
        if stale >= plan.patience or out_of_time:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return losses


@torch.no_grad()
def _validation_loss(
    net: OrderedMADE, codes: np.ndarray, rows: np.ndarray, plan: TrainingPlan
) -> float:
    """Negative log-likelihood per column of the validation rows in the canonical order (the
    order unconditional sampling uses)."""
    net.eval()
    ranks = torch.arange(1, len(net.cardinalities) + 1, device=plan.device)
    total = 0.0
    for batch in _batches(codes, np.sort(rows), plan.batch_size * 4, plan.device):
        total += float(net.loss(batch, ranks)) * len(batch)
    return total / len(rows)
