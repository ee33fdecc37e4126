"""The "classical" augmentation baseline: random affine + elastic transforms."""

from __future__ import annotations

import torch


def classical_transform(settings: dict):
    """torchvision.transforms.v2 pipeline from the config's ``augment.classical`` block."""
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


def classical_pool(
    images: torch.Tensor, n_per_image: int, settings: dict, seed: int
) -> torch.Tensor:
    """``n_per_image`` transformed copies of every image (N x 1 x H x W in [0, 1]), each with
    its own random parameters, in the order image 0's copies, image 1's copies, ..."""
    transform = classical_transform(settings)
    state = torch.get_rng_state()
    torch.manual_seed(seed)  # v2 transforms draw from the global RNG
    try:
        copies = [transform(img) for img in images.repeat_interleave(n_per_image, dim=0)]
    finally:
        torch.set_rng_state(state)
    return torch.stack(copies).clamp_(0.0, 1.0)
