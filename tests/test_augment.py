"""The automatic augmentation policies (TrivialAugment, RandAugment, AugMix) as transform
baselines: uint8 conversion, grayscale and colour, seeding, Omniglot's black background and
their config blocks. (Every transform baseline's pool is also checked in test_classify.py and,
on colour, in test_rgb.py.)"""

from __future__ import annotations

import copy

import pytest
import torch
import yaml

from conftest import REPO, TRANSFORM_SETTINGS
from genaug.augment import TRANSFORMS, on_uint8, transform_pool
from genaug.data.tables import images_tensor
from genaug.errors import GenaugError
from genaug.workflow import check_config

POLICIES = ("trivialaugment", "randaugment", "augmix")


def levels(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Random images on the PNG grid k / 255, as ``images_tensor`` decodes them."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=gen).float().div_(255.0)


def test_uint8_round_trip_keeps_the_bits():
    """An op that leaves a pixel alone gives back exactly the float it was given."""
    from torchvision.transforms import v2

    x = levels((4, 1, 28, 28))
    assert torch.equal(
        transform_pool(x, 2, on_uint8(v2.Identity()), seed=0), x.repeat_interleave(2, 0)
    )


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 64)], ids=["grey28", "rgb64"])
@pytest.mark.parametrize("method", POLICIES)
def test_policy_pools(method, shape):
    x = levels((4, *shape))
    transform = TRANSFORMS[method](TRANSFORM_SETTINGS[method])
    out = transform_pool(x, 5, transform, seed=3)
    assert out.shape == (20, *shape) and out.dtype == torch.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert torch.equal(out, out.mul(255).round().div(255))  # still on the uint8 grid
    assert torch.equal(out, transform_pool(x, 5, transform, seed=3))
    assert not torch.equal(out, transform_pool(x, 5, transform, seed=4))
    changed = (out != x.repeat_interleave(5, 0)).flatten(1).any(1)
    assert changed.float().mean() >= 0.6  # a few ops are no-ops on some images (Identity, ...)


@pytest.mark.parametrize("method", sorted(TRANSFORMS))
def test_omniglot_background_stays_black(method, embedded):
    """Omniglot's ink is bright on black: geometric ops must fill with 0. With a fill of
    1 / 255 instead, 44% (randaugment) to 88% (augmix) of the copies keep their corners black."""
    x = images_tensor(embedded["image"].iloc[:20])
    out = transform_pool(x, 10, TRANSFORMS[method](TRANSFORM_SETTINGS[method]), seed=0)
    corners = out[:, 0][:, [0, 1, -2, -1]][:, :, [0, 1, -2, -1]].flatten(1)
    assert (corners == 0).all(1).float().mean() >= 0.9


CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.mark.parametrize(
    "block, key, value, says",
    [
        ("trivialaugment", "num_magnitude_bins", 1, "1 is less than the minimum of 2"),
        ("randaugment", "num_ops", 0, "0 is less than the minimum of 1"),
        ("randaugment", "magnitude", 31, "31 is greater than the maximum of 30"),
        ("augmix", "severity", 0, "0 is less than the minimum of 1"),
        ("augmix", "mixture_width", 2.5, "2.5 is not of type 'integer'"),
        ("augmix", "chain_depth", 0, "0 is not valid under any of the given schemas"),
        ("augmix", "all_ops", "sometimes", "'sometimes' is not of type 'boolean'"),
        ("mixup", "alpha", 0, "0 is less than or equal to the minimum of 0"),
        ("cutmix", "alpha", -1.0, "-1.0 is less than or equal to the minimum of 0"),
        ("neuralaug", "content", "l2", "'l2' is not one of ['l1', 'mse']"),
        ("neuralaug", "content_weight", -1, "-1 is less than the minimum of 0"),
    ],
)
def test_bad_augment_settings_are_one_line(block, key, value, says):
    config = copy.deepcopy(CONFIG)
    config["augment"][block][key] = value
    with pytest.raises(GenaugError) as err:
        check_config(config, REPO / "config" / "schema.yaml")
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"config error at augment.{block}.{key}: {says}")
