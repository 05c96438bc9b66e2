"""Customer-level codes of behaviour: the sparse-autoencoder source's architecture for framed data
(BACKGROUND.md item 1), a CNN encoder with VGG-style blocks over a parent's last W child rows
(e.g. transactions) x numeric features, a k-winners-take-all layer (2-10 % active) between it and
the decoder, and an MLP decoder that rebuilds the window.

Framing (`behaviour_windows`): per parent, its child rows sorted by an order column, the last W
kept, each numeric feature robust-scaled ((x - median) / IQR, fitted on the frame given: pass the
training rows), clipped to +-5; shorter histories are zero-padded at the front and a mask marks
the real steps (the loss ignores padding). Parents without a child get an all-padding window.

Release: the codes are parent-level rows like any other codes, so they go through the same gate
(`lifecycle.evaluate_latent` / `attacks`) with the parent's quasi-identifier and sensitive
columns; what was measured is in anon_platform_tests/integration/test_latent_windows.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
import torch
from torch import nn

from anon_platform.latent.errors import EncoderError
from anon_platform.latent.model import KWinnersTakeAll
from anon_platform.latent.preprocessing import CLIP, numeric_values


@dataclass(frozen=True)
class WindowFrame:
    """Windows [parents, W, features] (float32, scaled), mask [parents, W] (1 = a real row),
    the parent keys in row order, and the scaling fitted on the frame."""

    windows: np.ndarray
    mask: np.ndarray
    keys: list
    medians: np.ndarray
    scales: np.ndarray


def behaviour_windows(
    children: pl.DataFrame,
    parent_keys: list,
    key: str,
    order: str,
    features: list[str],
    window: int,
    scaling: tuple[np.ndarray, np.ndarray] | None = None,
) -> WindowFrame:
    """The last `window` child rows of every parent in `parent_keys` (in that order), scaled with
    `scaling` (medians, scales) or with constants fitted on `children`."""
    if window < 4 or window % 4:
        raise EncoderError(f"window {window}: must be a multiple of 4 (two pooling blocks), >= 4")
    missing = [c for c in [key, order, *features] if c not in children.columns]
    if missing:
        raise EncoderError(f"child table: no column {missing}")
    values = np.stack([numeric_values(children[c]) for c in features], axis=1)
    if scaling is None:
        medians = np.nanmedian(values, axis=0)
        q75, q25 = np.nanpercentile(values, [75, 25], axis=0)
        scales = np.where(q75 - q25 > 0, q75 - q25, 1.0)
    else:
        medians, scales = scaling
    scaled = np.clip(np.nan_to_num((values - medians) / scales), -CLIP, CLIP)
    position = {k: i for i, k in enumerate(parent_keys)}
    windows = np.zeros((len(parent_keys), window, len(features)), dtype=np.float32)
    mask = np.zeros((len(parent_keys), window), dtype=np.float32)
    ordered = children.with_row_index("__row").sort([key, order])
    for (parent,), group in ordered.group_by([key], maintain_order=True):
        if parent not in position:
            continue
        rows = group["__row"].to_numpy()[-window:]
        start = window - len(rows)
        windows[position[parent], start:] = scaled[rows]
        mask[position[parent], start:] = 1.0
    return WindowFrame(windows, mask, list(parent_keys), medians, scales)


def _vgg_block(channels_in: int, channels_out: int) -> nn.Sequential:
    """Two 3-wide convolutions with ReLU, then max-pooling by 2 (a VGG block in one dimension:
    the window's time axis)."""
    return nn.Sequential(
        nn.Conv1d(channels_in, channels_out, 3, padding=1),
        nn.ReLU(),
        nn.Conv1d(channels_out, channels_out, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool1d(2),
    )


class WindowEncoder(nn.Module):
    """[parents, W, features] -> sparse code [parents, code_size] with exactly k non-zero units:
    two VGG-style blocks over time (features as channels; the mask as one more channel), a linear
    layer, and the k-WTA layer of the tabular encoder (batch norm, duty-cycle boosting)."""

    def __init__(self, window: int, features: int, code_size: int, k: int, width: int = 32):
        super().__init__()
        self.blocks = nn.Sequential(_vgg_block(features + 1, width), _vgg_block(width, 2 * width))
        self.project = nn.Linear(2 * width * (window // 4), code_size)
        self.kwta = KWinnersTakeAll(code_size, k)

    def forward(self, windows: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.cat([windows, mask[:, :, None]], dim=2).transpose(1, 2)
        return self.kwta(self.project(self.blocks(x).flatten(1)))


class WindowDecoder(nn.Module):
    """Code -> the window (scaled features per step)."""

    def __init__(self, window: int, features: int, code_size: int, hidden: int = 128):
        super().__init__()
        self.shape = (window, features)
        self.mlp = nn.Sequential(
            nn.Linear(code_size, hidden), nn.ReLU(), nn.Linear(hidden, window * features)
        )

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.mlp(code).view(-1, *self.shape)


@dataclass
class WindowAutoencoder:
    """The trained halves and the per-epoch training loss (masked MSE)."""

    encoder: WindowEncoder
    decoder: WindowDecoder
    loss: list[float] = field(default_factory=list)

    def codes(self, frame: WindowFrame) -> np.ndarray:
        """Codes of every parent of `frame` (eval mode, CPU)."""
        self.encoder.eval()
        with torch.no_grad():
            return self.encoder(
                torch.from_numpy(frame.windows), torch.from_numpy(frame.mask)
            ).numpy()

    def reconstruction_mse(self, frame: WindowFrame) -> float:
        """Masked mean squared error of the rebuilt windows (scaled units)."""
        self.encoder.eval()
        self.decoder.eval()
        with torch.no_grad():
            windows, mask = torch.from_numpy(frame.windows), torch.from_numpy(frame.mask)
            out = self.decoder(self.encoder(windows, mask))
        return float((((out - windows) ** 2) * mask[:, :, None]).sum() / _cells(mask, windows))


def _cells(mask: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
    return (mask.sum() * windows.shape[2]).clamp(min=1.0)


def fit_window_autoencoder(
    frame: WindowFrame,
    code_size: int = 128,
    active_fraction: float = 0.05,
    epochs: int = 20,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> WindowAutoencoder:
    """Train the CNN autoencoder on the windows given (training parents only), seeded, on the
    CPU; k = round(code_size * active_fraction), which must be 2-10 % of the units."""
    if not 0.02 <= active_fraction <= 0.10:
        raise EncoderError(f"active_fraction {active_fraction}: must be within 0.02-0.10")
    torch.manual_seed(seed)
    _, window, features = frame.windows.shape
    k = max(1, round(code_size * active_fraction))
    encoder = WindowEncoder(window, features, code_size, k)
    decoder = WindowDecoder(window, features, code_size)
    optimiser = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=learning_rate)
    windows, mask = torch.from_numpy(frame.windows), torch.from_numpy(frame.mask)
    generator = torch.Generator().manual_seed(seed)
    result = WindowAutoencoder(encoder, decoder)
    for _ in range(epochs):
        encoder.train()
        decoder.train()
        order = torch.randperm(len(windows), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            if len(batch) < 2:  # batch norm needs two rows
                continue
            x, m = windows[batch], mask[batch]
            out = decoder(encoder(x, m))
            loss = (((out - x) ** 2) * m[:, :, None]).sum() / _cells(m, x)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        encoder.kwta.anneal(0.95)
        result.loss.append(total / len(windows))
    encoder.eval()
    decoder.eval()
    return result
