"""CycleGAN, what is particular to it: it translates the other classes' images into the least
frequent class, stops with one line when that class is too small, and tops the minority up
from the other classes' training images (a translator's sources in ``generate``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from test_generation import generate_into
from tiny_models import augment, fit, make, nearest_sq_dist

from conftest import REPO, snakemake, toy_data
from genaug import io
from genaug.data.imbalance import TopUp
from genaug.data.tables import synthetic_by_real
from genaug.errors import GenaugError
from genaug.generation import train_generator, translation_sources
from genaug.scenarios import (
    FEWSHOT,
    IMBALANCE,
    Regime,
    display_regime,
    owner,
    read_split,
    write_split,
)

pytestmark = pytest.mark.usefixtures("deterministic_cpu")
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
MINORITY = 2  # the toy data's diagonal class


def imbalanced(n_minority: int, n_per_class: int = 8, seed: int = 0):
    """The toy data with the diagonal class cut to its first ``n_minority`` images."""
    x, y = toy_data(n_per_class, seed=seed)
    keep = (y != MINORITY) | (torch.arange(len(y)) % n_per_class < n_minority)
    return x[keep], y[keep]


def test_translates_the_other_classes_towards_the_least_frequent():
    """The cycle loss falls, and the translations of the other classes' images come closer
    to the minority's images than their sources are, all labelled as the minority."""
    x, y = imbalanced(3)
    model = make("cyclegan", dropout=0.0)
    logs = fit(model, x, y, steps=100, lr=2e-3, every=10)
    assert int(model.target) == MINORITY
    assert logs[-1]["cycle"] < 0.4 * logs[0]["cycle"]
    others = y != MINORITY
    out = augment(model, x[others], y[others], n=1)
    assert out.labels.tolist() == [MINORITY] * int(others.sum())
    assert out.source_index.tolist() == list(range(int(others.sum())))
    as_minority = torch.full_like(out.labels, MINORITY)
    translated, _ = nearest_sq_dist(out.images, as_minority, x, y)
    untranslated, _ = nearest_sq_dist(x[others], as_minority, x, y)
    assert translated < 0.7 * untranslated


@pytest.mark.parametrize(
    "data, hparams, message",
    [
        (
            imbalanced(1),
            {},
            "cyclegan needs at least 2 training images of the minority class (class index 2, "
            "the least frequent), it has 1: raise imbalance.fractions (or lower "
            "generators.cyclegan.hparams.min_minority), or use another method such as oversample",
        ),
        (imbalanced(3), {"min_minority": 4}, "cyclegan needs at least 4 training images"),
        (
            (toy_data(4)[0], torch.zeros(12, dtype=torch.long)),
            {},
            "the training data has one class: set imbalance.n_classes to 2 or more",
        ),
    ],
    ids=["one-minority-image", "min_minority", "one-class"],
)
def test_too_little_data_is_one_line(data, hparams, message):
    with pytest.raises(GenaugError) as err:
        fit(make("cyclegan", **hparams), *data, steps=1)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "make_it, match",
    [
        (lambda: make("cyclegan", dropout=1.0), r"dropout 1.0 is not in \[0, 1\)"),
        (lambda: make("cyclegan", min_minority=0), "min_minority 0 is below 1"),
        (lambda: augment(make("cyclegan"), *toy_data(2)), "never fit: train it"),
    ],
    ids=["dropout", "min_minority", "unfit"],
)
def test_bad_hparams_and_an_unfit_model_are_one_line(make_it, match):
    with pytest.raises(GenaugError, match=match):
        make_it()


def test_is_an_imbalance_only_method():
    assert owner("cyclegan") is IMBALANCE
    assert IMBALANCE.applies("cyclegan") and not FEWSHOT.applies("cyclegan")
    # its sample figure shows an imbalance regime, whatever scenario comes first
    both = {**CONFIG, "scenarios": ["fewshot", "imbalance"]}
    assert display_regime(both).tag == "k5" and display_regime(both, "cyclegan").tag == "frac0.1"


@pytest.mark.parametrize("n_needed", [3, 7])
def test_translation_sources_cycle_over_the_other_classes(n_needed):
    rows = pd.DataFrame({"image_id": [f"i{j}" for j in range(6)], "label": [0, 0, 1, 1, 2, 2]})
    topup = TopUp(minority=1, ratio=1.0, n_needed=n_needed, copies=1, keep=())
    picked = translation_sources(rows, topup, seed=3)
    ids = picked["image_id"].tolist()
    assert len(ids) == n_needed and list(picked.index) == list(range(n_needed))
    assert (picked["label"] != 1).all()
    assert len(set(ids[:4])) == min(4, n_needed)  # every other-class row once, then again
    assert ids[4:] == ids[: max(0, n_needed - 4)]
    assert ids == translation_sources(rows, topup, seed=3)["image_id"].tolist()
    assert ids != translation_sources(rows, topup, seed=4)["image_id"].tolist()


# --------------------------------------------------------------------------- in the workflow
SETTINGS = {
    "mode": "fit",
    "steps": 4,
    "batch_size": 8,
    "lr": 2e-4,
    "threads": 1,
    "hparams": {"base_channels": 4, "n_residual": 1, "disc_channels": 4},
}


@pytest.fixture(scope="module")
def trained(embedded, tmp_path_factory):
    """A 4-way imbalance split of the embedded target characters at fraction 0.2 (the
    minority keeps 3 of 15 training images) and a cyclegan fit on its training images."""
    tmp = tmp_path_factory.mktemp("cyclegan")
    target = embedded[embedded["role"] == "target"]["label"].unique()[:4]
    table = embedded[embedded["label"].isin(target)].reset_index(drop=True)
    block = {**CONFIG["imbalance"], "n_classes": 4}
    write_split(*IMBALANCE.split(table, 0.2, 5, block), tmp / "split.parquet", {})
    split, topup = read_split(tmp / "split.parquet")
    model = tmp / "model.pt"
    train_generator(
        "cyclegan", SETTINGS, table, split, 1, 28, "cpu", 1, model, tmp / "log.csv", tmp / "s.png"
    )
    return table, split, topup, model


def generate_topup(trained, out, topup=None):
    """:func:`generate` at fraction 0.2 into ``out``, with the split's top-up or ``topup``."""
    table, split, split_topup, model = trained
    regime = Regime("imbalance", 0.2)
    return generate_into(out, model, table, split, regime, topup=topup or split_topup)


def test_generate_tops_the_minority_up_with_translations(trained, tmp_path):
    """The top-up's size, all of the minority class, each from a different training image of
    another class (the row ``source_image_id`` names), the same for the same seed."""
    _, split, topup, _ = trained
    train = split[split["split"] == "train"]
    others = train.loc[train["label"] != topup.minority, "image_id"]
    assert topup.n_needed == 15 - 3
    synth = generate_topup(trained, tmp_path / "a")
    assert len(synth) == topup.n_needed and (synth["label"] == topup.minority).all()
    sources = synth["source_image_id"].tolist()
    assert set(sources) <= set(others) and len(set(sources)) == len(sources)
    again = generate_topup(trained, tmp_path / "b")
    assert again["image"].tolist() == synth["image"].tolist()
    assert again["source_image_id"].tolist() == sources
    assert io.read_parquet_meta(tmp_path / "a.parquet")["config"]["ratio"] == topup.ratio
    # the sample figure: a row per source, the source then its translation
    rows, labels = synthetic_by_real(trained[0], split, synth, n_real=8, n_per_real=8)
    assert [r.shape for r in rows] == [(2, 28, 28)] * 8
    assert all(f"class {topup.minority} from " in t for t in labels)
    assert f"from {topup.minority}" not in " ".join(labels)


def test_generate_stops_when_the_model_was_fit_towards_another_class(trained, tmp_path):
    _, split, topup, _ = trained
    other = int(np.setdiff1d(split["label"].unique(), [topup.minority])[0])
    with pytest.raises(GenaugError, match=rf"makes class\(es\) \[{topup.minority}\], not the "):
        generate_topup(trained, tmp_path / "a", dataclasses.replace(topup, minority=other))


def test_the_workflow_fits_it_in_the_imbalance_scenario_only(tmp_path):
    proc = snakemake(
        tmp_path,
        "-n",
        "all",
        "--config",
        "methods=[none,cyclegan]",
        "scenarios=[fewshot,imbalance]",
        "replicates=[0,1]",
    )
    jobs = [line for line in proc.stdout.splitlines() if "generator=cyclegan" in line]
    regimes = {
        part.split("=")[1] for line in jobs for part in line.split(", ") if "regime=" in part
    }
    assert regimes == {"frac0.1", "frac0.5"}, proc.stdout
