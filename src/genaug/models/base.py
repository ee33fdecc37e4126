"""The interface every generator shares: fit, augment, save, load.

A generator is an ``nn.Module`` subclass of :class:`Generator`. Adding one is one module in
``genaug/models/`` registered in ``genaug.models.GENERATORS`` and one entry under
``generators:`` in the config; the workflow's rules are shared by all generators.

Images are float tensors ``N x C x H x W`` in ``[0, 1]``, ``C = image_channels``: 1 for
grayscale (Omniglot: ink bright, background 0), 3 for colour (RGB); labels are ``int64`` class
indices ``0..n_classes-1`` (the caller maps dataset labels to these).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from genaug.errors import GenaugError
from genaug.runtime import autocast

Mode = Literal["transfer", "fit"]
LogFn = Callable[[dict[str, float]], None]


@dataclass
class Synthetic:
    """What :meth:`Generator.augment` returns."""

    images: torch.Tensor  # M x C x H x W in [0, 1], on the CPU
    labels: torch.Tensor  # M, int64
    source_index: torch.Tensor  # M, int64: row of the real input it came from, -1 if none


class Generator(nn.Module):
    """Base class: subclasses define the networks, :meth:`fit` and :meth:`augment`."""

    #: name used in the config and in output paths
    name: ClassVar[str]
    #: "transfer": trained once on source classes, applied to unseen target images;
    #: "fit": trained on the (reduced) training data of each replicate.
    mode: ClassVar[Mode]
    #: the hyperparameters and their defaults; config values are cast to the defaults' types
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(
        self, image_size: int, n_classes: int = 0, *, image_channels: int = 1, **hparams: Any
    ) -> None:
        super().__init__()
        unknown = sorted(set(hparams) - set(self.defaults))
        if unknown:
            raise GenaugError(
                f"unknown {self.name} hparams {unknown}: use only {sorted(self.defaults)} in config"
            )
        if image_size % 4:
            raise GenaugError(f"image_size {image_size} is not divisible by 4: resize the data")
        if image_channels not in (1, 3):
            raise GenaugError(
                f"image_channels={image_channels!r} is not 1 (grayscale) or 3 (RGB): "
                "set datasets.<name>.channels"
            )
        self.image_size = int(image_size)
        self.image_channels = int(image_channels)
        self.n_classes = int(n_classes)
        self.hparams = {k: type(v)(hparams.get(k, v)) for k, v in self.defaults.items()}

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

    def check_images(self, images: torch.Tensor) -> None:
        """Stop with one line when ``images`` are not ``N x image_channels x H x W``, e.g. a
        grayscale checkpoint given colour images (conditional generators would otherwise
        sample grayscale images without complaint)."""
        if images.ndim != 4 or images.shape[1] != self.image_channels:
            raise GenaugError(
                f"the {self.name} model takes N x {self.image_channels} x H x W images, got "
                f"{tuple(images.shape)}: retrain it on this data (delete its model.pt)"
            )

    # ---------------------------------------------------------------- checkpoints
    def save(self, path: str | Path, **extra: Any) -> None:
        """Save hparams and weights; loadable with ``torch.load(weights_only=True)``."""
        state = {
            "generator": self.name,
            "image_size": self.image_size,
            "image_channels": self.image_channels,
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
        channels = state.get("image_channels", 1)  # checkpoints from before RGB: grayscale
        model = cls(
            state["image_size"], state["n_classes"], image_channels=channels, **state["hparams"]
        )
        model.load_state_dict(state["state_dict"])
        model.checkpoint_extra = state.get("extra", {})
        return model


def sample_batch(n: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of one random batch (with replacement when the data is smaller)."""
    if n >= batch_size:
        return torch.randperm(n, generator=generator)[:batch_size]
    return torch.randint(n, (batch_size,), generator=generator)


class NonFiniteLoss(GenaugError, FloatingPointError):
    """A loss went NaN or infinite: the job stops with one line (and Snakemake's retries,
    if configured, try again)."""


def check_finite(step: int, **losses: float) -> None:
    """Stop a run whose loss went NaN or infinite, naming the step and the loss."""
    for name, value in losses.items():
        if not math.isfinite(float(value)):
            raise NonFiniteLoss(
                f"non-finite loss at step {step}: {name}={value}: lower the generator's lr "
                "in config (generators.<name>.lr) or check the data"
            )


class LossMeter:
    """The logging every ``fit`` loop shares: losses are summed on the device (no per-step
    GPU sync) and, every ``log_every`` steps and at the last, their means since the previous
    log are checked for NaN/inf and passed to ``log`` as ``{"step": step, name: mean, ...}``."""

    def __init__(self, log: LogFn, log_every: int, steps: int) -> None:
        self.log, self.log_every, self.steps = log, log_every, steps
        self.sums: torch.Tensor | None = None
        self.since = 0

    def update(self, step: int, **losses: torch.Tensor) -> None:
        values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
        self.sums = values if self.sums is None else self.sums + values
        self.since += 1
        if step % self.log_every == 0 or step == self.steps:
            means = dict(zip(losses, (self.sums / self.since).tolist(), strict=True))
            check_finite(step, **means)
            self.log({"step": step, **means})
            self.sums, self.since = None, 0


#: images per forward pass when sampling
SAMPLE_CHUNK = 1024


class ConditionalGenerator(Generator):
    """A generator of ``p(x | class)`` (cVAE, AAE, cGAN): it only knows the classes it was fit
    on, and its samples are drawn per class, not made from one real image.

    Subclasses define :meth:`decode` (noise + class indices -> images) and name the hparam
    that sizes the noise in ``noise_hparam``; sampling and augmentation are shared.
    """

    mode = "fit"
    noise_hparam: ClassVar[str] = "latent_dim"

    def __init__(
        self, image_size: int, n_classes: int = 0, *, image_channels: int = 1, **hparams: Any
    ) -> None:
        super().__init__(image_size, n_classes, image_channels=image_channels, **hparams)
        if self.n_classes <= 0:
            raise GenaugError(f"the {self.name} is label-conditioned: pass n_classes > 0")

    def check_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """``labels`` as int64, after checking they are class indices ``0..n_classes-1``."""
        labels = labels.long()
        if len(labels) and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise GenaugError(
                f"{self.name} labels must lie in 0..{self.n_classes - 1}, got "
                f"{labels.min().item()}..{labels.max().item()}: map labels to class indices"
            )
        return labels

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        return F.one_hot(self.check_labels(labels), self.n_classes).float()

    def decode(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Images in ``[0, 1]`` from noise ``B x noise_dim`` and class indices ``B``."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(
        self, labels: torch.Tensor, *, generator: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        """One sample per label, noise ``~ N(0, I)`` drawn with ``generator`` (CPU)."""
        device = torch.device(device)
        labels = self.check_labels(labels)
        noise = torch.randn(len(labels), self.hparams[self.noise_hparam], generator=generator)
        out = []
        for lo in range(0, len(labels), SAMPLE_CHUNK):
            with autocast(device):
                x = self.decode(
                    noise[lo : lo + SAMPLE_CHUNK].to(device),
                    labels[lo : lo + SAMPLE_CHUNK].to(device),
                )
            out.append(x.float().clamp_(0, 1).cpu())
        if not out:
            return torch.empty(0, self.image_channels, self.image_size, self.image_size)
        return torch.cat(out)

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
        """``n_per_image`` samples per real ``(image, label)``, with that label.

        The images themselves are not used: samples come from the prior through the
        decoder, so they are not tied to one real image and ``source_index`` is ``-1``.
        """
        self.check_images(images)
        device = torch.device(device)
        was_training = self.training
        self.to(device).eval()
        labels = labels.detach().cpu().long().repeat_interleave(n_per_image)
        out = self.sample(labels, generator=generator, device=device)
        self.train(was_training)
        return Synthetic(
            images=out,
            labels=labels,
            source_index=torch.full((len(labels),), -1, dtype=torch.long),
        )
