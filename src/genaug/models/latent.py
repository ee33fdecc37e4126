"""Dataset augmentation in feature space (DeVries & Taylor, 2017).

An autoencoder, trained on the source classes, maps images to latent codes; new images of an
unseen class are made by moving the codes of its real images in latent space and decoding
them ("transfer" mode). The paper's three moves are available through ``operation``:

* ``noise``: ``c + sigma * std * eps``, ``eps ~ N(0, I)``, where ``std`` is the per-dimension
  standard deviation of the codes of all the images being augmented;
* ``interpolate``: ``c + lam * (c_nb - c)`` towards a same-class neighbour ``c_nb``;
* ``extrapolate``: ``c + lam * (c - c_nb)`` away from it (the paper's best, ``lam = 0.5``).

Layout follows ``pytorch/examples``: the latent moves, then the :class:`LatentAugment` that
owns the autoencoder (shared blocks), its optimiser, its training step and sampling.
"""

from __future__ import annotations

from typing import Any

import torch

from genaug.errors import GenaugError
from genaug.models.base import Batch, Generator, Request, adams
from genaug.models.blocks import CodeEncoder, ConvDecoder
from genaug.models.losses import reconstruction_bce
from genaug.optim import Adam

DEFAULTS: dict[str, Any] = {
    "latent_dim": 32,
    "hidden_channels": 32,
    "operation": "extrapolate",
    "lam": 0.5,
    "sigma": 0.5,
    "neighbours": 3,
}
OPERATIONS = ("noise", "interpolate", "extrapolate")


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
    modes = ("transfer", "fit")
    defaults = DEFAULTS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # image_size, n_classes, image_channels, hparams
        hp = self.hparams
        if hp["operation"] not in OPERATIONS:
            raise GenaugError(
                f"unknown latent operation {hp['operation']!r}: set hparam `operation` to one "
                f"of {', '.join(OPERATIONS)} in config"
            )
        if hp["neighbours"] < 1:
            raise GenaugError("latent hparam `neighbours` must be at least 1: raise it in config")
        latent, c = hp["latent_dim"], hp["hidden_channels"]
        self.encoder = CodeEncoder(self.image_size, latent, c, self.image_channels)
        self.decoder = ConvDecoder(self.image_size, latent, c, self.image_channels)
        # per-dimension std of the source codes, for `noise` on a single image
        self.register_buffer("source_std", torch.ones(hp["latent_dim"]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(reconstruction, code)``."""
        code = self.encoder(x)
        return self.decoder(code), code

    def configure_optimizers(self, lr: float) -> dict[str, Adam]:
        return adams(lr, autoencoder=self)

    def training_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Adam on the reconstruction loss; labels are not used."""
        with self.autocast():
            recon, _ = self(batch.x)
        loss = reconstruction_bce(recon, batch.x)
        self.optimize("autoencoder", loss)
        return {"reconstruction": loss}

    def finish_fit(self, images: torch.Tensor, device: torch.device) -> None:
        """Record ``source_std``."""
        if len(images) > 1:
            self.source_std.copy_(self.encode(images, device).std(0))

    @torch.no_grad()
    def encode(self, images: torch.Tensor, device: torch.device) -> torch.Tensor:
        """Latent codes of ``images`` (fp32, on the CPU)."""
        codes = self.map_chunks(lambda x: self.encoder(x.float()).float().cpu(), device, images)
        return torch.cat([torch.empty(0, self.hparams["latent_dim"]), *codes])

    def move(
        self,
        codes: torch.Tensor,
        labels: torch.Tensor,
        source: torch.Tensor,
        *,
        rng: torch.Generator,
    ) -> torch.Tensor:
        """One moved code per entry of ``source`` (a row of ``codes``, on the CPU), by
        ``operation`` (see the class docstring). Draws, in this order, one uniform (the
        neighbour), one uniform (``lam`` for ``interpolate``) and ``latent_dim`` normals (the
        noise) per output from ``rng``, whatever the operation."""
        hp = self.hparams
        codes, labels = codes.float().cpu(), labels.detach().cpu().long()
        n, dim = codes.shape
        pick = torch.rand(len(source), generator=rng)
        lam = torch.rand(len(source), 1, generator=rng)
        eps = torch.randn(len(source), dim, generator=rng)

        c = codes[source]
        std = codes.std(0) if n > 1 else self.source_std.float().cpu()
        noisy = c + hp["sigma"] * std * eps
        if hp["operation"] == "noise" or n < 2:
            return noisy
        nearest, count = nearest_same_class(codes, labels, hp["neighbours"])
        count = count[source]
        column = (pick * count).long().clamp(0, nearest.shape[1] - 1)
        neighbour = codes[nearest[source, column]]
        if hp["operation"] == "interpolate":
            moved = c + lam * (neighbour - c)
        else:
            moved = c + hp["lam"] * (c - neighbour)
        return torch.where((count > 0)[:, None], moved, noisy)

    def synthesize(self, req: Request) -> torch.Tensor:
        """Decodes of the moved codes of each real ``x`` (:meth:`move`)."""
        codes = self.move(self.encode(req.images, req.device), req.labels, req.source, rng=req.rng)
        return self.generate_chunks(self.decoder, req.device, codes)
