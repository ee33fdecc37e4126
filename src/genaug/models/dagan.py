"""DAGAN: a Data Augmentation GAN (Antoniou, Storkey & Edwards, 2017).

The generator takes a real image ``x`` and a noise vector ``z`` and returns another image of
``x``'s class; the critic scores ``(source, other)`` pairs, where ``other`` is either a
different real image of the same class or a generated one. Trained on the source classes with
the improved Wasserstein loss (WGAN-GP, Gulrajani et al., 2017), the generator is then applied
to images of classes it has never seen ("transfer" mode), or trained on each replicate's own
training images ("fit" mode; every class needs two).

Layout follows ``pytorch/examples``: the networks, the pair sampler, then the :class:`DAGAN`
that owns the networks, its optimisers, its training step and sampling.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genaug.errors import GenaugError
from genaug.models.base import Batch, Generator, Request
from genaug.models.losses import gradient_penalty, wgan_critic_loss, wgan_generator_loss
from genaug.optim import Adam
from genaug.runtime import autocast

#: ``arch: small``: the CPU-sized U-Net and critic below; ``arch: paper``: the networks of the
#: paper's PyTorch port (:class:`PaperGenerator`, :class:`PaperCritic`), which ignore the
#: ``*_channels`` hparams. ``precision``: "auto" (the project's: bf16 autocast on CUDA, fp32 on
#: the CPU) or "bf16" (bf16 autocast on the CPU too, for the training step's forward passes;
#: the gradient penalty and the losses stay fp32)
DEFAULTS: dict[str, Any] = {
    "arch": "small",
    "base_channels": 32,
    "critic_channels": 32,
    "z_dim": 32,
    "n_critic": 5,
    "gp_weight": 10.0,
    "dropout": 0.0,
    "mode_seeking": 0.0,
    "precision": "auto",
}
ARCHS = ("small", "paper")
PRECISIONS = ("auto", "bf16")
#: the port's widths at its four scales, and its inner layers per block (generator, critic)
PAPER_WIDTHS = (64, 64, 128, 128)
PAPER_INNER = {"generator": 3, "critic": 5}


# --------------------------------------------------------------------------- noise
class NoiseDropout(nn.Module):
    """Dropout as a noise source (as the paper's DAGAN uses it, at training and at sampling),
    with its masks drawn from the ``rng`` that :func:`noise_from` sets (none: identity)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)
        self.rng: torch.Generator | None = None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.p == 0 or self.rng is None:
            return h
        keep = torch.rand(h.shape, generator=self.rng) >= self.p  # on the CPU: same bits
        return h * keep.to(h.device, h.dtype) / (1 - self.p)


@contextlib.contextmanager
def noise_from(net: nn.Module, rng: torch.Generator) -> Iterator[None]:
    """Inside the block, the :class:`NoiseDropout` layers of ``net`` draw from ``rng``."""
    layers = [m for m in net.modules() if isinstance(m, NoiseDropout)]
    for m in layers:
        m.rng = rng
    try:
        yield
    finally:
        for m in layers:
            m.rng = None


# --------------------------------------------------------------------------- networks
class ConvBlock(nn.Sequential):
    """conv -> InstanceNorm -> LeakyReLU(0.2); ``stride=2`` halves the size."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        kernel = 4 if stride == 2 else 3
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel, stride, padding=1, bias=False),
            nn.InstanceNorm2d(out_channels, affine=True),
            nn.LeakyReLU(0.2),
        )


class UpBlock(nn.Sequential):
    """transposed conv (doubles the size) -> InstanceNorm -> LeakyReLU(0.2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.ConvTranspose2d(in_channels, out_channels, 4, 2, padding=1, bias=False),
            nn.InstanceNorm2d(out_channels, affine=True),
            nn.LeakyReLU(0.2),
        )


class NoiseMap(nn.Linear):
    """``z -> B x channels x size x size``: noise projected to a feature map of one scale."""

    def __init__(self, z_dim: int, channels: int, size: int) -> None:
        super().__init__(z_dim, channels * size * size)
        self.shape = (channels, size, size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return super().forward(z).view(-1, *self.shape)


class UNetGenerator(nn.Module):
    """U-Net over three scales (H, H/2, H/4) with skip connections; the noise ``z`` is
    projected to a feature map at every decoder scale (``c``, ``c/2``, ``c/4`` maps at H/4,
    H/2, H) and joins the features there, and the decoder's features pass through
    :class:`NoiseDropout` (``dropout``).

    ``forward(x, z)``: ``x`` is ``B x C x H x W`` in ``[0, 1]`` (``C = image_channels``),
    ``z`` is ``B x z_dim``; returns ``B x C x H x W`` in ``[0, 1]``.
    """

    def __init__(
        self,
        image_size: int,
        base_channels: int = 32,
        z_dim: int = 32,
        image_channels: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        c, n2, n1 = base_channels, max(base_channels // 2, 1), max(base_channels // 4, 1)
        self.enc1 = ConvBlock(image_channels, c)  # H
        self.enc2 = ConvBlock(c, 2 * c, stride=2)  # H/2
        self.enc3 = ConvBlock(2 * c, 4 * c, stride=2)  # H/4
        self.noise = nn.ModuleList(
            NoiseMap(z_dim, n, image_size // f) for n, f in ((c, 4), (n2, 2), (n1, 1))
        )
        self.bottleneck = ConvBlock(4 * c + c, 4 * c)
        self.up2 = UpBlock(4 * c, 2 * c)  # H/2
        self.dec2 = ConvBlock(2 * c + 2 * c + n2, 2 * c)
        self.up1 = UpBlock(2 * c, c)  # H
        self.dec1 = ConvBlock(c + c + n1, c)
        self.drop = nn.ModuleList(NoiseDropout(dropout) for _ in range(3))
        # the input image is the last skip
        self.out = nn.Conv2d(c + image_channels, image_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        n3, n2, n1 = (proj(z).to(e1.dtype) for proj in self.noise)
        h = self.drop[0](self.bottleneck(torch.cat([e3, n3], 1)))
        h = self.drop[1](self.dec2(torch.cat([self.up2(h), e2, n2], 1)))
        h = self.drop[2](self.dec1(torch.cat([self.up1(h), e1, n1], 1)))
        return torch.sigmoid(self.out(torch.cat([h, x.to(h.dtype)], 1)).float())  # fp32 output


class Critic(nn.Module):
    """Scores a pair ``(source, other)`` (stacked along the channels) with one scalar.

    No batch norm: the gradient penalty is defined per sample, so the critic uses layer norm
    (``GroupNorm`` with one group), which never mixes the samples of a batch.
    """

    def __init__(self, image_size: int, channels: int = 32, image_channels: int = 1) -> None:
        super().__init__()
        c = channels
        bottom = image_size // 4
        self.features = nn.Sequential(
            nn.Conv2d(2 * image_channels, c, 3, 1, padding=1),  # H
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, padding=1),  # H/2
            nn.GroupNorm(1, 2 * c),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, 4, 2, padding=1),  # H/4
            nn.GroupNorm(1, 4 * c),
            nn.LeakyReLU(0.2),
        )
        self.score = nn.Linear(4 * c * bottom * bottom, 1)

    def forward(self, source: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        h = self.features(torch.cat([source, other], 1))
        return self.score(h.flatten(1)).squeeze(1)


# --------------------------------------------------------------------------- the paper's
# The layer structure of the paper's PyTorch port (amurthy1/dagan_torch: generator.py and
# discriminator.py), written here from its description: a U-Net of densely connected 3x3 conv
# blocks, four scales deep on each side, noise joined at the three deepest decoder scales,
# dropout at the end of each block; the critic is the encoder half with more layers per
# block. Norms are per-image layer norms with per-channel affine (GroupNorm(1, c)), which
# never mix a batch's samples (the gradient penalty is per sample) and count as the port's.
def scale_sizes(image_size: int, depth: int) -> list[int]:
    """The side at each scale of a "same"-padded stride-2 pyramid: 28 -> 14, 7, 4, 2."""
    sizes = [image_size]
    for _ in range(depth):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


class PaperConv(nn.Module):
    """TensorFlow-"same"-padded 3x3 conv (``stride`` 1 or 2; ``up_to``: first nearest-upsample
    to that side), then, if ``activate``, LeakyReLU(0.2) and layer norm; then dropout noise."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        activate: bool = True,
        dropout: float = 0.0,
        up_to: int | None = None,
    ) -> None:
        super().__init__()
        self.up = nn.Identity() if up_to is None else nn.Upsample(size=up_to)
        self.stride = stride
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride)
        post: list[nn.Module] = [nn.LeakyReLU(0.2), nn.GroupNorm(1, out_channels)]
        self.post = nn.Sequential(*post[: 2 * activate], NoiseDropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        # "same" padding: stride 2 on an even side pads only right and bottom (a padded copy);
        # else one on every side, which the convolution does itself (no copy to make, nor to
        # differentiate, twice in the gradient penalty)
        if self.stride == 2 and x.shape[-1] % 2 == 0:
            return self.post(self.conv(F.pad(x, (0, 1, 0, 1))))
        return self.post(F.conv2d(x, self.conv.weight, self.conv.bias, self.stride, padding=1))


class DenseDown(nn.Module):
    """An encoder block: the previous scale's input ``pre`` brought down by a stride-2 conv
    joins ``x``; ``inner`` densely connected convs (each sees ``x`` and every earlier output);
    a last stride-2 conv, with dropout, of them all.
    ``(pre, x) -> (last full-size output, downsampled output)``."""

    def __init__(self, pre: int, width: int, out: int, inner: int, dropout: float) -> None:
        super().__init__()
        self.pre = PaperConv(pre, pre, stride=2, activate=False)
        ins = [width + pre] + [width + j * out for j in range(1, inner)]
        self.convs = nn.ModuleList(PaperConv(n, out) for n in ins)
        self.down = PaperConv(width + inner * out, out, stride=2, dropout=dropout)

    def forward(self, pre: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.cat([x, self.pre(pre)], 1)
        for j, conv in enumerate(self.convs):
            out = conv(h)
            # the same tensor as torch.cat([x, *outputs so far]), grown by one part at a time:
            # its backward slices the gradient in two, not in j + 2 (each slice a full-size
            # buffer again in the gradient penalty's double backward)
            h = torch.cat([x if j == 0 else h, out], 1)
        return out, self.down(h)


class DenseUp(nn.Module):
    """A decoder block at side ``size``: ``inner`` densely connected convs, each also seeing
    the previous block's last full-size output ``pre`` upsampled to ``size`` by a conv of its
    own (none in the first block), then, unless it is the last block, an upsampling conv with
    dropout to side ``up_to``. ``(pre, x) -> (last output at size, upsampled output)``."""

    def __init__(
        self,
        pre: int,
        width: int,
        out: int,
        inner: int,
        size: int,
        up_to: int | None,
        dropout: float,
    ) -> None:
        super().__init__()
        self.pres = nn.ModuleList(
            PaperConv(pre, pre, activate=False, up_to=size) for _ in range(inner if pre else 0)
        )
        self.convs = nn.ModuleList(PaperConv(width + pre + j * out, out) for j in range(inner))
        self.up = (
            None
            if up_to is None
            else PaperConv(width + inner * out, out, dropout=dropout, up_to=up_to)
        )

    def forward(
        self, pre: torch.Tensor | None, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        outs = [x]
        for j, conv in enumerate(self.convs):
            extra = [self.pres[j](pre)] if self.pres else []
            outs.append(conv(torch.cat([*outs, *extra], 1)))
        if self.up is None:
            return outs[-2], outs[-1]
        return outs[-1], self.up(torch.cat(outs, 1))


class PaperEncoder(nn.Module):
    """The port's encoder: a stride-2 conv, then a :class:`DenseDown` block per further width;
    ``x -> [x, output of each scale]`` (sides ``scale_sizes(H, len(widths))``)."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], inner: int, dropout: float):
        super().__init__()
        self.first = PaperConv(in_channels, widths[0], stride=2)
        self.blocks = nn.ModuleList(
            DenseDown(
                in_channels if i == 1 else widths[i - 1], widths[i - 1], widths[i], inner, dropout
            )
            for i in range(1, len(widths))
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x, self.first(x)]  # the first layer runs once (the port runs it twice)
        pre, h = x, outs[-1]
        for block in self.blocks:
            pre, h = block(pre, h)
            outs.append(h)
        return outs


class PaperGenerator(nn.Module):
    """The paper's U-Net generator (about 10.5 M parameters at 28 x 28 x 1, ``z_dim`` 100):
    :class:`PaperEncoder` down to side H/16, noise maps (8, 4, 2 channels) joined at the three
    deepest decoder scales, a :class:`DenseUp` block per scale with the encoder's output of that
    scale as skip, three final convs and a sigmoid (the port: tanh on [-1, 1] images)."""

    def __init__(
        self,
        image_size: int,
        z_dim: int = 100,
        image_channels: int = 1,
        dropout: float = 0.5,
        widths: tuple[int, ...] = PAPER_WIDTHS,
        inner: int = PAPER_INNER["generator"],
    ) -> None:
        super().__init__()
        depth = len(widths)
        sizes = scale_sizes(image_size, depth)[::-1]  # decoder order: deepest first
        self.encoder = PaperEncoder(image_channels, widths, inner, dropout)
        self.noise = nn.ModuleList(NoiseMap(z_dim, 8 >> i, sizes[i]) for i in range(3))
        skips = [*widths[::-1][1:], image_channels]  # channels of the skip joined at each scale
        blocks = []
        for i in range(depth + 1):
            previous = 0 if i == 0 else widths[-i]
            width = (widths[-1] if i == 0 else previous + skips[i - 1]) + (8 >> i if i < 3 else 0)
            out = widths[0] if i == depth else widths[-i - 1]
            up_to = None if i == depth else sizes[i + 1]
            blocks.append(DenseUp(previous, width, out, inner, sizes[i], up_to, dropout))
        self.decoder = nn.ModuleList(blocks)
        c = widths[0]
        self.final = nn.Sequential(
            PaperConv(c, c), PaperConv(c, c), PaperConv(c, image_channels, activate=False)
        )

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        skips = self.encoder(x)
        pre, h = None, skips.pop()
        for i, block in enumerate(self.decoder):
            if i > 0:
                h = torch.cat([h, skips.pop()], 1)
            if i < len(self.noise):
                h = torch.cat([self.noise[i](z).to(h.dtype), h], 1)
            pre, h = block(pre, h)
        return torch.sigmoid(self.final(h).float())  # fp32 output


class PaperCritic(nn.Module):
    """The paper's pair critic (about 7.1 M parameters at 28 x 28 x 1): the
    :class:`PaperEncoder` on the stacked pair with ``inner`` layers per block; its last map's
    channel means through a 1024-unit layer, joined by the flattened map, score the pair."""

    def __init__(
        self,
        image_size: int,
        image_channels: int = 1,
        widths: tuple[int, ...] = PAPER_WIDTHS,
        inner: int = PAPER_INNER["critic"],
    ) -> None:
        super().__init__()
        bottom = scale_sizes(image_size, len(widths))[-1]
        self.encoder = PaperEncoder(2 * image_channels, widths, inner, dropout=0.0)
        self.hidden = nn.Sequential(nn.Linear(widths[-1], 1024), nn.LeakyReLU(0.2))
        self.score = nn.Linear(widths[-1] * bottom * bottom + 1024, 1)

    def forward(self, source: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        h = self.encoder(torch.cat([source, other], 1))[-1]
        return self.score(torch.cat([self.hidden(h.mean((2, 3))), h.flatten(1)], 1)).squeeze(1)


# --------------------------------------------------------------------------- pairs
class PairSampler:
    """Draws, for each source row, a *different* row of the same class."""

    def __init__(self, labels: torch.Tensor) -> None:
        labels = labels.detach().cpu().long()
        classes, inverse = torch.unique(labels, return_inverse=True)
        counts = torch.bincount(inverse, minlength=len(classes))
        if (counts < 2).any():
            lonely = classes[counts < 2].tolist()
            raise GenaugError(
                f"DAGAN pairs each image with another of its class, but classes {lonely} have "
                "one image: use at least 2 images per source class"
            )
        self.order = torch.argsort(inverse, stable=True)  # rows grouped by class
        self.starts = torch.cumsum(counts, 0) - counts
        self.counts = counts
        self.inverse = inverse
        self.rank = torch.empty_like(inverse)  # position of each row inside its class
        self.rank[self.order] = torch.arange(len(labels)) - self.starts[inverse[self.order]]

    def partners(self, rows: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        cls = self.inverse[rows]
        others = self.counts[cls] - 1
        k = (torch.rand(len(rows), generator=rng) * others).long().clamp_max(others - 1)
        k = k + (k >= self.rank[rows]).long()  # skip the row itself
        return self.order[self.starts[cls] + k]


# --------------------------------------------------------------------------- model
class DAGAN(Generator):
    """DAGAN generator + critic. hparams: ``arch`` ("small": :class:`UNetGenerator` and
    :class:`Critic`, sized by ``base_channels`` and ``critic_channels``; "paper": the port's
    :class:`PaperGenerator` and :class:`PaperCritic`), ``z_dim``, ``n_critic`` (critic steps per
    generator step), ``gp_weight``, ``dropout`` (the generator's dropout noise, at training and
    at sampling), ``mode_seeking`` (weight of the mode-seeking term, Mao et al. 2019; 0: off),
    ``precision`` (see :data:`DEFAULTS`)."""

    name = "dagan"
    modes = ("transfer", "fit")
    defaults = DEFAULTS
    # the gradient penalty differentiates the critic twice, which torch.compile cannot do
    no_compile = ("critic",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # image_size, n_classes, image_channels, hparams
        hp = self.hparams
        size, channels = self.image_size, self.image_channels
        if hp["arch"] not in ARCHS:
            raise GenaugError(
                f"unknown dagan arch {hp['arch']!r}: set generators.dagan.hparams.arch to one "
                f"of {list(ARCHS)}"
            )
        if hp["precision"] not in PRECISIONS:
            raise GenaugError(
                f"unknown dagan precision {hp['precision']!r}: set "
                f"generators.dagan.hparams.precision to one of {list(PRECISIONS)}"
            )
        if not 0 <= hp["dropout"] < 1:
            raise GenaugError(
                f"dagan dropout {hp['dropout']} is not in [0, 1): set hparams.dropout"
            )
        if hp["arch"] == "paper":
            self.net = PaperGenerator(size, hp["z_dim"], channels, hp["dropout"])
            self.critic = PaperCritic(size, channels)
        else:
            self.net = UNetGenerator(
                size, hp["base_channels"], hp["z_dim"], channels, hp["dropout"]
            )
            self.critic = Critic(size, hp["critic_channels"], channels)
        self.pairs: PairSampler | None = None  # of the training data, while fit runs

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(x, z)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The base's mixed precision; with ``precision: bf16``, bf16 on the CPU too."""
        return autocast(self._current_run().device, cpu_bf16=self.hparams["precision"] == "bf16")

    def configure_optimizers(self, lr: float) -> dict[str, Adam]:
        # channels-last convs and a fused Adam: a fair part of the speed at arch "paper"
        self.to(memory_format=torch.channels_last)
        fused = next(self.parameters()).device.type in ("cpu", "cuda")
        return {
            name: Adam(net.parameters(), lr=lr, betas=(0.5, 0.9), fused=fused)
            for name, net in (("generator", self.net), ("critic", self.critic))
        }

    def setup_fit(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.pairs = PairSampler(labels)

    def finish_fit(self, images: torch.Tensor, device: torch.device) -> None:
        # back to the layout a loaded checkpoint has, so that both sample the same bits
        self.to(memory_format=torch.contiguous_format)

    def pair(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x, x', z)``: the batch's images, a different real image of the same class for
        each, and fresh noise (drawn in that order)."""
        real = self.next_batch(self.pairs.partners(batch.rows, self.batch_rng)).x
        return batch.x, real, self.randn(len(batch.rows), self.hparams["z_dim"])

    def training_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """WGAN-GP on ``(x, x')`` same-class pairs: ``n_critic`` critic steps, the first on
        ``batch`` and each other on a batch of its own, then one generator step on another;
        ``wasserstein`` is the critic's estimate ``D(x, real) - D(x, fake)``. The critic's
        fakes are made without a graph (its loss never reaches the generator). With
        ``mode_seeking`` > 0 the generator makes two images of each ``x`` (noises ``z1``, ``z2``)
        and also minimises ``mode_seeking / (mean|G(x, z1) - G(x, z2)| / mean|z1 - z2|)``."""
        hp = self.hparams
        with noise_from(self.net, self.batch_rng):
            for i in range(hp["n_critic"]):
                x, real, z = self.pair(batch if i == 0 else self.next_batch())
                alpha = self.rand(len(x), 1, 1, 1)
                with self.autocast():
                    with torch.no_grad():
                        fake = self.net(x, z)
                    d_real, d_fake = self.critic(
                        torch.cat([x, x]), torch.cat([real, fake.to(real.dtype)])
                    ).chunk(2)
                    loss_w = wgan_critic_loss(d_real, d_fake)
                critic = functools.partial(self.critic, x.float())  # D(x, .), in fp32
                gp = gradient_penalty(critic, real, fake, alpha)
                loss_c = loss_w + hp["gp_weight"] * gp
                self.optimize("critic", loss_c)
            # ---- generator: one step, critic frozen
            with self.frozen(self.critic):
                x, _, z = self.pair(self.next_batch())
                if hp["mode_seeking"] > 0:
                    x, z = torch.cat([x, x]), torch.cat([z, self.randn(*z.shape)])
                with self.autocast():
                    fake = self.net(x, z)
                    loss_g = wgan_generator_loss(self.critic(x, fake))
                losses = {}
                if hp["mode_seeking"] > 0:
                    ratio = mode_seeking_ratio(*fake.chunk(2), *z.chunk(2))
                    loss_g = loss_g + hp["mode_seeking"] / (ratio + 1e-5)
                    losses["mode_seeking_ratio"] = ratio
                self.optimize("generator", loss_g)
        return {
            "critic_loss": loss_c,
            "generator_loss": loss_g,
            "gradient_penalty": gp,
            "wasserstein": -loss_w,
            **losses,
        }

    def synthesize(self, req: Request) -> torch.Tensor:
        """``G(x, z)`` for the real ``x`` of each output, each with fresh noise ``z`` (and fresh
        dropout noise, both drawn with ``req.rng``)."""
        z = torch.randn(len(req.source), self.hparams["z_dim"], generator=req.rng)
        with noise_from(self.net, req.rng):
            return self.generate_chunks(
                lambda x, z: self.net(x.float(), z),
                req.device,
                z,
                source=req.source,
                per_image=[req.images],
            )


def mode_seeking_ratio(
    fake1: torch.Tensor, fake2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor
) -> torch.Tensor:
    """Mao et al. (2019)'s ``mean|G(z1) - G(z2)| / mean|z1 - z2|`` of two images per input."""
    return (fake1.float() - fake2.float()).abs().mean() / (z1 - z2).abs().mean()
