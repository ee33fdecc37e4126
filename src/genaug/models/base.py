"""The interface every generator shares: fit, augment, save, load.

A generator is an ``nn.Module`` subclass of :class:`Generator`. Adding one is one module in
``genaug/models/`` registered in ``genaug.models.GENERATORS`` and one entry under
``generators:`` in the config; the workflow's rules are shared by all generators.

Images are float tensors ``N x C x H x W`` in ``[0, 1]``, ``C = image_channels``: 1 for
grayscale (Omniglot: ink bright, background 0), 3 for colour (RGB); labels are ``int64`` class
indices ``0..n_classes-1`` (the caller maps dataset labels to these).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genaug import io
from genaug.errors import GenaugError
from genaug.runtime import autocast

log = logging.getLogger(__name__)

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
    #: child networks left uncompiled by ``compile: true`` (see :meth:`networks`)
    no_compile: ClassVar[tuple[str, ...]] = ()

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
        resume: Resume | None = None,
    ) -> None:
        """Train in place for ``steps`` optimiser steps, calling ``log`` every ``log_every``
        steps with a flat dict that has ``step`` and the losses. Batches are drawn with
        ``generator`` (a CPU ``torch.Generator``), so a seed fixes the whole run. With
        ``resume``, the run continues from its checkpoint and writes new ones
        (:func:`train_steps`)."""
        raise NotImplementedError

    def networks(self) -> list[nn.Module]:
        """The child networks the training loop calls, which ``compile: true`` compiles; those
        named in ``no_compile`` are left out."""
        return [m for name, m in self.named_children() if name not in self.no_compile]

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
    """A loss went NaN or infinite: the job stops with one line. Snakemake's retries, if
    configured (``generator_retries``), run it again from its last checkpoint; on the CPU,
    where training is deterministic, the same loss goes non-finite again, so the fix is in
    the config."""


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
        self.names: tuple[str, ...] = ()

    def update(self, step: int, **losses: torch.Tensor) -> None:
        values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
        self.sums = values if self.sums is None else self.sums + values
        self.since += 1
        self.names = tuple(losses)
        if step % self.log_every == 0 or step == self.steps:
            means = self.check(step)
            self.log({"step": step, **means})
            self.sums, self.since = None, 0

    def check(self, step: int) -> dict[str, float]:
        """The means since the previous log, after checking they are finite (also done before
        a checkpoint is saved, so that none holds a run that has already diverged)."""
        if self.sums is None:
            return {}
        means = dict(zip(self.names, (self.sums / self.since).tolist(), strict=True))
        check_finite(step, **means)
        return means


# --------------------------------------------------------------------------- resuming
class Resume:
    """A resumable checkpoint of one training run, at ``path``, outside the job's outputs.

    It holds everything the rest of the run depends on: the model's state, every optimiser's
    (and a ``GradScaler``'s, if any: anything with ``state_dict``), the batch generator's and
    the global torch (CPU, CUDA), numpy and Python RNG states, the :class:`LossMeter`'s running
    sums, the step, and :attr:`history`, the entries logged so far. So a run stopped at any
    point and resumed from its last checkpoint ends where an uninterrupted one does, with the
    same log: bit for bit on the CPU with the same thread count; on CUDA as far as its kernels
    are deterministic.

    ``fingerprint`` names the run (in the workflow: a hash of the settings, seed, training
    images, parameter shapes, device, ``compile`` and code version): a checkpoint of any other
    run, or one that cannot be read, is ignored and later overwritten. ``every``
    is the number of steps between checkpoints (0: none). Files are written atomically;
    :meth:`remove` deletes the file once the run's outputs are written.
    """

    def __init__(self, path: str | Path, fingerprint: str, every: int) -> None:
        self.path, self.fingerprint, self.every = Path(path), fingerprint, int(every)
        #: the log entries of the run so far: restored from the checkpoint, saved with it
        self.history: list[dict[str, float]] = []
        self.state = self._read()
        if self.state is not None:
            self.history = list(self.state["history"])

    @property
    def step(self) -> int:
        """The step the checkpoint was taken after (0: none, start afresh)."""
        return 0 if self.state is None else int(self.state["step"])

    def _read(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # a cache, not an input: never fatal
            log.warning("ignoring unreadable checkpoint %s (%s)", self.path, err)
            return None
        if state.get("fingerprint") != self.fingerprint:
            log.info("ignoring checkpoint %s: it is of another run", self.path)
            return None
        return state

    def restore(
        self,
        model: nn.Module,
        stateful: Sequence[Any],
        rng: torch.Generator,
        meter: LossMeter,
    ) -> int:
        """Load the checkpoint into the run's objects; returns its step (0 if none)."""
        if self.state is None:
            return 0
        state = self.state
        model.load_state_dict(state["model"])
        for obj, obj_state in zip(stateful, state["stateful"], strict=True):
            obj.load_state_dict(obj_state)
        rng.set_state(state["rng"]["batches"])
        torch.set_rng_state(state["rng"]["torch"])
        cuda = state["rng"]["cuda"]
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        name, keys, pos, has_gauss, gauss = state["rng"]["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))  # noqa: NPY002
        version, internal, gauss = state["rng"]["python"]
        random.setstate((version, tuple(internal), gauss))
        sums = state["meter"]["sums"]
        meter.sums = None if sums is None else sums.to(next(model.parameters()).device)
        meter.since = state["meter"]["since"]
        log.info("resuming from step %d of %s", self.step, self.path)
        return self.step

    def save(
        self,
        step: int,
        model: nn.Module,
        stateful: Sequence[Any],
        rng: torch.Generator,
        meter: LossMeter,
    ) -> None:
        """Write the checkpoint taken after ``step`` (atomically: a kill leaves the last one)."""
        name, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002
        version, internal, pgauss = random.getstate()
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
        state = {
            "fingerprint": self.fingerprint,
            "step": step,
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "stateful": [obj.state_dict() for obj in stateful],
            "rng": {
                "batches": rng.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": cuda,
                "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
                "python": (version, list(internal), pgauss),
            },
            "meter": {
                "sums": None if meter.sums is None else meter.sums.detach().cpu(),
                "since": meter.since,
            },
            "history": self.history,
        }
        with io.atomic_path(self.path) as tmp:
            torch.save(state, tmp)
        self.state = state

    def remove(self) -> None:
        """Delete the checkpoint: the run's outputs are written."""
        self.path.unlink(missing_ok=True)
        self.state = None


def train_steps(
    steps: int,
    resume: Resume | None,
    model: nn.Module,
    stateful: Sequence[Any],
    rng: torch.Generator,
    meter: LossMeter,
) -> Iterator[int]:
    """The steps ``1..steps`` of a ``fit`` loop, as ``range`` would give them, but resumable:
    with ``resume`` it first restores its checkpoint (model, ``stateful`` optimisers, batch
    generator ``rng``, ``meter``, RNGs) and starts after its step, and after the loop body of
    every ``resume.every``-th step and of the last it saves a new one. Call it once the
    optimisers and the meter exist::

        for step in train_steps(steps, resume, self, [opt_g, opt_d], generator, meter):
    """
    start = 0 if resume is None else resume.restore(model, stateful, rng, meter)
    for step in range(start + 1, steps + 1):
        yield step  # the loop body runs here; what follows runs once it is done
        if resume is not None and resume.every > 0 and (step % resume.every == 0 or step == steps):
            meter.check(step)
            resume.save(step, model, stateful, rng, meter)


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
