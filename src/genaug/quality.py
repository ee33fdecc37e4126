"""How good are a method's synthetic images? Metrics in a feature space of the domain (issue 10).

No downloaded weights: the feature space is a Conv-4 (:class:`genaug.models.classifier.ConvNet`)
trained here with cross-entropy on real images the caller chooses (few-shot: the source
classes; imbalance: the training images of a replicate's regimes; never test images), see
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
  synthetic images only (a linear probe on their features, :func:`cas`), its accuracy on the
  real held-out images of the synthetic classes.

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
import pandas as pd
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from genaug import io
from genaug.classify import Plan, prepare, train_classifier
from genaug.data.tables import images_tensor, split_rows
from genaug.errors import GenaugError
from genaug.methods import generator_of
from genaug.models.classifier import make_classifier
from genaug.provenance import code_version, config_hash
from genaug.seeds import derive_seed

#: L-BFGS iterations of the CAS probe (:func:`cas`)
CAS_STEPS = 100
#: training of the encoder (the keys of config ``quality.encoder``, as of ``classifier``)
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
    _, y = np.unique(labels, return_inverse=True)
    net, _ = train_classifier(
        Plan((images, torch.from_numpy(y)), None, "alternate"),
        int(y.max()) + 1,
        {**DEFAULT_SETTINGS, **(settings or {})},
        seed,
        torch.device(device),
    )
    net.eval()
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


class _Given(nn.Module):
    """The feature extractor torchmetrics' FID and KID call, for features computed already
    (by :func:`features`, once per image set): returns its input."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@torch.no_grad()
def fidelity(
    encoder: Encoder, real: torch.Tensor, synthetic: torch.Tensor, seed: int
) -> dict[str, float]:
    """``fd``, ``kid`` and ``kid_se`` (see the module docstring) of ``synthetic`` against
    ``real`` images in ``encoder``'s features (:func:`fidelity_of_features`). Each set needs
    at least two images."""
    for images, what in ((real, "real reference images"), (synthetic, "synthetic images")):
        _check_images(images, what, minimum=2)
    return fidelity_of_features(features(encoder, real), features(encoder, synthetic), seed)


@torch.no_grad()
def fidelity_of_features(
    real: torch.Tensor, synthetic: torch.Tensor, seed: int
) -> dict[str, float]:
    """``fd``, ``kid`` and ``kid_se`` of ``synthetic`` against ``real`` features, by
    torchmetrics' FID and KID; KID's random subsets are drawn under ``seed``. A set against
    itself has a KID slightly below 0 (its two subsets share images, which inflates the cross
    term)."""
    subset = min(KID_MAX_SUBSET, max(2, min(len(real), len(synthetic)) // 2))
    given = _Given(real.shape[1])
    fid = FrechetInceptionDistance(feature=given, normalize=True)
    with warnings.catch_warnings():  # KID keeps every feature; ours are small
        warnings.filterwarnings("ignore", "Metric `Kernel Inception Distance`", UserWarning)
        kid = KernelInceptionDistance(
            feature=given, subsets=KID_SUBSETS, subset_size=subset, normalize=True
        )
    for metric in (fid, kid):
        metric.update(real, real=True)
        metric.update(synthetic, real=False)
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
    *,
    strict: bool = True,
) -> float:
    """Mean pairwise distance among the synthetic features made from one source image
    (``source_index`` >= 0; -1 or None: class-conditional, grouped by label instead), over the
    mean pairwise distance among the ``real`` features of that class, averaged over groups
    of two or more images. 0: copies or noise ignored; 1: as varied as real images. Without
    such a group (one image per source, as a small imbalance top-up makes): an error, or NaN
    if not ``strict``."""
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
    if not ratios and not strict:
        return float("nan")
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
    synthetic: torch.Tensor,
    synthetic_labels: Labels,
    test: torch.Tensor,
    test_labels: Labels,
    steps: int = CAS_STEPS,
) -> float:
    """Classification Accuracy Score of ``synthetic`` features: a softmax-regression probe
    trained on them only (standardised, L2 1e-3, ``steps`` L-BFGS iterations from zero, so
    deterministic), its accuracy on the real ``test`` features of the synthetic classes. NaN
    when the synthetic images are of one class (an imbalance top-up): a one-class classifier
    scores nothing.

    Ravuri & Vinyals (2019) train a network on the synthetic images; a linear probe on the
    encoder's features asks the same question (can the task be learnt from these images
    alone?) at no cost beside the features. Written by hand: no installed library fits a
    multinomial logistic regression that separable data cannot break."""
    syn_y = _labels(synthetic_labels, "synthetic labels", len(synthetic))
    test_y = _labels(test_labels, "test labels", len(test))
    if len(np.unique(syn_y)) < 2:
        return float("nan")
    keep = np.isin(test_y, syn_y)
    if not keep.any():
        raise GenaugError("CAS: no real test image has a synthetic image's class")
    classes, y = np.unique(syn_y, return_inverse=True)
    mean, std = synthetic.mean(0), synthetic.std(0).clamp_min(1e-8)
    x, x_test = (synthetic - mean) / std, (test[torch.from_numpy(keep)] - mean) / std
    w = torch.zeros(x.shape[1], len(classes), dtype=x.dtype, requires_grad=True)
    b = torch.zeros(len(classes), dtype=x.dtype, requires_grad=True)
    target = torch.from_numpy(y)
    optimizer = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(x @ w + b, target) + 1e-3 * w.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    predicted = (x_test @ w + b).argmax(1).numpy()
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
    cas_steps: int = CAS_STEPS,
    strict: bool = True,
) -> dict[str, float]:
    """Every metric of the module docstring for one synthetic set, as one flat dict of floats
    (a row of the quality table; the caller adds the encoder's sha256 and the provenance).

    ``source_index``: per synthetic image, the index (into ``train_images``) of the real image
    it was made from, -1 (or None for all) for class-conditional samples. Labels are compared
    by value across the three sets. The reference of fd, kid, PRDC and diversity is the test
    images of the synthetic images' classes; every such class needs two of them and a
    training image. ``strict``: whether a set without two images of one source is an error
    (else its diversity is NaN; :func:`diversity`)."""
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
        **fidelity_of_features(ref_f, syn_f, seed),
        **prdc(ref_f, syn_f, k),
        "diversity": diversity(syn_f, syn_y, source_index, ref_f, ref_y, strict=strict),
        "memorised": memo.memorised,
        "nn_ratio": memo.nn_ratio,
        "label_consistency": label_consistency(syn_f, syn_y, train_f, train_y),
        "cas": cas(syn_f, syn_y, ref_f, ref_y, cas_steps),
    }


# --------------------------------------------------------------------------- the workflow stage
#: the scope of the one encoder trained on the source classes
SOURCE_SCOPE = "source"


class TrainedEncoder(NamedTuple):
    """An encoder, its weights' sha256, what it was trained on (in words), and the arguments
    of :func:`genaug.models.classifier.make_classifier` that rebuild its network."""

    encoder: Encoder
    sha256: str
    trained_on: str
    build: dict


def _described(rows, what: str):
    return rows, f"{what}: {len(rows)} images of {rows['label'].nunique()} classes"


def fit_encoder(rows, trained_on: str, seed: int, settings: dict | None, device) -> TrainedEncoder:
    """:func:`train_encoder` on a table's ``rows`` (``image``, ``label``)."""
    images = images_tensor(rows["image"])
    settings = {**DEFAULT_SETTINGS, **(settings or {})}
    encoder, sha = train_encoder(images, rows["label"].to_numpy(), seed, settings, device)
    build = {
        "arch": settings["arch"],
        "n_classes": int(rows["label"].nunique()),
        "image_size": int(images.shape[-1]),
        "width": int(settings["width"]),
        "in_channels": int(images.shape[1]),
    }
    return TrainedEncoder(encoder, sha, trained_on, build)


def replicate_scope(tag: str) -> str:
    """The scope of replicate ``tag``'s own encoder: its seed (``"frac0.1-seed3"`` ->
    ``"seed3"``), which every regime of the replicate shares."""
    return tag.rpartition("-")[2]


def replicate_training_rows(table, splits: dict) -> dict[str, pd.DataFrame]:
    """Per replicate (:func:`replicate_scope`), the training rows of all its regimes' splits
    (``splits``: tag -> split): a replicate's regimes share one test set (a smaller fraction's
    or k's training set lies inside a larger one's), so their union holds no test image; a
    split that breaks this stops with one line."""
    tags: dict[str, list[str]] = {}
    for tag in splits:
        tags.setdefault(replicate_scope(tag), []).append(tag)
    union = {}
    for scope, group in tags.items():
        rows = pd.concat([split_rows(table, splits[t], "train") for t in group])
        rows = rows.drop_duplicates("image_id").reset_index(drop=True)
        for t in group:
            test = splits[t].loc[splits[t]["split"] == "test", "image_id"]
            if rows["image_id"].isin(test).any():
                raise GenaugError(
                    f"split {t}: a training image of another regime of its replicate is in "
                    "its test set, so one encoder per replicate would see a test image: "
                    "delete the outdir's splits/ folder so the splits are redrawn"
                )
        union[scope] = rows
    return union


def train_encoders(
    table, splits: dict, on_source: bool, seed: int, settings: dict | None, device
) -> dict[str, TrainedEncoder]:
    """The encoders of one scenario: one on the source classes (``on_source`` and the table
    has them; scope ``source``), else one per replicate, on the training images of all its
    regimes (:func:`replicate_training_rows`; ``splits``: tag -> split), each deterministic
    under a seed derived from ``seed`` and its scope, and described in words
    (``trained_on``). Every regime of a replicate is measured in the same features."""
    source = table[table["role"] == "source"] if "role" in table else table.iloc[:0]
    if on_source and len(source):
        todo = {SOURCE_SCOPE: _described(source.reset_index(drop=True), "the source classes")}
    else:  # never test images
        todo = {
            scope: _described(rows, "the replicate's training images")
            for scope, rows in replicate_training_rows(table, splits).items()
        }
    return {
        scope: fit_encoder(
            rows, what, derive_seed(seed, "quality-encoder", scope), settings, device
        )
        for scope, (rows, what) in todo.items()
    }


def encoder_for(encoders: dict[str, TrainedEncoder], tag: str) -> TrainedEncoder:
    """The encoder that measures replicate ``tag``: its replicate's own, or the source
    classes' one."""
    return encoders.get(replicate_scope(tag)) or encoders[SOURCE_SCOPE]


def save_encoders(encoders: dict[str, TrainedEncoder], path) -> None:
    """Every encoder of a scenario (by scope: ``source`` or a replicate's tag) in one file,
    with what rebuilds it."""
    entries = {
        scope: {
            "state_dict": trained.encoder.net.state_dict(),
            "build": trained.build,
            "num_features": trained.encoder.num_features,
            "sha256": trained.sha256,
            "trained_on": trained.trained_on,
        }
        for scope, trained in encoders.items()
    }
    with io.atomic_path(path) as tmp:
        torch.save(entries, tmp)


def load_encoders(path, device: torch.device | str = "cpu") -> dict[str, TrainedEncoder]:
    """What :func:`save_encoders` wrote; each encoder's sha256 is checked against its weights."""
    encoders = {}
    for scope, e in torch.load(path, map_location="cpu", weights_only=True).items():
        net = make_classifier(**e["build"])
        net.load_state_dict(e["state_dict"])
        encoder = Encoder(net.to(device), e["num_features"])
        if state_dict_sha256(encoder) != e["sha256"]:
            raise GenaugError(
                f"{path}: encoder {scope!r} does not match its recorded sha256: delete the "
                "file so rule quality_encoders retrains it"
            )
        encoders[scope] = TrainedEncoder(encoder, e["sha256"], e["trained_on"], e["build"])
    return encoders


def assess(run, trained: TrainedEncoder, seed: int, cas_steps: int = CAS_STEPS) -> dict:
    """The quality row of one classifier run's augmented pool (a
    :class:`genaug.classify.Run`: a generator's synthetic images or a baseline's transformed
    copies) against its real training and test images, with the encoder's identity."""
    plan = run.plan
    if plan.pool is None or len(plan.pool[0]) == 0:
        raise GenaugError(
            f"{run.method} {run.regime.tag} seed {run.replicate}: the method added no images, "
            "so there is nothing to measure: check its synthetic table or top-up"
        )
    row = quality_row(
        trained.encoder,
        plan.pool[0],
        plan.pool[1],
        plan.pool_source,
        plan.train[0],
        plan.train[1],
        run.test[0],
        run.test[1],
        seed,
        cas_steps=cas_steps,
        strict=not run.regime.spec.tops_up,  # a top-up may make one image per source
    )
    return {
        **row,
        "chance": 1.0 / len(run.classes),
        "encoder_sha256": trained.sha256,
        "encoder_trained_on": trained.trained_on,
    }


@torch.no_grad()
def neighbours(run, trained: TrainedEncoder, n: int):
    """Up to ``n`` synthetic images of a run (one per source image or class, in turn), each
    with its nearest real training image in feature space: (synthetic, nearest, distance)."""
    pool_x, pool_y = run.plan.pool
    train_x = run.plan.train[0]
    groups = pool_source = run.plan.pool_source
    if pool_source is None or (pool_source < 0).all():
        groups = pool_y
    first = np.unique(groups.numpy(), return_index=True)[1][:n]
    pick = torch.as_tensor(np.sort(first))
    dist, nearest = _cdist(
        features(trained.encoder, pool_x[pick]), features(trained.encoder, train_x)
    ).min(1)
    return pool_x[pick], train_x[nearest], dist


def assess_method(
    method: str,
    regime,
    seeds: Sequence[int],
    table,
    splits: Sequence,
    synthetic: Sequence,
    encoders: dict[str, TrainedEncoder],
    settings: dict,
    n_neighbours: int = 8,
):
    """The quality rows of one (method, regime), one per replicate seed, and the
    nearest-neighbour pairs of its first replicate (both DataFrames, with provenance).

    ``splits``: per seed, its (rows, top-up) as :func:`genaug.scenarios.read_split` returns
    them; ``synthetic``: per seed, the generator's synthetic table (None for baselines);
    ``settings``: ``classifier`` and ``augment`` (how rule classify builds each method's pool),
    ``cas_steps`` (:func:`cas`); their hash is the rows' ``config_hash``."""
    rows, pairs = [], []
    for seed, (split, topup), synth in zip(seeds, splits, synthetic, strict=True):
        run = prepare(
            method, regime, seed, table, split, synth, settings["classifier"],
            settings["augment"], topup=topup,
        )  # fmt: skip
        tag = f"{regime.tag}-seed{seed}"
        trained = encoder_for(encoders, tag)
        row = assess(run, trained, derive_seed(seed, "quality", regime.tag), settings["cas_steps"])
        checkpoints = [] if synth is None else sorted(synth["checkpoint_sha256"].unique())
        rows.append(
            {
                "method": method,
                "scenario": regime.scenario,
                "regime": regime.tag,
                **regime.columns(),
                "replicate": seed,
                **row,
                "checkpoint_sha256": ";".join(checkpoints),
                "config_hash": config_hash(settings),
                "code_version": code_version(),
            }
        )
        if not pairs:
            fake, real, dist = neighbours(run, trained, n_neighbours)
            pairs = [
                {
                    "method": method,
                    "regime": regime.tag,
                    "replicate": seed,
                    "synthetic": io.encode_png(a),
                    "nearest": io.encode_png(b),
                    "distance": float(d),
                }
                for a, b, d in zip(
                    io.to_uint8(fake.numpy()), io.to_uint8(real.numpy()), dist.tolist(), strict=True
                )
            ]
    return pd.DataFrame(rows), pd.DataFrame(pairs)


def assess_regime(
    methods: Sequence[str],
    regime,
    seeds: Sequence[int],
    table,
    splits: Sequence,
    synthetic: dict[str, Sequence],
    encoders: dict[str, TrainedEncoder],
    settings: dict,
    n_neighbours: int = 8,
):
    """:func:`assess_method` for each of ``methods`` in one regime: their rows and
    nearest-neighbour pairs, each in one DataFrame. One job measures a whole regime, so the
    fixed cost of a job (importing torch, loading the encoders) is paid once per regime.

    ``synthetic``: per generator, its synthetic table per seed; a method that uses none of
    them (a baseline) is measured on its own pool."""
    rows, pairs = [], []
    for method in methods:
        generator = generator_of(method, synthetic)
        synth = synthetic[generator] if generator is not None else [None] * len(seeds)
        method_rows, method_pairs = assess_method(
            method, regime, seeds, table, splits, synth, encoders, settings, n_neighbours
        )
        rows.append(method_rows)
        pairs.append(method_pairs)
    return pd.concat(rows, ignore_index=True), pd.concat(pairs, ignore_index=True)
