"""Mini-batch training of an OrderedMADE on a memory-mapped code matrix, with early stopping.

The encoded table lives in one int32 memory map (rows x columns); an epoch reads it in shuffled
mini-batches through an index permutation, so memory grows with the batch and the model, not
with the table, and no copy is made per epoch. A SequenceMADE is trained on whole sequences
instead: a batch is a set of parents, their rows padded to the longest of them.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from anon_platform.common.progress import Progress, ProgressEvent
from anon_platform.generators.autoregressive.network import (
    OrderedMADE,
    SequenceMADE,
    training_ranks,
)

Batch = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
NEARBY_LR_SCALE = 10.0
DIRECT_LR_SCALE = 0.1
SCORE_LR_SCALE = 100.0
# the learning rate falls from DECAY_FROM of the budget on (a cosine to DECAY_FLOOR of it at
# its end), the budget being max_epochs or max_training_seconds, whichever runs out first: a
# model stopped by either ends annealed, not mid-stride. Quality, same run settings, without ->
# with: flights (100 s) 0.881 -> 0.897, STAR 0.951 -> 0.962, Caravan 0.943 -> 0.947, diamonds
# 0.968 -> 0.970 (benchmarks/RESULTS.md)
DECAY_FROM = 0.4
DECAY_FLOOR = 0.05


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
    # validate, keep and sample a moving average of the weights (`average_decay`)
    average_weights: bool = False


def _batches(codes: np.ndarray, rows: np.ndarray, size: int, device: str) -> Iterator[Batch]:
    for start in range(0, len(rows), size):
        index = np.sort(rows[start : start + size])
        yield torch.from_numpy(np.asarray(codes[index], dtype=np.int64)).to(device)


@dataclass(frozen=True)
class Sequences:
    """Where each sequence's rows lie in the code matrix (rows grouped by parent, in order)."""

    starts: np.ndarray
    lengths: np.ndarray
    of_row: np.ndarray  # index of each row's sequence

    @classmethod
    def of(cls, groups: np.ndarray) -> Sequences:
        """The runs of equal values of `groups` (a child table's parent row per row)."""
        first = np.r_[True, groups[1:] != groups[:-1]] if len(groups) else np.zeros(0, bool)
        starts = np.flatnonzero(first)
        lengths = np.diff(np.r_[starts, len(groups)])
        return cls(starts, lengths, np.cumsum(first) - 1)

    def batches(
        self, codes: np.ndarray, sequences: np.ndarray, size: int, device: str
    ) -> Iterator[Batch]:
        """`size` sequences at a time: their codes padded to the longest (sequences x positions
        x columns) and the mask of the rows that are not padding."""
        for start in range(0, len(sequences), size):
            chosen = np.sort(sequences[start : start + size])
            lengths = self.lengths[chosen]
            positions = np.arange(int(lengths.max()))
            present = positions[None, :] < lengths[:, None]
            # padding repeats a sequence's last row; the mask drops it from the loss
            index = self.starts[chosen][:, None] + np.minimum(positions, lengths[:, None] - 1)
            rows = np.asarray(codes[index.ravel()], dtype=np.int64)
            yield (
                torch.from_numpy(rows.reshape(*index.shape, -1)).to(device),
                torch.from_numpy(present).to(device),
            )


def _parameter_groups(net: OrderedMADE | SequenceMADE, learning_rate: float) -> list[dict]:
    """Adam's parameter groups: a SequenceMADE's distance weights learn NEARBY_LR_SCALE times
    faster than the rest (each is shared by every row of its column, so its gradient averages
    many rows; at the common rate early stopping ends training before they move far enough:
    mean of 3 seeds, 1x against 10x, Wages lag-1 autocorrelation 0.883 / 0.911 and lag-6
    0.570 / 0.723, train 0.922 and 0.809; Males 0.694 / 0.696 and 0.236 / 0.328, train 0.653
    and 0.411); the direct path learns DIRECT_LR_SCALE times slower (at the common rate it
    fitted the training rows first and early stopping cut the rest short: AER STAR stopped
    after 24 of 30 epochs, quality 0.964 against 0.967 without the path and 0.969 at 0.1x;
    ISLR Caravan 0.972 / 0.957 / 0.969, two seeds each); the score path's slopes learn
    SCORE_LR_SCALE times faster (a near-copy of a column needs a slope of about 1 / (1 - rho^2),
    16 at rho 0.97, which Adam's steps of about the learning rate do not reach in a few hundred
    steps: loans_full_schema, fit seeds 0 and 1, numeric pair score 0.971 / 0.978 / 0.983 / 0.985
    at 1x / 3x / 10x / 30x, quality 0.808 / 0.809 / 0.810 / 0.810; at 100x, the default, over
    fit seeds 0-4: 0.983 and 0.8105, without the path (seeds 0, 2-4) 0.953 and 0.806;
    benchmarks/RESULTS.md)."""
    made = net.made if isinstance(net, SequenceMADE) else net
    shared = net.distance_weights() if isinstance(net, SequenceMADE) else []
    special = {id(weight) for weight in [*shared, made.direct, made.score_slopes]}
    groups = [
        {"params": [w for w in net.parameters() if id(w) not in special]},
        {"params": [made.direct], "lr": learning_rate * DIRECT_LR_SCALE},
        {"params": [made.score_slopes], "lr": learning_rate * SCORE_LR_SCALE},
    ]
    if shared:
        groups.append({"params": shared, "lr": learning_rate * NEARBY_LR_SCALE})
    return groups


def average_decay(steps_per_epoch: int) -> float:
    """The decay per step of the weights' moving average: it averages about the last epoch.

    What is validated, kept and sampled is that average, not the last step's weights: early
    stopping often ends a wide table's training before the annealing, and the last steps'
    noise at the full rate had moved each column's mean probability over the training rows
    off its training frequency (loans_full_schema: total variation 0.030 per column on
    average, 0.005 averaged; quality 0.797 -> 0.802, modeldata ames 0.896 -> 0.908;
    benchmarks/RESULTS.md). Wide tables only (the model's `WIDE_TABLE_COLUMNS`): a fixed 0.99
    per step averaged the last 8 of 15 epochs on the 800-customer demo split (12 steps an
    epoch) and halved what churn says of a customer's number of transactions; with a horizon
    of one epoch the demo's 500-customer project read a DCR share of 0.62 (its gate's bound
    0.52 + 0.08) and high earners' median amount fell below low earners', which were not
    investigated further. loans read the same with a horizon of 3 epochs or of 1.
    """
    return 1.0 - 1.0 / steps_per_epoch


def budget_lr_factor(used: float) -> float:
    """The learning-rate factor once a share `used` of the training budget has passed."""
    if used <= DECAY_FROM:
        return 1.0
    phase = min(1.0, (used - DECAY_FROM) / (1.0 - DECAY_FROM))
    return DECAY_FLOOR + (1.0 - DECAY_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * phase))


def _rows(batch: Batch) -> int:
    return int(batch[1].sum()) if isinstance(batch, tuple) else len(batch)


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
    net: OrderedMADE | SequenceMADE,
    codes: np.ndarray,
    plan: TrainingPlan,
    progress: Progress,
    rng: np.random.Generator,
    label: str,
    groups: np.ndarray | None = None,
) -> list[float]:
    """Train `net` on `codes` (context columns first) and keep the epoch whose weights (with
    `plan.average_weights`, their moving average) had the best validation loss; returns the
    training loss per epoch.

    `groups` (a child table's parent row per row) makes the validation split one of whole
    parents (`validation_split`); a SequenceMADE needs them (its rows grouped by parent, in
    order) and is trained on whole sequences. Stops after `patience` epochs without a better
    validation loss, after `max_epochs`, or before an epoch that would end after
    `max_training_seconds` (judged by the last epoch's time); the learning rate anneals over
    the later part of whichever of the two budgets runs out first (`budget_lr_factor`).
    """
    net.to(plan.device)
    n_columns = len(net.cardinalities)
    valid_rows, train_rows = validation_split(len(codes), plan.validation_fraction, rng, groups)
    n_valid = len(valid_rows)
    generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
    # small tables still get about 32 steps per epoch
    batch_size = int(np.clip(len(train_rows) // 32, min(64, plan.batch_size), plan.batch_size))
    valid_size = plan.batch_size * 4
    sequences = None
    if isinstance(net, SequenceMADE):
        assert groups is not None, "a sequence network is trained on grouped rows"
        sequences = Sequences.of(groups)
        # the split holds whole parents: train and validate on whole sequences
        valid_rows = np.unique(sequences.of_row[valid_rows])
        train_rows = np.unique(sequences.of_row[train_rows])
        batch_size = max(1, round(batch_size / float(sequences.lengths.mean())))
        valid_size = batch_size * 4
        net.start_nearby(codes, np.flatnonzero(np.isin(sequences.of_row, train_rows)))

    def batches(units: np.ndarray, size: int) -> Iterator[Batch]:
        if sequences is None:
            return _batches(codes, units, size, plan.device)
        return sequences.batches(codes, units, size, plan.device)

    optimizer = torch.optim.Adam(_parameter_groups(net, plan.learning_rate), lr=plan.learning_rate)
    steps_per_epoch = max(1, -(-len(train_rows) // batch_size))
    moving_average = torch.optim.swa_utils.get_ema_multi_avg_fn(average_decay(steps_per_epoch))
    averaged = (
        torch.optim.swa_utils.AveragedModel(net, multi_avg_fn=moving_average)
        if plan.average_weights
        else None
    )
    base_rates = [group["lr"] for group in optimizer.param_groups]
    best_loss, best_state, stale = float("inf"), None, 0
    losses: list[float] = []
    started = time.perf_counter()
    for epoch in range(1, plan.max_epochs + 1):
        net.train()
        epoch_started = time.perf_counter()
        shuffled = rng.permutation(train_rows)
        total, seen = 0.0, 0
        steps = max(1, -(-len(shuffled) // batch_size))
        for step, batch in enumerate(batches(shuffled, batch_size)):
            ranks = (
                torch.arange(1, n_columns + 1)
                if sequences is not None
                else training_ranks(n_columns, generator)
            ).to(plan.device)
            used = (epoch - 1 + step / steps) / plan.max_epochs
            if plan.max_training_seconds is not None:
                used = max(used, (time.perf_counter() - started) / plan.max_training_seconds)
            factor = budget_lr_factor(used)
            for group, rate in zip(optimizer.param_groups, base_rates, strict=True):
                group["lr"] = rate * factor
            loss = net.loss(batch, ranks)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if averaged is not None:
                averaged.update_parameters(net)
            total += float(loss.detach()) * _rows(batch)
            seen += _rows(batch)
        train_loss = total / max(seen, 1)
        losses.append(train_loss)
        judged = net if averaged is None else averaged.module
        valid_loss = (
            _validation_loss(judged, batches(np.sort(valid_rows), valid_size), plan)
            if n_valid
            else train_loss
        )
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
            best_loss, best_state, stale = valid_loss, copy.deepcopy(judged.state_dict()), 0
        else:
            stale += 1
        # stop before an epoch that would end past the budget (epochs take about as long as
        # the last one): the budget is kept, not overrun by up to one epoch
        out_of_time = (
            plan.max_training_seconds is not None
            and time.perf_counter() - started + elapsed > plan.max_training_seconds
        )
        if stale >= plan.patience or out_of_time:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return losses


@torch.no_grad()
def _validation_loss(
    net: OrderedMADE | SequenceMADE, batches: Iterator[Batch], plan: TrainingPlan
) -> float:
    """Negative log-likelihood per column of the validation rows in the canonical order (the
    order unconditional sampling uses)."""
    net.eval()
    ranks = torch.arange(1, len(net.cardinalities) + 1, device=plan.device)
    total, rows = 0.0, 0
    for batch in batches:
        total += float(net.loss(batch, ranks)) * _rows(batch)
        rows += _rows(batch)
    return total / rows
