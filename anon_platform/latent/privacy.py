"""Encoders trained for privacy, the PCA reference, and k-anonymous codes.

Training objective (`TrainingObjective`, used by model.fit_autoencoder), per batch:

    loss = w_rec * reconstruction(columns kept) + w_task * task(target | code)
           + beta * KL(q(z|x) || N(0, I)) + w_adv * sum_c adversary_c(column c | GRL(code))

- *Task-aware bottleneck*: a head predicts the target from the code (cross-entropy, or MSE on
  the robust-scaled value); `reconstruct` limits the decoder to plain attributes or to nothing,
  so the code need not carry the quasi-identifiers and sensitive columns at all. With `vib_beta`
  the dense code is a variational information bottleneck (Alemi et al. 2017): the KL term
  bounds I(x; z) from above (I(x; z) <= E KL(q(z|x) || N(0, I))), so raising beta squeezes what the
  code keeps about the row beyond what the task needs. The released code is the posterior mean,
  which is deterministic: the bound is on the training-time channel, not a guarantee on the
  release, which the gate's attackers measure instead.
- *Adversarial censoring* (Ganin & Lempitsky 2015; Edwards & Storkey 2016): one head per
  quasi-identifier and sensitive column tries to recover it from the code through a
  gradient-reversal layer, so the encoder is pushed to make that recovery fail. A training
  adversary being beaten proves nothing about other attackers; the gate's own attackers (k-NN,
  ridge / logistic, gradient boosting, fitted after the fact on leaked pairs) are the judges.
- *k-anonymous codes* (`KAnonymousCodes`): see that class for the bound.
- *PCA* (`fit_pca`): the linear reference bottleneck, on the same preprocessed inputs.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from torch import nn

from anon_platform.latent.errors import EncoderError
from anon_platform.latent.model import Decoder, Encoder, InputLayer, mixed_loss
from anon_platform.latent.preprocessing import PreprocessingSpec, numeric_values, scaled_targets

MAX_TARGET_CLASSES = 10


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:  # type: ignore[override]
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.weight * grad, None


def reverse_gradient(x: torch.Tensor, weight: float) -> torch.Tensor:
    """Identity forward; the gradient multiplied by -weight backward."""
    return _Reverse.apply(x, weight)


def _head(width: int, hidden: int, outputs: int) -> nn.Module:
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, outputs))


def _frozen(head: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`head(x)` with its parameters detached: only `x` (the encoder) gets gradients."""
    params = {name: p.detach() for name, p in head.named_parameters()}
    return torch.func.functional_call(head, params, (x,))


def target_arrays(values: pl.Series) -> tuple[np.ndarray, int]:
    """The target as class indices (int64, `classes` > 0) when it has at most
    MAX_TARGET_CLASSES values or is not numeric, else robust-scaled floats (classes 0, NaN for
    nulls)."""
    distinct = values.drop_nulls().n_unique()
    if not values.dtype.is_numeric() or distinct <= MAX_TARGET_CLASSES:
        strings = values.cast(pl.String).fill_null("<null>").to_numpy().astype(str)
        classes, index = np.unique(strings, return_inverse=True)
        return index.astype(np.int64), len(classes)
    numbers = numeric_values(values)
    present = numbers[~np.isnan(numbers)]
    q25, q75 = np.percentile(present, [25, 75])
    scale = float(q75 - q25) or float(present.std()) or 1.0
    return ((numbers - np.median(present)) / scale).astype(np.float32), 0


class TrainingObjective(nn.Module):
    """The privacy-training loss of one table: reconstruction of the kept columns, the target
    head, the KL term, and the gradient-reversal adversaries (see the module docstring)."""

    def __init__(
        self,
        spec: PreprocessingSpec,
        code_size: int,
        hidden: int,
        numeric: np.ndarray,
        categorical: np.ndarray,
        target: tuple[np.ndarray, int] | None,
        reconstruct: set[str],
        censored: list[str],
        task_weight: float,
        vib_beta: float | None,
        adversary_weight: float,
    ) -> None:
        super().__init__()
        self.variational = vib_beta is not None
        self.beta = float(vib_beta or 0.0)
        self.task_weight = task_weight if target is not None else 0.0
        self.adversary_weight = adversary_weight
        weights = [1.0 if c.name in reconstruct else 0.0 for c in spec.numeric]
        weights += [1.0 if c.name in reconstruct else 0.0 for c in spec.numeric if c.null_indicator]
        weights += [1.0 if c.name in reconstruct else 0.0 for c in spec.categorical]
        self.register_buffer("column_weights", torch.tensor(weights, dtype=torch.float32))
        self.reconstruct_any = any(w > 0 for w in weights)
        targets, mask = scaled_targets(spec, numeric)
        self.register_buffer("numeric_targets", torch.from_numpy(targets[:, : len(spec.numeric)]))
        self.register_buffer("numeric_mask", torch.from_numpy(mask[:, : len(spec.numeric)]))
        self.register_buffer("categories", torch.from_numpy(categorical))
        self.classes = 0
        if target is not None:
            values, self.classes = target
            self.register_buffer("target", torch.from_numpy(values))
            self.task = _head(code_size, hidden, max(1, self.classes))
        names = spec.columns
        self.censored_numeric = [j for j, c in enumerate(spec.numeric) if c.name in censored]
        self.censored_categorical = [
            j for j, c in enumerate(spec.categorical) if c.name in censored
        ]
        self.numeric_heads = nn.ModuleList(
            _head(code_size, hidden, 1) for _ in self.censored_numeric
        )
        self.categorical_heads = nn.ModuleList(
            _head(code_size, hidden, spec.categorical[j].size) for j in self.censored_categorical
        )
        self.censored = [n for n in names if n in censored]
        for i, j in enumerate(self.censored_categorical):
            counts = np.bincount(categorical[:, j], minlength=spec.categorical[j].size)
            self.register_buffer(f"prior_{i}", torch.tensor(counts / counts.sum()).float())

    def _task_loss(self, code: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        out = self.task(code)
        if self.classes:
            return F.cross_entropy(out, self.target[rows])
        truth = self.target[rows]
        keep = ~torch.isnan(truth)
        err = (out[:, 0] - torch.nan_to_num(truth)) ** 2
        return (err * keep).sum() / keep.sum().clamp(min=1)

    def _adversary_loss(self, code: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The heads learn to recover each censored column from the code; the encoder sees their
        gradient reversed, bounded: a plain reversal of an unbounded cross-entropy lets the
        encoder 'win' by making the head confidently wrong, which encodes the column
        (measured on the demo customers: gender reconstructed with advantage 0.94 after such
        training). So the reversed signal is the distance of each head's output from the
        marginal guess (the training prior of the category; the mean of the number), which is
        smallest when the head cannot beat guessing from the marginals, the gate's own baseline."""
        reversed_code = reverse_gradient(code, 1.0)
        frozen_code = code.detach()
        losses = []
        for head, j in zip(self.numeric_heads, self.censored_numeric, strict=True):
            keep = self.numeric_mask[rows, j]
            truth = self.numeric_targets[rows, j]
            fit = (head(frozen_code)[:, 0] - truth) ** 2
            guess = _frozen(head, reversed_code)[:, 0]
            mean = (truth * keep).sum() / keep.sum().clamp(min=1.0)
            # reversed: the encoder minimises (guess - mean)^2, pushing the head to the marginal
            confusion = -self.adversary_weight * (guess - mean) ** 2
            losses.append(((fit + confusion) * keep).sum() / keep.sum().clamp(min=1.0))
        for i, (head, j) in enumerate(
            zip(self.categorical_heads, self.censored_categorical, strict=True)
        ):
            prior = getattr(self, f"prior_{i}")
            truth = self.categories[rows, j]
            fit = F.cross_entropy(head(frozen_code), truth)
            log_p = F.log_softmax(_frozen(head, reversed_code), dim=1)
            # reversed: the encoder minimises the cross-entropy of the head against the prior
            confusion = self.adversary_weight * (prior[None, :] * log_p).sum(1).mean()
            losses.append(fit + confusion)
        return torch.stack(losses).sum() if losses else code.new_zeros(())

    def loss(
        self,
        encoder: Encoder,
        decoder: Decoder,
        rows: torch.Tensor,
        x_num: torch.Tensor,
        x_cat: torch.Tensor,
        targets: torch.Tensor,
        mask: torch.Tensor,
        train: bool,
    ) -> torch.Tensor:
        """The batch loss; with `train` False (validation) without the adversary term, whose
        sign the encoder sees reversed."""
        code = encoder(x_num, x_cat)
        total = code.new_zeros(())
        if self.reconstruct_any:
            total = total + mixed_loss(decoder, code, targets, mask, x_cat, self.column_weights)
        if self.task_weight > 0:
            total = total + self.task_weight * self._task_loss(code, rows)
        if self.variational and encoder.last_kl is not None and train:
            total = total + self.beta * encoder.last_kl
        if train and self.adversary_weight > 0 and self.censored:
            # the heads minimise their loss; through the reversal the encoder maximises it
            total = total + self._adversary_loss(code, rows)
        return total


class PCAEncoder(nn.Module):
    """The linear reference bottleneck: the preprocessed input vector (the autoencoders' own
    InputLayer), centred on the training mean, projected on the first principal axes."""

    def __init__(self, spec: PreprocessingSpec, mean: np.ndarray, axes: np.ndarray) -> None:
        super().__init__()
        self.inputs = InputLayer(spec)
        self.kwta = None
        self.register_buffer("mean", torch.from_numpy(mean.astype(np.float32)))
        self.register_buffer("axes", torch.from_numpy(axes.astype(np.float32)))

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        return (self.inputs(numeric, categorical) - self.mean) @ self.axes.T


class PCADecoder(nn.Module):
    """Code -> the input vector's least-squares reconstruction, split like Decoder's output
    (scaled numerics and indicators, then one block of one-hot scores per category)."""

    def __init__(self, spec: PreprocessingSpec, mean: np.ndarray, axes: np.ndarray) -> None:
        super().__init__()
        self.numeric_outputs = spec.numeric_outputs
        self.sizes = [c.size for c in spec.categorical]
        self.register_buffer("mean", torch.from_numpy(mean.astype(np.float32)))
        self.register_buffer("axes", torch.from_numpy(axes.astype(np.float32)))

    def forward(self, code: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out = code @ self.axes + self.mean
        numeric = out[:, : self.numeric_outputs]
        return numeric, list(torch.split(out[:, self.numeric_outputs :], self.sizes, dim=1))


def fit_pca(
    spec: PreprocessingSpec, numeric: np.ndarray, categorical: np.ndarray, components: int
) -> tuple[PCAEncoder, PCADecoder]:
    """PCA of the training rows' preprocessed inputs (SVD of the centred matrix); at most
    min(rows, input width) components, the rest zero."""
    layer = InputLayer(spec)
    with torch.no_grad():
        x = layer(torch.from_numpy(numeric), torch.from_numpy(categorical)).numpy()
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    axes = np.zeros((components, x.shape[1]), dtype=np.float64)
    used = min(components, vt.shape[0])
    axes[:used] = vt[:used]
    encoder, decoder = PCAEncoder(spec, mean, axes), PCADecoder(spec, mean, axes)
    return encoder.eval(), decoder.eval()


class KAnonymousCodes(nn.Module):
    """An encoder whose output is snapped to the nearest prototype of a codebook (Euclidean
    distance; ties to the lower index): `encoder(x)` -> `prototypes[argmin_i |code - p_i|]`.

    Bound (by construction, checked in `fit_codebook`): every prototype is the released code of
    at least k training rows under exactly this rule. All training rows are released, so every
    released code value is shared by >= k released rows; an attacker who holds a row and the
    encoder computes its code and finds >= k identical released codes, and cannot do better than
    1/k at picking the right one without other information (linkage top-1 <= 1/k for
    a training row; holdout rows join the same classes, only enlarging them). This bounds
    linkage, not inference: every row of a class shares its prototype, so an attribute common
    to a class is still revealed (the gate's reconstruction and attribute-inference attacks
    measure that)."""

    def __init__(self, encoder: nn.Module, prototypes: np.ndarray) -> None:
        super().__init__()
        self.inner = encoder
        self.kwta = None
        self.register_buffer("prototypes", torch.from_numpy(prototypes.astype(np.float32)))

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        code = self.inner(numeric, categorical)
        distance = (
            (code**2).sum(1, keepdim=True)
            - 2 * code @ self.prototypes.T
            + (self.prototypes**2).sum(1)[None, :]
        )
        return self.prototypes[distance.argmin(dim=1)]


def _sparsify(centroids: np.ndarray, k: int) -> np.ndarray:
    """Each centroid with only its k largest entries kept (a sparse code keeps exactly k
    active units)."""
    out = np.zeros_like(centroids)
    top = np.argsort(-centroids, axis=1)[:, :k]
    rows = np.arange(len(centroids))[:, None]
    out[rows, top] = np.maximum(centroids[rows, top], 1e-3)
    return out


def fit_codebook(
    encoder: nn.Module,
    numeric: np.ndarray,
    categorical: np.ndarray,
    k: int,
    seed: int,
    sparse_k: int | None = None,
) -> tuple[KAnonymousCodes, dict[str, float]]:
    """A k-anonymous codebook over the training rows' codes: k-means with n / (2k) centres, then
    repeatedly drop the prototype covering the fewest rows while it covers fewer than k, until
    every prototype covers >= k rows under the nearest-prototype rule (the same module that is
    exported). Returns the snapped encoder and {prototypes, min_rows_per_code}."""
    from sklearn.cluster import KMeans

    encoder = encoder.eval()
    x_num, x_cat = torch.from_numpy(numeric), torch.from_numpy(categorical)
    with torch.no_grad():
        codes = encoder(x_num, x_cat).numpy().astype(np.float64)
    rows = len(codes)
    if rows < k:
        raise EncoderError(f"{rows} training rows cannot make a code shared by k = {k} rows")
    centres = max(1, rows // (2 * k))
    kmeans = KMeans(n_clusters=centres, n_init=1, random_state=seed, max_iter=100).fit(codes)
    prototypes = kmeans.cluster_centers_
    if sparse_k is not None:
        prototypes = _sparsify(prototypes, sparse_k)
    prototypes = np.unique(prototypes.astype(np.float32), axis=0)
    while True:
        snapped = KAnonymousCodes(encoder, prototypes).eval()
        with torch.no_grad():
            out = snapped(x_num, x_cat).numpy()
        _, counts = np.unique(out, axis=0, return_counts=True)
        # counts per prototype in prototype order (a prototype nobody snaps to counts 0)
        index = {tuple(p): i for i, p in enumerate(prototypes)}
        per = np.zeros(len(prototypes), dtype=np.int64)
        for value, count in zip(np.unique(out, axis=0), counts, strict=True):
            per[index[tuple(value)]] = count
        smallest = int(per.argmin())
        if per[smallest] >= k:
            break
        prototypes = np.delete(prototypes, smallest, axis=0)
    return snapped, {"prototypes": float(len(prototypes)), "min_rows_per_code": float(per.min())}
