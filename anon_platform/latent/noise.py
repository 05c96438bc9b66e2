"""Optional formal privacy for released codes: per-record L2 clipping and Gaussian noise.

Mechanism. Each code c(x) is scaled to L2 norm at most C (`clip`), then N(0, sigma^2 I) is added
to every coordinate; for a sparse bottleneck the k largest noisy coordinates are kept (the
others set to 0), which is post-processing and costs no privacy.

Proof sketch. For any two rows x, x', || clip(c(x)) - clip(c(x')) ||_2 <= 2C, so the L2
sensitivity of one record's released code is Delta = 2C. The Gaussian mechanism with sigma chosen
below for (epsilon, delta, Delta) makes each released code (epsilon, delta)-indistinguishable
whatever row produced it (a local guarantee per record); two datasets that differ in one record
differ in one released code, so the set of codes is (epsilon, delta)-DP under replace-one
adjacency (parallel composition over disjoint records).

What it does not cover, stated plainly in the manifest: the encoder itself was trained on the
rows without DP and is released to partners; the target column released beside the codes is not
noised; and row order is not part of the claim (the release shuffles rows).

Noise comes from the operating system's entropy (numpy's default_rng without a seed), never from
the release seed: a seeded noise stream published in a manifest could be regenerated and
subtracted.

sigma: `analytic` (default) is the analytic Gaussian mechanism of Balle & Wang (ICML 2018,
Theorem 8): the smallest sigma with
    Phi(Delta/(2 sigma) - eps sigma/Delta) - e^eps Phi(-Delta/(2 sigma) - eps sigma/Delta) <= delta,
exact for every eps > 0, found by bisection. `classic` is sigma = Delta sqrt(2 ln(1.25/delta))/eps
(Dwork & Roth 2014, Theorem A.1), valid only for 0 < eps < 1; it is refused outside that range.
Own code rather than a library: the project has no DP accounting dependency, and the analytic
condition is one line of scipy; `delta_of_sigma` exposes it so tests check the bound directly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import log_ndtr

from anon_platform.latent.errors import EncoderError


def classic_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """sigma = Delta sqrt(2 ln(1.25/delta)) / epsilon; only for 0 < epsilon < 1."""
    if not 0 < epsilon < 1:
        raise EncoderError(
            f"dp.epsilon = {epsilon}: the classic Gaussian mechanism is valid only for "
            "0 < epsilon < 1; use mechanism 'analytic'"
        )
    return sensitivity * math.sqrt(2 * math.log(1.25 / delta)) / epsilon


def delta_of_sigma(sigma: float, epsilon: float, sensitivity: float) -> float:
    """The exact delta of the Gaussian mechanism with this sigma at this epsilon (Balle & Wang
    2018, Theorem 8)."""
    a = sensitivity / (2 * sigma)
    b = epsilon * sigma / sensitivity
    first = math.exp(log_ndtr(a - b))
    second = math.exp(epsilon + log_ndtr(-a - b))
    return max(0.0, first - second)


def analytic_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """The smallest sigma whose exact delta at `epsilon` is at most `delta` (bisection to a
    relative precision of 1e-10, rounded up)."""
    if epsilon <= 0 or not 0 < delta < 1:
        raise EncoderError(f"dp: need epsilon > 0 and 0 < delta < 1, got ({epsilon}, {delta})")
    low, high = 1e-6 * sensitivity, sensitivity
    while delta_of_sigma(high, epsilon, sensitivity) > delta:
        high *= 2
    while high - low > 1e-10 * high:
        middle = (low + high) / 2
        if delta_of_sigma(middle, epsilon, sensitivity) > delta:
            low = middle
        else:
            high = middle
    return high


def noise_sigma(epsilon: float, delta: float, clip: float, mechanism: str) -> float:
    """sigma for codes clipped to L2 norm `clip` (sensitivity 2 * clip)."""
    sensitivity = 2 * clip
    if mechanism == "classic":
        return classic_sigma(epsilon, delta, sensitivity)
    if mechanism == "analytic":
        return analytic_sigma(epsilon, delta, sensitivity)
    raise EncoderError(f"dp.mechanism must be 'analytic' or 'classic', not '{mechanism}'")


def clip_rows(codes: np.ndarray, clip: float) -> np.ndarray:
    """Each row scaled down to L2 norm at most `clip` (rows inside the ball are unchanged)."""
    norms = np.linalg.norm(codes, axis=1, keepdims=True)
    return codes * np.minimum(1.0, clip / np.maximum(norms, 1e-12))


def keep_top_k(codes: np.ndarray, k: int) -> np.ndarray:
    """Zero every coordinate but the k largest of each row (post-processing of noisy codes)."""
    out = np.zeros_like(codes)
    winners = np.argpartition(-codes, k - 1, axis=1)[:, :k]
    np.put_along_axis(out, winners, np.take_along_axis(codes, winners, axis=1), axis=1)
    return out


def privatize(
    codes: np.ndarray,
    epsilon: float,
    delta: float,
    clip: float,
    mechanism: str = "analytic",
    sparse_k: int | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Clip, add Gaussian noise, and (sparse codes) keep the top k; returns the noisy codes and
    the manifest's privacy entry (mechanism, epsilon, delta, clip norm, sensitivity, sigma, and
    what the guarantee does not cover)."""
    sigma = noise_sigma(epsilon, delta, clip, mechanism)
    rng = rng or np.random.default_rng()
    noisy = clip_rows(codes.astype(np.float64), clip) + rng.normal(0.0, sigma, codes.shape)
    if sparse_k is not None:
        noisy = keep_top_k(noisy, sparse_k)
    return noisy.astype(np.float32), {
        "differential_privacy": {
            "mechanism": f"gaussian ({mechanism})",
            "epsilon": epsilon,
            "delta": delta,
            "clip_norm": clip,
            "sensitivity": 2 * clip,
            "sigma": sigma,
            "adjacency": "replace one record; each released code is (epsilon, delta)-DP "
            "with respect to its own row",
            "post_processing": f"top-{sparse_k} of the noisy code" if sparse_k else "none",
        },
        "not_covered": [
            "the encoder weights (trained without DP, released to partners)",
            "the target column released beside the codes",
        ],
        "note": "formal guarantee on the codes given the encoder; see not_covered",
    }


NO_GUARANTEE: dict[str, Any] = {
    "differential_privacy": None,
    "note": "the codes carry no formal privacy guarantee: they are a deterministic function of "
    "each row (pseudonymisation, not anonymity); whoever holds a row and the encoder can "
    "compute its code. The release is gated on measured attacks only (see report.json).",
}
