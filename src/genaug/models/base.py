"""The interface every generator shares: fit, augment, save, load.

A generator is an ``nn.Module`` subclass of :class:`Generator`. Adding one is one module in
``genaug/models/`` registered in ``genaug.models.GENERATORS`` and one entry under
``generators:`` in the config; the workflow's rules are shared by all generators.

Images are float tensors ``N x 1 x H x W`` in ``[0, 1]`` (ink bright, background 0); labels are
``int64`` class indices ``0..n_classes-1`` (the caller maps dataset labels to these).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import nn

Mode = Literal["transfer", "fit"]
LogFn = Callable[[dict[str, float]], None]


@dataclass
class Synthetic:
    """What :meth:`Generator.augment` returns."""

    images: torch.Tensor  # M x 1 x H x W in [0, 1], on the CPU
    labels: torch.Tensor  # M, int64
    source_index: torch.Tensor  # M, int64: row of the real input it came from, -1 if none


class Generator(nn.Module):
    """Base class: subclasses define the networks, :meth:`fit` and :meth:`augment`."""

    #: name used in the config and in output paths
    name: ClassVar[str]
    #: "transfer": trained once on source classes, applied to unseen target images;
    #: "fit": trained on the (reduced) training data of each replicate.
    mode: ClassVar[Mode]

    def __init__(self, image_size: int, n_classes: int = 0, **hparams: Any) -> None:
        super().__init__()
        self.image_size = int(image_size)
        self.n_classes = int(n_classes)
        self.hparams = dict(hparams)

    def fit(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        steps: int,
        batch_size: int,
        lr: float,
        generator: torch.Generator,
        device: torch.device,
        log: LogFn,
        log_every: int = 10,
    ) -> None:
        """Train in place for ``steps`` optimiser steps, calling ``log`` every ``log_every``
        steps with a flat dict that has ``step`` and the losses. Batches are drawn with
        ``generator`` (a CPU ``torch.Generator``), so a seed fixes the whole run."""
        raise NotImplementedError

    @torch.no_grad()
    def augment(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        n_per_image: int,
        *,
        generator: torch.Generator,
        device: torch.device,
    ) -> Synthetic:
        """``n_per_image`` synthetic images for every real ``(image, label)``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- checkpoints
    def save(self, path: str | Path, **extra: Any) -> None:
        """Save hparams and weights; loadable with ``torch.load(weights_only=True)``."""
        state = {
            "generator": self.name,
            "image_size": self.image_size,
            "n_classes": self.n_classes,
            "hparams": self.hparams,
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
            "extra": extra,
        }
        torch.save(state, path)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> Generator:
        state = torch.load(path, map_location=map_location, weights_only=True)
        if state["generator"] != cls.name:
            raise ValueError(f"{path} holds a {state['generator']!r}, not a {cls.name!r} model")
        model = cls(state["image_size"], state["n_classes"], **state["hparams"])
        model.load_state_dict(state["state_dict"])
        model.checkpoint_extra = state.get("extra", {})
        return model


def sample_batch(n: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of one random batch (with replacement when the data is smaller)."""
    if n >= batch_size:
        return torch.randperm(n, generator=generator)[:batch_size]
    return torch.randint(n, (batch_size,), generator=generator)


def check_finite(step: int, **losses: float) -> None:
    """Stop a run whose loss went NaN or infinite, naming the step and the loss."""
    import math

    for name, value in losses.items():
        if not math.isfinite(float(value)):
            raise FloatingPointError(f"non-finite loss at step {step}: {name}={value}")
