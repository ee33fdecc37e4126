"""Stage 5: a classifier trained with and without augmentation, on a fixed step budget.

Few-shot protocol (as in the DAGAN experiments): the classifier sees real training batches;
with an augmentation method every other batch is drawn from the augmented pool instead
(synthetic images of a generator, or transformed copies of the real shots).

Imbalance protocol: the minority class is topped up, and batches are drawn uniformly from
the real images plus the added ones: synthetic or transformed minority images (augmenters),
repeated minority images (``oversample``). ``undersample`` cuts every other class to the
minority's size, ``weighted`` weighs the loss by inverse class frequency.

Each method's training data comes from one strategy (:data:`STRATEGIES`; generators:
:func:`synthetic_pool`), which turns the run's :class:`Inputs` into a :class:`Plan`: the real
images, the augmented pool, how batches mix them (the scenario's: alternate or union) and
class weights. The imbalance top-up is the one its split decided (``topup``).

The initialisation and the real-batch stream depend only on (replicate seed, regime), so the
methods of a replicate differ only in the augmentation: the comparison is paired.

The network is ``classifier.arch`` (see :mod:`genaug.models.classifier`): ``conv4`` (default)
or ``densenet``, the DAGAN protocol's classifier, which also sees a real/synthetic flag: 1 for
images from the augmented pool, 0 for real images and at test time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from genaug import runtime
from genaug.augment import TRANSFORMS, transform_pool
from genaug.data.imbalance import TopUp
from genaug.data.tables import ClassIndex, images_tensor, split_rows
from genaug.errors import GenaugError
from genaug.metrics import classification_metrics
from genaug.models.base import sample_batch
from genaug.models.classifier import make_classifier
from genaug.provenance import provenance
from genaug.scenarios import Regime, check_topup, owner
from genaug.seeds import derive_seed

log = logging.getLogger(__name__)

Data = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Inputs:
    """What every method of one run starts from."""

    method: str
    train: Data
    classes: ClassIndex
    #: the real images that augmentation copies (imbalance: the minority's), ``copies`` each
    sources: Data
    copies: int
    #: imbalance: which of the copies make up the top-up (None: all of them)
    keep: torch.Tensor | None
    #: the minority class's index (imbalance), else None
    minority: int | None
    synthetic: pd.DataFrame | None
    augment: dict
    seed: int
    mix: str

    def top_up(self, pool: Data) -> Data:
        return pool if self.keep is None else (pool[0][self.keep], pool[1][self.keep])


@dataclass(frozen=True)
class Plan:
    """What one method trains on: real images, an augmented pool, how batches mix the two,
    and class weights for the loss."""

    train: Data
    pool: Data | None
    mix: str
    class_weights: torch.Tensor | None = None


def real_only(inputs: Inputs) -> Plan:
    return Plan(inputs.train, None, inputs.mix)


def transformed(name: str, inputs: Inputs) -> Plan:
    """Transform baselines: ``copies`` transformed copies of each source image."""
    x, y = inputs.sources
    transform = TRANSFORMS[name](inputs.augment[name])
    pool = transform_pool(x, inputs.copies, transform, inputs.seed)
    return Plan(inputs.train, inputs.top_up((pool, y.repeat_interleave(inputs.copies))), inputs.mix)


def oversampled(inputs: Inputs) -> Plan:
    """The source images repeated, in turn."""
    x, y = inputs.sources
    pool = x.repeat_interleave(inputs.copies, 0), y.repeat_interleave(inputs.copies)
    return Plan(inputs.train, inputs.top_up(pool), inputs.mix)


def undersampled(inputs: Inputs) -> Plan:
    return Plan(undersample(inputs.train, inputs.minority, inputs.seed), None, inputs.mix)


def weighted(inputs: Inputs) -> Plan:
    """Cross-entropy weighted by inverse class frequency, n / (C * n_c)."""
    counts = torch.bincount(inputs.train[1], minlength=len(inputs.classes)).float()
    weights = counts.sum() / (len(inputs.classes) * counts)
    return Plan(inputs.train, None, inputs.mix, class_weights=weights)


def synthetic_pool(inputs: Inputs) -> Plan:
    """Generators: their synthetic table (already the top-up in imbalance) is the pool."""
    if inputs.synthetic is None:
        raise GenaugError(
            f"method {inputs.method!r} is not a baseline, so it needs a generator's synthetic "
            "images: add it to the config's generators, or pass its synthetic table"
        )
    synthetic = inputs.synthetic
    pool = images_tensor(synthetic["image"]), inputs.classes.encode(synthetic["label"])
    return Plan(inputs.train, pool, inputs.mix)


#: each baseline's plan; every other method is a generator (:func:`synthetic_pool`)
STRATEGIES = {
    "none": real_only,
    **{name: partial(transformed, name) for name in TRANSFORMS},
    "oversample": oversampled,
    "undersample": undersampled,
    "weighted": weighted,
}


def undersample(train: Data, minority: int, seed: int) -> Data:
    """Every class cut (at random) to the minority class's number of training images."""
    x, y = train
    n_min = int((y == minority).sum())
    rng = runtime.rng(derive_seed(seed, "undersample"))
    keep = []
    for c in torch.unique(y):
        idx = torch.nonzero(y == c).flatten()
        keep.append(idx[torch.randperm(len(idx), generator=rng)[:n_min]].sort().values)
    keep = torch.cat(keep)
    return x[keep], y[keep]


def train_classifier(
    train: Data,
    pool: Data | None,
    n_classes: int,
    settings: dict,
    seed: int,
    device: torch.device,
    *,
    mix: str = "alternate",
    class_weights: torch.Tensor | None = None,
    compile: bool = False,
) -> tuple[nn.Module, list[float]]:
    """Train for ``settings["steps"]`` steps. ``mix="alternate"``: odd steps draw from the
    pool when there is one; ``mix="union"``: every batch is drawn from real + pool images.
    The network's ``is_synthetic`` flag says which images came from the pool. ``compile``
    compiles the network with ``torch.compile``."""
    torch.manual_seed(seed)
    model = make_classifier(
        settings.get("arch", "conv4"),
        n_classes,
        train[0].shape[-1],
        settings["width"],
        in_channels=train[0].shape[1],
    )
    model = runtime.prepare(model, device, compile=compile)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    real_rng = runtime.rng(derive_seed(seed, "real-batches"))
    pool_rng = runtime.rng(derive_seed(seed, "pool-batches"))
    x_real, y_real = (runtime.channels_last(t.to(device), device) for t in train)
    f_real = torch.zeros(len(x_real), 1, device=device)
    if pool is not None:
        x_pool, y_pool = (runtime.channels_last(t.to(device), device) for t in pool)
        f_pool = torch.ones(len(x_pool), 1, device=device)
        if mix == "union":
            x_real, y_real = torch.cat([x_real, x_pool]), torch.cat([y_real, y_pool])
            f_real, pool = torch.cat([f_real, f_pool]), None
    weight = None if class_weights is None else class_weights.to(device)
    losses = []
    model.train()
    for step in range(settings["steps"]):
        if pool is not None and step % 2 == 1:
            idx = sample_batch(len(x_pool), settings["batch_size"], pool_rng).to(device)
            x, y, flag = x_pool[idx], y_pool[idx], f_pool[idx]
        else:
            idx = sample_batch(len(x_real), settings["batch_size"], real_rng).to(device)
            x, y, flag = x_real[idx], y_real[idx], f_real[idx]
        with runtime.autocast(device):
            loss = F.cross_entropy(model(x, is_synthetic=flag).float(), y, weight=weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, device: torch.device, batch: int = 1024):
    """Class probabilities (N x C, on the CPU); test images are real (``is_synthetic`` = 0)."""
    model.eval()
    out = []
    for start in range(0, len(images), batch):
        x = images[start : start + batch].to(device)
        flag = torch.zeros(len(x), 1, device=device)
        with runtime.autocast(device):
            out.append(model(x, is_synthetic=flag).float().softmax(1).cpu())
    return torch.cat(out)


def run(
    method: str,
    regime: Regime,
    seed: int,
    table: pd.DataFrame,
    split: pd.DataFrame,
    synthetic: pd.DataFrame | None,
    settings: dict,
    augment: dict,
    device: torch.device,
    compile: bool = False,
    topup: TopUp | None = None,
) -> dict:
    """One classifier run; returns its metrics record (with provenance).

    ``augment`` holds ``n_per_image`` (few-shot pool size per real image) and the transform
    baselines' settings under their method names; ``topup`` is the minority top-up that the
    split decided (imbalance).
    """
    spec = regime.spec
    if not spec.applies(method):
        raise GenaugError(
            f"method {method!r} is for the {owner(method).name} scenario only: remove it from "
            f"methods or run that scenario"
        )
    check_topup(regime, topup)
    train_rows = split_rows(table, split, "train")
    test_rows = split_rows(table, split, "test")
    classes = ClassIndex(train_rows["label"])
    train = images_tensor(train_rows["image"]), classes.encode(train_rows["label"])
    test_x, test_y = images_tensor(test_rows["image"]), classes.encode(test_rows["label"])
    run_seed = derive_seed(seed, "classifier", regime.tag)

    minority = keep = None
    sources, copies = train, augment["n_per_image"]
    if spec.tops_up:
        minority = int(classes.encode([topup.minority])[0])
        is_min = train[1] == minority
        sources, copies = (train[0][is_min], train[1][is_min]), topup.copies
        keep = torch.as_tensor(topup.keep, dtype=torch.long)
    inputs = Inputs(
        method=method,
        train=train,
        classes=classes,
        sources=sources,
        copies=copies,
        keep=keep,
        minority=minority,
        synthetic=synthetic,
        augment=augment,
        seed=run_seed,
        mix=spec.mix,
    )
    plan = STRATEGIES.get(method, synthetic_pool)(inputs)

    start = time.perf_counter()
    model, losses = train_classifier(
        plan.train,
        plan.pool,
        len(classes),
        settings,
        run_seed,
        device,
        mix=plan.mix,
        class_weights=plan.class_weights,
        compile=compile,
    )
    train_seconds = time.perf_counter() - start
    probs = predict(model, test_x, device)
    pred = probs.argmax(1).numpy()
    truth = test_y.numpy()
    metrics = classification_metrics(truth, pred, probs.numpy(), minority)
    per_class = {
        int(label): float(np.mean(pred[truth == i] == i)) for i, label in enumerate(classes.classes)
    }
    sources_sha = {}
    if synthetic is not None:
        sources_sha["checkpoint_sha256"] = sorted(synthetic["checkpoint_sha256"].unique())
    record = {
        "method": method,
        "scenario": regime.scenario,
        "regime": regime.tag,
        **regime.columns(),
        "replicate": seed,
        **metrics,
        "per_class_accuracy": per_class,
        "n_classes": len(classes),
        "minority_class": None if minority is None else int(classes.classes[minority]),
        "n_train_real": len(plan.train[0]),
        "n_train_augmented": 0 if plan.pool is None else len(plan.pool[0]),
        "n_test": len(test_rows),
        "final_train_loss": float(np.mean(losses[-10:])),
        "train_seconds": round(train_seconds, 3),
        "device": str(device),
        "provenance": provenance(
            {
                **settings,
                "n_per_image": copies,
                "ratio": None if topup is None else topup.ratio,
                "transform": augment.get(method),
            },
            seed=run_seed,
            **sources_sha,
        ),
    }
    log.info(
        "%s %s seed=%d: accuracy %.4f, balanced %.4f (%d test images, %.1f s)",
        method,
        regime.tag,
        seed,
        record["accuracy"],
        record["balanced_accuracy"],
        len(test_rows),
        train_seconds,
    )
    return record
