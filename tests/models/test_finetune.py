"""Mode finetune on the model side: :meth:`Generator.new_classes` gives a pretrained
class-conditional generator fresh class-conditioning layers for new classes and keeps every
other weight, so fine-tuning starts from the pretrained model."""

from __future__ import annotations

import pytest
import torch
from tiny_models import SIZE, augment, fit, make

from conftest import toy_data
from genaug.errors import GenaugError
from genaug.models import GENERATORS

pytestmark = pytest.mark.usefixtures("deterministic_cpu")
FINETUNE = sorted(name for name, entry in GENERATORS.items() if "finetune" in entry.modes)


def test_the_class_conditional_generators_finetune():
    assert FINETUNE == ["aae", "cgan", "cvae", "diffusion"]


def class_weights(model) -> set[str]:
    """The weights that hold the classes (their biases are kept)."""
    return {f"{m}.weight" for m in model.class_modules}


@pytest.mark.parametrize("name", FINETUNE)
def test_new_classes_replace_only_the_class_conditioning(name):
    """Pretrained on 3 classes, then made a model of 2 new ones: the class rows (embeddings)
    or one-hot input columns are new, every other weight and buffer is the pretrained one;
    the model then fine-tunes and samples with labels 0..1."""
    x, y = toy_data(4, SIZE)
    model = make(name)
    fit(model, x, y, steps=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.new_classes(2)
    after = model.state_dict()
    assert model.n_classes == 2 and after.keys() == before.keys()
    changed = {
        k
        for k in before
        if before[k].shape != after[k].shape or not torch.equal(before[k], after[k])
    }
    # diffusion: the EMA restarts (its update count), as the fine-tuning starts
    assert changed == class_weights(model) | ({"ema.n_averaged"} if name == "diffusion" else set())
    for key in class_weights(model):
        old, new = before[key], after[key]
        module = model.get_submodule(key.removesuffix(".weight"))
        axis = 0 if isinstance(module, torch.nn.Embedding) else 1  # Linear: input columns
        assert new.shape[axis] == old.shape[axis] - 1  # one class fewer
        kept = old.shape[axis] - 3  # the null class (diffusion), the image/noise features
        assert torch.equal(new.narrow(axis, 0, kept), old.narrow(axis, 0, kept)), key
        assert not torch.equal(new.narrow(axis, kept, 2), old.narrow(axis, kept, 2)), key
    keep = y < 2
    fit(model, x[keep], y[keep], steps=2)
    out = augment(model, x[:2], torch.tensor([0, 1]), n=2)
    assert out.labels.tolist() == [0, 0, 1, 1] and out.images.shape == (4, 1, SIZE, SIZE)
    with pytest.raises(GenaugError, match="labels must lie in 0..1"):
        augment(model, x[:1], torch.tensor([2]))


def test_new_classes_are_drawn_from_the_global_seed():
    """Same seed, same new rows: a fine-tuning job is reproducible."""
    rows = []
    for _ in range(2):
        model = make("cgan")
        torch.manual_seed(7)
        model.new_classes(4)
        rows.append(model.net.embed.weight.detach().clone())
    assert torch.equal(*rows)


def test_a_generator_without_classes_cannot_learn_new_ones():
    with pytest.raises(
        GenaugError, match="dagan generator is not class-conditional.*transfer or fit"
    ):
        make("dagan").new_classes(2)
