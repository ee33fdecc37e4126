"""The classifier networks (Conv-4 and the DAGAN protocol's DenseNet with a real/synthetic
flag), their registry, and ``classify.run`` with ``classifier.arch: densenet``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conftest import TRANSFORM_SETTINGS, toy_data
from genaug import classify
from genaug.data.fewshot import fewshot_split
from genaug.errors import GenaugError
from genaug.models.classifier import (
    CLASSIFIERS,
    ConvNet,
    DenseBlock,
    DenseLayer,
    DenseNetFlag,
    Transition,
    make_classifier,
)
from genaug.scenarios import Regime

K3 = Regime("fewshot", 3)
AUGMENT = {"n_per_image": 2, **TRANSFORM_SETTINGS}
SETTINGS = {"arch": "densenet", "steps": 20, "batch_size": 16, "lr": 1e-3, "width": 4}


def test_building_blocks():
    x = torch.rand(2, 6, 9, 9)
    assert DenseLayer(6, 4)(x).shape == (2, 10, 9, 9)
    block = DenseBlock(6, 3, 4)
    assert block.out_channels == 18 and block(x).shape == (2, 18, 9, 9)
    assert Transition(6, 3)(x).shape == (2, 3, 4, 4)


@pytest.mark.parametrize("size", [28, 32, 64])
def test_densenet_shapes(size):
    net = DenseNetFlag(7, image_size=size, growth=4, block_layers=(2, 2, 2), hidden=16)
    x = torch.rand(3, 1, size, size)
    assert net(x).shape == (3, 7)
    assert net(x, is_synthetic=torch.ones(3, 1)).shape == (3, 7)
    assert net(x, is_synthetic=torch.ones(3)).shape == (3, 7)  # a B flag works too
    assert net.embed(x).shape == (3, net.n_features)


def test_default_densenet_shape():
    net = DenseNetFlag(47)
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 47)


def test_none_flag_means_real():
    torch.manual_seed(0)
    net = DenseNetFlag(5, growth=4, block_layers=(2, 2), hidden=16).eval()
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(net(x), net(x, is_synthetic=torch.zeros(4, 1)))


def test_flag_changes_the_logits():
    torch.manual_seed(0)
    net = DenseNetFlag(5, growth=4, block_layers=(2, 2), hidden=16).eval()
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        real = net(x, is_synthetic=torch.zeros(4, 1))
        fake = net(x, is_synthetic=torch.ones(4, 1))
        assert not torch.allclose(real, fake)
        # the flag enters through the last input column of the first dense layer only
        net.head[0].weight[:, -1] = 0.0
        assert torch.allclose(
            net(x, is_synthetic=torch.zeros(4, 1)), net(x, is_synthetic=torch.ones(4, 1))
        )


def test_flag_is_learned():
    """Same images, labels that depend only on the flag: the network learns to use it."""
    torch.manual_seed(0)
    net = DenseNetFlag(2, growth=4, block_layers=(2, 2), hidden=16)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.rand(4, 1, 28, 28).repeat(2, 1, 1, 1)
    flag = torch.tensor([0.0] * 4 + [1.0] * 4).unsqueeze(1)
    y = flag.squeeze(1).long()
    losses = []
    for _ in range(40):
        loss = F.cross_entropy(net(x, is_synthetic=flag), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    with torch.no_grad():
        assert torch.equal(net(x, is_synthetic=flag).argmax(1), y)


def densenet_task():
    x = torch.rand(6, 1, 28, 28)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    return x, y, DenseNetFlag(3, growth=6, block_layers=(2, 2, 2), hidden=32)


def convnet_task():
    x, y = toy_data(4, size=28)
    return x, y, ConvNet(3, image_size=28, width=16)


@pytest.mark.parametrize("task", [densenet_task, convnet_task])
def test_overfits_a_tiny_batch(task):
    torch.manual_seed(0)
    x, y, net = task()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    with torch.no_grad():  # batch statistics: running averages lag after 30 steps
        assert (net(x).argmax(1) == y).float().mean() > 0.9


def test_convnet_ignores_the_flag():
    torch.manual_seed(0)
    net = ConvNet(5, width=8).eval()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(net(x), net(x, is_synthetic=torch.ones(3, 1)))


def test_make_classifier():
    assert set(CLASSIFIERS) == {"conv4", "densenet"}
    conv = make_classifier("conv4", 5, 28, 8)
    assert isinstance(conv, ConvNet) and conv.head.in_features == 8  # width = channels
    dense = make_classifier("densenet", 5, 28, 6)
    assert isinstance(dense, DenseNetFlag)
    assert dense.features[0].out_channels == 12  # width = growth; the stem has 2 * growth
    with pytest.raises(GenaugError, match="classifier.arch"):
        make_classifier("resnet", 5, 28, 8)
    with pytest.raises(GenaugError, match="too small"):
        DenseNetFlag(5, image_size=2)


@pytest.fixture(scope="module")
def task(embedded):
    target = embedded[embedded["role"] == "target"]["label"].unique()[:5]
    table = embedded[embedded["label"].isin(target)].reset_index(drop=True)
    return table, fewshot_split(table, k=3, k_max=5, seed=2)


def run(task, method, settings=SETTINGS):
    table, split = task
    return classify.run(method, K3, 2, table, split, None, settings, AUGMENT, torch.device("cpu"))


def test_run_with_densenet_is_deterministic(task):
    a, b = run(task, "classical"), run(task, "classical")
    assert a["n_classes"] == 5 and 0.0 <= a["accuracy"] <= 1.0
    assert a["accuracy"] == b["accuracy"]
    assert a["final_train_loss"] == b["final_train_loss"]
    assert a["per_class_accuracy"] == b["per_class_accuracy"]


def test_run_unknown_arch(task):
    with pytest.raises(GenaugError, match="classifier.arch"):
        run(task, "none", {**SETTINGS, "arch": "resnet"})


def test_arch_defaults_to_conv4(task):
    settings = {k: v for k, v in SETTINGS.items() if k != "arch"}
    assert (
        run(task, "none", settings)["accuracy"]
        == run(task, "none", {**settings, "arch": "conv4"})["accuracy"]
    )


@pytest.mark.parametrize("size", [28, 32, 64])
def test_convnet_shapes(size):
    net = ConvNet(7, image_size=size, width=8)
    assert net(torch.rand(3, 1, size, size)).shape == (3, 7)
    assert net.embed(torch.rand(3, 1, size, size)).shape == (3, 8)
