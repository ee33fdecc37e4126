"""Diffusion generators: a class-conditional DDPM and SDEdit, on diffusers' U-Net and schedulers.

Both train a small ``diffusers.UNet2DModel`` to predict the noise of a DDPM (Ho, Jain &
Abbeel, 2020; cosine schedule, noised with ``DDPMScheduler``; the loss weighted by Min-SNR-gamma,
which trains several times faster: at the default run's 300 steps it makes characters where
the plain loss makes noise), keep an exponential moving
average (EMA) of its weights, and make images with a few deterministic DDIM steps
(``DDIMScheduler``, eta = 0, "trailing" timesteps so that the first step starts from pure
noise) through the EMA weights:

- :class:`Diffusion` ("fit" or "finetune" mode): conditioned on the class, with
  classifier-free guidance (Ho & Salimans, 2022): during training the label is replaced by
  a null class with probability ``label_dropout``; sampling mixes the conditional and the
  null prediction, ``eps = eps_c + guidance * (eps_c - eps_null)`` (``guidance = 0``:
  purely conditional).
- :class:`SDEdit` ("transfer" mode): an unconditional denoiser trained on the source classes.
  To augment a real image of an unseen class it noises the image up to ``strength`` of the
  schedule and denoises it (SDEdit, Meng et al., 2022; "real guidance" in He et al., 2023):
  ``strength = 0`` returns the image, ``1`` samples afresh.

Sizes: the U-Net halves the side ``levels - 1`` times, so images are padded (replicating the
border) to a multiple of ``2 ** (levels - 1)`` inside the model and cropped back; with the
default two levels 28 x 28 (and every side divisible by 4) needs no padding.

Class embeddings: class ``c`` is row ``c + 1`` of ``unet.class_embedding`` (an
``nn.Embedding``) and the null class is row 0, so new classes (fine-tuning on unseen classes)
can replace the rows after the first and keep the null class.

The EMA is a ``torch.optim.swa_utils.AveragedModel`` child module, so its weights are part of
the state dict: saved in checkpoints (``weights_only``) and in resumable ones.

diffusers is imported when a model is built, not with this module: importing it costs about
3 CPU seconds on top of torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel

from genaug.errors import GenaugError
from genaug.models.base import Batch, ConditionalGenerator, Generator, Request, adams
from genaug.optim import Adam

if TYPE_CHECKING:
    from diffusers import UNet2DModel

#: hparams both share: U-Net width (channels of the first level, doubled at each next one),
#: depth and ResNet blocks per level, training schedule length, DDIM steps, EMA decay,
#: Min-SNR-gamma loss weighting (0: none)
SHARED: dict[str, Any] = {
    "base_channels": 16,
    "levels": 2,
    "layers_per_block": 1,
    "train_timesteps": 1000,
    "sample_steps": 10,
    "ema_decay": 0.995,
    "min_snr_gamma": 5.0,
}
#: the noise schedule; cosine (Nichol & Dhariwal, 2021) suits small images
SCHEDULE: dict[str, Any] = {"beta_schedule": "squaredcos_cap_v2", "prediction_type": "epsilon"}


def ema_with_warmup(
    decay: float,
) -> Callable[[Sequence[torch.Tensor], Sequence[torch.Tensor], Any], None]:
    """The EMA update of an ``AveragedModel`` (``multi_avg_fn``) with the decay warm-up of
    diffusers' ``EMAModel``: ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so that
    a run of a few hundred steps does not keep its first weights (``get_ema_multi_avg_fn``
    has a fixed decay; written here for that)."""

    def update(ema: Sequence[torch.Tensor], current: Sequence[torch.Tensor], n: Any) -> None:
        n = float(n)
        weight = 1 - min(decay, (1 + n) / (10 + n))
        for e, c in zip(ema, current, strict=True):
            e.lerp_(c, weight)

    return update


def check_range(name: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise GenaugError(f"hparam {name}={value} is outside [{lo}, {hi}]: fix it in config")


class DenoisingGenerator(Generator):
    """What :class:`Diffusion` and :class:`SDEdit` share: the U-Net, its EMA, the schedules,
    the training step (noise prediction, MSE) and DDIM denoising. ``conditional``: whether
    the U-Net takes a class (with the null class 0 for classifier-free guidance)."""

    conditional: ClassVar[bool] = False
    no_compile = ("ema",)  # sampling only

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # image_size, n_classes, image_channels, hparams
        from diffusers import DDIMScheduler, DDPMScheduler

        h = self.hparams
        check_range("levels", h["levels"], 1, 6)
        check_range("sample_steps", h["sample_steps"], 1, h["train_timesteps"])
        check_range("ema_decay", h["ema_decay"], 0, 1)
        factor = 2 ** (h["levels"] - 1)
        self.canvas = math.ceil(self.image_size / factor) * factor
        self.unet = build_unet(
            self.canvas,
            self.image_channels,
            h["base_channels"],
            h["levels"],
            h["layers_per_block"],
            self.n_classes + 1 if self.conditional else None,
        )
        self.ema = AveragedModel(
            self.unet, multi_avg_fn=ema_with_warmup(h["ema_decay"]), use_buffers=True
        ).requires_grad_(False)
        schedule = {**SCHEDULE, "num_train_timesteps": h["train_timesteps"]}
        self.noise_schedule = DDPMScheduler(**schedule)
        self.sampler = DDIMScheduler(**schedule, timestep_spacing="trailing")

    # ---------------------------------------------------------------- image space
    def to_canvas(self, x: torch.Tensor) -> torch.Tensor:
        """``[0, 1]`` images as the U-Net takes them: in ``[-1, 1]``, padded to the canvas."""
        pad = self.canvas - self.image_size
        x = x.float() * 2 - 1
        return F.pad(x, (0, pad, 0, pad), mode="replicate") if pad else x

    def from_canvas(self, x: torch.Tensor) -> torch.Tensor:
        return (x[..., : self.image_size, : self.image_size] + 1) / 2

    def class_input(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        """The U-Net's class indices: ``labels + 1`` (0 is the null class); ``None`` for an
        unconditional one."""
        return labels + 1 if self.conditional and labels is not None else None

    # ---------------------------------------------------------------- training
    def configure_optimizers(self, lr: float) -> dict[str, Adam]:
        return adams(lr, denoiser=self.unet)

    def training_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Noise the batch to random timesteps, predict the noise (MSE weighted by
        :meth:`loss_weights`), update the EMA."""
        x0 = self.to_canvas(batch.x)
        noise = self.randn(*x0.shape)
        t = torch.randint(self.hparams["train_timesteps"], (len(x0),), generator=self.batch_rng)
        t = t.to(x0.device)
        labels = self.class_input(self.drop_labels(batch.y))
        with self.autocast():
            pred = self.unet(self.noise_schedule.add_noise(x0, noise, t), t, labels).sample
        per_image = F.mse_loss(pred.float(), noise, reduction="none").flatten(1).mean(1)
        loss = (per_image * self.loss_weights(t)).mean()
        self.optimize("denoiser", loss)
        self.ema.update_parameters(self.unet)
        return {"loss": loss}

    def loss_weights(self, t: torch.Tensor) -> torch.Tensor:
        """Min-SNR-gamma weights of the noise-prediction loss, ``min(SNR(t), gamma) / SNR(t)``
        (Hang et al., 2023): the nearly clean timesteps count less, which speeds up training
        several times; ``min_snr_gamma = 0``: all weights 1 (the plain DDPM loss)."""
        gamma = self.hparams["min_snr_gamma"]
        if gamma <= 0:
            return torch.ones(len(t), device=t.device)
        alpha_bar = self.noise_schedule.alphas_cumprod.to(t.device)[t]
        snr = alpha_bar / (1 - alpha_bar)
        return snr.clamp(max=gamma) / snr

    def drop_labels(self, labels: torch.Tensor) -> torch.Tensor | None:
        """The labels a training step conditions on (none for an unconditional model)."""
        return None

    # ---------------------------------------------------------------- sampling
    def predict_noise(
        self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor:
        """The EMA U-Net's noise estimate at timestep ``t`` (a scalar)."""
        t = t.to(x.device).expand(len(x))
        return self.ema.module(x, t, self.class_input(labels)).sample.float()

    def denoise(
        self, x: torch.Tensor, timesteps: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """DDIM (eta = 0: no draws) from ``x`` at ``timesteps[0]`` down to images in
        ``[0, 1]``; ``timesteps`` are those of :attr:`sampler` or a tail of them."""
        for t in timesteps:
            x = self.sampler.step(self.predict_noise(x, t, labels), t, x).prev_sample
        return self.from_canvas(x)

    def noise_like(self, n: int, rng: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.image_channels, self.canvas, self.canvas, generator=rng)


def build_unet(
    size: int,
    channels: int,
    base_channels: int,
    levels: int,
    layers_per_block: int,
    num_class_embeds: int | None,
) -> UNet2DModel:
    """A small ``UNet2DModel`` built from its config (no hub access): ResNet blocks only, with
    self-attention in the middle block, ``base_channels * 2 ** i`` channels at level ``i``."""
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=size,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=tuple(base_channels * 2**i for i in range(levels)),
        down_block_types=("DownBlock2D",) * levels,
        up_block_types=("UpBlock2D",) * levels,
        layers_per_block=layers_per_block,
        norm_num_groups=math.gcd(base_channels, 8),
        attention_head_dim=8,
        num_class_embeds=num_class_embeds,
    )


# --------------------------------------------------------------------------- models
class Diffusion(DenoisingGenerator, ConditionalGenerator):
    """Class-conditional DDPM with classifier-free guidance, sampled by DDIM. hparams: those of
    :data:`SHARED`, ``guidance`` (scale w >= 0) and ``label_dropout`` (share of training
    labels replaced by the null class)."""

    name = "diffusion"
    modes = ("fit", "finetune")
    defaults = {**SHARED, "guidance": 1.0, "label_dropout": 0.1}
    conditional = True
    #: the class embeddings of the U-Net and of its EMA (row 0, the null class, is kept)
    class_modules = ("unet.class_embedding", "ema.module.class_embedding")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        check_range("guidance", self.hparams["guidance"], 0, math.inf)
        check_range("label_dropout", self.hparams["label_dropout"], 0, 1)

    def new_classes(self, n_classes: int) -> None:
        """New class embeddings (:meth:`Generator.new_classes`), and the EMA restarts, warm-up
        included, from the weights the fine-tuning reaches after its first step."""
        super().new_classes(n_classes)
        self.ema.n_averaged.zero_()

    def drop_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Labels with a ``label_dropout`` share set to -1 (the null class, 0 after +1)."""
        drop = self.rand(len(labels)) < self.hparams["label_dropout"]
        return labels.masked_fill(drop, -1)

    def predict_noise(
        self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor:
        """Classifier-free guidance: the conditional and the null estimate in one batch."""
        w = self.hparams["guidance"]
        if w == 0:
            return super().predict_noise(x, t, labels)
        null = torch.full_like(labels, -1)
        both = super().predict_noise(x.repeat(2, 1, 1, 1), t, torch.cat([labels, null]))
        cond, uncond = both.chunk(2)
        return cond + w * (cond - uncond)

    @torch.no_grad()
    def sample(
        self, labels: torch.Tensor, *, rng: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        """One image per label, DDIM from noise drawn with ``rng`` (CPU)."""
        labels = self.check_labels(labels)
        return self.generate_chunks(self.decode, device, self.noise_like(len(labels), rng), labels)

    def decode(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.sampler.set_timesteps(self.hparams["sample_steps"])
        return self.denoise(noise, self.sampler.timesteps, labels)


class SDEdit(DenoisingGenerator):
    """SDEdit augmentation with an unconditional DDPM trained on the source classes. hparams:
    those of :data:`SHARED` and ``strength`` (share of the schedule a real image is noised
    to before it is denoised, in DDIM steps: the last ``round(strength * sample_steps)``)."""

    name = "sdedit"
    modes = ("transfer",)
    defaults = {**SHARED, "strength": 0.5}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        check_range("strength", self.hparams["strength"], 0, 1)

    def synthesize(self, req: Request) -> torch.Tensor:
        noise = self.noise_like(len(req.source), req.rng)
        return self.generate_chunks(
            self.edit, req.device, noise, source=req.source, per_image=[req.images]
        )

    def edit(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``x`` noised with ``noise`` to the first of the last ``round(strength * steps)``
        DDIM timesteps, then denoised through them."""
        steps = self.hparams["sample_steps"]
        self.sampler.set_timesteps(steps)
        timesteps = self.sampler.timesteps[steps - round(self.hparams["strength"] * steps) :]
        if not len(timesteps):
            return x.float()
        t0 = timesteps[:1].to(x.device)
        return self.denoise(self.noise_schedule.add_noise(self.to_canvas(x), noise, t0), timesteps)
