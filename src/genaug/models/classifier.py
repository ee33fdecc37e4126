"""The classifier every condition is scored with: the few-shot "Conv-4" (Vinyals et al., 2016;
Snell et al., 2017). Training lives elsewhere; this module is only the network."""

from __future__ import annotations

import torch
from torch import nn

from genaug.errors import GenaugError


class ConvBlock(nn.Sequential):
    """conv3x3 -> BatchNorm -> ReLU -> MaxPool2 (halves the size, rounding down)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )


class ConvNet(nn.Module):
    """Four :class:`ConvBlock` s (28 -> 14 -> 7 -> 3 -> 1; 32 and 64 work too), global average
    pooling, then a linear layer to ``n_classes`` logits."""

    def __init__(
        self, n_classes: int, image_size: int = 28, width: int = 32, in_channels: int = 1
    ) -> None:
        super().__init__()
        if image_size < 16:
            raise GenaugError(f"image_size {image_size} is too small for Conv-4: use >= 16")
        if n_classes < 1:
            raise GenaugError(f"the classifier needs n_classes >= 1, got {n_classes}")
        self.features = nn.Sequential(
            ConvBlock(in_channels, width),
            ConvBlock(width, width),
            ConvBlock(width, width),
            ConvBlock(width, width),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(width, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``B x width`` features before the linear head."""
        return self.pool(self.features(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))
