"""Stages 3 and 4: train a generator on what its mode allows, then write synthetic data."""

from __future__ import annotations

import logging
import time
from dataclasses import astuple
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from genaug import io, runtime
from genaug.data.imbalance import TopUp
from genaug.data.tables import ClassIndex, ids_sha256, images_tensor, split_rows
from genaug.errors import GenaugError
from genaug.models import get_generator, load_generator
from genaug.models.base import Generator, Resume, Synthetic
from genaug.provenance import code_version, config_hash, provenance, sha256_file
from genaug.scenarios import Regime, check_topup, parse_regime, read_split
from genaug.seeds import derive_seed

log = logging.getLogger(__name__)


def training_rows(table: pd.DataFrame, split: pd.DataFrame | None) -> pd.DataFrame:
    """What a generator may see: all source images (transfer mode, and the pretraining of
    finetune mode) or the replicate's reduced training images (fit mode, and the fine-tuning
    of finetune mode). Never a test image."""
    if split is None:
        rows = table[table["role"] == "source"].reset_index(drop=True)
        if rows.empty:
            raise GenaugError(
                "the prepared table has no source images for a transfer- or finetune-mode "
                "generator: set that generator's mode to fit, or use a dataset with source "
                "classes"
            )
        return rows
    return split_rows(table, split, "train")


def train_generator(
    name: str,
    settings: dict,
    table: pd.DataFrame,
    split: pd.DataFrame | None,
    seed: int,
    image_size: int,
    device: str,
    threads: int,
    out_model: str | Path,
    out_log: str | Path,
    out_samples: str | Path,
    resume_path: str | Path | None = None,
    checkpoint_every: int = 0,
    compile: bool = False,
    pretrained: str | Path | None = None,
) -> None:
    """Train generator ``name`` (its registered model: ``settings["model"]``, else ``name``)
    and write its checkpoint, training log and sample grid.

    ``split`` None: on the source images (transfer mode, or the pretraining of finetune
    mode), else on the replicate's reduced training set. With ``pretrained`` (finetune mode:
    the checkpoint its pretraining wrote), the model starts from those weights with new
    class embeddings (:meth:`~genaug.models.base.Generator.new_classes`) and trains for
    ``finetune_steps`` at ``finetune_lr``; its checkpoint records the source images' hash
    (``pretrain_images_sha256``) with the replicate's.

    With ``resume_path``, training writes a resumable checkpoint there every
    ``checkpoint_every`` steps and continues from one left by an interrupted run of the same
    settings, seed, training data, parameter shapes, device, ``compile`` and code version (see
    :class:`~genaug.models.base.Resume`); it is deleted once the outputs are written.
    ``compile`` compiles the networks with ``torch.compile``.
    """
    dev = runtime.setup(threads=threads, seed=seed, device=device)
    rows = training_rows(table, split)
    classes = ClassIndex(rows["label"])
    images = runtime.channels_last(images_tensor(rows["image"]), dev)
    labels = classes.encode(rows["label"])
    train_sha256 = ids_sha256(rows["image_id"])
    if images.shape[-1] != image_size:
        raise GenaugError(
            f"prepared images are {images.shape[-1]} px but dataset.image_size is {image_size}: "
            "delete the outdir's data/prepared.parquet so it is rebuilt"
        )
    steps, lr, stage = settings["steps"], settings["lr"], settings["mode"]
    extra = {}
    if pretrained is not None:
        model = load_pretrained(pretrained, settings.get("model", name), table)
        model.new_classes(len(classes))
        steps = settings.get("finetune_steps", steps)
        lr = settings.get("finetune_lr", lr)
        extra = {
            "pretrain_images_sha256": model.checkpoint_extra["train_images_sha256"],
            "pretrained_sha256": sha256_file(pretrained),
        }
    else:
        if stage == "finetune":
            stage = "pretrain"
        model = get_generator(settings.get("model", name))(
            image_size, len(classes), image_channels=images.shape[1], **settings["hparams"]
        )
    model = runtime.prepare(model, dev, compile=compile, parts=model.networks())
    log.info(
        "training %s (%s) on %d images of %d classes for %d steps on %s",
        name,
        stage,
        len(rows),
        len(classes),
        steps,
        dev,
    )
    resume = None
    if resume_path is not None:
        run = {
            "generator": name,
            "settings": settings,
            "seed": seed,
            "image_size": image_size,
            "train_images_sha256": train_sha256,
            **extra,
            "parameters": {k: list(v.shape) for k, v in model.state_dict().items()},
            "device": dev.type,
            "compile": compile,
            "code_version": code_version(),
        }
        resume = Resume(resume_path, config_hash(run), checkpoint_every)
    resumed_from = 0 if resume is None else resume.step
    history: list[dict] = [] if resume is None else resume.history
    # a resumed run's clock goes on from where its checkpoint left it
    start = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)

    def record(entry: dict) -> None:
        entry = {**entry, "seconds": round(time.perf_counter() - start, 3)}
        history.append(entry)
        log.info("  %s", " ".join(f"{k}={v:.4g}" for k, v in entry.items()))

    model.fit(
        images,
        labels,
        steps=steps,
        batch_size=settings["batch_size"],
        lr=lr,
        rng=runtime.rng(seed),
        device=dev,
        log=record,
        log_every=max(1, steps // 50),
        resume=resume,
    )
    prov = provenance(
        settings,
        seed=seed,
        device=str(dev),
        mode=stage,
        compile=compile,
        resumed_from_step=resumed_from,
    )
    with io.atomic_path(out_model) as tmp:
        model.save(
            tmp,
            mode=stage,
            classes=classes.classes.tolist(),
            train_images_sha256=train_sha256,
            **extra,
            n_train_images=len(rows),
            provenance=io.json_safe(prov),
        )
    pd.DataFrame(history).to_csv(out_log, index=False)
    # one row per class (up to 8): a real training image, then its synthetic variations
    first = torch.as_tensor(rows.groupby("label", sort=True).head(1).head(8).index.to_list())
    n = 7
    synth = model.augment(images[first], labels[first], n, rng=runtime.rng(seed + 1), device=dev)
    real, fake = io.to_uint8(images[first].numpy()), io.to_uint8(synth.images.numpy())
    grid = [np.concatenate([real[j : j + 1], fake[j * n : (j + 1) * n]]) for j in range(len(first))]
    from genaug import plots  # matplotlib: not for rule generate, which imports this module

    plots.image_grid(grid, out_samples, title=f"{name}: real (left) and samples")
    if resume is not None:
        resume.remove()


def load_pretrained(path: str | Path, model: str, table: pd.DataFrame) -> Generator:
    """The pretrained checkpoint a fine-tuning starts from, after checking that it is a
    ``model`` pretrained on exactly the source images of ``table``."""
    pretrained = load_generator(path)
    extra = pretrained.checkpoint_extra
    source = ids_sha256(training_rows(table, None)["image_id"])
    if pretrained.name != model or extra.get("mode") != "pretrain":
        raise GenaugError(
            f"{path} is not a pretrained {model} (it holds a {pretrained.name}, mode "
            f"{extra.get('mode')!r}): delete it so that it is retrained"
        )
    if extra["train_images_sha256"] != source:
        raise GenaugError(
            f"{path} was pretrained on other images than this table's source images: delete "
            "it so that it is retrained"
        )
    return pretrained


def generate(
    model_path: str | Path,
    table: pd.DataFrame,
    split: pd.DataFrame,
    regime: Regime,
    n_per_image: int,
    seed: int,
    device: str,
    out_table: str | Path,
    out_shards: str | Path,
    shard_size: int,
    topup: TopUp | None = None,
    method: str | None = None,
) -> pd.DataFrame:
    """Synthetic images for one replicate of one regime.

    Few-shot: ``n_per_image`` per real training image. Imbalance: the ``topup`` that the
    split decided: images of the minority class only, made from (or, for class-conditional
    generators, drawn for) its real training images in turn; a translator
    (``model.translates``) makes them from the other classes' training images instead
    (:func:`translation_sources`), one each. ``method`` names the images (``generator``
    column, sample ids, seed); by default the model's name (a variant of a generator passes
    its own).
    """
    check_topup(regime, topup)
    dev = runtime.setup(threads=1, seed=seed, device=device)
    model = load_generator(model_path).to(dev)
    method = method or model.name
    checkpoint = sha256_file(model_path)
    rows = split_rows(table, split, "train")
    if model.checkpoint_extra["mode"] in ("fit", "finetune"):  # trained on these classes
        classes = ClassIndex(model.checkpoint_extra["classes"])
    else:  # transfer: the target classes are new to the model
        classes = ClassIndex(rows["label"])
    keep = None
    gen_seed = derive_seed(seed, "generate", method, regime.tag)
    if regime.spec.tops_up and model.translates:
        rows, n_per_image = translation_sources(rows, topup, gen_seed), 1
    elif regime.spec.tops_up:
        rows = rows[rows["label"] == topup.minority].reset_index(drop=True)
        n_per_image, keep = topup.copies, topup.keep
    images = images_tensor(rows["image"])
    synth = model.augment(
        images,
        classes.encode(rows["label"]),
        n_per_image,
        rng=runtime.rng(gen_seed),
        device=dev,
    )
    if keep is not None:
        synth = Synthetic(*(t[torch.as_tensor(keep, dtype=torch.long)] for t in astuple(synth)))
    if regime.spec.tops_up and len(synth.labels):
        made = classes.decode(synth.labels.unique()).tolist()
        if made != [topup.minority]:
            raise GenaugError(
                f"the {model.name} model at {model_path} makes class(es) {made}, not the "
                f"split's minority {topup.minority}: delete it so that it is retrained on "
                "this split (a translator's target is the least frequent training class)"
            )
    source = synth.source_index.numpy()
    source_ids = np.where(source >= 0, rows["image_id"].to_numpy()[np.maximum(source, 0)], None)
    df = pd.DataFrame(
        {
            "sample_id": [f"{method}-{regime.tag}-seed{seed}-{i:06d}" for i in range(len(source))],
            "image": [io.encode_png(a) for a in io.to_uint8(synth.images.numpy())],
            "label": classes.decode(synth.labels).astype(np.int64),
            "source_image_id": pd.array(source_ids, dtype="string"),
            "generator": method,
            "checkpoint_sha256": checkpoint,
            "seed": seed,
            "generation_seed": gen_seed,
        }
    )
    prov = provenance(
        {
            "regime": regime.tag,
            "n_per_image": n_per_image,
            "ratio": topup.ratio if regime.spec.tops_up else None,
            "checkpoint": str(model_path),
        },
        seed=seed,
        checkpoint_sha256=checkpoint,
        generator=method,
        generator_provenance=model.checkpoint_extra.get("provenance"),
    )
    io.write_parquet(df, out_table, meta=prov)
    io.write_shards(df, out_shards, shard_size, meta=prov)
    log.info("wrote %d synthetic images from %d real ones", len(df), len(rows))
    return df


def generate_replicate(
    model_path: str | Path,
    table: pd.DataFrame,
    split_path: str | Path,
    regime: str,
    seed: int,
    settings: dict,
    out_table: str | Path,
    out_shards: str | Path,
    method: str,
) -> pd.DataFrame:
    """:func:`generate` for one replicate seed of regime tag ``regime``, from its split file
    (rows and top-up); ``settings``: ``n_per_image``, ``shard_size`` and ``device``. Rule
    generate calls it for a transfer-mode generator, and a fit- or finetune-mode training
    job right after each replicate's model is trained."""
    rows, topup = read_split(split_path)
    return generate(
        model_path,
        table,
        rows,
        regime=parse_regime(regime),
        n_per_image=settings["n_per_image"],
        seed=seed,
        device=settings["device"],
        out_table=out_table,
        out_shards=out_shards,
        shard_size=settings["shard_size"],
        topup=topup,
        method=method,
    )


def translation_sources(rows: pd.DataFrame, topup: TopUp, seed: int) -> pd.DataFrame:
    """The sources of a translator's top-up: ``topup.n_needed`` training rows of the classes
    other than the minority, in an order drawn from ``seed`` (a permutation, repeated when
    more are needed than there are), with a fresh index (the synthetic images' source rows)."""
    others = rows[rows["label"] != topup.minority].reset_index(drop=True)
    order = np.random.default_rng(seed).permutation(len(others))
    return others.iloc[np.resize(order, topup.n_needed)].reset_index(drop=True)


def check_trained_on(model_path: str | Path, table: pd.DataFrame, split: pd.DataFrame | None):
    """True when the checkpoint was trained on exactly what its mode allows; a fine-tuned
    one also on exactly the source images in its pretraining."""
    extra = torch.load(model_path, map_location="cpu", weights_only=True)["extra"]
    trained = extra["train_images_sha256"] == ids_sha256(training_rows(table, split)["image_id"])
    if extra["mode"] != "finetune":
        return trained
    source = ids_sha256(training_rows(table, None)["image_id"])
    return trained and extra.get("pretrain_images_sha256") == source
