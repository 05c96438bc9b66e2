"""SDV single-table synthesizers (GaussianCopula, CTGAN, TVAE) behind the generator interface."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

import ctgan.synthesizers.ctgan as ctgan_loop
import ctgan.synthesizers.tvae as tvae_loop
import numpy as np
import pandas as pd
from pydantic import Field, model_validator
from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

from anon_platform.catalog.schema import TableSchema
from anon_platform.common.frames import sdv_metadata
from anon_platform.common.progress import ProgressEvent
from anon_platform.devices import torch_device
from anon_platform.generators.base import GeneratorParams
from anon_platform.generators.table_by_table import TableByTableGenerator, TableByTableParams

Distribution = Literal["norm", "beta", "truncnorm", "uniform", "gamma", "gaussian_kde"]


class GaussianCopulaParams(TableByTableParams):
    default_distribution: Distribution = "beta"


class GaussianCopulaGenerator(TableByTableGenerator):
    """SDV's GaussianCopulaSynthesizer per table. Params: `default_distribution`,
    `parent_context` (table_by_table.py)."""

    name: ClassVar[str] = "gaussian_copula"
    libraries: ClassVar[tuple[str, ...]] = ("sdv", "rdt", "copulas")
    Params: ClassVar[type[GeneratorParams]] = GaussianCopulaParams

    def _fit_table(self, table: TableSchema, frame: pd.DataFrame) -> Any:
        synthesizer = GaussianCopulaSynthesizer(
            sdv_metadata(table, table.modelled_columns, frame),
            default_distribution=self.config.default_distribution,
        )
        synthesizer.fit({table.name: frame})
        return synthesizer

    def _sample_table(self, model: Any, table: TableSchema, n_rows: int) -> pd.DataFrame:
        model.reset_sampling()
        # SDV falls back to a fixed seed of its own after reset_sampling; draw the seed from our
        # seeded NumPy state instead so that the platform's sample seed decides the rows.
        model._set_random_state(int(np.random.randint(0, 2**31 - 1)))
        sampled = model.sample(n_rows)
        return sampled[table.name] if isinstance(sampled, dict) else sampled


class TorchParams(TableByTableParams):
    """Parameters shared by SDV's torch synthesizers (CTGAN, TVAE)."""

    epochs: int = Field(default=300, ge=1, le=100_000)
    batch_size: int = Field(default=500, ge=10, le=1_000_000)
    embedding_dim: int = Field(default=128, ge=2, le=4096)
    device: Literal["auto", "cuda", "cpu"] = "auto"


class CTGANParams(TorchParams):
    generator_lr: float = Field(default=2e-4, gt=0.0, le=1.0)
    discriminator_lr: float = Field(default=2e-4, gt=0.0, le=1.0)
    discriminator_steps: int = Field(default=1, ge=1, le=100)
    pac: int = Field(default=10, ge=1, le=100)

    @model_validator(mode="after")
    def _batch_fits_pac(self) -> CTGANParams:
        # CTGAN packs `pac` rows into one discriminator input and asserts both of these
        if self.batch_size % 2 or self.batch_size % self.pac:
            raise ValueError(
                f"batch_size {self.batch_size} must be even and a multiple of pac {self.pac}"
            )
        return self


class TVAEParams(TorchParams):
    compress_dims: tuple[int, ...] = (128, 128)
    decompress_dims: tuple[int, ...] = (128, 128)
    l2scale: float = Field(default=1e-5, ge=0.0, le=1.0)
    loss_factor: float = Field(default=2.0, gt=0.0, le=100.0)


_EPOCH_HOOK_LOCK = threading.Lock()


@contextmanager
def epoch_progress(
    module: Any, synthesizer: Any, on_epoch: Callable[[int, float, float], None]
) -> Iterator[None]:
    """Call `on_epoch(epoch, loss, seconds)` after each training epoch of a CTGAN/TVAE fit.

    The `ctgan` package loops over `tqdm(range(epochs))` and appends each epoch's losses to
    `model.loss_values`; neither it nor SDV offers a callback. We swap the module's `tqdm` name
    for an iterator that, when the loop asks for the next epoch, reads the losses the finished
    epoch just appended. The losses are the library's own per-epoch values (CTGAN: generator
    loss of the epoch's last step; TVAE: mean of the epoch's batch losses). A lock keeps two
    fits in one process from swapping the name at the same time.
    """

    def epochs(iterable: Any, disable: bool = True, **_: Any) -> Iterator[int]:
        started = time.perf_counter()
        for epoch in iterable:
            yield epoch
            losses = synthesizer._model.loss_values
            rows = losses[losses["Epoch"] == epoch]
            column = "Loss" if "Loss" in rows.columns else "Generator Loss"
            loss = float(rows[column].astype(float).mean()) if len(rows) else float("nan")
            now = time.perf_counter()
            on_epoch(epoch, loss, now - started)
            started = now

    with _EPOCH_HOOK_LOCK:
        original = module.tqdm
        module.tqdm = epochs
        try:
            yield
        finally:
            module.tqdm = original


class TorchSdvGenerator(TableByTableGenerator):
    """Base of SDV's torch synthesizers per table: CUDA when present, per-epoch progress."""

    uses_torch: ClassVar[bool] = True
    reports_epochs: ClassVar[bool] = True
    libraries: ClassVar[tuple[str, ...]] = ("sdv", "ctgan", "torch")
    synthesizer_class: ClassVar[type]
    loop_module: ClassVar[Any]

    @property
    def device(self) -> str:
        return torch_device(self.config.device)

    def _synthesizer_kwargs(self) -> dict[str, Any]:
        config = self.config.model_dump(exclude=set(TableByTableParams.model_fields))
        config.pop("device")
        return config

    def _fit_table(self, table: TableSchema, frame: pd.DataFrame) -> Any:
        synthesizer = self.synthesizer_class(
            sdv_metadata(table, table.modelled_columns, frame),
            enable_gpu=self.device == "cuda",
            verbose=False,
            **self._synthesizer_kwargs(),
        )
        epochs = self.config.epochs
        tables = len(self.schema.tables)
        index = [t.name for t in self.schema.ordered()].index(table.name)

        def on_epoch(epoch: int, loss: float, seconds: float) -> None:
            self.loss_curve.append(loss)
            self.progress(
                ProgressEvent(
                    step=index * epochs + epoch + 1,
                    total=tables * epochs,
                    loss=loss,
                    rows_per_second=len(frame) / seconds if seconds > 0 else None,
                    message=f"table {table.name}" if tables > 1 else "",
                )
            )

        with epoch_progress(self.loop_module, synthesizer, on_epoch):
            synthesizer.fit({table.name: frame})
        self._move_to_cpu(synthesizer)
        return synthesizer

    @staticmethod
    def _move_to_cpu(synthesizer: Any) -> None:
        """Keep the saved artifact loadable on a machine without a card."""
        model = synthesizer._model
        if hasattr(model, "set_device"):
            model.set_device("cpu")

    def _sample_table(self, model: Any, table: TableSchema, n_rows: int) -> pd.DataFrame:
        model.reset_sampling()
        model._set_random_state(int(np.random.randint(0, 2**31 - 1)))
        sampled = model.sample(n_rows)
        return sampled[table.name] if isinstance(sampled, dict) else sampled


class CTGANGenerator(TorchSdvGenerator):
    """SDV's CTGANSynthesizer per table. Params: epochs, batch_size, embedding_dim, learning
    rates, discriminator_steps, pac, device, parent_context. The loss curve is the generator
    loss per epoch."""

    name: ClassVar[str] = "ctgan"
    Params: ClassVar[type[GeneratorParams]] = CTGANParams
    synthesizer_class: ClassVar[type] = CTGANSynthesizer
    loop_module: ClassVar[Any] = ctgan_loop

    def _card_extras(self) -> dict[str, Any]:
        return {
            **super()._card_extras(),
            "loss": "CTGAN generator loss per epoch (last step of the epoch)",
        }


class TVAEGenerator(TorchSdvGenerator):
    """SDV's TVAESynthesizer per table. Params: epochs, batch_size, embedding_dim,
    compress_dims, decompress_dims, l2scale, loss_factor, device, parent_context. The loss curve
    is the mean batch loss per epoch."""

    name: ClassVar[str] = "tvae"
    Params: ClassVar[type[GeneratorParams]] = TVAEParams
    synthesizer_class: ClassVar[type] = TVAESynthesizer
    loop_module: ClassVar[Any] = tvae_loop

    def _synthesizer_kwargs(self) -> dict[str, Any]:
        config = super()._synthesizer_kwargs()
        config["compress_dims"] = tuple(config["compress_dims"])
        config["decompress_dims"] = tuple(config["decompress_dims"])
        return config

    def _card_extras(self) -> dict[str, Any]:
        return {**super()._card_extras(), "loss": "TVAE mean batch loss per epoch"}
