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

A plan can also carry a batch augmentation (``Plan.batch_augment``, see
:class:`genaug.augment.BatchAugment`), applied to every batch drawn from its pool while the
classifier trains, where the augmentation needs the batch or the classifier itself:

- ``mixup``, ``cutmix`` (:class:`~genaug.augment.BatchMixer`): the pool is the real training
  set and the mix is "alternate" in both scenarios, so every other batch is a batch of real
  images mixed in pairs, with soft targets (the loss is the cross-entropy against class
  probabilities). In imbalance there is no top-up: a mixed image has two labels, so it cannot
  add images of one class.
- ``neuralaug`` (:mod:`genaug.models.neuralaug`): the ``oversample`` plan (the sources
  repeated; in imbalance the top-up's minority images, in the union), each pool image of a
  batch replaced by the augmenter's output for it and a partner of its class. The classifier
  steps ``classifier.steps`` times; the augmenter steps once on every step whose batch held
  pool images: few-shot ``steps / 2`` times (the odd steps), imbalance on each batch that drew
  a top-up slot.

The initialisation and the real-batch stream depend only on (replicate seed, regime), so the
methods of a replicate differ only in the augmentation: the comparison is paired.

The network is ``classifier.arch`` (see :mod:`genaug.models.classifier`): ``conv4`` (default)
or ``densenet``, the DAGAN protocol's classifier, which also sees a real/synthetic flag: 1 for
images from the augmented pool, 0 for real images and at test time.
"""

from __future__ import annotations

import dataclasses
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
from genaug.augment import MIXERS, TRANSFORMS, BatchAugment, BatchMixer, transform_pool
from genaug.data.imbalance import TopUp
from genaug.data.tables import ClassIndex, images_tensor, split_rows
from genaug.errors import GenaugError
from genaug.methods import split_combo, transform_of
from genaug.metrics import classification_metrics
from genaug.models.base import sample_batch
from genaug.models.classifier import make_classifier
from genaug.models.neuralaug import NeuralAugment
from genaug.optim import Adam
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
    #: the real images that augmentation copies (imbalance: the minority's), ``copies`` each,
    #: and their rows in ``train``
    sources: Data
    source_rows: torch.Tensor
    copies: int
    #: imbalance: which of the copies make up the top-up (None: all of them)
    keep: torch.Tensor | None
    #: the minority class's index (imbalance), else None
    minority: int | None
    #: the ``image_id`` of each training image
    train_ids: np.ndarray
    synthetic: pd.DataFrame | None
    augment: dict
    seed: int
    mix: str

    def copied(self, pool: torch.Tensor) -> Plan:
        """The plan whose pool is ``pool``, ``copies`` images of each source in turn (only
        the top-up's in imbalance)."""
        rows = self.source_rows.repeat_interleave(self.copies)
        labels = self.sources[1].repeat_interleave(self.copies)
        if self.keep is not None:
            pool, labels, rows = pool[self.keep], labels[self.keep], rows[self.keep]
        return Plan(self.train, (pool, labels), self.mix, pool_source=rows)


@dataclass(frozen=True)
class Plan:
    """What one method trains on: real images, an augmented pool, how batches mix the two,
    class weights for the loss, and a batch augmentation of the images drawn from the pool."""

    train: Data
    pool: Data | None
    mix: str
    class_weights: torch.Tensor | None = None
    #: per pool image, the row in ``train`` of the real image it was made from (-1: none)
    pool_source: torch.Tensor | None = None
    batch_augment: BatchAugment | None = None

    def __post_init__(self) -> None:
        if self.batch_augment is not None and self.class_weights is not None:
            raise GenaugError(
                "class weights and a batch augmentation (mixup, cutmix, neuralaug) do not go "
                "together: the weighted loss is defined for hard labels; use one of the two"
            )


def real_only(inputs: Inputs) -> Plan:
    return Plan(inputs.train, None, inputs.mix)


def transformed(name: str, inputs: Inputs) -> Plan:
    """Transform baselines: ``copies`` transformed copies of each source image."""
    transform = TRANSFORMS[name](inputs.augment[name])
    return inputs.copied(transform_pool(inputs.sources[0], inputs.copies, transform, inputs.seed))


def oversampled(inputs: Inputs) -> Plan:
    """The source images repeated, in turn."""
    return inputs.copied(inputs.sources[0].repeat_interleave(inputs.copies, 0))


def mixed(name: str, inputs: Inputs) -> Plan:
    """MixUp / CutMix: the real training set as the pool, every other batch mixed."""
    block = inputs.augment[name]
    mixer = BatchMixer(name, float(block["alpha"]), len(inputs.classes))
    rows = torch.arange(len(inputs.train[1]))
    return Plan(inputs.train, inputs.train, "alternate", pool_source=rows, batch_augment=mixer)


def neural(inputs: Inputs) -> Plan:
    """Neural augmentation: the oversample plan, its pool images remade by the augmenter."""
    spec = NeuralAugment(inputs.augment["neuralaug"], inputs.sources, len(inputs.classes))
    return dataclasses.replace(oversampled(inputs), batch_augment=spec)


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
    row = {image_id: i for i, image_id in enumerate(inputs.train_ids)}
    ids = synthetic.get("source_image_id", pd.Series([None] * len(synthetic)))
    source = [row.get(i, -1) for i in ids.fillna("")]  # -1: class-conditional samples
    return Plan(inputs.train, pool, inputs.mix, pool_source=torch.tensor(source, dtype=torch.long))


def combined(name: str, inputs: Inputs) -> Plan:
    """A generator on top of transform baseline ``name`` (``dagan+classical``): the
    transform's own plan (:func:`transformed`: the same transformed real copies) with the
    generator's synthetic images (:func:`synthetic_pool`) added to its pool, each transformed
    once (seeded from the run's seed), so the combination adds to the transform baseline what
    the generator adds. Few-shot: the pool is the transformed copies, then the transformed
    synthetic images. Imbalance: the top-up keeps its size, its slots alternating between the
    two: the transformed copies' even slots, then the transformed synthetic images' odd slots
    (half of each, the copies' extra one for an odd size), both spread over every source."""
    copies = transformed(name, inputs)
    synthetic = synthetic_pool(inputs)
    transform = TRANSFORMS[name](inputs.augment[name])
    seed = derive_seed(inputs.seed, "combo-synthetic")
    made = transform_pool(synthetic.pool[0], 1, transform, seed), synthetic.pool[1]
    parts = [(*copies.pool, copies.pool_source), (*made, synthetic.pool_source)]
    if inputs.keep is not None:  # imbalance: half of each, the top-up's size
        parts = [tuple(t[start::2] for t in part) for start, part in enumerate(parts)]
    x, y, source = (torch.cat(t) for t in zip(*parts, strict=True))
    return dataclasses.replace(copies, pool=(x, y), pool_source=source)


def strategy(method: str):
    """The plan maker of ``method``: a baseline's (:data:`STRATEGIES`), a combination's
    (:func:`combined`), else a generator's (:func:`synthetic_pool`)."""
    combo = split_combo(method)
    if combo is not None:
        return partial(combined, combo[1])
    return STRATEGIES.get(method, synthetic_pool)


#: each baseline's plan; every other method is a generator (:func:`synthetic_pool`) or a
#: generator on top of a transform (:func:`combined`)
STRATEGIES = {
    "none": real_only,
    **{name: partial(transformed, name) for name in TRANSFORMS},
    **{name: partial(mixed, name) for name in MIXERS},
    "neuralaug": neural,
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


class Batches:
    """The batch stream of one run: ``mix="alternate"``: odd steps draw from the pool when
    there is one; ``mix="union"``: every batch is drawn from real + pool images. Each batch
    comes with the ``is_synthetic`` flag of its images (1: from the pool). The draws come
    from two private RNGs derived from the run's seed, so they do not depend on how the
    network is initialised or on the other seeds trained beside it.

    The plan's batch augmentation, if any, is started afresh (from a seed derived from the
    run's) and applied to each batch that holds pool images; :meth:`extra_loss` and
    :meth:`step` hand its own loss term and step to the training loop."""

    def __init__(self, plan: Plan, batch_size: int, seed: int, device: torch.device) -> None:
        self.batch_size = batch_size
        self.real_rng = runtime.rng(derive_seed(seed, "real-batches"))
        self.pool_rng = runtime.rng(derive_seed(seed, "pool-batches"))
        self.x_real, self.y_real = (runtime.channels_last(t.to(device), device) for t in plan.train)
        self.f_real = torch.zeros(len(self.x_real), 1, device=device)
        self.n_real = len(self.x_real)
        self.pool = None
        self.augment = None
        if plan.batch_augment is not None:
            self.augment = plan.batch_augment.start(derive_seed(seed, "batch-augment"), device)
        if plan.pool is not None:
            x_pool, y_pool = (runtime.channels_last(t.to(device), device) for t in plan.pool)
            f_pool = torch.ones(len(x_pool), 1, device=device)
            if plan.mix == "union":
                self.x_real = torch.cat([self.x_real, x_pool])
                self.y_real = torch.cat([self.y_real, y_pool])
                self.f_real = torch.cat([self.f_real, f_pool])
            else:
                self.pool = x_pool, y_pool, f_pool

    def draw(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images, targets (labels, or class probabilities after a mixer) and flags."""
        from_pool = self.pool is not None and step % 2 == 1
        if from_pool:
            x, y, flag = self.pool
            rng = self.pool_rng
        else:
            x, y, flag, rng = self.x_real, self.y_real, self.f_real, self.real_rng
        idx = sample_batch(len(x), self.batch_size, rng)
        # union: the pool's rows are at the end (checked only where a batch augmentation needs it)
        augment = self.augment is not None and (from_pool or bool((idx >= self.n_real).any()))
        idx = idx.to(x.device)
        x, y, flag = x[idx], y[idx], flag[idx]
        if augment:
            x, y = self.augment(x, y, flag)
        return x, y, flag

    def extra_loss(self) -> torch.Tensor | None:
        """The batch augmentation's own loss term for the last batch (neuralaug), or None."""
        return None if self.augment is None else self.augment.extra_loss()

    def step(self) -> None:
        """After the classifier's backward pass: the batch augmentation's step (neuralaug)."""
        if self.augment is not None:
            self.augment.step()


def new_classifier(settings: dict, n_classes: int, train: Data, seed: int) -> nn.Module:
    """The run's network, initialised from ``seed``."""
    torch.manual_seed(seed)
    return make_classifier(
        settings.get("arch", "conv4"),
        n_classes,
        train[0].shape[-1],
        settings["width"],
        in_channels=train[0].shape[1],
    )


def train_classifier(
    plan: Plan,
    n_classes: int,
    settings: dict,
    seed: int,
    device: torch.device,
    *,
    compile: bool = False,
) -> tuple[nn.Module, list[float]]:
    """Train one network on ``plan`` for ``settings["steps"]`` steps (:class:`Batches`);
    returns it and its loss at every step (the classifier's cross-entropy, against soft targets
    on mixed batches). ``compile`` compiles the network with ``torch.compile``."""
    model = runtime.prepare(
        new_classifier(settings, n_classes, plan.train, seed), device, compile=compile
    )
    optimizer = Adam(model.parameters(), lr=settings["lr"])
    batches = Batches(plan, settings["batch_size"], seed, device)
    weight = None if plan.class_weights is None else plan.class_weights.to(device)
    losses = []
    model.train()
    for step in range(settings["steps"]):
        x, y, flag = batches.draw(step)
        with runtime.autocast(device):
            loss = F.cross_entropy(model(x, is_synthetic=flag).float(), y, weight=weight)
        extra = batches.extra_loss()
        optimizer.zero_grad(set_to_none=True)
        (loss if extra is None else loss + extra).backward()
        optimizer.step()
        batches.step()
        losses.append(loss.item())
    return model, losses


def train_stacked(
    plans: list[Plan], n_classes: int, settings: dict, seeds: list[int], device: torch.device
) -> list[tuple[nn.Module, list[float]]]:
    """:func:`train_classifier` for every ``(plan, seed)`` at once, as one stacked network
    (:class:`~genaug.models.stacked.StackedModels`): each seed keeps its initialisation,
    batches, class weights, batch augmentation (a neuralaug augmenter each) and BatchNorm
    statistics, and the sum of the seeds' losses has disjoint gradients, so each seed's Adam
    update is its own. Equal to training them one after the other up to float rounding
    (``tests/test_classify.py`` states the tolerance)."""
    from genaug.models.stacked import StackedModels

    models = [
        runtime.prepare(new_classifier(settings, n_classes, plan.train, seed), device)
        for plan, seed in zip(plans, seeds, strict=True)
    ]
    stacked = StackedModels(models).train()
    optimizer = Adam(stacked.parameters(), lr=settings["lr"])
    streams = [
        Batches(p, settings["batch_size"], s, device) for p, s in zip(plans, seeds, strict=True)
    ]
    weights = None
    if any(p.class_weights is not None for p in plans):
        ones = torch.ones(n_classes)
        weights = torch.stack(
            [ones if p.class_weights is None else p.class_weights for p in plans]
        ).to(device)
    losses = []
    for step in range(settings["steps"]):
        x, y, flag = (torch.stack(t) for t in zip(*(b.draw(step) for b in streams), strict=True))
        with runtime.autocast(device):
            logits = stacked(x, flag).float()
        # y: S x B labels, or S x B x C class probabilities on mixed batches
        nll = F.cross_entropy(logits.flatten(0, 1), y.flatten(0, 1), reduction="none")
        nll = nll.view(logits.shape[:2])
        if weights is None:
            loss = nll.mean(1)
        else:  # F.cross_entropy's weighted mean, per seed
            w = weights.gather(1, y)
            loss = (w * nll).sum(1) / w.sum(1)
        total = loss.sum()
        extras = [e for b in streams if (e := b.extra_loss()) is not None]
        if extras:
            total = total + torch.stack(extras).sum()
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        for b in streams:
            b.step()
        losses.append(loss.detach())
    per_seed = torch.stack(losses).T.cpu().tolist() if losses else [[] for _ in plans]
    return list(zip(stacked.unstack(), per_seed, strict=True))


def stacks(settings: dict, device: torch.device, n_seeds: int, compile: bool) -> bool:
    """Whether a job trains its seeds as one stacked network: ``classifier.stack_seeds``
    (``auto``: on a GPU, where one small network leaves the device idle; not on the CPU,
    where the default Conv-4 job with 4 seeds was measured 7 to 33 % slower stacked, see the
    README's per-job overhead). Never with ``compile``, or for one seed."""
    choice = settings.get("stack_seeds", "auto")
    if compile or n_seeds < 2 or choice is False:
        return False
    return device.type == "cuda" if choice == "auto" else True


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


@dataclass(frozen=True)
class Run:
    """One replicate of one method, ready to train: its plan, test set and bookkeeping."""

    method: str
    regime: Regime
    replicate: int
    seed: int  # the classifier's, derived from the replicate and the regime
    plan: Plan
    classes: ClassIndex
    minority: int | None
    test: Data
    synthetic: pd.DataFrame | None
    provenance_settings: dict


def prepare(
    method: str,
    regime: Regime,
    seed: int,
    table: pd.DataFrame,
    split: pd.DataFrame,
    synthetic: pd.DataFrame | None,
    settings: dict,
    augment: dict,
    topup: TopUp | None = None,
) -> Run:
    """The :class:`Run` of ``method`` on one replicate's split.

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
    test = images_tensor(test_rows["image"]), classes.encode(test_rows["label"])
    run_seed = derive_seed(seed, "classifier", regime.tag)

    minority = keep = None
    source_rows, copies = torch.arange(len(train[1])), augment["n_per_image"]
    if spec.tops_up:
        minority = int(classes.encode([topup.minority])[0])
        source_rows, copies = torch.nonzero(train[1] == minority).flatten(), topup.copies
        keep = torch.as_tensor(topup.keep, dtype=torch.long)
    inputs = Inputs(
        method=method,
        train=train,
        classes=classes,
        sources=(train[0][source_rows], train[1][source_rows]),
        source_rows=source_rows,
        copies=copies,
        keep=keep,
        minority=minority,
        train_ids=train_rows["image_id"].to_numpy(),
        synthetic=synthetic,
        augment=augment,
        seed=run_seed,
        mix=spec.mix,
    )
    return Run(
        method=method,
        regime=regime,
        replicate=seed,
        seed=run_seed,
        plan=strategy(method)(inputs),
        classes=classes,
        minority=minority,
        test=test,
        synthetic=synthetic,
        provenance_settings={
            **settings,
            "n_per_image": copies,
            "ratio": None if topup is None else topup.ratio,
            # a combination records its transform's settings
            "transform": augment.get(transform_of(method)),
        },
    )


def score(
    run: Run,
    model: nn.Module,
    losses: list[float],
    train_seconds: float,
    device: torch.device,
    stacked: bool = False,
) -> dict:
    """The metrics record of a trained run, with provenance."""
    probs = predict(model, run.test[0], device)
    pred = probs.argmax(1).numpy()
    truth = run.test[1].numpy()
    metrics = classification_metrics(truth, pred, probs.numpy(), run.minority)
    classes = run.classes.classes
    per_class = {
        int(label): float(np.mean(pred[truth == i] == i)) for i, label in enumerate(classes)
    }
    sources_sha = {}
    if run.synthetic is not None:
        sources_sha["checkpoint_sha256"] = sorted(run.synthetic["checkpoint_sha256"].unique())
    plan = run.plan
    record = {
        "method": run.method,
        "scenario": run.regime.scenario,
        "regime": run.regime.tag,
        **run.regime.columns(),
        "replicate": run.replicate,
        **metrics,
        "per_class_accuracy": per_class,
        "n_classes": len(classes),
        "minority_class": None if run.minority is None else int(classes[run.minority]),
        "n_train_real": len(plan.train[0]),
        "n_train_augmented": 0 if plan.pool is None else len(plan.pool[0]),
        "n_test": len(truth),
        "final_train_loss": float(np.mean(losses[-10:])),
        "train_seconds": round(train_seconds, 3),
        "device": str(device),
        "stacked_seeds": stacked,
        "provenance": provenance(run.provenance_settings, seed=run.seed, **sources_sha),
    }
    log.info(
        "%s %s seed=%d: accuracy %.4f, balanced %.4f (%d test images, %.1f s)",
        run.method,
        run.regime.tag,
        run.replicate,
        record["accuracy"],
        record["balanced_accuracy"],
        len(truth),
        train_seconds,
    )
    return record


def run_seeds(
    runs: list[Run], settings: dict, device: torch.device, compile: bool = False
) -> list[dict]:
    """Train and score the runs of one method (a classify job's: each regime's seeds), stacked
    into one network where :func:`stacks` says so, else one after the other. Returns their
    records in order."""
    n_classes = {len(r.classes) for r in runs}
    if len(n_classes) == 1 and stacks(settings, device, len(runs), compile):
        start = time.perf_counter()
        trained = train_stacked(
            [r.plan for r in runs], n_classes.pop(), settings, [r.seed for r in runs], device
        )
        seconds = (time.perf_counter() - start) / len(runs)  # each seed's share
        return [
            score(r, *t, seconds, device, stacked=True) for r, t in zip(runs, trained, strict=True)
        ]
    records = []
    for r in runs:
        start = time.perf_counter()
        trained = train_classifier(
            r.plan, len(r.classes), settings, r.seed, device, compile=compile
        )
        records.append(score(r, *trained, time.perf_counter() - start, device))
    return records


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
    """One classifier run, on its own (not stacked); returns its metrics record."""
    r = prepare(method, regime, seed, table, split, synthetic, settings, augment, topup)
    return run_seeds([r], settings, device, compile)[0]
