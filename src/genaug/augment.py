"""The transform baselines: classical (random affine + elastic) and random erasing.

Each is a torchvision.transforms.v2 pipeline built from its block of the config's
``augment:`` section; :func:`transform_pool` applies it to every real training image.
"""

from __future__ import annotations

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


#: method name -> builder of its transform from the config block of the same name
TRANSFORMS = {"classical": classical_transform, "erasing": erasing_transform}


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
