"""The classifiers every condition is scored with, chosen by ``classifier.arch``:

- ``conv4``: the few-shot "Conv-4" (Vinyals et al., 2016; Snell et al., 2017), :class:`ConvNet`;
- ``densenet``: the DAGAN protocol's classifier (Antoniou et al., 2017, as described by the
  PyTorch port): a small DenseNet whose pooled features are concatenated with a
  real/generated flag, then two dense layers, :class:`DenseNetFlag`.

Both take ``forward(x, is_synthetic=None)`` so the training loop treats them alike (ConvNet
ignores the flag). Training lives elsewhere; this module is only the networks."""

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

    def forward(self, x: torch.Tensor, is_synthetic: torch.Tensor | None = None) -> torch.Tensor:
        """``B x n_classes`` logits; ``is_synthetic`` is accepted for a common interface and
        ignored."""
        return self.head(self.embed(x))


class DenseLayer(nn.Module):
    """BatchNorm -> ReLU -> conv3x3 giving ``growth`` new channels, concatenated to its input."""

    def __init__(self, in_channels: int, growth: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(),
            nn.Conv2d(in_channels, growth, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], 1)


class DenseBlock(nn.Sequential):
    """``n_layers`` :class:`DenseLayer` s: ``in_channels + n_layers * growth`` channels out."""

    def __init__(self, in_channels: int, n_layers: int, growth: int) -> None:
        super().__init__(*(DenseLayer(in_channels + i * growth, growth) for i in range(n_layers)))
        self.out_channels = in_channels + n_layers * growth


class Transition(nn.Sequential):
    """BatchNorm -> ReLU -> conv1x1 -> AvgPool2 (halves the size, rounding down)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.AvgPool2d(2),
        )


class DenseNetFlag(nn.Module):
    """The DAGAN protocol's classifier: a small DenseNet trunk (a conv3x3 stem of ``2 * growth``
    channels, one :class:`DenseBlock` per entry of ``block_layers`` with a compressing
    (x 0.5) :class:`Transition` between blocks, a final BatchNorm-ReLU), global average
    pooling, the pooled features concatenated with a ``B x 1`` real(0)/synthetic(1) flag,
    then Linear(``hidden``) -> ReLU -> Linear(``n_classes``).

    With the default three blocks a 28 x 28 image is pooled at 7 x 7 (32: 8, 64: 16).
    """

    def __init__(
        self,
        n_classes: int,
        image_size: int = 28,
        growth: int = 12,
        block_layers: tuple[int, ...] = (4, 4, 4),
        in_channels: int = 1,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        if n_classes < 1:
            raise GenaugError(f"the classifier needs n_classes >= 1, got {n_classes}")
        if growth < 1 or not block_layers or min(block_layers) < 1:
            raise GenaugError(
                f"DenseNetFlag needs growth >= 1 and block_layers of positive counts, got "
                f"growth={growth}, block_layers={tuple(block_layers)}"
            )
        if image_size < 2 ** (len(block_layers) - 1):
            raise GenaugError(
                f"image_size {image_size} is too small for {len(block_layers)} dense blocks: "
                f"use >= {2 ** (len(block_layers) - 1)}"
            )
        channels = 2 * growth
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)]
        for i, n_layers in enumerate(block_layers):
            block = DenseBlock(channels, n_layers, growth)
            layers.append(block)
            channels = block.out_channels
            if i < len(block_layers) - 1:
                layers.append(Transition(channels, channels // 2))
                channels //= 2
        layers += [nn.BatchNorm2d(channels), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.n_features = channels
        self.head = nn.Sequential(
            nn.Linear(channels + 1, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``B x n_features`` pooled trunk features (before the flag and the head)."""
        return self.pool(self.features(x)).flatten(1)

    def forward(self, x: torch.Tensor, is_synthetic: torch.Tensor | None = None) -> torch.Tensor:
        """``B x n_classes`` logits; ``is_synthetic`` is a ``B`` or ``B x 1`` float flag
        (1 = generated/augmented, 0 = real); None means all real."""
        h = self.embed(x)
        if is_synthetic is None:
            flag = h.new_zeros(len(h), 1)
        else:
            flag = is_synthetic.reshape(len(h), 1).to(device=h.device, dtype=h.dtype)
        return self.head(torch.cat([h, flag], 1))


CLASSIFIERS: dict[str, type[nn.Module]] = {"conv4": ConvNet, "densenet": DenseNetFlag}


def make_classifier(
    arch: str, n_classes: int, image_size: int, width: int, in_channels: int = 1
) -> nn.Module:
    """The classifier named ``arch`` (config ``classifier.arch``), sized by ``width``
    (config ``classifier.width``): for ``conv4`` the channels of every block, for
    ``densenet`` the growth rate (channels each dense layer adds; the stem has ``2 * width``).
    ``in_channels`` is the images' channel count: 1 (grayscale) or 3 (RGB).

    A Conv-4's weights are channels-last, so its feature maps are too: on the CPU, PyTorch's
    max pooling and batch norm are vectorised for that layout only, and a training step takes
    about 60% of the time it takes in the default layout (the same numbers to float
    rounding)."""
    if arch == "conv4":
        net = ConvNet(n_classes, image_size=image_size, width=width, in_channels=in_channels)
        return net.to(memory_format=torch.channels_last)
    if arch == "densenet":
        return DenseNetFlag(n_classes, image_size=image_size, growth=width, in_channels=in_channels)
    choices = ", ".join(sorted(CLASSIFIERS))
    raise GenaugError(
        f"unknown classifier {arch!r}: choose one of {choices} in config `classifier.arch`"
    )
