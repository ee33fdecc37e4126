"""The generator families and the classifier.

Add a generator: one module here with a :class:`~genaug.models.base.Generator` subclass, one
entry in :data:`GENERATORS`, one entry under ``generators:`` in the config.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genaug.errors import GenaugError
from genaug.models.aae import AAE
from genaug.models.base import Generator, Synthetic, check_finite, sample_batch
from genaug.models.cgan import CGAN
from genaug.models.classifier import ConvNet
from genaug.models.cvae import CVAE
from genaug.models.dagan import DAGAN
from genaug.models.infogan import InfoGAN
from genaug.models.latent import LatentAugment

GENERATORS: dict[str, type[Generator]] = {
    "dagan": DAGAN,
    "cvae": CVAE,
    "aae": AAE,
    "cgan": CGAN,
    "infogan": InfoGAN,
    "latent": LatentAugment,
}

__all__ = [
    "AAE",
    "CGAN",
    "CVAE",
    "DAGAN",
    "GENERATORS",
    "ConvNet",
    "Generator",
    "InfoGAN",
    "LatentAugment",
    "Synthetic",
    "check_finite",
    "get_generator",
    "load_generator",
    "sample_batch",
]


def get_generator(name: str) -> type[Generator]:
    """The :class:`Generator` subclass registered under ``name``."""
    try:
        return GENERATORS[name]
    except KeyError:
        choices = ", ".join(sorted(GENERATORS))
        raise GenaugError(
            f"unknown generator {name!r}: choose one of {choices} in config `generators`"
        ) from None


def load_generator(path: str | Path, map_location: str | torch.device = "cpu") -> Generator:
    """Load a checkpoint written by :meth:`Generator.save`, whatever its family."""
    state = torch.load(path, map_location=map_location, weights_only=True)
    return get_generator(state["generator"]).load(path, map_location=map_location)
