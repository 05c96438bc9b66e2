"""Generators: one interface (fit / sample / save / load), a registry of backends by name."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from anon_platform.catalog.schema import DatasetSchema
from anon_platform.common.spelling import did_you_mean
from anon_platform.errors import GeneratorError
from anon_platform.generators.base import Generator, ModelCard, read_model_card

# Backend name -> "module:class". A backend's module (and its libraries: SDV, torch, ...) is
# imported only when the backend is used, so that `anon generate` with one backend does not pay
# for the others (measured: ~120 MiB and ~1 s of start-up when every backend was imported).
REGISTRY: dict[str, str] = {
    "autoregressive": "anon_platform.generators.autoregressive:AutoregressiveGenerator",
    "gaussian_copula": "anon_platform.generators.sdv_backends:GaussianCopulaGenerator",
    "ctgan": "anon_platform.generators.sdv_backends:CTGANGenerator",
    "tvae": "anon_platform.generators.sdv_backends:TVAEGenerator",
    "hma": "anon_platform.generators.hma:HMAGenerator",
    "par": "anon_platform.generators.par:PARGenerator",
    "clustmix": "anon_platform.generators.clustmix:ClustMixGenerator",
}


def generator_class(name: str) -> type[Generator]:
    """The backend registered under `name`; an unknown name lists the known ones.

    Imports that backend's module only (and its libraries), never the other backends.
    """
    if name not in REGISTRY:
        raise GeneratorError(
            f"unknown generator '{name}'{did_you_mean(name, REGISTRY)} "
            f"(known: {', '.join(sorted(REGISTRY))})"
        )
    module_name, class_name = REGISTRY[name].split(":")
    backend = getattr(importlib.import_module(module_name), class_name)
    if backend.name != name:
        raise GeneratorError(f"registry entry '{name}' names the backend '{backend.name}'")
    return backend


def check_generator_plan(
    name: str, params: dict[str, Any], schema: DatasetSchema | None = None
) -> None:
    """Raise GeneratorError unless `name` is a registered backend, `params` are valid parameters
    of it and (given a schema) it can train on that schema: what training would reject, said
    before anything trains. Imports that one backend only."""
    backend = generator_class(name)
    if schema is None:
        backend.validate_params(dict(params))
    else:
        backend(schema, dict(params)).check_schema()


def load_generator(folder: Path) -> Generator:
    """Load any saved generator artifact, whichever backend wrote it."""
    return generator_class(read_model_card(folder).generator).load(folder)


__all__ = [
    "REGISTRY",
    "Generator",
    "ModelCard",
    "check_generator_plan",
    "generator_class",
    "load_generator",
]
