"""The registered generators: for each name, where its class lives and the modes it supports.

Importing this module does not import torch (nor the model modules): the Snakefile checks a
config's modes with :func:`check_modes` before any job, and a class is imported when first
asked for (:func:`get_generator`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genaug.errors import GenaugError

if TYPE_CHECKING:
    import torch

    from genaug.models.base import Generator


@dataclass(frozen=True)
class Entry:
    """Where a generator's class is, and its modes (the same as the class's ``modes``)."""

    module: str
    cls: str
    modes: tuple[str, ...]


TRANSFER_OR_FIT = ("transfer", "fit")
#: class-conditional generators: fit, or pretrain on the source classes and fine-tune
CONDITIONAL = ("fit", "finetune")
GENERATORS: dict[str, Entry] = {
    "dagan": Entry("genaug.models.dagan", "DAGAN", TRANSFER_OR_FIT),
    "cvae": Entry("genaug.models.cvae", "CVAE", CONDITIONAL),
    "aae": Entry("genaug.models.aae", "AAE", CONDITIONAL),
    "cgan": Entry("genaug.models.cgan", "CGAN", CONDITIONAL),
    "infogan": Entry("genaug.models.infogan", "InfoGAN", TRANSFER_OR_FIT),
    "latent": Entry("genaug.models.latent", "LatentAugment", TRANSFER_OR_FIT),
    "began": Entry("genaug.models.began", "BEGAN", TRANSFER_OR_FIT),
    "diffusion": Entry("genaug.models.diffusion", "Diffusion", CONDITIONAL),
    "sdedit": Entry("genaug.models.diffusion", "SDEdit", ("transfer",)),
    "cyclegan": Entry("genaug.models.cyclegan", "CycleGAN", ("fit",)),
}


def entry(name: str) -> Entry:
    """The registry entry of generator ``name``."""
    try:
        return GENERATORS[name]
    except KeyError:
        choices = ", ".join(sorted(GENERATORS))
        raise GenaugError(
            f"unknown generator {name!r}: choose one of {choices} in config `generators`"
        ) from None


def get_generator(name: str) -> type[Generator]:
    """The :class:`~genaug.models.base.Generator` subclass registered under ``name``."""
    found = entry(name)
    return getattr(importlib.import_module(found.module), found.cls)


def check_modes(config: dict) -> None:
    """Stop with one line when the config trains a generator (or a variant of one) in a mode
    it does not support (run after the schema check, before any job)."""
    from genaug.workflow import generator_settings  # which imports this module

    for name, settings in generator_settings(config).items():
        model = settings["model"]
        modes = entry(model).modes
        if settings["mode"] not in modes:
            raise GenaugError(
                f"config error at generators.{name}.mode: the {model} generator supports mode "
                f"{' or '.join(modes)}, not {settings['mode']!r}: fix it"
            )


def load_generator(path: str | Path, map_location: str | torch.device = "cpu") -> Generator:
    """Load a checkpoint written by :meth:`Generator.save`, whatever its family."""
    import torch

    state = torch.load(path, map_location=map_location, weights_only=True)
    return get_generator(state["generator"]).load(path, map_location=map_location)
