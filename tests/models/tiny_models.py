"""Helpers of the model tests: every registered generator at a tiny size (16 x 16 images,
widths of 8), and fit/augment with seeded RNGs on the CPU."""

from __future__ import annotations

import math

import torch

from genaug.models import get_generator
from genaug.models.base import Generator, Synthetic

CPU = torch.device("cpu")
SIZE = 16
TINY = {
    "dagan": {"base_channels": 8, "critic_channels": 8, "z_dim": 8},
    "cvae": {"latent_dim": 4, "hidden_channels": 8},
    "aae": {"latent_dim": 4, "hidden_channels": 8},
    "cgan": {"z_dim": 8, "base_channels": 8},
    "infogan": {"z_dim": 4, "n_categories": 3, "n_continuous": 2, "base_channels": 8},
    "latent": {"latent_dim": 4, "hidden_channels": 8},
    "began": {"z_dim": 4, "hidden_dim": 4, "base_channels": 8},
    "diffusion": {"base_channels": 8, "sample_steps": 4},
    "sdedit": {"base_channels": 8, "sample_steps": 4},
    # dropout: the noise that makes two translations of one image differ
    "cyclegan": {"base_channels": 8, "n_residual": 1, "disc_channels": 8, "dropout": 0.25},
}


def rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make(name: str, size: int = SIZE, seed: int = 0, channels: int = 1, **hparams) -> Generator:
    """A tiny ``name`` for 3 classes; weights from the global RNG seeded with ``seed``, as
    ``runtime.setup`` seeds it for a job."""
    torch.manual_seed(seed)
    return get_generator(name)(size, 3, image_channels=channels, **{**TINY[name], **hparams})


def fit(model: Generator, x, y, *, steps: int, seed: int = 0, lr: float = 1e-3, every: int = 5,
        batch_size: int = 16, log=None, resume=None) -> list[dict[str, float]]:  # fmt: skip
    """Train ``model`` on ``(x, y)`` with batches seeded by ``seed``; the logged entries."""
    logs: list[dict[str, float]] = []
    model.fit(
        x,
        y,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        rng=rng(seed),
        device=CPU,
        log=log or logs.append,
        log_every=every,
        resume=resume,
    )
    return logs


def augment(model: Generator, x, y, n: int = 2, seed: int = 1) -> Synthetic:
    return model.augment(x, y, n, rng=rng(seed), device=CPU)


def nearest_sq_dist(fake, fake_labels, real, real_labels) -> tuple[float, float]:
    """Mean per-pixel squared distance of each fake to its nearest real image of the same
    class, and to its nearest real image of another class."""
    d = torch.cdist(fake.flatten(1), real.flatten(1)) ** 2 / fake[0].numel()
    same = fake_labels[:, None] == real_labels[None]
    d_same = d.masked_fill(~same, math.inf).min(1).values.mean().item()
    d_other = d.masked_fill(same, math.inf).min(1).values.mean().item()
    return d_same, d_other


def assert_grads_finite(*modules: torch.nn.Module) -> None:
    for module in modules:
        for name, p in module.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
