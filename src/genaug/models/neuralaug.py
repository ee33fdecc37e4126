"""Neural augmentation (Perez & Wang 2017, "The Effectiveness of Data Augmentation in Image
Classification using Deep Learning"): a small augmentation network, trained jointly with the
classifier, that takes two training images of one class and returns a new image of it.

:class:`Augmenter` is a U-Net-lite: the two images concatenated on channels, two convs at full
size, a stride-2 conv to half size, a transposed conv back, the full-size features joined
(skip connection), and a conv to the image's channels. That conv's output is added to the
first image's logit and squashed by a sigmoid, so outputs lie in [0, 1] and an untrained
augmenter already returns a noisy copy of its first image (a residual; the paper's networks
make the image from scratch, which a classify job's 50 augmenter steps on the CPU cannot
learn: from scratch, seed 3 of the default config's few-shot k = 5 task fell to 27 %
accuracy against 64 % for ``none``). Its loss is the classifier's loss on the batch holding
its images plus ``content_weight`` x a content term, the L1 or mean squared difference
between each output and the first of its two inputs (:func:`content_loss`: the paper's
simple variant, without the style term); it has its own Adam optimiser.

:class:`NeuralAugment` is the plan's batch augmentation (:class:`genaug.augment.BatchAugment`):
each image a batch draws from the pool (``flag`` 1) is replaced by the augmenter's output for
it and a partner image of its class, drawn from the run's own generator among the partner
candidates (few-shot: every training image; imbalance: the minority's). The classifier's
backward pass carries the gradient of its loss into the augmenter, which then steps
(:meth:`Augmenting.step`): one augmenter step on every classifier step whose batch held its
images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genaug import runtime
from genaug.errors import GenaugError
from genaug.optim import Adam
from genaug.seeds import derive_seed

#: how close to 0 and 1 the first image's pixels are taken for its logit
EPS = 1e-3


class Augmenter(nn.Module):
    """``(a, b) -> image``: two images of one class (B x C x H x W in [0, 1], H and W even)
    to a new one of the same shape in [0, 1]; ``width`` feature maps at full size, twice
    that at half size."""

    def __init__(self, channels: int, width: int = 16) -> None:
        super().__init__()
        self.inp = nn.Sequential(
            nn.Conv2d(2 * channels, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
        )
        self.down = nn.Sequential(nn.Conv2d(width, 2 * width, 4, 2, padding=1), nn.ReLU())
        self.up = nn.Sequential(nn.ConvTranspose2d(2 * width, width, 4, 2, padding=1), nn.ReLU())
        self.out = nn.Conv2d(2 * width, channels, 3, padding=1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        h = self.inp(torch.cat([a, b], 1))
        delta = self.out(torch.cat([h, self.up(self.down(h))], 1))
        return torch.sigmoid(torch.logit(a, eps=EPS) + delta)


#: the content term's per-pixel difference, by ``augment.neuralaug.content``
CONTENT = {"l1": F.l1_loss, "mse": F.mse_loss}


def content_loss(output: torch.Tensor, first: torch.Tensor, kind: str, mask: torch.Tensor):
    """The mean ``kind`` ("l1" or "mse") difference between each output image and the first
    of its inputs, over the images whose ``mask`` (B x 1) is 1 (0 when there are none)."""
    per_image = CONTENT[kind](output, first, reduction="none").flatten(1).mean(1)
    mask = mask.flatten().to(per_image.dtype)
    return (per_image * mask).sum() / mask.sum().clamp(min=1.0)


@dataclass(frozen=True)
class NeuralAugment:
    """The neuralaug batch augmentation of one plan: ``settings`` is the config block
    ``augment.neuralaug`` (``width``, ``lr``, ``content``, ``content_weight``), ``partners``
    the images and labels that partner images are drawn from, of ``n_classes`` classes."""

    settings: dict
    partners: tuple[torch.Tensor, torch.Tensor]
    n_classes: int

    def __post_init__(self) -> None:
        kind = self.settings["content"]
        if kind not in CONTENT:
            raise GenaugError(
                f"unknown neuralaug content loss {kind!r}: set augment.neuralaug.content to "
                f"one of {sorted(CONTENT)}"
            )

    def start(self, seed: int, device: torch.device) -> Augmenting:
        return Augmenting(self, seed, device)


class Augmenting:
    """One run of :class:`NeuralAugment`: the augmenter (initialised from a seed derived
    from the run's, without touching the global RNG), its Adam optimiser and the partner
    draws (a private generator, also derived from the run's seed)."""

    def __init__(self, spec: NeuralAugment, seed: int, device: torch.device) -> None:
        self.kind = spec.settings["content"]
        self.weight = float(spec.settings["content_weight"])
        x, y = spec.partners
        order = torch.argsort(y, stable=True)
        self.x = x[order].to(device)
        counts = torch.bincount(y, minlength=spec.n_classes)
        self.counts = counts.float()
        self.offsets = torch.cumsum(counts, 0) - counts
        self.last = len(y) - 1
        self.rng = runtime.rng(derive_seed(seed, "neuralaug-partners"))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, "neuralaug"))
            self.net = Augmenter(x.shape[1], int(spec.settings["width"]))
        self.net.to(device).train()
        self.optimizer = Adam(self.net.parameters(), lr=float(spec.settings["lr"]))
        self.loss: torch.Tensor | None = None

    def partner(self, y: torch.Tensor) -> torch.Tensor:
        """A random candidate image of each label in ``y`` (perhaps the image itself). A label
        without candidates (a real image of another class, in imbalance) gets some image: its
        output is not used."""
        y = y.cpu()
        pick = (torch.rand(len(y), generator=self.rng) * self.counts[y]).long()
        return self.x[(self.offsets[y] + pick).clamp(max=self.last).to(self.x.device)]

    def __call__(self, x: torch.Tensor, y: torch.Tensor, flag: torch.Tensor):
        self.optimizer.zero_grad(set_to_none=True)
        out = self.net(x, self.partner(y))
        self.loss = self.weight * content_loss(out, x, self.kind, flag)
        return torch.where(flag.view(-1, 1, 1, 1) > 0, out, x), y

    def extra_loss(self) -> torch.Tensor | None:
        return self.loss

    def step(self) -> None:
        if self.loss is not None:
            self.optimizer.step()
            self.loss = None
