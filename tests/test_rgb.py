"""Colour (RGB) images end to end: PNG tables -> N x 3 x H x W tensors -> generators and every
classifier -> synthetic PNGs, figures and transform baselines, at the face datasets' 64 x 64.
(Every generator on RGB: tests/models/test_contract.py.)

Tiny widths keep the file well under a minute on 2 CPU cores.
"""

from __future__ import annotations

import io as stdio

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import TRANSFORM_SETTINGS
from genaug import classify, io, plots
from genaug.augment import TRANSFORMS, transform_pool
from genaug.data import imagefolder
from genaug.data.tables import images_tensor, synthetic_by_real
from genaug.generation import generate, train_generator
from genaug.models import load_generator
from genaug.models.classifier import CLASSIFIERS, make_classifier
from genaug.scenarios import Regime

CPU = torch.device("cpu")
K2 = Regime("fewshot", 2)
AUGMENT = {"n_per_image": 2, **TRANSFORM_SETTINGS}
TINY = {
    "dagan": {"base_channels": 4, "critic_channels": 4, "z_dim": 4, "n_critic": 1},
    "cvae": {"latent_dim": 4, "hidden_channels": 4},
}
COLOURS = ((1.0, 0.1, 0.1), (0.1, 0.9, 0.1), (0.1, 0.1, 1.0))  # class -> colour of its disc


def colour_data(n_per_class: int = 4, size: int = 64, seed: int = 0):
    """Three classes told apart only by colour: a disc of the class colour at a random place
    on a noisy grey background; N x 3 x H x W in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    images, labels = [], []
    for c, colour in enumerate(COLOURS):
        for _ in range(n_per_class):
            cy, cx = torch.randint(size // 4, 3 * size // 4, (2,), generator=g).tolist()
            disc = ((yy - cy) ** 2 + (xx - cx) ** 2) < (size // 5) ** 2
            im = torch.full((3, size, size), 0.5) + 0.05 * torch.rand(3, size, size, generator=g)
            im[:, disc] = torch.tensor(colour)[:, None]
            images.append(im.clamp(0, 1))
            labels.append(c)
    return torch.stack(images), torch.tensor(labels)


# --------------------------------------------------------------------------- classifiers
@pytest.mark.parametrize("arch", sorted(CLASSIFIERS))
def test_classifier_learns_colour(arch, tmp_path):
    """At 64 x 64 x 3 each classifier fits classes that differ only in colour, and its
    weights survive a weights_only round trip."""
    x, y = colour_data(4)
    torch.manual_seed(0)
    net = make_classifier(arch, 3, 64, 8, in_channels=3)
    assert net(x[:2]).shape == (2, 3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = None
    for _ in range(15):
        loss = F.cross_entropy(net(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
    torch.save(net.state_dict(), tmp_path / "c.pt")
    again = make_classifier(arch, 3, 64, 8, in_channels=3)
    again.load_state_dict(torch.load(tmp_path / "c.pt", weights_only=True))
    net.eval(), again.eval()
    with torch.no_grad():
        assert torch.equal(net(x), again(x))
    assert make_classifier(arch, 3, 28, 8)(torch.rand(2, 1, 28, 28)).shape == (2, 3)  # default 1


# --------------------------------------------------------------------------- tables and images
def rgb_png(arr: np.ndarray) -> bytes:
    return io.encode_png(arr)


def test_images_tensor_rgb_and_gray():
    rgb = np.zeros((2, 5, 6, 3), np.uint8)
    rgb[0, ..., 0] = 255  # red
    rgb[1, ..., 2] = 128  # half blue
    x = images_tensor([rgb_png(a) for a in rgb])
    assert x.shape == (2, 3, 5, 6) and x.dtype == torch.float32 and x.is_contiguous()
    assert x[0, 0].eq(1).all() and x[0, 1:].eq(0).all()
    assert x[1, 2].eq(128 / 255).all() and x[1, :2].eq(0).all()
    # exactly back to the same PNG pixels through to_uint8 + encode_png (what generate writes)
    back = [io.decode_png(io.encode_png(a), "RGB") for a in io.to_uint8(x.numpy())]
    assert np.array_equal(np.stack(back), rgb)

    gray = np.arange(60, dtype=np.uint8).reshape(2, 5, 6)
    g = images_tensor([io.encode_png(a) for a in gray])
    assert g.shape == (2, 1, 5, 6) and torch.equal(g[:, 0] * 255, torch.from_numpy(gray).float())
    assert io.png_mode(io.encode_png(gray[0])) == "L" and io.png_mode(rgb_png(rgb[0])) == "RGB"
    buf = stdio.BytesIO()
    Image.fromarray(rgb[0]).convert("P").save(buf, format="PNG")  # a palette PNG is colour
    assert io.png_mode(buf.getvalue()) == "RGB"
    with pytest.raises(ValueError, match="N x 1 x H x W or N x 3 x H x W"):
        io.to_uint8(np.zeros((1, 2, 4, 4)))


def test_image_grid_draws_colour(tmp_path):
    x, _ = colour_data(1, size=16)
    out = tmp_path / "grid.png"
    uint8_rows = io.to_uint8(x.numpy())  # 3 x 16 x 16 x 3
    plots.image_grid([uint8_rows, x.numpy(), uint8_rows[0]], out, ["real", "float", "one"], "rgb")
    with Image.open(out) as im:
        drawn = np.asarray(im.convert("RGB")).reshape(-1, 3).astype(int)
    for c in range(3):  # red, green and blue discs are drawn in colour
        strong = (drawn[:, c] > 180) & (drawn.sum(1) - drawn[:, c] < 120)
        assert strong.sum() > 50, c
    with pytest.raises(ValueError, match="N x H x W x 3"):
        plots.image_grid([np.zeros((2, 4, 4, 4))], tmp_path / "bad.png")


@pytest.mark.parametrize("method", sorted(TRANSFORMS))
def test_transform_baselines_on_colour(method):
    """The same random transform moves all three channels together: a grey image (equal
    channels) stays grey, and a colour image keeps its 3 channels."""
    grey = torch.rand(3, 1, 32, 32).expand(3, 3, 32, 32)
    transform = TRANSFORMS[method](TRANSFORM_SETTINGS[method])
    out = transform_pool(grey, 2, transform, seed=0)
    assert out.shape == (6, 3, 32, 32) and 0 <= out.min() and out.max() <= 1
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])
    assert not torch.equal(out[0], grey[0])
    x, _ = colour_data(1, size=32)
    assert transform_pool(x, 2, transform, seed=0).shape == (6, 3, 32, 32)


# --------------------------------------------------------------------------- the stages on RGB
@pytest.fixture(scope="module")
def rgb_task(tmp_path_factory):
    """An RGB canonical table made by the real ImageFolder loader (4 classes x 5 images at
    16 x 16), classes 0-1 marked as source classes, and a 2-shot split of classes 2-3."""
    root = tmp_path_factory.mktemp("rgb_folder")
    x, y = colour_data(5, size=24, seed=3)
    names = ("red", "green", "blue", "redder")
    x = torch.cat([x, x[y == 0].flip(-1)])  # a 4th class: mirrored red discs
    y = torch.cat([y, torch.full((5,), 3)])
    for i, (im, label) in enumerate(zip(io.to_uint8(x.numpy()), y.tolist(), strict=True)):
        (root / names[label]).mkdir(exist_ok=True)
        Image.fromarray(im).save(root / names[label] / f"{i:02d}.png")
    out = tmp_path_factory.mktemp("rgb_table") / "table.parquet"
    imagefolder.prepare_imagefolder(root, out, image_size=16, channels=3)
    table = io.read_parquet(out)
    table.loc[table["label"] < 2, "role"] = "source"
    target = table[table["role"] == "target"]
    split = pd.DataFrame(
        {
            "image_id": target["image_id"],
            "label": target["label"],
            "split": np.where(target.groupby("label").cumcount() < 2, "train", "test"),
        }
    ).reset_index(drop=True)
    return table, split


GEN_SETTINGS = {
    "dagan": {"mode": "transfer", "steps": 2, "batch_size": 4, "lr": 1e-4, "threads": 1},
    "cvae": {"mode": "fit", "steps": 2, "batch_size": 4, "lr": 1e-3, "threads": 1},
}


@pytest.mark.parametrize("name", sorted(GEN_SETTINGS))
def test_stages_on_an_rgb_table(name, rgb_task, tmp_path):
    """train_generator builds the model with the table's 3 channels, generate writes colour
    PNGs, the figures take them, and classify trains a 3-channel classifier on them."""
    table, split = rgb_task
    settings = {**GEN_SETTINGS[name], "hparams": TINY[name]}
    model_path = tmp_path / "model.pt"
    train_generator(
        name,
        settings,
        table,
        None if settings["mode"] == "transfer" else split,
        seed=0,
        image_size=16,
        device="cpu",
        threads=1,
        out_model=model_path,
        out_log=tmp_path / "log.csv",
        out_samples=tmp_path / "samples.png",
    )
    assert load_generator(model_path).image_channels == 3
    assert (tmp_path / "samples.png").stat().st_size > 0
    synth = generate(
        model_path,
        table,
        split,
        regime=K2,
        n_per_image=2,
        seed=1,
        device="cpu",
        out_table=tmp_path / "s.parquet",
        out_shards=tmp_path / "s.shards",
        shard_size=10,
    )
    assert len(synth) == 2 * (split["split"] == "train").sum()
    assert {io.png_mode(p) for p in synth["image"]} == {"RGB"}
    assert images_tensor(synth["image"]).shape == (len(synth), 3, 16, 16)

    rows, labels = synthetic_by_real(table, split, synth, n_real=2, n_per_real=2)
    assert [r.shape for r in rows] == [(3, 16, 16, 3)] * 2 and len(labels) == 2
    plots.image_grid(rows, tmp_path / "fig.png", row_labels=labels)

    record = classify.run(
        name, K2, 0, table, split, synth, {"steps": 4, "batch_size": 4, "lr": 1e-3, "width": 4},
        AUGMENT, CPU,
    )  # fmt: skip
    assert record["n_train_augmented"] == len(synth) and 0 <= record["accuracy"] <= 1
    baseline = classify.run(
        "classical", K2, 0, table, split, None,
        {"steps": 4, "batch_size": 4, "lr": 1e-3, "width": 4, "arch": "densenet"},
        AUGMENT, CPU,
    )  # fmt: skip
    assert baseline["n_train_augmented"] == 2 * (split["split"] == "train").sum()
