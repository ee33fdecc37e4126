"""The quality metrics of synthetic images against cases with a known answer, on a separable
toy set: four classes of 16 x 16 images, each a bright bar in its own rows over noise."""

from __future__ import annotations

import math
import re

import pytest
import torch

from genaug import classify, quality
from genaug.data.fewshot import fewshot_split
from genaug.data.tables import images_tensor, split_rows
from genaug.errors import GenaugError
from genaug.scenarios import parse_regime

N_CLASSES = 4
#: short training: the toy classes are separable after a few dozen steps
FAST = {"steps": 60, "batch_size": 16}


def toy(n_per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(N_CLASSES).repeat_interleave(n_per_class)
    x = torch.rand(len(y), 1, 16, 16, generator=g) * 0.3
    for i, c in enumerate(y.tolist()):
        x[i, 0, 1 + 4 * c : 3 + 4 * c, 2:14] += 0.7
    return x.clamp(0, 1), y


@pytest.fixture(scope="module")
def train():
    return toy(10, seed=0)


@pytest.fixture(scope="module")
def heldout():
    return toy(10, seed=1)


@pytest.fixture(scope="module")
def other():
    """New images of the same distribution: a generator that works."""
    return toy(25, seed=2)


@pytest.fixture(scope="module")
def encoder(train):
    return quality.train_encoder(*train, seed=0, settings=FAST)


@pytest.fixture(scope="module")
def feats(encoder, train, heldout, other):
    sets = {"train": train, "heldout": heldout, "other": other}
    return {name: quality.features(encoder[0], x) for name, (x, _) in sets.items()}


def test_encoder_is_deterministic_under_its_seed(encoder, train, heldout):
    enc, sha = encoder
    again, sha_again = quality.train_encoder(*train, seed=0, settings=FAST)
    _, sha_other = quality.train_encoder(*train, seed=1, settings=FAST)
    assert sha == sha_again != sha_other
    assert len(sha) == 64
    assert torch.equal(quality.features(enc, heldout[0]), quality.features(again, heldout[0]))
    assert quality.features(enc, heldout[0]).shape == (len(heldout[0]), enc.num_features)


def test_identical_sets_have_no_distance_and_full_precision_recall(encoder, heldout, feats):
    assert quality.fidelity(encoder[0], heldout[0], heldout[0], seed=0)["fd"] == pytest.approx(
        0, abs=1e-6
    )
    scores = quality.prdc(feats["heldout"], feats["heldout"])
    assert scores == {"precision": 1, "recall": 1, "density": 1, "coverage": 1, "prdc_k": 5}


def test_a_shifted_set_is_far(encoder, heldout, other):
    same = quality.fidelity(encoder[0], heldout[0], other[0], seed=0)
    shifted_images = 1 - other[0]
    shifted = quality.fidelity(encoder[0], heldout[0], shifted_images, seed=0)
    assert shifted["fd"] > 20 * same["fd"]
    assert shifted["kid"] > same["kid"] + 3 * shifted["kid_se"]
    real, fake = (quality.features(encoder[0], x) for x in (heldout[0], shifted_images))
    assert quality.prdc(real, fake)["precision"] < 0.5


def test_kid_subsets_follow_the_seed(encoder, heldout, other):
    runs = [quality.fidelity(encoder[0], heldout[0], other[0], seed=s)["kid"] for s in (0, 0, 1)]
    assert runs[0] == runs[1] != runs[2]


def test_prdc_k_shrinks_to_tiny_sets(feats):
    assert quality.prdc(feats["heldout"][:3], feats["other"])["prdc_k"] == 2


@pytest.mark.parametrize(
    ("synthetic", "memorised", "nn_ratio"),
    [("copies", 1.0, 0.0), ("heldout", quality.MEMORISATION_QUANTILE, 1.0)],
)
def test_memorisation(feats, synthetic, memorised, nn_ratio):
    """Copies of training images are all memorised; the held-out images themselves sit at the
    threshold's quantile by construction (2 of 40 at the 5th percentile)."""
    copied = torch.arange(0, 40, 3)
    syn = feats["train"][copied] if synthetic == "copies" else feats["heldout"]
    result = quality.memorisation(syn, feats["train"], feats["heldout"])
    assert result.memorised == pytest.approx(memorised)
    assert result.nn_ratio == pytest.approx(nn_ratio)
    if synthetic == "copies":
        assert torch.equal(result.nearest, copied)


def _repeat(x: torch.Tensor, y: torch.Tensor, times: int):
    """Each image ``times`` times, with the index of the image it copies."""
    return (
        x.repeat_interleave(times, 0),
        y.repeat_interleave(times),
        torch.arange(len(x)).repeat_interleave(times),
    )


@pytest.mark.parametrize("conditioning", ["image", "class"])
def test_a_method_that_returns_its_input_has_no_diversity(
    encoder, train, heldout, feats, conditioning
):
    x, y = train if conditioning == "image" else (train[0][::10], train[1][::10])
    syn_x, syn_y, source = _repeat(x, y, 4)
    if conditioning == "class":  # a class-conditional generator ignoring its noise
        source = torch.full_like(source, -1)
    syn = quality.features(encoder[0], syn_x)
    assert quality.diversity(syn, syn_y, source, feats["heldout"], heldout[1]) == 0


def test_diversity_of_real_images_is_one_and_of_noise_positive(encoder, heldout, feats):
    real_y = heldout[1]
    assert quality.diversity(
        feats["heldout"], real_y, None, feats["heldout"], real_y
    ) == pytest.approx(1)
    noise = torch.rand(40, 1, 16, 16, generator=torch.Generator().manual_seed(5))
    _, syn_y, source = _repeat(heldout[0][:10], real_y[:10], 4)
    syn = quality.features(encoder[0], noise)
    assert quality.diversity(syn, syn_y, source, feats["heldout"], real_y) > 0.1


def _shuffled(y: torch.Tensor) -> torch.Tensor:
    return y[torch.randperm(len(y), generator=torch.Generator().manual_seed(7))]


@pytest.mark.parametrize(("labels", "low", "high"), [("correct", 0.9, 1.0), ("shuffled", 0.1, 0.4)])
def test_label_consistency(train, other, feats, labels, low, high):
    y = other[1] if labels == "correct" else _shuffled(other[1])
    assert low <= quality.label_consistency(feats["other"], y, feats["train"], train[1]) <= high


@pytest.mark.parametrize(("labels", "low", "high"), [("correct", 0.9, 1.0), ("shuffled", 0.0, 0.5)])
def test_cas(heldout, other, feats, labels, low, high):
    y = other[1] if labels == "correct" else _shuffled(other[1])
    assert low <= quality.cas(feats["other"], y, feats["heldout"], heldout[1]) <= high


def test_cas_of_one_class_is_nan(heldout, other, feats):
    one = other[1] == 0
    assert math.isnan(quality.cas(feats["other"][one], other[1][one], feats["heldout"], heldout[1]))


def test_quality_row_has_every_metric(encoder, train, heldout):
    syn_x, syn_y, source = _repeat(*train, 3)
    row = quality.quality_row(encoder[0], syn_x, syn_y, source, *train, *heldout, seed=0)
    assert set(row) == set(
        "n_synthetic n_reference fd kid kid_se precision recall density coverage prdc_k "
        "diversity memorised nn_ratio label_consistency cas".split()
    )
    assert all(isinstance(v, float) for v in row.values())
    copies = {"n_synthetic": 120, "diversity": 0, "memorised": 1, "label_consistency": 1}
    assert {key: row[key] for key in copies} == copies


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty", "synthetic images: 0 image"),
        ("single", "synthetic images: 1 image"),
        ("no reference", "synthetic class 9 has 0 real training and 0 test"),
        ("out of range", "expected float images in [0, 1]"),
        ("one per source", "diversity needs at least two synthetic images of one source"),
        ("label count", "synthetic labels: expected 40 labels"),
    ],
)
def test_bad_input_gets_one_line(encoder, train, heldout, case, message):
    x, y = train
    source = torch.arange(len(x))
    if case in {"empty", "single"}:
        n = 0 if case == "empty" else 1
        x, y, source = x[:n], y[:n], source[:n]
    elif case == "no reference":
        y = torch.where(y == 3, 9, y)
    elif case == "out of range":
        x = x * 255
    elif case == "label count":
        y = y[:-1]
    with pytest.raises(GenaugError, match=re.escape(message)) as err:
        quality.quality_row(encoder[0], x, y, source, *train, *heldout, seed=0)
    assert "\n" not in str(err.value)


def test_the_encoder_needs_two_classes(train):
    with pytest.raises(GenaugError, match="at least 2 classes"):
        quality.train_encoder(train[0][:10], train[1][:10], seed=0, settings=FAST)


# --------------------------------------------------------------------------- the workflow stage
@pytest.fixture(scope="module")
def small_table(embedded):
    """Two source and three target classes of the embedded data, and a 2-shot split."""
    source = embedded[embedded["role"] == "source"]["label"].unique()[:2]
    target = embedded[embedded["role"] == "target"]["label"].unique()[:3]
    table = embedded[embedded["label"].isin([*source, *target])].reset_index(drop=True)
    return table, fewshot_split(table, k=2, k_max=2, seed=0)


@pytest.mark.parametrize("on_source", [True, False])
def test_encoders_learn_from_source_or_split_and_round_trip(small_table, tmp_path, on_source):
    table, split = small_table
    encoders = quality.train_encoders(table, {"k2-seed0": split}, on_source, 0, FAST, "cpu")
    scope = "source" if on_source else "seed0"
    assert list(encoders) == [scope]
    trained = quality.encoder_for(encoders, "k2-seed0")
    assert trained.trained_on == (
        "the source classes: 40 images of 2 classes"
        if on_source
        else "the replicate's training images: 6 images of 3 classes"
    )
    path = tmp_path / "encoders.pt"
    quality.save_encoders(encoders, path)
    loaded = quality.load_encoders(path)[scope]
    images = images_tensor(table["image"].head(4))
    assert loaded.sha256 == trained.sha256
    assert torch.equal(
        quality.features(loaded.encoder, images), quality.features(trained.encoder, images)
    )
    entries = torch.load(path, weights_only=True)
    entries[scope]["state_dict"]["head.bias"] += 1  # a changed weight
    torch.save(entries, path)
    with pytest.raises(GenaugError, match="does not match its recorded sha256"):
        quality.load_encoders(path)


def test_a_replicates_encoder_learns_from_all_its_regimes_but_no_test_image(small_table):
    table = small_table[0]
    splits = {f"k{k}-seed0": fewshot_split(table, k=k, k_max=2, seed=0) for k in (1, 2)}
    rows = quality.replicate_training_rows(table, splits)["seed0"]
    assert sorted(rows["image_id"]) == sorted(
        split_rows(table, splits["k2-seed0"], "train")["image_id"]
    )
    # a k = 1 split drawn with another k_max tests on an image the k = 2 split trains on
    splits["k1-seed0"] = fewshot_split(table, k=1, k_max=1, seed=0)
    with pytest.raises(GenaugError, match="split k1-seed0: a training image of another regime"):
        quality.replicate_training_rows(table, splits)


def test_a_method_that_adds_nothing_has_nothing_to_measure(small_table):
    table, split = small_table
    run = classify.prepare(
        "none", parse_regime("k2"), 0, table, split, None, {}, {"n_per_image": 2}
    )
    trained = quality.TrainedEncoder(None, "", "", {})
    with pytest.raises(GenaugError, match="the method added no images, so there is nothing"):
        quality.assess(run, trained, seed=0)
