"""Generators: one interface (fit / sample / save / load), a registry of backends by name."""

from __future__ import annotations

from pathlib import Path

from anon_platform.errors import GeneratorError
from anon_platform.generators.autoregressive import AutoregressiveGenerator
from anon_platform.generators.base import CARD_FILE, Generator
from anon_platform.generators.clustmix import ClustMixGenerator
from anon_platform.generators.hma import HMAGenerator
from anon_platform.generators.sdv_backends import (
    CTGANGenerator,
    GaussianCopulaGenerator,
    TVAEGenerator,
)
from anon_platform.storage import read_json

REGISTRY: dict[str, type[Generator]] = {
    AutoregressiveGenerator.name: AutoregressiveGenerator,
    GaussianCopulaGenerator.name: GaussianCopulaGenerator,
    CTGANGenerator.name: CTGANGenerator,
    TVAEGenerator.name: TVAEGenerator,
    HMAGenerator.name: HMAGenerator,
    ClustMixGenerator.name: ClustMixGenerator,
}


def generator_class(name: str) -> type[Generator]:
    """The backend registered under `name`; an unknown name lists the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise GeneratorError(
            f"unknown generator '{name}' (known: {', '.join(sorted(REGISTRY))})"
        ) from None


def load_generator(folder: Path) -> Generator:
    """Load any saved generator artifact, whichever backend wrote it."""
    card_path = folder / CARD_FILE
    if not card_path.is_file():
        raise GeneratorError(f"{folder} is not a generator artifact (no {CARD_FILE})")
    return generator_class(read_json(card_path).get("generator", "?")).load(folder)


__all__ = ["REGISTRY", "Generator", "generator_class", "load_generator"]
