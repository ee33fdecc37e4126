"""Dataset augmentation in feature space (DeVries & Taylor, 2017).

An autoencoder, trained on the source classes, maps images to latent codes; new images of an
unseen class are made by moving the codes of its real images in latent space and decoding
them ("transfer" mode). The paper's three moves are available through ``operation``:

* ``noise``: ``c + sigma * std * eps``, ``eps ~ N(0, I)``, where ``std`` is the per-dimension
  standard deviation of the codes of all the images being augmented;
* ``interpolate``: ``c + lam * (c_nb - c)`` towards a same-class neighbour ``c_nb``;
* ``extrapolate``: ``c + lam * (c - c_nb)`` away from it (the paper's best, ``lam = 0.5``).

Layout follows ``pytorch/examples``: the networks, then the loss, then the latent moves, then
the :class:`LatentAugment` wrapper that owns the autoencoder, the training loop and sampling.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genaug.errors import GenaugError
from genaug.models.base import (
    Generator,
    LogFn,
    LossMeter,
    Resume,
    Synthetic,
    sample_batch,
    train_steps,
)
from genaug.runtime import autocast

DEFAULTS: dict[str, Any] = {
    "latent_dim": 32,
    "hidden_channels": 32,
    "operation": "extrapolate",
    "lam": 0.5,
    "sigma": 0.5,
    "neighbours": 3,
}
OPERATIONS = ("noise", "interpolate", "extrapolate")

#: images per forward pass in :meth:`LatentAugment.encode` and :meth:`LatentAugment.augment`
AUGMENT_CHUNK = 1024


# --------------------------------------------------------------------------- networks
class Encoder(nn.Module):
    """``image -> code``: two stride-2 convs (H -> H/2 -> H/4), then a hidden linear layer and
    a linear map to ``latent_dim``."""

    def __init__(
        self, image_size: int, latent_dim: int, channels: int, image_channels: int = 1
    ) -> None:
        super().__init__()
        c, bottom = channels, image_size // 4
        self.features = nn.Sequential(
            nn.Conv2d(image_channels, c, 4, 2, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, 2 * c, 4, 2, padding=1),
            nn.ReLU(),
        )
        self.hidden = nn.Sequential(nn.Linear(2 * c * bottom * bottom, 8 * c), nn.ReLU())
        self.code = nn.Linear(8 * c, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.code(self.hidden(self.features(x).flatten(1)))


class Decoder(nn.Module):
    """``code -> image`` in ``[0, 1]``: linear to an H/4 feature map, then two transposed convs
    (H/4 -> H/2 -> H) and a sigmoid (in fp32 even under autocast)."""

    def __init__(
        self, image_size: int, latent_dim: int, channels: int, image_channels: int = 1
    ) -> None:
        super().__init__()
        c = channels
        self.shape = (2 * c, image_size // 4, image_size // 4)
        self.hidden = nn.Sequential(
            nn.Linear(latent_dim, 8 * c),
            nn.ReLU(),
            nn.Linear(8 * c, 2 * c * self.shape[1] * self.shape[2]),
            nn.ReLU(),
        )
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, 2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(c, image_channels, 4, 2, padding=1),
        )

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        h = self.hidden(code).view(-1, *self.shape)
        return torch.sigmoid(self.upsample(h).float())  # fp32, for the BCE under autocast


# --------------------------------------------------------------------------- loss
def reconstruction_loss(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``BCE(recon, x)`` summed over pixels, averaged over the batch. Computed in fp32: call it
    outside autocast."""
    return F.binary_cross_entropy(recon.float(), x.float(), reduction="sum") / x.shape[0]


# --------------------------------------------------------------------------- latent moves
def nearest_same_class(
    codes: torch.Tensor, labels: torch.Tensor, neighbours: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row, the rows of its up to ``neighbours`` nearest same-class codes (Euclidean,
    nearest first, ties by row) and how many of them there are (``min(neighbours, k - 1)``
    for a class of ``k``). Columns past a row's count hold rows of no meaning."""
    n = len(codes)
    dist = torch.cdist(codes, codes, compute_mode="donot_use_mm_for_euclid_dist")
    same = labels[:, None] == labels[None]
    same.fill_diagonal_(False)
    dist = dist.masked_fill(~same, float("inf"))
    nearest = torch.sort(dist, dim=1, stable=True).indices[:, : min(neighbours, max(n - 1, 0))]
    return nearest, same.sum(1).clamp_max(neighbours)


# --------------------------------------------------------------------------- model
class LatentAugment(Generator):
    """Autoencoder whose latent codes are moved to make new images. hparams: ``latent_dim``,
    ``hidden_channels``, ``operation`` (``noise``, ``interpolate`` or ``extrapolate``),
    ``lam`` (extrapolation step), ``sigma`` (noise scale, in code standard deviations),
    ``neighbours`` (a neighbour is drawn uniformly among this many nearest same-class codes).

    Choices: ``interpolate`` draws ``lam ~ U(0, 1)`` afresh for every output (so outputs fill
    the segment to the neighbour), ``extrapolate`` uses the fixed ``lam`` as in the paper (so
    one image gives at most ``min(neighbours, k - 1)`` distinct outputs). A class with a single
    image has no neighbour: its outputs fall back to ``noise`` whatever ``operation`` says.
    ``std`` for ``noise`` is taken over the codes of all the images given to :meth:`augment`;
    when there is only one, over the source codes (recorded at the end of :meth:`fit`).
    Training is a plain autoencoder, with no noise on the codes. Labels are not used in
    :meth:`fit`; in :meth:`augment` they only say which images are neighbours."""

    name = "latent"
    mode = "transfer"
    defaults = DEFAULTS

    def __init__(
        self, image_size: int, n_classes: int = 0, *, image_channels: int = 1, **hparams: Any
    ) -> None:
        super().__init__(image_size, n_classes, image_channels=image_channels, **hparams)
        hp = self.hparams
        if hp["operation"] not in OPERATIONS:
            raise GenaugError(
                f"unknown latent operation {hp['operation']!r}: set hparam `operation` to one "
                f"of {', '.join(OPERATIONS)} in config"
            )
        if hp["neighbours"] < 1:
            raise GenaugError("latent hparam `neighbours` must be at least 1: raise it in config")
        args = (image_size, hp["latent_dim"], hp["hidden_channels"], image_channels)
        self.encoder = Encoder(*args)
        self.decoder = Decoder(*args)
        # per-dimension std of the source codes, for `noise` on a single image
        self.register_buffer("source_std", torch.ones(hp["latent_dim"]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(reconstruction, code)``."""
        code = self.encoder(x)
        return self.decoder(code), code

    def fit(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        steps: int,
        batch_size: int,
        lr: float,
        generator: torch.Generator,
        device: torch.device,
        log: LogFn,
        log_every: int = 10,
        resume: Resume | None = None,
    ) -> None:
        """Adam on the reconstruction loss; ``labels`` are ignored. Logged losses are means
        over the steps since the previous log. Ends by recording ``source_std``."""
        device = torch.device(device)
        images = images.detach().float().cpu()
        self.to(device).train()
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        meter = LossMeter(log, log_every, steps)
        for step in train_steps(steps, resume, self, [opt], generator, meter):
            rows = sample_batch(len(images), batch_size, generator)
            x = images[rows].to(device)
            with autocast(device):
                recon, _ = self(x)
            loss = reconstruction_loss(recon, x)  # fp32
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

            meter.update(step, reconstruction=loss)
        self.eval()
        if len(images) > 1:
            self.source_std.copy_(self.encode(images, device).std(0))

    @torch.no_grad()
    def encode(self, images: torch.Tensor, device: torch.device) -> torch.Tensor:
        """Latent codes of ``images`` (fp32, on the CPU)."""
        device = torch.device(device)
        out = [torch.empty(0, self.hparams["latent_dim"])]
        for lo in range(0, len(images), AUGMENT_CHUNK):
            with autocast(device):
                code = self.encoder(images[lo : lo + AUGMENT_CHUNK].float().to(device))
            out.append(code.float().cpu())
        return torch.cat(out)

    def move(
        self,
        codes: torch.Tensor,
        labels: torch.Tensor,
        n_per_image: int,
        *,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n_per_image`` moved codes per row of ``codes`` (on the CPU) and the row each came
        from, by ``operation`` (see the class docstring). Draws, in this order, one uniform (the
        neighbour), one uniform (``lam`` for ``interpolate``) and ``latent_dim`` normals (the
        noise) per output from ``generator``, whatever the operation."""
        hp = self.hparams
        codes, labels = codes.float().cpu(), labels.detach().cpu().long()
        n, dim = codes.shape
        source = torch.arange(n).repeat_interleave(n_per_image)
        pick = torch.rand(len(source), generator=generator)
        lam = torch.rand(len(source), 1, generator=generator)
        eps = torch.randn(len(source), dim, generator=generator)

        c = codes[source]
        std = codes.std(0) if n > 1 else self.source_std.float().cpu()
        noisy = c + hp["sigma"] * std * eps
        if hp["operation"] == "noise" or n < 2:
            return noisy, source
        nearest, count = nearest_same_class(codes, labels, hp["neighbours"])
        count = count[source]
        column = (pick * count).long().clamp(0, nearest.shape[1] - 1)
        neighbour = codes[nearest[source, column]]
        if hp["operation"] == "interpolate":
            moved = c + lam * (neighbour - c)
        else:
            moved = c + hp["lam"] * (c - neighbour)
        return torch.where((count > 0)[:, None], moved, noisy), source

    @torch.no_grad()
    def augment(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        n_per_image: int,
        *,
        generator: torch.Generator,
        device: torch.device,
    ) -> Synthetic:
        """``n_per_image`` decodes of moved codes per real ``x`` (:meth:`move`), with fresh
        draws from ``generator`` for each; ``source_index`` is the row of ``x``, labels are
        copied from it."""
        self.check_images(images)
        device = torch.device(device)
        was_training = self.training
        self.to(device).eval()
        codes, source = self.move(
            self.encode(images, device), labels, n_per_image, generator=generator
        )
        out = [torch.empty(0, self.image_channels, self.image_size, self.image_size)]
        for lo in range(0, len(codes), AUGMENT_CHUNK):
            with autocast(device):
                y = self.decoder(codes[lo : lo + AUGMENT_CHUNK].to(device))
            out.append(y.float().clamp_(0, 1).cpu())
        self.train(was_training)
        return Synthetic(
            images=torch.cat(out),
            labels=labels.detach().cpu().long().repeat_interleave(n_per_image),
            source_index=source,
        )
