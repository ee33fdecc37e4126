"""Stage 5: a classifier trained with and without augmentation, on a fixed step budget.

Few-shot protocol (as in the DAGAN experiments): the classifier sees real training batches;
with an augmentation method every other batch is drawn from the augmented pool instead
(synthetic images of a generator, or transformed copies of the real shots).

Imbalance protocol: the minority class is topped up, and batches are drawn uniformly from
the real images plus the added ones: synthetic or transformed minority images (augmenters),
repeated minority images (``oversample``). ``undersample`` cuts every other class to the
minority's size, ``weighted`` weighs the loss by inverse class frequency.

The initialisation and the real-batch stream depend only on (replicate seed, regime), so the
methods of a replicate differ only in the augmentation: the comparison is paired.

The network is ``classifier.arch`` (see :mod:`genaug.models.classifier`): ``conv4`` (default)
or ``densenet``, the DAGAN protocol's classifier, which also sees a real/synthetic flag: 1 for
images from the augmented pool, 0 for real images and at test time.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from genaug import runtime
from genaug.augment import TRANSFORMS, transform_pool
from genaug.data.imbalance import minority_topup, topup_index
from genaug.data.tables import ClassIndex, images_tensor, split_rows
from genaug.errors import GenaugError
from genaug.metrics import classification_metrics
from genaug.models.base import sample_batch
from genaug.models.classifier import make_classifier
from genaug.provenance import provenance
from genaug.workflow import IMBALANCE_ONLY, Regime, derive_seed

log = logging.getLogger(__name__)

Data = tuple[torch.Tensor, torch.Tensor]


def augmented_pool(
    method: str,
    real: Data,
    classes: ClassIndex,
    synthetic: pd.DataFrame | None,
    n_per_image: int,
    transforms: dict,
    seed: int,
) -> Data | None:
    """The images that augmented batches are drawn from, or None for the baseline.
    ``n_per_image`` copies of each of the ``real`` images (transform baselines, oversampling)."""
    if method in TRANSFORMS:
        transform = TRANSFORMS[method](transforms[method])
        return transform_pool(real[0], n_per_image, transform, seed), real[1].repeat_interleave(
            n_per_image
        )
    if method == "oversample":
        return real[0].repeat_interleave(n_per_image, 0), real[1].repeat_interleave(n_per_image)
    if synthetic is not None:
        return images_tensor(synthetic["image"]), classes.encode(synthetic["label"])
    return None


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
) -> dict:
    """One classifier run; returns its metrics record (with provenance).

    ``augment`` holds ``n_per_image`` (few-shot pool size per real image), ``ratio`` (the
    imbalance top-up) and the transform baselines' settings under their method names.
    """
    imbalanced = regime.scenario == "imbalance"
    if method in IMBALANCE_ONLY and not imbalanced:
        raise GenaugError(f"method {method!r} is for the imbalance scenario only")
    train_rows = split_rows(table, split, "train")
    test_rows = split_rows(table, split, "test")
    classes = ClassIndex(train_rows["label"])
    train = images_tensor(train_rows["image"]), classes.encode(train_rows["label"])
    test_x, test_y = images_tensor(test_rows["image"]), classes.encode(test_rows["label"])
    run_seed = derive_seed(seed, "classifier", regime.tag)

    minority = weights = None
    source, n_per_image = train, augment["n_per_image"]
    if imbalanced:
        minority = int(classes.encode([split.attrs["minority"]])[0])
        n_needed = minority_topup(train[1].numpy(), minority, augment["ratio"])
        is_min = train[1] == minority
        n_per_image, keep = topup_index(int(is_min.sum()), n_needed)
        source = train[0][is_min], train[1][is_min]
    pool = augmented_pool(method, source, classes, synthetic, n_per_image, augment, run_seed)
    if imbalanced and method != "none" and pool is not None and synthetic is None:
        pool = pool[0][keep], pool[1][keep]  # the top-up: n_needed images, sources in turn
    if method == "undersample":
        train = undersample(train, minority, run_seed)
    if method == "weighted":
        counts = torch.bincount(train[1], minlength=len(classes)).float()
        weights = counts.sum() / (len(classes) * counts)

    start = time.perf_counter()
    model, losses = train_classifier(
        train,
        pool,
        len(classes),
        settings,
        run_seed,
        device,
        mix="union" if imbalanced else "alternate",
        class_weights=weights,
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
    sources = {}
    if synthetic is not None:
        sources["checkpoint_sha256"] = sorted(synthetic["checkpoint_sha256"].unique())
    record = {
        "method": method,
        "scenario": regime.scenario,
        "regime": regime.tag,
        "k": regime.k,
        "fraction": regime.fraction,
        "replicate": seed,
        **metrics,
        "per_class_accuracy": per_class,
        "n_classes": len(classes),
        "minority_class": None if minority is None else int(classes.classes[minority]),
        "n_train_real": len(train[0]),
        "n_train_augmented": 0 if pool is None else len(pool[0]),
        "n_test": len(test_rows),
        "final_train_loss": float(np.mean(losses[-10:])),
        "train_seconds": round(train_seconds, 3),
        "device": str(device),
        "provenance": provenance(
            {
                **settings,
                "n_per_image": n_per_image,
                "ratio": augment["ratio"] if imbalanced else None,
                "transform": augment.get(method),
            },
            seed=run_seed,
            **sources,
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
