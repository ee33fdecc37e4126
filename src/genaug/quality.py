"""How good are a method's synthetic images? Metrics in a feature space of the domain (issue 10).

No downloaded weights: the feature space is a Conv-4 (:class:`genaug.models.classifier.ConvNet`)
trained here with cross-entropy on real images the caller chooses (few-shot: the source
classes; imbalance: the replicate's training split; never test images), see
:func:`train_encoder`. Its ``embed`` features (``width`` numbers per image) are the space every
metric below measures in:

- **fd**: Fréchet distance between Gaussians fitted to the real and synthetic features
  (torchmetrics' ``FrechetInceptionDistance`` with this encoder); 0 for identical sets.
- **kid**, **kid_se**: unbiased kernel distance (KID, Bińkowski et al. 2018; torchmetrics'
  ``KernelInceptionDistance``), the mean over random subsets of ``m`` images of each set, and
  the standard deviation of the subset estimates: the standard error of a KID from ``m``
  images (the "±" KID is reported with). ``m`` = half the smaller set, at most 1000, so that
  the subsets of both sets vary.
- **precision**, **recall**, **density**, **coverage** (Kynkäänniemi et al. 2019; Naeem et al.
  2020), with ``prdc_k`` nearest neighbours: the share of synthetic images inside the real
  images' k-NN balls (realism), the share of real images inside the synthetic images' balls
  (variety), how many real balls a synthetic image falls in on average / k (about 1 for real
  images), and the share of real images whose ball holds a synthetic image.
- **diversity**: mean pairwise feature distance among the synthetic images of one source
  image (or, for class-conditional generators, of one class) over the mean pairwise distance
  among real images of that class, averaged over sources: 0 = copies of the input, or noise
  ignored; 1 = as varied as real images.
- **memorised**, **nn_ratio**: the share of synthetic images closer to their nearest training
  image than 95 % of real held-out images are (the 5th percentile of their distances to the
  nearest training image, :data:`MEMORISATION_QUANTILE`; about 0.05 for real unseen images,
  1 for copies), and the mean nearest-training-image distance of the synthetic images over
  that of the held-out images (about 1 for new images, 0 for copies).
- **label_consistency**: the share of synthetic images whose nearest training image has
  their label (chance: about 1 / the number of classes).
- **cas**: Classification Accuracy Score (Ravuri & Vinyals 2019): a classifier trained on the
  synthetic images only, its accuracy on the real held-out images of the synthetic classes.

The real reference of fd, kid, PRDC, diversity and the memorisation threshold is the
held-out (test) images of the classes the synthetic set has: unseen by generator and encoder,
so copying training images earns nothing. :func:`quality_row` computes every metric as one flat
dict, the row of a quality table.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from genaug.classify import Plan, predict, train_classifier
from genaug.errors import GenaugError

#: training of the encoder and of the CAS classifier (the keys of config ``classifier``)
DEFAULT_SETTINGS = {"arch": "conv4", "steps": 300, "batch_size": 32, "lr": 3e-3, "width": 32}
#: a synthetic image is "memorised" when it is closer to its nearest training image than this
#: quantile of the held-out images' nearest-training-image distances
MEMORISATION_QUANTILE = 0.05
#: nearest neighbours of precision, recall, density and coverage (fewer when a set is tiny)
PRDC_K = 5
#: KID: number of random subsets, largest subset size
KID_SUBSETS, KID_MAX_SUBSET = 100, 1000

Labels = torch.Tensor | np.ndarray | Sequence


class Encoder(nn.Module):
    """``N x C x H x W`` images in [0, 1] -> ``N x num_features`` features: the ``embed`` of a
    trained classifier, frozen and always in eval mode (BatchNorm uses its running statistics).
    ``num_features`` is what torchmetrics' FID reads from a custom feature extractor."""

    def __init__(self, net: nn.Module, num_features: int) -> None:
        super().__init__()
        self.net = net
        self.num_features = num_features
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> Encoder:
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.embed(x)


def state_dict_sha256(module: nn.Module) -> str:
    """sha256 of a module's state dict: each entry's name, dtype, shape and raw bytes, in name
    order (stable across runs and PyTorch versions, unlike the bytes of ``torch.save``)."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _labels(labels: Labels, what: str, n: int) -> np.ndarray:
    """``labels`` as a 1-D numpy array of ``n`` entries."""
    arr = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if arr.shape != (n,):
        raise GenaugError(f"{what}: expected {n} labels (one per image), got shape {arr.shape}")
    return arr


def _check_images(images: torch.Tensor, what: str, minimum: int = 1) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise GenaugError(f"{what}: expected an N x C x H x W image tensor, got {got}")
    if len(images) < minimum:
        raise GenaugError(
            f"{what}: {len(images)} image(s), the quality metrics need at least {minimum}; "
            "check that the method made its images"
        )
    if not images.is_floating_point() or images.min() < 0 or images.max() > 1:
        raise GenaugError(f"{what}: expected float images in [0, 1] (divide uint8 by 255)")


def _fit(
    images: torch.Tensor,
    labels: np.ndarray,
    seed: int,
    settings: dict | None,
    device: torch.device | str,
) -> tuple[nn.Module, np.ndarray]:
    """A classifier (``settings`` over :data:`DEFAULT_SETTINGS`) trained with cross-entropy by
    :func:`genaug.classify.train_classifier`, in eval mode, and the label of each of its
    outputs (the sorted distinct ``labels``)."""
    classes, y = np.unique(labels, return_inverse=True)
    net, _ = train_classifier(
        Plan((images, torch.from_numpy(y)), None, "alternate"),
        len(classes),
        {**DEFAULT_SETTINGS, **(settings or {})},
        seed,
        torch.device(device),
    )
    return net.eval(), classes


def train_encoder(
    images: torch.Tensor,
    labels: Labels,
    seed: int,
    settings: dict | None = None,
    device: torch.device | str = "cpu",
) -> tuple[Encoder, str]:
    """A feature space of the domain: a classifier (``settings``, default
    :data:`DEFAULT_SETTINGS`) trained with cross-entropy on ``images`` (``N x C x H x W`` in
    [0, 1]) and their ``labels`` (any values, at least two classes), deterministic under
    ``seed`` (on the CPU, at a fixed thread count). Returns the frozen :class:`Encoder` and the
    sha256 of its weights (:func:`state_dict_sha256`)."""
    _check_images(images, "encoder training images")
    labels = _labels(labels, "encoder training labels", len(images))
    if len(np.unique(labels)) < 2:
        raise GenaugError(
            f"the encoder needs images of at least 2 classes to learn features, got "
            f"{len(np.unique(labels))}: train it on more classes"
        )
    net, _ = _fit(images, labels, seed, settings, device)
    with torch.no_grad():
        num_features = int(net.embed(images[:1].to(device)).shape[1])
    encoder = Encoder(net, num_features)
    return encoder, state_dict_sha256(encoder)


def _device(encoder: nn.Module) -> torch.device:
    return next(encoder.parameters()).device


@torch.no_grad()
def features(encoder: nn.Module, images: torch.Tensor, batch: int = 1024) -> torch.Tensor:
    """``N x D`` features of ``images`` (float64, on the CPU)."""
    encoder.eval()
    device = _device(encoder)
    out = [encoder(images[i : i + batch].to(device)).cpu() for i in range(0, len(images), batch)]
    return torch.cat(out).double()


@torch.no_grad()
def fidelity(
    encoder: Encoder, real: torch.Tensor, synthetic: torch.Tensor, seed: int, batch: int = 1024
) -> dict[str, float]:
    """``fd``, ``kid`` and ``kid_se`` (see the module docstring) of ``synthetic`` against
    ``real`` images, by torchmetrics with ``encoder`` as the feature extractor; KID's random
    subsets are drawn under ``seed``. Each set needs at least two images. A set against itself
    has a KID slightly below 0 (its two subsets share images, which inflates the cross term)."""
    for images, what in ((real, "real reference images"), (synthetic, "synthetic images")):
        _check_images(images, what, minimum=2)
    subset = min(KID_MAX_SUBSET, max(2, min(len(real), len(synthetic)) // 2))
    fid = FrechetInceptionDistance(feature=encoder, normalize=True)
    with warnings.catch_warnings():  # KID keeps every feature; ours are small
        warnings.filterwarnings("ignore", "Metric `Kernel Inception Distance`", UserWarning)
        kid = KernelInceptionDistance(
            feature=encoder, subsets=KID_SUBSETS, subset_size=subset, normalize=True
        )
    device = _device(encoder)
    for metric in (fid, kid):
        metric.to(device)
        for images, is_real in ((real, True), (synthetic, False)):
            for i in range(0, len(images), batch):
                metric.update(images[i : i + batch].to(device), real=is_real)
    with torch.random.fork_rng(devices=[]):  # KID draws its subsets from the global RNG
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return {"fd": float(fid.compute()), "kid": float(kid_mean), "kid_se": float(kid_std)}


def _cdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances, computed directly (not through a matrix product, whose rounding
    makes a copy's distance 1e-7 instead of 0)."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def prdc(real: torch.Tensor, synthetic: torch.Tensor, k: int = PRDC_K) -> dict[str, float]:
    """Precision, recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020)
    of ``synthetic`` against ``real`` features, with k-nearest-neighbour balls; ``k`` shrinks to
    the set sizes minus one (``prdc_k`` in the result).

    Written by hand (torchmetrics has no PRDC; the ``prdc`` package is unmaintained and needs
    scikit-learn), following the reference implementation, clovaai/generative-evaluation-prdc:
    a ball's radius is the distance to the k-th nearest other point of the same set, and
    "inside" is strictly closer than the radius."""
    if len(real) < 2 or len(synthetic) < 2:
        raise GenaugError(
            f"precision/recall need at least two real and two synthetic images, got "
            f"{len(real)} and {len(synthetic)}"
        )
    k = min(k, len(real) - 1, len(synthetic) - 1)
    # the (k+1)-th smallest distance to the own set: the k-th neighbour after the point itself
    real_radius = _cdist(real, real).kthvalue(k + 1, dim=1).values
    fake_radius = _cdist(synthetic, synthetic).kthvalue(k + 1, dim=1).values
    dist = _cdist(real, synthetic)  # real x synthetic
    in_real_ball = dist < real_radius[:, None]
    return {
        "precision": in_real_ball.any(0).double().mean().item(),
        "recall": (dist < fake_radius[None, :]).any(1).double().mean().item(),
        "density": in_real_ball.sum(0).double().mean().item() / k,
        "coverage": (dist.min(1).values < real_radius).double().mean().item(),
        "prdc_k": float(k),
    }


def _mean_pairwise(x: torch.Tensor) -> float:
    return torch.pdist(x).mean().item()


def diversity(
    synthetic: torch.Tensor,
    synthetic_labels: Labels,
    source_index: Labels | None,
    real: torch.Tensor,
    real_labels: Labels,
) -> float:
    """Mean pairwise distance among the synthetic features made from one source image
    (``source_index`` >= 0; -1 or None: class-conditional, grouped by label instead), over the
    mean pairwise distance among the ``real`` features of that class, averaged over groups
    of two or more images. 0: copies or noise ignored; 1: as varied as real images."""
    syn_y = _labels(synthetic_labels, "synthetic labels", len(synthetic))
    src = np.full(len(synthetic), -1) if source_index is None else source_index
    src = _labels(src, "source index", len(synthetic))
    real_y = _labels(real_labels, "real labels", len(real))
    ratios = []
    for label in np.unique(syn_y):
        of_class = syn_y == label
        reference = real[torch.from_numpy(real_y == label)]
        if len(reference) < 2:
            raise GenaugError(
                f"diversity: class {label.tolist()!r} has {len(reference)} real reference "
                "image(s), it needs at least two: keep more held-out images per class"
            )
        spread = _mean_pairwise(reference)
        for source in np.unique(src[of_class]):
            group = synthetic[torch.from_numpy(of_class & (src == source))]
            if len(group) >= 2:
                ratios.append(_mean_pairwise(group) / spread)
    if not ratios:
        raise GenaugError(
            "diversity needs at least two synthetic images of one source image (or of one "
            "class for class-conditional generators): make more images per source"
        )
    return float(np.mean(ratios))


class Memorisation(NamedTuple):
    """See :func:`memorisation`."""

    memorised: float
    nn_ratio: float
    threshold: float
    nearest: torch.Tensor


def memorisation(
    synthetic: torch.Tensor,
    train: torch.Tensor,
    heldout: torch.Tensor,
    quantile: float = MEMORISATION_QUANTILE,
) -> Memorisation:
    """Copy detection in feature space. ``threshold``: the ``quantile`` of the held-out images'
    distances to their nearest training image; ``memorised``: the share of synthetic images at
    most that close to theirs; ``nn_ratio``: mean nearest-training-image distance of the
    synthetic images over that of the held-out images; ``nearest``: each synthetic image's
    nearest training image (indices into ``train``, for a figure)."""
    syn_dist, nearest = _cdist(synthetic, train).min(1)
    held_dist = _cdist(heldout, train).min(1).values
    if held_dist.max() == 0:
        raise GenaugError(
            "memorisation: every held-out image is a copy of a training image: "
            "deduplicate the dataset before splitting it"
        )
    threshold = torch.quantile(held_dist, quantile).item()
    return Memorisation(
        memorised=(syn_dist <= threshold).double().mean().item(),
        nn_ratio=(syn_dist.mean() / held_dist.mean()).item(),
        threshold=threshold,
        nearest=nearest,
    )


def label_consistency(
    synthetic: torch.Tensor, synthetic_labels: Labels, train: torch.Tensor, train_labels: Labels
) -> float:
    """Share of synthetic features whose nearest training feature (1-NN) has their label."""
    syn_y = _labels(synthetic_labels, "synthetic labels", len(synthetic))
    train_y = _labels(train_labels, "training labels", len(train))
    nearest = _cdist(synthetic, train).argmin(1).numpy()
    return float(np.mean(train_y[nearest] == syn_y))


def cas(
    synthetic_images: torch.Tensor,
    synthetic_labels: Labels,
    test_images: torch.Tensor,
    test_labels: Labels,
    seed: int,
    settings: dict | None = None,
    device: torch.device | str = "cpu",
) -> float:
    """Classification Accuracy Score: a classifier (``settings``, default
    :data:`DEFAULT_SETTINGS`) trained on the synthetic images only, its accuracy on the real
    test images of the synthetic classes. NaN when the synthetic images are of one class (an
    imbalance top-up): a one-class classifier scores nothing."""
    syn_y = _labels(synthetic_labels, "synthetic labels", len(synthetic_images))
    test_y = _labels(test_labels, "test labels", len(test_images))
    if len(np.unique(syn_y)) < 2:
        return float("nan")
    keep = np.isin(test_y, syn_y)
    if not keep.any():
        raise GenaugError("CAS: no real test image has a synthetic image's class")
    net, classes = _fit(synthetic_images, syn_y, seed, settings, device)
    predicted = predict(net, test_images[torch.from_numpy(keep)], torch.device(device))
    predicted = predicted.argmax(1).numpy()
    return float(np.mean(classes[predicted] == test_y[keep]))


def quality_row(
    encoder: Encoder,
    synthetic_images: torch.Tensor,
    synthetic_labels: Labels,
    source_index: Labels | None,
    train_images: torch.Tensor,
    train_labels: Labels,
    test_images: torch.Tensor,
    test_labels: Labels,
    seed: int,
    *,
    k: int = PRDC_K,
    cas_settings: dict | None = None,
) -> dict[str, float]:
    """Every metric of the module docstring for one synthetic set, as one flat dict of floats
    (a row of the quality table; the caller adds the encoder's sha256 and the provenance).

    ``source_index``: per synthetic image, the index (into ``train_images``) of the real image
    it was made from, -1 (or None for all) for class-conditional samples. Labels are compared
    by value across the three sets. The reference of fd, kid, PRDC and diversity is the test
    images of the synthetic images' classes; every such class needs two of them and a
    training image."""
    _check_images(synthetic_images, "synthetic images", minimum=2)
    _check_images(train_images, "training images")
    _check_images(test_images, "test images")
    shapes = {tuple(x.shape[1:]) for x in (synthetic_images, train_images, test_images)}
    if len(shapes) > 1:
        raise GenaugError(f"synthetic, training and test images differ in C x H x W: {shapes}")
    syn_y = _labels(synthetic_labels, "synthetic labels", len(synthetic_images))
    train_y = _labels(train_labels, "training labels", len(train_images))
    test_y = _labels(test_labels, "test labels", len(test_images))
    for label in np.unique(syn_y):
        n_train, n_test = int((train_y == label).sum()), int((test_y == label).sum())
        if n_train < 1 or n_test < 2:
            raise GenaugError(
                f"synthetic class {label.tolist()!r} has {n_train} real training and {n_test} test "
                "image(s); the quality metrics need at least 1 and 2: check the labels"
            )
    in_classes = np.isin(test_y, np.unique(syn_y))
    ref_images, ref_y = test_images[torch.from_numpy(in_classes)], test_y[in_classes]

    syn_f, train_f, ref_f = (
        features(encoder, x) for x in (synthetic_images, train_images, ref_images)
    )
    memo = memorisation(syn_f, train_f, ref_f)
    return {
        "n_synthetic": float(len(synthetic_images)),
        "n_reference": float(len(ref_images)),
        **fidelity(encoder, ref_images, synthetic_images, seed),
        **prdc(ref_f, syn_f, k),
        "diversity": diversity(syn_f, syn_y, source_index, ref_f, ref_y),
        "memorised": memo.memorised,
        "nn_ratio": memo.nn_ratio,
        "label_consistency": label_consistency(syn_f, syn_y, train_f, train_y),
        "cas": cas(
            synthetic_images, syn_y, test_images, test_y, seed, cas_settings, _device(encoder)
        ),
    }
