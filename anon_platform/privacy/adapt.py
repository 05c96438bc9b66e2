"""Adapt: move the released points so a kernel classifier fitted on them keeps its training loss.

The classifier is kernel ridge regression with an RBF kernel on the released points P (labels
fixed to their class, one-hot): f_P(x) = k(x, P)·α, α = (K(P, P) + λI)⁻¹ Y. Its squared loss on
the private training rows, L(P) = Σ_i ‖f_P(x_i) − y_i‖², is lowered by a few gradient steps on
P. This is the kernel-inducing-points idea (Nguyen et al., ICLR 2021), simplified: in each step
α is refitted on the current (public) P and held fixed while the gradient is taken, which keeps
the per-row gradient cheap (O(|P|·D) per row instead of O(|P|²·D)).

Privacy: the gradient touches the private rows, so each step is a Gaussian mechanism (DP-SGD
style, Abadi et al. 2016, full batch): every row's gradient g_i (a |P|×D matrix) is clipped to
Frobenius norm G, the clipped gradients are summed and N(0, σ² I) is added. Replace-one moves
the sum by g_i' − g_i, of norm ≤ 2G, so Δ = 2G; step t is charged as 'adapt_<t>'. Everything
else (kernel width from P, α, the step itself, clipping P to the box) is post-processing of
public values. The step divides by the public n (replace-one keeps n fixed).
"""

from __future__ import annotations

import numpy as np

from anon_platform.privacy.accountant import GaussianBudget

CHUNK = 2048
RIDGE = 1e-2


def kernel_width(points: np.ndarray) -> float:
    """γ of the RBF kernel exp(−γ‖a − b‖²) from the median squared distance between points."""
    sq = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
    median = float(np.median(sq[np.triu_indices(len(points), k=1)])) if len(points) > 1 else 1.0
    return 1.0 / max(median, 1e-6)


def rbf(a: np.ndarray, b: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Kernel matrix and squared distances between the rows of `a` and of `b`."""
    sq = (a**2).sum(axis=1)[:, None] + (b**2).sum(axis=1)[None, :] - 2.0 * a @ b.T
    sq = np.maximum(sq, 0.0)
    return np.exp(-gamma * sq), sq


def one_hot(classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Centred one-hot targets (rows sum to 0)."""
    out = np.zeros((len(classes), n_classes))
    out[np.arange(len(classes)), classes] = 1.0
    return out - 1.0 / n_classes


def ridge_coefficients(points: np.ndarray, labels: np.ndarray, gamma: float) -> np.ndarray:
    """α = (K(P, P) + λI)⁻¹ Y of the kernel ridge classifier on the points."""
    kernel, _ = rbf(points, points, gamma)
    return np.linalg.solve(kernel + RIDGE * np.eye(len(points)), labels)


def training_loss(
    points: np.ndarray,
    point_classes: np.ndarray,
    rows: np.ndarray,
    row_class: np.ndarray,
    n_classes: int,
    gamma: float | None = None,
) -> float:
    """Mean squared loss on `rows` of the kernel ridge classifier fitted on `points`.

    Not private: for benchmarks and tests only, never called by the generator.
    """
    gamma = kernel_width(points) if gamma is None else gamma
    alpha = ridge_coefficients(points, one_hot(point_classes, n_classes), gamma)
    keep = row_class >= 0
    kernel, _ = rbf(rows[keep], points, gamma)
    residual = kernel @ alpha - one_hot(row_class[keep], n_classes)
    return float((residual**2).sum(axis=1).mean())


def dp_adapt(
    points: np.ndarray,
    point_classes: np.ndarray,
    rows: np.ndarray,
    row_class: np.ndarray,
    n_classes: int,
    steps: int,
    grad_clip: float,
    step_size: float,
    budget: GaussianBudget,
    rng: np.random.Generator,
) -> np.ndarray:
    """The points after `steps` DP gradient steps on the training loss (see the module text).

    Each step moves the points by `step_size` in root-mean-square coordinate units along the
    noisy gradient and clips them back into [0, 1]^D.
    """
    if len(points) < 2 or n_classes < 2:
        return points
    points = points.copy()
    labels = one_hot(point_classes, n_classes)
    gamma = kernel_width(points)
    keep = np.flatnonzero(row_class >= 0)
    targets = one_hot(row_class[keep], n_classes)
    for t in range(steps):
        sigma = budget.charge(f"adapt_{t}", 2.0 * grad_clip, "clipped per-row loss gradients")
        total = np.zeros_like(points)
        for start in range(0, len(keep), CHUNK):
            grads = row_gradients(
                points,
                labels,
                rows[keep[start : start + CHUNK]],
                targets[start : start + CHUNK],
                gamma,
            )
            norms = np.sqrt((grads**2).sum(axis=(1, 2)))
            total += np.einsum(
                "b,bjd->jd", np.minimum(1.0, grad_clip / np.maximum(norms, 1e-12)), grads
            )
        gradient = total + rng.normal(0.0, sigma, total.shape)
        rms = float(np.sqrt((gradient**2).mean())) or 1.0
        points = np.clip(points - step_size * gradient / rms, 0.0, 1.0)
    return points


def row_gradients(
    points: np.ndarray, labels: np.ndarray, part: np.ndarray, targets: np.ndarray, gamma: float
) -> np.ndarray:
    """Per-row gradients (B × |P| × D) of ℓ_i = ‖f_P(x_i) − y_i‖² with respect to P.

    With A = K(P, P) + λI, α = A⁻¹Y, k_i = k(x_i, P), r_i = k_iα − y_i, u_i = A⁻¹k_i, w_i = αr_i:
    the path through k_i gives 4γ·w_ij·k_ij·(x_i − p_j); the path through α gives
    4γ·[u_ij·((Kw_i)_j p_j − (K(w_i⊙P))_j) + w_ij·((Ku_i)_j p_j − (K(u_i⊙P))_j)].
    """
    kernel_pp, _ = rbf(points, points, gamma)
    system = kernel_pp + RIDGE * np.eye(len(points))
    alpha = np.linalg.solve(system, labels)
    kernel, _ = rbf(part, points, gamma)
    residual = kernel @ alpha - targets
    u = np.linalg.solve(system, kernel.T).T  # (B × m), A symmetric
    w = residual @ alpha.T  # (B × m)
    direct = (4.0 * gamma * w * kernel)[:, :, None] * (part[:, None, :] - points[None, :, :])
    kw, ku = w @ kernel_pp, u @ kernel_pp  # K symmetric
    kwp = np.einsum("jl,bl,ld->bjd", kernel_pp, w, points)
    kup = np.einsum("jl,bl,ld->bjd", kernel_pp, u, points)
    through_alpha = (
        4.0
        * gamma
        * (
            u[:, :, None] * (kw[:, :, None] * points[None] - kwp)
            + w[:, :, None] * (ku[:, :, None] * points[None] - kup)
        )
    )
    return direct + through_alpha
