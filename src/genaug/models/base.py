"""The interface every generator shares, and the one training loop they all run.

A generator is an ``nn.Module`` subclass of :class:`Generator` that defines its networks (in
``__init__``), its optimisers (:meth:`~Generator.configure_optimizers`), one training step
(:meth:`~Generator.training_step`) and how it makes images (:meth:`~Generator.synthesize`).
The base owns the rest: :meth:`~Generator.fit` (batches, device moves, train/eval mode, the
loss log with its NaN checks, resumable checkpoints) and :meth:`~Generator.augment` (checks,
eval mode, chunking, fp32 ``[0, 1]`` images on the CPU), and save/load.

Images are float tensors ``N x C x H x W`` in ``[0, 1]``, ``C = image_channels``: 1 for
grayscale (Omniglot: ink bright, background 0), 3 for colour (RGB); labels are ``int64`` class
indices ``0..n_classes-1`` (the caller maps dataset labels to these).
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genaug import io
from genaug.errors import GenaugError
from genaug.optim import Adam
from genaug.runtime import autocast

log = logging.getLogger(__name__)

Mode = Literal["transfer", "fit", "finetune"]
LogFn = Callable[[dict[str, float]], None]

#: images per forward pass outside training (encoding, sampling, augmenting)
CHUNK = 512


@dataclass
class Synthetic:
    """What :meth:`Generator.augment` returns."""

    images: torch.Tensor  # M x C x H x W in [0, 1], on the CPU
    labels: torch.Tensor  # M, int64
    source_index: torch.Tensor  # M, int64: row of the real input it came from, -1 if none


class Request(NamedTuple):
    """What :meth:`Generator.synthesize` makes images for, in eval mode."""

    images: torch.Tensor  # N real images (CPU)
    labels: torch.Tensor  # their N int64 labels (CPU)
    source: torch.Tensor  # M: the row of the real image of each output
    rng: torch.Generator  # every draw comes from it
    device: torch.device


class Batch(NamedTuple):
    """One training batch, as :meth:`Generator.next_batch` draws it."""

    x: torch.Tensor  # B x C x H x W images, on the device
    y: torch.Tensor  # B int64 labels, on the device
    rows: torch.Tensor  # B rows of the training images (CPU)


@dataclass
class _Run:
    """What the helpers of a training step use while :meth:`Generator.fit` runs."""

    images: torch.Tensor  # the training images (CPU)
    labels: torch.Tensor  # their labels (CPU)
    batch_size: int
    rng: torch.Generator  # the batch RNG: every draw of the run comes from it
    device: torch.device
    optimizers: dict[str, Adam]


def adams(
    lr: float, betas: tuple[float, float] = (0.9, 0.999), **networks: nn.Module
) -> dict[str, Adam]:
    """An Adam optimiser for each named network (for :meth:`Generator.configure_optimizers`)."""
    return {k: Adam(m.parameters(), lr=lr, betas=betas) for k, m in networks.items()}


class Generator(nn.Module):
    """Base class: subclasses define the networks (``__init__``),
    :meth:`configure_optimizers`, :meth:`training_step` and :meth:`synthesize`."""

    #: name used in the config and in output paths
    name: ClassVar[str]
    #: the modes it can be trained in (the same as its entry in ``genaug.models.registry``):
    #: "transfer": trained once on source classes, applied to unseen target images;
    #: "fit": trained on the (reduced) training data of each replicate;
    #: "finetune": trained once on source classes, then fine-tuned per replicate on its
    #: training data with new classes (:meth:`new_classes`).
    modes: ClassVar[tuple[Mode, ...]]
    #: the hyperparameters and their defaults; config values are cast to the defaults' types
    defaults: ClassVar[dict[str, Any]] = {}
    #: child networks left uncompiled by ``compile: true`` (see :meth:`networks`)
    no_compile: ClassVar[tuple[str, ...]] = ()
    #: each synthetic image is made from one real image (False: sampled per class)
    from_source: ClassVar[bool] = True
    #: a translator (CycleGAN) turns images of the other classes into images of one class,
    #: which :meth:`output_labels` gives them: the imbalance top-up then takes the other
    #: classes' training images as its sources (``genaug.generation.generate``)
    translates: ClassVar[bool] = False
    #: the class-conditioning layers (dotted module names), which :meth:`new_classes`
    #: replaces: an ``nn.Embedding`` whose last ``n_classes`` rows are the classes, or an
    #: ``nn.Linear`` whose last ``n_classes`` inputs are the one-hot label
    class_modules: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, image_size: int, n_classes: int = 0, *, image_channels: int = 1, **hparams: Any
    ) -> None:
        super().__init__()
        unknown = sorted(set(hparams) - set(self.defaults))
        if unknown:
            raise GenaugError(
                f"unknown {self.name} hparams {unknown}: use only {sorted(self.defaults)} in config"
            )
        if image_size % 4:
            raise GenaugError(f"image_size {image_size} is not divisible by 4: resize the data")
        if image_channels not in (1, 3):
            raise GenaugError(
                f"image_channels={image_channels!r} is not 1 (grayscale) or 3 (RGB): "
                "set datasets.<name>.channels"
            )
        self.image_size = int(image_size)
        self.image_channels = int(image_channels)
        self.n_classes = int(n_classes)
        self.hparams = {k: type(v)(hparams.get(k, v)) for k, v in self.defaults.items()}
        self._run: _Run | None = None

    # ---------------------------------------------------------------- what a subclass defines
    def configure_optimizers(self, lr: float) -> dict[str, Adam]:
        """The optimisers, by the names :meth:`optimize` takes (their order is that of the
        checkpoints)."""
        raise NotImplementedError

    def training_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """One training step on ``batch`` (adversarial models: their critic step(s), then their
        generator step), with :meth:`optimize` for each update; returns the losses to log."""
        raise NotImplementedError

    def synthesize(self, req: Request) -> torch.Tensor:
        """One image per entry of ``req.source``, usually by :meth:`generate_chunks`."""
        raise NotImplementedError

    def setup_fit(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Check or index the training data before the first step (CPU tensors)."""

    def finish_fit(self, images: torch.Tensor, device: torch.device) -> None:
        """Called after the last step, in eval mode."""

    def new_classes(self, n_classes: int) -> None:
        """Make the model one of ``n_classes`` new classes (to fine-tune it on unseen ones):
        the class rows / one-hot input columns of the :attr:`class_modules` are replaced by
        freshly initialised ones, as a new model's are (draws from the global torch RNG);
        every other weight, and those layers' leading rows or columns that are not classes
        (a null class, the image features) and biases, are kept."""
        if not self.class_modules:
            raise GenaugError(
                f"the {self.name} generator is not class-conditional, so it cannot learn new "
                "classes: use mode transfer or fit for it"
            )
        fresh = type(self)(
            self.image_size, n_classes, image_channels=self.image_channels, **self.hparams
        )
        # hand-written: torch has no helper that resizes a layer's class rows or columns
        for name in self.class_modules:
            old, new = self.get_submodule(name), fresh.get_submodule(name)
            axis = 0 if isinstance(old, nn.Embedding) else 1  # Linear: input columns
            kept = old.weight.shape[axis] - self.n_classes
            with torch.no_grad():
                new.weight.narrow(axis, 0, kept).copy_(old.weight.narrow(axis, 0, kept))
                if getattr(old, "bias", None) is not None:
                    new.bias.copy_(old.bias)
            parent, _, child = name.rpartition(".")
            setattr(self.get_submodule(parent), child, new.to(old.weight))
        self.n_classes = int(n_classes)

    # ---------------------------------------------------------------- training
    def fit(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        steps: int,
        batch_size: int,
        lr: float,
        rng: torch.Generator,
        device: torch.device,
        log: LogFn,
        log_every: int = 10,
        resume: Resume | None = None,
    ) -> None:
        """Train in place for ``steps`` training steps, calling ``log`` every ``log_every``
        steps with a flat dict that has ``step`` and the means of the losses since the previous
        log. Batches, noise and every other draw come from ``rng`` (a CPU ``torch.Generator``),
        so a seed fixes the whole run. With ``resume``, the run continues from its checkpoint
        and writes new ones (:func:`train_steps`). Leaves the model in eval mode."""
        device = torch.device(device)
        images, labels = images.detach().float().cpu(), labels.detach().long().cpu()
        self.setup_fit(images, labels)
        self.to(device).train()
        optimizers = self.configure_optimizers(lr)
        self._run = _Run(images, labels, batch_size, rng, device, optimizers)
        meter = LossMeter(log, log_every, steps)
        try:
            for step in train_steps(steps, resume, self, list(optimizers.values()), rng, meter):
                meter.update(step, **self.training_step(self.next_batch(), step))
        finally:
            self._run = None
        self.eval()
        self.finish_fit(images, device)

    def _current_run(self) -> _Run:
        if self._run is None:
            raise RuntimeError("the training-step helpers work only inside fit()")
        return self._run

    @property
    def batch_rng(self) -> torch.Generator:
        """The run's RNG, for draws a step makes itself (in a fixed order)."""
        return self._current_run().rng

    def next_batch(self, rows: torch.Tensor | None = None) -> Batch:
        """The training images and labels at ``rows`` on the device; without ``rows``, a new
        random batch (:func:`sample_batch` with the run's RNG)."""
        run = self._current_run()
        if rows is None:
            rows = sample_batch(len(run.images), run.batch_size, run.rng)
        return Batch(run.images[rows].to(run.device), run.labels[rows].to(run.device), rows)

    def randn(self, *size: int) -> torch.Tensor:
        """``N(0, 1)`` noise drawn on the CPU with the run's RNG, on the device."""
        run = self._current_run()
        return torch.randn(*size, generator=run.rng).to(run.device)

    def rand(self, *size: int) -> torch.Tensor:
        """``U(0, 1)`` draws on the CPU with the run's RNG, on the device."""
        run = self._current_run()
        return torch.rand(*size, generator=run.rng).to(run.device)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for the forward passes of a step (:func:`genaug.runtime.autocast`);
        compute losses outside it, in fp32."""
        return autocast(self._current_run().device)

    def optimize(self, optimizer: str, loss: torch.Tensor) -> None:
        """One update of the named optimiser: zero its gradients, backpropagate, step."""
        opt = self._current_run().optimizers[optimizer]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def optimize_together(self, **losses: torch.Tensor) -> None:
        """One update of each named optimiser on its loss, all from the same graph: every
        gradient is computed (each loss reaching only its own optimiser's parameters) before
        any network steps, as BEGAN's paper updates its discriminator and generator."""
        optimizers = self._current_run().optimizers
        params = {
            name: [p for group in optimizers[name].param_groups for p in group["params"]]
            for name in losses
        }
        for i, (name, loss) in enumerate(losses.items()):
            optimizers[name].zero_grad(set_to_none=True)
            loss.backward(inputs=params[name], retain_graph=i < len(losses) - 1)
        for name in losses:
            optimizers[name].step()

    @staticmethod
    @contextlib.contextmanager
    def frozen(module: nn.Module) -> Iterator[None]:
        """``module`` takes no gradients inside the block (a discriminator during the
        generator's update)."""
        module.requires_grad_(False)
        try:
            yield
        finally:
            module.requires_grad_(True)

    def networks(self) -> list[nn.Module]:
        """The child networks the training loop calls, which ``compile: true`` compiles; those
        named in ``no_compile`` are left out."""
        return [m for name, m in self.named_children() if name not in self.no_compile]

    # ---------------------------------------------------------------- making images
    @torch.no_grad()
    def augment(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        n_per_image: int,
        *,
        rng: torch.Generator,
        device: torch.device,
    ) -> Synthetic:
        """``n_per_image`` synthetic images for every real ``(image, label)``, in order, with
        its label (:meth:`output_labels`); ``source_index`` is the row of the real image each
        came from (``-1`` for a generator that samples per class). Restores the train/eval
        mode."""
        self.check_images(images)
        device = torch.device(device)
        labels = labels.detach().cpu().long()
        source = torch.arange(len(images)).repeat_interleave(n_per_image)
        was_training = self.training
        self.to(device).eval()
        try:
            out = self.synthesize(Request(images, labels, source, rng, device))
        finally:
            self.train(was_training)
        return Synthetic(
            images=out,
            labels=self.output_labels(labels, source),
            source_index=source if self.from_source else torch.full_like(source, -1),
        )

    def output_labels(self, labels: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """The label of each output: that of its real image (a translator: its target's)."""
        return labels[source]

    def map_chunks(
        self,
        fn: Callable[..., Any],
        device: torch.device,
        *per_output: torch.Tensor,
        source: torch.Tensor | None = None,
        per_image: Sequence[torch.Tensor] = (),
    ) -> list[Any]:
        """``fn(*chunk)`` under autocast for chunks of :data:`CHUNK` rows, its inputs moved to
        ``device``: the rows of ``per_image`` tensors at ``source``, then those of the
        ``per_output`` tensors. Returns the results in a list (none for no rows)."""
        device = torch.device(device)
        n = len(source) if source is not None else len(per_output[0])
        out = []
        for lo in range(0, n, CHUNK):
            part = slice(lo, lo + CHUNK)
            rows = [t[source[part]] for t in per_image] if per_image else []
            with autocast(device):
                out.append(fn(*(t.to(device) for t in [*rows, *(t[part] for t in per_output)])))
        return out

    def generate_chunks(
        self,
        decode: Callable[..., torch.Tensor],
        device: torch.device,
        *per_output: torch.Tensor,
        source: torch.Tensor | None = None,
        per_image: Sequence[torch.Tensor] = (),
    ) -> torch.Tensor:
        """Images ``decode(*chunk)`` (:meth:`map_chunks`), fp32 clamped to ``[0, 1]``, on the
        CPU; ``0 x C x H x W`` for no rows."""

        def images(*inputs: torch.Tensor) -> torch.Tensor:
            return decode(*inputs).float().clamp_(0, 1).cpu()

        out = self.map_chunks(images, device, *per_output, source=source, per_image=per_image)
        if not out:
            return torch.empty(0, self.image_channels, self.image_size, self.image_size)
        return torch.cat(out)

    def check_images(self, images: torch.Tensor) -> None:
        """Stop with one line when ``images`` are not ``N x image_channels x H x W``, e.g. a
        grayscale checkpoint given colour images (conditional generators would otherwise
        sample grayscale images without complaint)."""
        if images.ndim != 4 or images.shape[1] != self.image_channels:
            raise GenaugError(
                f"the {self.name} model takes N x {self.image_channels} x H x W images, got "
                f"{tuple(images.shape)}: retrain it on this data (delete its model.pt)"
            )

    # ---------------------------------------------------------------- checkpoints
    def save(self, path: str | Path, **extra: Any) -> None:
        """Save hparams and weights; loadable with ``torch.load(weights_only=True)``."""
        state = {
            "generator": self.name,
            "image_size": self.image_size,
            "image_channels": self.image_channels,
            "n_classes": self.n_classes,
            "hparams": self.hparams,
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
            "extra": extra,
        }
        torch.save(state, path)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> Generator:
        state = torch.load(path, map_location=map_location, weights_only=True)
        if state["generator"] != cls.name:
            raise ValueError(f"{path} holds a {state['generator']!r}, not a {cls.name!r} model")
        channels = state.get("image_channels", 1)  # checkpoints from before RGB: grayscale
        model = cls(
            state["image_size"], state["n_classes"], image_channels=channels, **state["hparams"]
        )
        weights = state["state_dict"]
        if weights.keys() != model.state_dict().keys():  # e.g. written before blocks.py
            raise GenaugError(
                f"{path} holds {cls.name} weights of another code version (other layer names):"
                " delete it so that it is retrained"
            )
        model.load_state_dict(weights)
        model.checkpoint_extra = state.get("extra", {})
        return model


def sample_batch(n: int, batch_size: int, rng: torch.Generator) -> torch.Tensor:
    """Indices of one random batch (with replacement when the data is smaller)."""
    if n >= batch_size:
        return torch.randperm(n, generator=rng)[:batch_size]
    return torch.randint(n, (batch_size,), generator=rng)


class NonFiniteLoss(GenaugError, FloatingPointError):
    """A loss went NaN or infinite: the job stops with one line. Snakemake's retries, if
    configured (``generator_retries``), run it again from its last checkpoint; on the CPU,
    where training is deterministic, the same loss goes non-finite again, so the fix is in
    the config."""


def check_finite(step: int, **losses: float) -> None:
    """Stop a run whose loss went NaN or infinite, naming the step and the loss."""
    for name, value in losses.items():
        if not math.isfinite(float(value)):
            raise NonFiniteLoss(
                f"non-finite loss at step {step}: {name}={value}: lower the generator's lr "
                "in config (generators.<name>.lr) or check the data"
            )


class LossMeter:
    """The loss log of the training loop: losses are summed on the device (no per-step
    GPU sync) and, every ``log_every`` steps and at the last, their means since the previous
    log are checked for NaN/inf and passed to ``log`` as ``{"step": step, name: mean, ...}``."""

    def __init__(self, log: LogFn, log_every: int, steps: int) -> None:
        self.log, self.log_every, self.steps = log, log_every, steps
        self.sums: torch.Tensor | None = None
        self.since = 0
        self.names: tuple[str, ...] = ()

    def update(self, step: int, **losses: torch.Tensor) -> None:
        values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
        self.sums = values if self.sums is None else self.sums + values
        self.since += 1
        self.names = tuple(losses)
        if step % self.log_every == 0 or step == self.steps:
            means = self.check(step)
            self.log({"step": step, **means})
            self.sums, self.since = None, 0

    def check(self, step: int) -> dict[str, float]:
        """The means since the previous log, after checking they are finite (also done before
        a checkpoint is saved, so that none holds a run that has already diverged)."""
        if self.sums is None:
            return {}
        means = dict(zip(self.names, (self.sums / self.since).tolist(), strict=True))
        check_finite(step, **means)
        return means


# --------------------------------------------------------------------------- resuming
class Resume:
    """A resumable checkpoint of one training run, at ``path``, outside the job's outputs.

    It holds everything the rest of the run depends on: the model's state, every optimiser's
    (and a ``GradScaler``'s, if any: anything with ``state_dict``), the batch RNG's and
    the global torch (CPU, CUDA), numpy and Python RNG states, the :class:`LossMeter`'s running
    sums, the step, and :attr:`history`, the entries logged so far. So a run stopped at any
    point and resumed from its last checkpoint ends where an uninterrupted one does, with the
    same log: bit for bit on the CPU with the same thread count; on CUDA as far as its kernels
    are deterministic.

    ``fingerprint`` names the run (in the workflow: a hash of the settings, seed, training
    images, parameter shapes, device, ``compile`` and code version): a checkpoint of any other
    run, or one that cannot be read, is ignored and later overwritten. ``every``
    is the number of steps between checkpoints (0: none). Files are written atomically;
    :meth:`remove` deletes the file once the run's outputs are written.
    """

    def __init__(self, path: str | Path, fingerprint: str, every: int) -> None:
        self.path, self.fingerprint, self.every = Path(path), fingerprint, int(every)
        #: the log entries of the run so far: restored from the checkpoint, saved with it
        self.history: list[dict[str, float]] = []
        self.state = self._read()
        if self.state is not None:
            self.history = list(self.state["history"])

    @property
    def step(self) -> int:
        """The step the checkpoint was taken after (0: none, start afresh)."""
        return 0 if self.state is None else int(self.state["step"])

    def _read(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # a cache, not an input: never fatal
            log.warning("ignoring unreadable checkpoint %s (%s)", self.path, err)
            return None
        if state.get("fingerprint") != self.fingerprint:
            log.info("ignoring checkpoint %s: it is of another run", self.path)
            return None
        return state

    def restore(
        self,
        model: nn.Module,
        stateful: Sequence[Any],
        rng: torch.Generator,
        meter: LossMeter,
    ) -> int:
        """Load the checkpoint into the run's objects; returns its step (0 if none)."""
        if self.state is None:
            return 0
        state = self.state
        model.load_state_dict(state["model"])
        for obj, obj_state in zip(stateful, state["stateful"], strict=True):
            obj.load_state_dict(obj_state)
        rng.set_state(state["rng"]["batches"])
        torch.set_rng_state(state["rng"]["torch"])
        cuda = state["rng"]["cuda"]
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        name, keys, pos, has_gauss, gauss = state["rng"]["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))  # noqa: NPY002
        version, internal, gauss = state["rng"]["python"]
        random.setstate((version, tuple(internal), gauss))
        sums = state["meter"]["sums"]
        meter.sums = None if sums is None else sums.to(next(model.parameters()).device)
        meter.since = state["meter"]["since"]
        log.info("resuming from step %d of %s", self.step, self.path)
        return self.step

    def save(
        self,
        step: int,
        model: nn.Module,
        stateful: Sequence[Any],
        rng: torch.Generator,
        meter: LossMeter,
    ) -> None:
        """Write the checkpoint taken after ``step`` (atomically: a kill leaves the last one)."""
        name, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002
        version, internal, pgauss = random.getstate()
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
        state = {
            "fingerprint": self.fingerprint,
            "step": step,
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "stateful": [obj.state_dict() for obj in stateful],
            "rng": {
                "batches": rng.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": cuda,
                "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
                "python": (version, list(internal), pgauss),
            },
            "meter": {
                "sums": None if meter.sums is None else meter.sums.detach().cpu(),
                "since": meter.since,
            },
            "history": self.history,
        }
        with io.atomic_path(self.path) as tmp:
            torch.save(state, tmp)
        self.state = state

    def remove(self) -> None:
        """Delete the checkpoint: the run's outputs are written."""
        self.path.unlink(missing_ok=True)
        self.state = None


def train_steps(
    steps: int,
    resume: Resume | None,
    model: nn.Module,
    stateful: Sequence[Any],
    rng: torch.Generator,
    meter: LossMeter,
) -> Iterator[int]:
    """The steps ``1..steps`` of the training loop (:meth:`Generator.fit`), as ``range``
    would give them, but resumable: with ``resume`` it first restores its checkpoint (model,
    ``stateful`` optimisers, batch RNG ``rng``, ``meter``, RNGs) and starts after its step, and
    after the loop body of every ``resume.every``-th step and of the last it saves a new one.
    Call it once the optimisers and the meter exist::

        for step in train_steps(steps, resume, self, [opt_g, opt_d], rng, meter):
    """
    start = 0 if resume is None else resume.restore(model, stateful, rng, meter)
    for step in range(start + 1, steps + 1):
        yield step  # the loop body runs here; what follows runs once it is done
        if resume is not None and resume.every > 0 and (step % resume.every == 0 or step == steps):
            meter.check(step)
            resume.save(step, model, stateful, rng, meter)


class ConditionalGenerator(Generator):
    """A generator of ``p(x | class)`` (cVAE, AAE, cGAN): it only knows the classes it was fit
    on, and its samples are drawn per class, not made from one real image.

    Subclasses define :meth:`decode` (noise + class indices -> images) and name the hparam
    that sizes the noise in ``noise_hparam``; sampling and augmentation are shared.
    """

    modes = ("fit", "finetune")
    from_source = False
    noise_hparam: ClassVar[str] = "latent_dim"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.n_classes <= 0:
            raise GenaugError(f"the {self.name} is label-conditioned: pass n_classes > 0")

    def check_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """``labels`` as int64, after checking they are class indices ``0..n_classes-1``."""
        labels = labels.long()
        if len(labels) and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise GenaugError(
                f"{self.name} labels must lie in 0..{self.n_classes - 1}, got "
                f"{labels.min().item()}..{labels.max().item()}: map labels to class indices"
            )
        return labels

    def setup_fit(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.check_labels(labels)

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        return F.one_hot(self.check_labels(labels), self.n_classes).float()

    def decode(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Images in ``[0, 1]`` from noise ``B x noise_dim`` and class indices ``B``."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(
        self, labels: torch.Tensor, *, rng: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        """One sample per label, noise ``~ N(0, I)`` drawn with ``rng`` (CPU)."""
        labels = self.check_labels(labels)
        noise = torch.randn(len(labels), self.hparams[self.noise_hparam], generator=rng)
        return self.generate_chunks(self.decode, device, noise, labels)

    def synthesize(self, req: Request) -> torch.Tensor:
        """Samples with the labels of the real images; the images themselves are not used."""
        return self.sample(req.labels[req.source], rng=req.rng, device=req.device)
