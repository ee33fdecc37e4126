"""The transform baselines: classical (random affine + elastic), random erasing, and the
automatic augmentation policies TrivialAugment, RandAugment and AugMix.

Each is a torchvision.transforms.v2 pipeline built from its block of the config's
``augment:`` section; :func:`transform_pool` applies it to every real training image.

The policies' ops follow PIL on uint8 images, so their pipelines convert the [0, 1] float
images to uint8 and back (:func:`on_uint8`). On 1-channel (grayscale) images every op of
their spaces runs except ``Color`` (saturation), which v2 leaves as a no-op there, as PIL
does; on 3 channels all ops run, and a grey RGB image stays grey. Geometric ops (rotate,
shear, translate) fill with 0, the background of Omniglot (bright ink on black). Three
photometric ops can still move that background, as the papers' op sets do: ``Contrast``
blends towards the image mean (lifting black), ``Solarize`` at its strongest (threshold 0)
inverts the whole image, and AugMix's mixing keeps the background only where every chain
keeps it.

MixUp and CutMix (v2.MixUp, v2.CutMix) mix pairs of images *and their labels* within a
training batch, so they cannot be a pool of hard-labelled copies built before training. They
are batch augmentations (:class:`BatchAugment`): the classifier's training loop applies them
to each batch drawn from a plan's pool (``Plan.batch_augment`` in classify.py) and takes the
cross-entropy against the soft targets they return (:class:`BatchMixer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch


def classical_transform(settings: dict):
    """Random affine (rotation, translation, scale, shear), then an elastic distortion."""
    from torchvision.transforms import v2  # imported here: torchvision costs seconds

    translate = float(settings["translate"])
    return v2.Compose(
        [
            v2.RandomAffine(
                degrees=float(settings["degrees"]),
                translate=(translate, translate),
                scale=tuple(float(s) for s in settings["scale"]),
                shear=float(settings["shear"]),
            ),
            v2.ElasticTransform(
                alpha=float(settings["elastic_alpha"]), sigma=float(settings["elastic_sigma"])
            ),
        ]
    )


def erasing_transform(settings: dict):
    """Random erasing (Zhong et al. 2020): one rectangle per image set to the background."""
    from torchvision.transforms import v2

    return v2.RandomErasing(
        p=1.0,
        scale=tuple(float(s) for s in settings["scale"]),
        ratio=tuple(float(r) for r in settings["ratio"]),
        value=0.0,
    )


def on_uint8(policy):
    """``policy`` (a v2 transform of uint8 images) on [0, 1] float images: v2.ToDtype maps
    [0, 1] onto the 256 levels (k / 255 -> k exactly); the result comes back as k / 255 by
    division, as ``images_tensor`` decodes PNGs (v2.ToDtype multiplies by 1 / 255, which is
    off by one float32 ulp for some k), so an op that leaves a pixel alone keeps its bits."""
    from torchvision.transforms import v2

    to_uint8 = v2.ToDtype(torch.uint8, scale=True)

    def apply(image: torch.Tensor) -> torch.Tensor:
        return policy(to_uint8(image)).float().div_(255.0)

    return apply


def trivialaugment_transform(settings: dict):
    """TrivialAugment (Müller & Hutter 2021), wide op space: one random op per image at a
    random magnitude of ``num_magnitude_bins``."""
    from torchvision.transforms import v2

    bins = int(settings["num_magnitude_bins"])
    return on_uint8(v2.TrivialAugmentWide(num_magnitude_bins=bins, fill=0))


def randaugment_transform(settings: dict):
    """RandAugment (Cubuk et al. 2020): ``num_ops`` random ops at one fixed ``magnitude``
    (0 .. 30, of v2's 31 bins)."""
    from torchvision.transforms import v2

    return on_uint8(
        v2.RandAugment(
            num_ops=int(settings["num_ops"]), magnitude=int(settings["magnitude"]), fill=0
        )
    )


def augmix_transform(settings: dict):
    """AugMix (Hendrycks et al. 2020): ``mixture_width`` chains of ``chain_depth`` random ops
    (-1: 1 to 3 at random) at up to ``severity`` (1 .. 10), mixed with Dirichlet weights and
    blended with the original. The paper's Jensen-Shannon consistency loss is a classifier
    loss and is not part of this augmentation-only baseline."""
    from torchvision.transforms import v2

    return on_uint8(
        v2.AugMix(
            severity=int(settings["severity"]),
            mixture_width=int(settings["mixture_width"]),
            chain_depth=int(settings["chain_depth"]),
            all_ops=bool(settings["all_ops"]),
            fill=0,
        )
    )


#: method name -> builder of its transform from the config block of the same name
TRANSFORMS = {
    "classical": classical_transform,
    "erasing": erasing_transform,
    "trivialaugment": trivialaugment_transform,
    "randaugment": randaugment_transform,
    "augmix": augmix_transform,
}


def transform_pool(images: torch.Tensor, n_per_image: int, transform, seed: int) -> torch.Tensor:
    """``n_per_image`` transformed copies of every image (N x C x H x W in [0, 1], C = 1 or 3:
    the transforms treat every channel alike), each with its own random parameters, in the
    order image 0's copies, image 1's copies, ..."""
    state = torch.get_rng_state()
    torch.manual_seed(seed)  # v2 transforms draw from the global RNG
    try:
        copies = [transform(img) for img in images.repeat_interleave(n_per_image, dim=0)]
    finally:
        torch.set_rng_state(state)
    return torch.stack(copies).clamp_(0.0, 1.0)


class AugmentRun(Protocol):
    """One training run's state of a batch augmentation (made by :meth:`BatchAugment.start`)."""

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, flag: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's images and targets after augmentation: ``x`` (B x C x H x W), ``y``
        (B integer labels) and ``flag`` (B x 1, 1 for images drawn from the pool) in; images
        and targets out, the targets integer labels or B x n_classes class probabilities."""

    def extra_loss(self) -> torch.Tensor | None:
        """A term the training loop adds to the last batch's loss before ``backward`` (an
        augmenter's own loss), or None."""

    def step(self) -> None:
        """Called after each classifier step (after ``backward``): an augmenter steps here."""


class BatchAugment(Protocol):
    """A batch augmentation of a plan (``Plan.batch_augment``): a frozen description that
    makes a fresh :class:`AugmentRun` per training run, so two runs of one plan are alike."""

    def start(self, seed: int, device: torch.device) -> AugmentRun: ...


#: method name -> the torchvision.transforms.v2 class of the batch mixer of that name
MIXERS = {"mixup": "MixUp", "cutmix": "CutMix"}


@dataclass(frozen=True)
class BatchMixer:
    """MixUp (Zhang et al. 2018) or CutMix (Yun et al. 2019) of whole batches, by
    ``v2.MixUp`` / ``v2.CutMix`` with Beta(``alpha``, ``alpha``) mixing weights: each image is
    mixed with its neighbour in the (randomly drawn) batch, and the targets are the two
    one-hot labels mixed in the same proportion (by area for CutMix). It mixes every image of
    the batch it is given (``flag`` is not read): its plans draw whole batches from the pool
    (mix "alternate")."""

    name: str
    alpha: float
    n_classes: int

    def start(self, seed: int, device: torch.device) -> Mixing:
        return Mixing(self, seed)


class Mixing:
    """One run of a :class:`BatchMixer`. v2's mixers draw their weight (and CutMix its box)
    from torch's global CPU RNG, which cannot be handed a generator; so each call runs under
    ``torch.random.fork_rng`` with the global RNG set to this run's own state (seeded from
    ``seed``), and keeps the state it leaves: the draws are one stream per run, and the
    global RNG is as it was."""

    def __init__(self, mixer: BatchMixer, seed: int) -> None:
        from torchvision.transforms import v2

        self.transform = getattr(v2, MIXERS[mixer.name])(
            alpha=mixer.alpha, num_classes=mixer.n_classes
        )
        self.state = torch.Generator().manual_seed(seed).get_state()

    def __call__(self, x: torch.Tensor, y: torch.Tensor, flag: torch.Tensor):
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.state)
            x, target = self.transform(x, y)
            self.state = torch.get_rng_state()
        return x, target

    def extra_loss(self) -> None:
        return None

    def step(self) -> None:
        pass
