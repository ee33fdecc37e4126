"""The GPU-path switches of ``genaug.runtime``: channels-last (CUDA only) and torch.compile."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from genaug import runtime
from genaug.data.fewshot import fewshot_split
from genaug.generation import train_generator
from genaug.models import load_generator
from genaug.models.classifier import ConvNet
from genaug.models.dagan import DAGAN

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_channels_last_is_a_no_op_on_the_cpu():
    x = torch.rand(4, 3, 8, 8)
    assert runtime.channels_last(x, CPU) is x
    model = ConvNet(5, 28, 8, in_channels=3)
    strides = [p.stride() for p in model.parameters()]
    assert runtime.prepare(model, CPU) is model
    assert [p.stride() for p in model.parameters()] == strides
    assert all(p.is_contiguous() for p in model.parameters())


def test_channels_last_on_cuda_converts_models_and_image_batches():
    """The CUDA branch, run on CPU tensors (it only changes strides): 4-D tensors and the
    conv weights become channels-last, values and outputs stay the same."""
    x = torch.rand(4, 3, 16, 16)
    y = runtime.channels_last(x, CUDA)
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    assert torch.equal(x, y)
    labels = torch.arange(4)
    assert runtime.channels_last(labels, CUDA) is labels  # not an image batch
    torch.manual_seed(0)
    model = ConvNet(5, 16, 8, in_channels=3).eval()
    expected = model(x)
    runtime.channels_last(model, CUDA)
    weight = model.features[0][0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    out = model(y)
    torch.testing.assert_close(out, expected)
    # indexing a channels-last batch keeps the format, so sampled batches stay channels-last
    assert y[torch.tensor([2, 0])].is_contiguous(memory_format=torch.channels_last)


def test_compile_leaves_out_the_dagan_critic():
    model = DAGAN(16, base_channels=4, critic_channels=4, z_dim=4)
    assert model.networks() == [model.net]  # the gradient penalty needs a double backward


@pytest.mark.slow
def test_compile_trains_a_generator_on_the_cpu(embedded, tmp_path):
    """``compile: true`` on the CPU (Inductor, gcc): a cVAE trains through the compiled
    networks, its log matches the eager run's to float tolerance, and its checkpoint keeps
    the usual parameter names. (Minutes of compilation on a loaded 2-core machine.)"""
    target = embedded[embedded["role"] == "target"]["label"].unique()[:3]
    table = embedded[embedded["label"].isin(target)].reset_index(drop=True)
    split = fewshot_split(table, k=2, k_max=3, seed=0)
    settings = {
        "mode": "fit",
        "steps": 4,
        "batch_size": 8,
        "lr": 1e-3,
        "threads": 1,
        "hparams": {"latent_dim": 4, "hidden_channels": 4},
    }
    logs = {}
    for compile in (False, True):
        out = tmp_path / str(compile)
        train_generator(
            "cvae",
            settings,
            table,
            split,
            seed=0,
            image_size=28,
            device="cpu",
            threads=1,
            out_model=out / "model.pt",
            out_log=out / "log.csv",
            out_samples=out / "samples.png",
            compile=compile,
        )
        logs[compile] = pd.read_csv(out / "log.csv").drop(columns="seconds")
        model = load_generator(out / "model.pt")  # an eager model loads the weights
        assert model.checkpoint_extra["provenance"]["compile"] is compile
    assert logs[True]["step"].tolist() == logs[False]["step"].tolist() == [1, 2, 3, 4]
    pd.testing.assert_frame_equal(logs[True], logs[False], rtol=1e-4)


def test_prepare_compiles_the_given_parts_in_place():
    """Compiling is lazy (nothing is built before the first call), so this is fast."""
    model = DAGAN(16, base_channels=4, critic_channels=4, z_dim=4)
    keys = list(model.state_dict())
    runtime.prepare(model, CPU, compile=True, parts=model.networks())
    assert list(model.state_dict()) == keys
    assert model.net._compiled_call_impl is not None
    assert model.critic._compiled_call_impl is None
