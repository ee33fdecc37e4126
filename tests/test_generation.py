"""Generator training and generation on real (embedded) data: outputs, provenance, and no
generator ever sees a test image."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, train_into
from genaug import io
from genaug.data.fewshot import fewshot_split
from genaug.data.tables import ids_sha256
from genaug.generation import check_trained_on, generate, train_generator, training_rows
from genaug.provenance import sha256_file
from genaug.scenarios import Regime

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
SETTINGS = {
    "dagan": {
        "mode": "transfer",
        "steps": 4,
        "batch_size": 8,
        "lr": 1e-4,
        "threads": 1,
        "hparams": {"base_channels": 4, "critic_channels": 4, "z_dim": 4, "n_critic": 1},
    },
    "cvae": {
        "mode": "fit",
        "steps": 6,
        "batch_size": 8,
        "lr": 1e-3,
        "threads": 1,
        "hparams": {"latent_dim": 4, "hidden_channels": 4},
    },
}


def generate_into(out: Path, model: Path, table, split, regime, **kwargs) -> pd.DataFrame:
    """:func:`generate` with 3 images per real one and seed 5, into ``out``.parquet and
    ``out``.shards."""
    return generate(
        model,
        table,
        split,
        regime=regime,
        n_per_image=3,
        seed=5,
        device="cpu",
        out_table=out.with_suffix(".parquet"),
        out_shards=out.with_suffix(".shards"),
        shard_size=10,
        **kwargs,
    )


@pytest.fixture(scope="module")
def small(embedded) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three source and four target characters of the embedded data, and a 2-shot split."""
    source = embedded[embedded["role"] == "source"]["label"].unique()[:3]
    target = embedded[embedded["role"] == "target"]["label"].unique()[:4]
    table = embedded[embedded["label"].isin([*source, *target])].reset_index(drop=True)
    return table, fewshot_split(table, k=2, k_max=3, seed=5)


@pytest.mark.parametrize("name", ["dagan", "cvae"])
def test_train_then_generate(name, small, tmp_path):
    table, split = small
    fit_split = None if SETTINGS[name]["mode"] == "transfer" else split
    out = {f: tmp_path / f for f in ("model.pt", "log.csv", "samples.png")}
    train_into(tmp_path, name, SETTINGS[name], table, fit_split)
    log = pd.read_csv(out["log.csv"])
    assert log["step"].iloc[-1] == SETTINGS[name]["steps"]
    assert np.isfinite(log.drop(columns="step").to_numpy()).all()
    assert out["samples.png"].stat().st_size > 0

    # the model was trained on exactly what its mode allows, never on a test image
    assert check_trained_on(out["model.pt"], table, fit_split)
    seen = set(training_rows(table, fit_split)["image_id"])
    assert not seen & set(split.loc[split["split"] == "test", "image_id"])
    extra = torch.load(out["model.pt"], weights_only=True)["extra"]
    assert extra["train_images_sha256"] == ids_sha256(seen)
    assert extra["provenance"]["seed"] == 1 and extra["provenance"]["code_version"]

    synth = generate_into(tmp_path / "s", out["model.pt"], table, split, Regime("fewshot", 2))
    train = split[split["split"] == "train"]
    assert len(synth) == 3 * len(train)
    assert sorted(synth["label"].unique()) == sorted(train["label"].unique())
    assert (synth["checkpoint_sha256"] == sha256_file(out["model.pt"])).all()
    if name == "dagan":  # made from a real training image
        assert set(synth["source_image_id"]) == set(train["image_id"])
    else:  # sampled per class
        assert synth["source_image_id"].isna().all()
    assert io.read_parquet_meta(tmp_path / "s.parquet")["checkpoint_sha256"] == sha256_file(
        out["model.pt"]
    )
    shards = io.read_shards(tmp_path / "s.shards").set_index("sample_id")
    assert shards.loc[synth["sample_id"], "image"].tolist() == synth["image"].tolist()
    assert shards.loc[synth["sample_id"], "label"].tolist() == synth["label"].tolist()

    # same checkpoint, same seed: the same synthetic images
    again = generate_into(tmp_path / "t", out["model.pt"], table, split, Regime("fewshot", 2))
    assert again["image"].tolist() == synth["image"].tolist()


def test_finetune_never_sees_a_test_image(small, tmp_path):
    """Mode finetune: the pretraining sees the source images only, the fine-tuning the
    replicate's training images only, from the pretrained weights (at a learning rate too
    small to move them, they stay); the checkpoint's fingerprint covers both stages."""
    from genaug.errors import GenaugError

    table, split = small
    settings = {**SETTINGS["cvae"], "mode": "finetune", "finetune_steps": 2, "finetune_lr": 1e-12}
    pre, fine = tmp_path / "pre", tmp_path / "fine"

    pretrained = train_into(pre, "cvae", settings, table, None)
    tuned = train_into(fine, "cvae", settings, table, split, pretrained=pre / "model.pt")
    source = training_rows(table, None)
    seen = set(training_rows(table, split)["image_id"])
    test = set(split.loc[split["split"] == "test", "image_id"])
    assert not (seen | set(source["image_id"])) & test
    assert pretrained["extra"]["mode"] == "pretrain" and tuned["extra"]["mode"] == "finetune"
    assert tuned["extra"]["train_images_sha256"] == ids_sha256(seen)
    assert tuned["extra"]["pretrain_images_sha256"] == ids_sha256(source["image_id"])
    assert tuned["extra"]["pretrained_sha256"] == sha256_file(pre / "model.pt")
    assert check_trained_on(pre / "model.pt", table, None)
    assert check_trained_on(fine / "model.pt", table, split)
    # a table with other source images than the pretraining saw: the check fails
    fewer_source = table.drop(index=table.index[table["role"] == "source"][:1])
    assert not check_trained_on(fine / "model.pt", fewer_source, split)
    assert pd.read_csv(fine / "log.csv")["step"].iloc[-1] == 2

    # the fine-tuning started from the pretrained weights; the class columns are new
    n_target = split.loc[split["split"] == "train", "label"].nunique()
    for key, weight in tuned["state_dict"].items():
        if key in ("encoder.hidden.0.weight", "decoder.hidden.0.weight"):
            assert weight.shape[1] - pretrained["state_dict"][key].shape[1] == n_target - 3
        else:
            torch.testing.assert_close(weight, pretrained["state_dict"][key], rtol=0, atol=1e-8)
    synth = generate_into(tmp_path / "s", fine / "model.pt", table, split, Regime("fewshot", 2))
    assert set(synth["label"]) == set(training_rows(table, split)["label"])

    # fine-tuning from a checkpoint that is not this table's pretraining: one line
    with pytest.raises(GenaugError, match="pretrained on other images.*delete it"):
        train_into(
            tmp_path / "a", "cvae", settings, fewer_source, split, pretrained=pre / "model.pt"
        )
    with pytest.raises(GenaugError, match=r"not a pretrained cvae .*mode 'finetune'"):
        train_into(tmp_path / "b", "cvae", settings, table, split, pretrained=fine / "model.pt")


def test_transfer_needs_source_classes(small, tmp_path):
    from genaug.errors import GenaugError

    table, _ = small
    with pytest.raises(GenaugError, match="no source images"):
        training_rows(table[table["role"] == "target"], None)


def test_generate_makes_the_topup_its_split_decided(small, tmp_path):
    """Imbalance: the synthetic images are the top-up stored with the split: its count, the
    minority label, and the minority's real images as sources in turn."""
    from genaug.errors import GenaugError
    from genaug.scenarios import IMBALANCE, Regime, read_split, write_split

    table, _ = small
    block = {**CONFIG["imbalance"], "n_classes": 4, "ratio": 0.6}
    write_split(*IMBALANCE.split(table, 0.2, 5, block), tmp_path / "split.parquet", {})
    split, topup = read_split(tmp_path / "split.parquet")
    out = {f: tmp_path / f for f in ("model.pt", "log.csv", "samples.png")}
    train_generator("dagan", SETTINGS["dagan"], table, None, 1, 28, "cpu", 1, *out.values())
    make = partial(
        generate_into, tmp_path / "s", out["model.pt"], table, split, Regime("imbalance", 0.2)
    )
    with pytest.raises(GenaugError, match="no minority top-up"):
        make()
    synth = make(topup=topup)
    minority = split[(split["split"] == "train") & (split["label"] == topup.minority)]
    ids = minority["image_id"].tolist()
    assert 0 < topup.n_needed == len(synth) and (synth["label"] == topup.minority).all()
    assert topup.copies > 1 and len(ids) > 1  # several copies of several sources
    expected = [ids[k // topup.copies] for k in topup.keep]
    assert synth["source_image_id"].tolist() == expected == (ids * topup.copies)[: len(synth)]
    assert io.read_parquet_meta(tmp_path / "s.parquet")["config"]["ratio"] == 0.6
