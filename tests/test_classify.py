"""The classifier protocol: determinism, pairing across methods, metrics."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from conftest import TRANSFORM_SETTINGS
from genaug import classify
from genaug.augment import TRANSFORMS, transform_pool
from genaug.data.fewshot import fewshot_split
from genaug.workflow import Regime

K3 = Regime("fewshot", 3)
AUGMENT = {"n_per_image": 2, "ratio": 1.0, **TRANSFORM_SETTINGS}
SETTINGS = {"steps": 30, "batch_size": 16, "lr": 1e-3, "width": 8}


@pytest.fixture(scope="module")
def task(embedded):
    target = embedded[embedded["role"] == "target"]["label"].unique()[:5]
    table = embedded[embedded["label"].isin(target)].reset_index(drop=True)
    return table, fewshot_split(table, k=3, k_max=5, seed=2)


def run(task, method, synthetic=None):
    table, split = task
    return classify.run(
        method, K3, 2, table, split, synthetic, SETTINGS, AUGMENT, torch.device("cpu")
    )


def test_metrics_record(task):
    record = run(task, "none")
    assert record["n_classes"] == 5 and record["n_train_real"] == 15 and record["n_test"] == 75
    assert 0.0 <= record["accuracy"] <= 1.0
    per_class = record["per_class_accuracy"]
    assert len(per_class) == 5
    assert record["accuracy"] == pytest.approx(sum(per_class.values()) / 5)  # balanced test set
    assert record["n_train_augmented"] == 0
    prov = record["provenance"]
    assert prov["config_hash"] and prov["code_version"] and prov["seed"] is not None


def test_same_seed_same_numbers(task):
    assert run(task, "classical")["accuracy"] == run(task, "classical")["accuracy"]


def test_generator_pool_is_used_and_recorded(task):
    """A generator's synthetic table becomes the augmented pool, and its checkpoint hash
    goes into the run's provenance."""
    table, split = task
    none = run(task, "none")
    train = split[split["split"] == "train"].merge(table, on=["image_id", "label"])
    copies = pd.DataFrame(
        {"image": train["image"], "label": train["label"], "checkpoint_sha256": "0" * 64}
    )
    augmented = run(task, "fake", synthetic=copies)
    assert augmented["n_train_augmented"] == 15
    assert none["n_train_augmented"] == 0
    assert augmented["provenance"]["checkpoint_sha256"] == ["0" * 64]


@pytest.mark.parametrize("method", sorted(TRANSFORMS))
def test_transform_pools_are_seeded_and_varied(method):
    x = torch.rand(4, 1, 28, 28)
    transform = TRANSFORMS[method](TRANSFORM_SETTINGS[method])
    a = transform_pool(x, 3, transform, seed=1)
    assert a.shape == (12, 1, 28, 28) and 0.0 <= a.min() and a.max() <= 1.0
    assert torch.equal(a, transform_pool(x, 3, transform, seed=1))
    assert not torch.equal(a, transform_pool(x, 3, transform, seed=2))
    assert not torch.equal(a[0], a[1])  # each copy has its own random parameters
    assert not torch.equal(a[0], x[0])  # and differs from the real image


def test_erasing_blanks_one_rectangle():
    x = torch.ones(2, 1, 28, 28)
    erased = transform_pool(x, 5, TRANSFORMS["erasing"](TRANSFORM_SETTINGS["erasing"]), seed=0)
    area = (erased == 0).flatten(1).float().mean(1)  # share of the image set to background
    lo, hi = TRANSFORM_SETTINGS["erasing"]["scale"]
    assert ((area >= lo * 0.8) & (area <= hi * 1.2)).all()
