"""CycleGAN (Zhu, Park, Isola & Efros, 2017) for the class-imbalance scenario.

Two generators translate between domain A, the images of every other class, and domain B,
the minority class: ``G_AB`` makes minority images from majority ones, ``G_BA`` goes back.
Two PatchGAN discriminators (``D_A``, ``D_B``) score overlapping patches as real or
translated, with the least-squares GAN loss (Mao et al., 2017); a cycle loss
(``|G_BA(G_AB(a)) - a|`` and back, weight ``lambda_cycle``) and an identity loss
(``|G_AB(b) - b|`` and ``|G_BA(a) - a|``, weight ``lambda_identity``) keep each translation
close to its input. The top-up of the minority is then ``G_AB`` of other classes' images, so
it carries their variety (stroke widths, positions, sizes) into the minority class.

Which class is B: the least frequent label of the training labels (the replicate's training
split, where the reduced class is the minority), the smallest class index on a tie. It is
stored with the weights; :meth:`CycleGAN.output_labels` labels every translated image with it
and ``genaug.generation.generate`` checks that it is the split's minority.

Layout follows ``pytorch/examples``: the networks, the losses, then the :class:`CycleGAN`.
Left out of the paper's recipe: the history buffer of 50 translated images that the
discriminators are also shown (the discriminators see the current batch's translations).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genaug.errors import GenaugError
from genaug.models.base import Batch, Generator, Request, adams, sample_batch
from genaug.models.blocks import conv_features
from genaug.models.dagan import NoiseDropout, noise_from
from genaug.models.losses import mse
from genaug.optim import Adam

DEFAULTS: dict[str, Any] = {
    "base_channels": 32,
    "n_residual": 3,
    "disc_channels": 32,
    "lambda_cycle": 10.0,
    # the paper's identity weight is 0.5 x lambda_cycle
    "lambda_identity": 5.0,
    # dropout inside the residual blocks (the paper's ResNet option, off there): a noise source
    # at sampling too, so that one source image translated twice gives two images
    "dropout": 0.0,
    "min_minority": 2,
}


def instance_norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=True)


# --------------------------------------------------------------------------- networks
class ResidualBlock(nn.Module):
    """``x + conv(norm(relu(conv(x))))``: two 3x3 convs with instance norm, reflection
    padding and dropout between them, as the paper's ResNet generator has."""

    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            instance_norm(channels),
            nn.ReLU(),
            NoiseDropout(dropout),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            instance_norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """``x -> image`` in ``[0, 1]`` of the same size: a ResNet-style encoder/decoder. Two
    stride-2 convs (:func:`~genaug.models.blocks.conv_features`, H -> H/4, ``2 * channels``
    maps), ``n_residual`` :class:`ResidualBlock` s at H/4, two transposed convs back to H and
    a sigmoid (in fp32 even under autocast). Sized for 28 x 28 (7 x 7 at the bottom) and
    64 x 64 (16 x 16)."""

    def __init__(
        self, channels: int, n_residual: int, image_channels: int = 1, dropout: float = 0.0
    ) -> None:
        super().__init__()
        c = channels
        self.down = conv_features(image_channels, c, norm=instance_norm, bias=False)
        self.residual = nn.Sequential(*(ResidualBlock(2 * c, dropout) for _ in range(n_residual)))
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, 2, padding=1, bias=False),
            instance_norm(c),
            nn.ReLU(),
            nn.ConvTranspose2d(c, image_channels, 4, 2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.up(self.residual(self.down(x))).float())  # fp32 output


class PatchDiscriminator(nn.Module):
    """A PatchGAN-style discriminator: two stride-2 4x4 convs with instance norm and
    LeakyReLU(0.2) (:func:`~genaug.models.blocks.conv_features`), then a 3x3 conv to one
    logit per H/4 x W/4 patch (each sees an 18 x 18 receptive field)."""

    def __init__(self, channels: int, image_channels: int = 1) -> None:
        super().__init__()
        leaky = functools.partial(nn.LeakyReLU, 0.2)
        self.features = conv_features(image_channels, channels, leaky, instance_norm, bias=False)
        self.score = nn.Conv2d(2 * channels, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(x))


# --------------------------------------------------------------------------- losses
def lsgan_discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN: ``((D(real) - 1)^2 + D(fake)^2) / 2``, averaged over patches."""
    return 0.5 * (mse(d_real, torch.ones_like(d_real)) + mse(d_fake, torch.zeros_like(d_fake)))


def lsgan_generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN: ``(D(G(x)) - 1)^2``, averaged over patches."""
    return mse(d_fake, torch.ones_like(d_fake))


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(a.float(), b.float())


# --------------------------------------------------------------------------- model
class CycleGAN(Generator):
    """CycleGAN from the other classes (A) to the least frequent class (B). hparams:
    ``base_channels``, ``n_residual`` (the generators'), ``disc_channels``, ``lambda_cycle``,
    ``lambda_identity`` (absolute weights), ``dropout`` (noise in the residual blocks, at
    training and at sampling) and ``min_minority``, the fewest B images it trains on."""

    name = "cyclegan"
    modes = ("fit",)
    defaults = DEFAULTS
    translates = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # image_size, n_classes, image_channels, hparams
        hp, channels = self.hparams, self.image_channels
        if not 0 <= hp["dropout"] < 1:
            raise GenaugError(
                f"cyclegan dropout {hp['dropout']} is not in [0, 1): set hparams.dropout"
            )
        if hp["min_minority"] < 1:
            raise GenaugError(
                f"cyclegan min_minority {hp['min_minority']} is below 1: set hparams.min_minority"
            )
        make_g = functools.partial(
            ResnetGenerator, hp["base_channels"], hp["n_residual"], channels, hp["dropout"]
        )
        self.g_ab, self.g_ba = make_g(), make_g()
        self.d_a = PatchDiscriminator(hp["disc_channels"], channels)
        self.d_b = PatchDiscriminator(hp["disc_channels"], channels)
        #: the class index of domain B (-1 until fit), saved with the weights
        self.register_buffer("target", torch.tensor(-1, dtype=torch.long))
        self.domains: tuple[torch.Tensor, torch.Tensor] | None = None  # rows, while fit runs

    def configure_optimizers(self, lr: float) -> dict[str, Adam]:
        # one Adam over both generators, one over both discriminators (as the paper's code)
        return adams(
            lr,
            (0.5, 0.999),
            generators=nn.ModuleList([self.g_ab, self.g_ba]),
            discriminators=nn.ModuleList([self.d_a, self.d_b]),
        )

    def setup_fit(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Domain B: the least frequent label (the smallest index on a tie); A: every other.
        Stops with one line when B has fewer than ``min_minority`` images or A has none."""
        classes, counts = torch.unique(labels, return_counts=True)
        target = classes[torch.argmin(counts)]  # argmin returns the first of equal minima
        n_b, need = int(counts.min()), self.hparams["min_minority"]
        if len(classes) < 2:
            raise GenaugError(
                "cyclegan translates the other classes' images into the minority class, but "
                "the training data has one class: set imbalance.n_classes to 2 or more"
            )
        if n_b < need:
            raise GenaugError(
                f"cyclegan needs at least {need} training images of the minority class (class "
                f"index {int(target)}, the least frequent), it has {n_b}: raise "
                "imbalance.fractions (or lower generators.cyclegan.hparams.min_minority), or "
                "use another method such as oversample"
            )
        self.target.fill_(target)
        is_b = labels == target
        self.domains = (torch.nonzero(~is_b).squeeze(1), torch.nonzero(is_b).squeeze(1))

    def finish_fit(self, images: torch.Tensor, device: torch.device) -> None:
        self.domains = None

    def domain_batches(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of ``size`` images of each domain, A then B (with replacement when a
        domain is smaller), from the run's RNG."""
        rows = [r[sample_batch(len(r), size, self.batch_rng)] for r in self.domains]
        return self.next_batch(rows[0]).x, self.next_batch(rows[1]).x

    def training_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """The generators' step (both directions, discriminators frozen), then the
        discriminators' on the same translations, detached. ``batch`` sets the size only:
        each domain draws a batch of its own."""
        hp = self.hparams
        real_a, real_b = self.domain_batches(len(batch.rows))
        with noise_from(self, self.batch_rng):
            with self.frozen(self.d_a), self.frozen(self.d_b):
                with self.autocast():
                    fake_b, fake_a = self.g_ab(real_a), self.g_ba(real_b)
                    rec_a, rec_b = self.g_ba(fake_b), self.g_ab(fake_a)
                    same_b, same_a = self.g_ab(real_b), self.g_ba(real_a)
                    d_fake_b, d_fake_a = self.d_b(fake_b), self.d_a(fake_a)
                adversarial = lsgan_generator_loss(d_fake_b) + lsgan_generator_loss(d_fake_a)
                cycle = l1(rec_a, real_a) + l1(rec_b, real_b)
                identity = l1(same_b, real_b) + l1(same_a, real_a)
                loss_g = adversarial + hp["lambda_cycle"] * cycle + hp["lambda_identity"] * identity
                self.optimize("generators", loss_g)
        with self.autocast():
            d_b = self.d_b(torch.cat([real_b, fake_b.detach().to(real_b.dtype)])).chunk(2)
            d_a = self.d_a(torch.cat([real_a, fake_a.detach().to(real_a.dtype)])).chunk(2)
        loss_d = lsgan_discriminator_loss(*d_b) + lsgan_discriminator_loss(*d_a)
        self.optimize("discriminators", loss_d)
        return {
            "cycle": cycle,
            "identity": identity,
            "generator_loss": adversarial,
            "discriminator_loss": loss_d,
        }

    def output_labels(self, labels: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """Every image is one of class B, whatever its source's class."""
        if self.target < 0:
            raise GenaugError("this cyclegan model was never fit: train it before augmenting")
        return torch.full_like(source, int(self.target))

    def synthesize(self, req: Request) -> torch.Tensor:
        """``G_AB(x)`` of the real ``x`` of each output (dropout noise, if any, drawn with
        ``req.rng``)."""
        with noise_from(self.g_ab, req.rng):
            return self.generate_chunks(
                lambda x: self.g_ab(x.float()),
                req.device,
                source=req.source,
                per_image=[req.images],
            )
