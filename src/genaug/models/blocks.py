"""Network building blocks several generators share.

Each halves or doubles the image side twice (H -> H/4 -> H), so images must have a side
divisible by 4 (checked by :class:`~genaug.models.base.Generator`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def conv_features(
    in_channels: int,
    channels: int,
    activation: Callable[[], nn.Module] = nn.ReLU,
    norm: Callable[[int], nn.Module] | None = None,
    bias: bool = True,
) -> nn.Sequential:
    """Two stride-2 4x4 convs (H -> H/2 -> H/4; ``channels``, then ``2 * channels`` maps),
    each followed by ``activation``, with ``norm`` between the second conv and its activation
    (``bias``: whether that conv has one)."""
    layers = [
        nn.Conv2d(in_channels, channels, 4, 2, padding=1),
        activation(),
        nn.Conv2d(channels, 2 * channels, 4, 2, padding=1, bias=bias),
    ]
    if norm is not None:
        layers.append(norm(2 * channels))
    return nn.Sequential(*layers, activation())


class ConvEncoder(nn.Module):
    """``(x, *extra) -> features``: :func:`conv_features`, flattened and joined by the
    ``extra_features`` of ``extra`` (e.g. a one-hot label), then a linear layer to
    ``out_features = 8 * channels`` and the activation."""

    def __init__(
        self,
        image_size: int,
        channels: int,
        image_channels: int = 1,
        extra_features: int = 0,
        activation: Callable[[], nn.Module] = nn.ReLU,
        norm: Callable[[int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        c, bottom = channels, image_size // 4
        self.features = conv_features(image_channels, c, activation, norm)
        self.hidden = nn.Sequential(
            nn.Linear(2 * c * bottom * bottom + extra_features, 8 * c), activation()
        )
        self.out_features = 8 * c

    def forward(self, x: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        h = self.features(x).flatten(1)
        if extra:
            h = torch.cat([h, *(e.to(h.dtype) for e in extra)], 1)
        return self.hidden(h)


class CodeEncoder(ConvEncoder):
    """``x -> code`` (deterministic): a :class:`ConvEncoder` and a linear map to
    ``latent_dim``."""

    def __init__(
        self, image_size: int, latent_dim: int, channels: int, image_channels: int = 1
    ) -> None:
        super().__init__(image_size, channels, image_channels)
        self.code = nn.Linear(self.out_features, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.code(super().forward(x))


class ConvDecoder(nn.Module):
    """``(z, *cond) -> image`` in ``[0, 1]``: ``z`` joined by ``cond`` (e.g. a one-hot label:
    a class-conditional decoder; ``in_features`` counts both), an MLP to an H/4 feature map,
    two transposed convs (H/4 -> H/2 -> H) and a sigmoid (in fp32 even under autocast)."""

    def __init__(
        self, image_size: int, in_features: int, channels: int, image_channels: int = 1
    ) -> None:
        super().__init__()
        c = channels
        self.shape = (2 * c, image_size // 4, image_size // 4)
        self.hidden = nn.Sequential(
            nn.Linear(in_features, 8 * c),
            nn.ReLU(),
            nn.Linear(8 * c, 2 * c * self.shape[1] * self.shape[2]),
            nn.ReLU(),
        )
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, 2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(c, image_channels, 4, 2, padding=1),
        )

    def forward(self, z: torch.Tensor, *cond: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, *(c.to(z.dtype) for c in cond)], 1) if cond else z
        h = self.hidden(h).view(-1, *self.shape)
        return torch.sigmoid(self.upsample(h).float())  # fp32, for the BCE under autocast


class UpsamplingGenerator(nn.Module):
    """DCGAN's generator: ``(z, *cond) -> image`` in ``[0, 1]``: ``z`` joined by ``cond``
    (``in_features`` counts both), projected to a ``width x H/4 x W/4`` map, then two
    transposed convs (H/4 -> H/2 -> H) with batch norm and ReLU before each, and a sigmoid (in
    fp32 even under autocast)."""

    def __init__(
        self, image_size: int, in_features: int, width: int, image_channels: int = 1
    ) -> None:
        super().__init__()
        self.shape = (width, image_size // 4, image_size // 4)
        self.project = nn.Linear(in_features, width * self.shape[1] * self.shape[2], bias=False)
        self.upsample = nn.Sequential(
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, width // 2, 4, 2, padding=1, bias=False),  # H/2
            nn.BatchNorm2d(width // 2),
            nn.ReLU(),
            nn.ConvTranspose2d(width // 2, image_channels, 4, 2, padding=1),  # H
        )

    def forward(self, z: torch.Tensor, *cond: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, *(c.to(z.dtype) for c in cond)], 1) if cond else z
        h = self.project(h).view(-1, *self.shape)
        return torch.sigmoid(self.upsample(h).float())  # fp32 output
