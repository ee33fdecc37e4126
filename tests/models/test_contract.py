"""The contract every registered generator keeps, whatever its family: shapes and range of its
images (grayscale and RGB), logged losses that are finite and fall, checkpoints that load
with ``weights_only=True``, bit-for-bit reproducibility, and resumable training."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_models import SIZE, TINY, augment, fit, make

from conftest import toy_data
from genaug.errors import GenaugError
from genaug.models import GENERATORS, get_generator, load_generator
from genaug.models.base import Resume

pytestmark = pytest.mark.usefixtures("deterministic_cpu")
NAMES = sorted(GENERATORS)
#: what each logs, and the loss that falls within 60 steps on the toy data (seed 0, lr 2e-3;
#: checked for seeds 0-2 when written: last/first ratio <= 0.67)
LOGGED = {
    "dagan": ("wasserstein", {"critic_loss", "generator_loss", "gradient_penalty"}),
    "cvae": ("loss", {"reconstruction", "kl"}),
    "aae": ("reconstruction", {"discriminator_loss", "adversarial_loss"}),
    "cgan": ("discriminator_loss", {"generator_loss", "d_real", "d_fake"}),
    "infogan": ("info_loss", {"discriminator_loss", "generator_loss", "noise_loss"}),
    "latent": ("reconstruction", set()),
    "began": (
        "m_global",
        {"discriminator_loss", "generator_loss", "k", "predictor_loss", "latent_loss", "ssim"},
    ),
    "diffusion": ("loss", set()),
    "sdedit": ("loss", set()),
    "cyclegan": ("cycle", {"identity", "generator_loss", "discriminator_loss"}),
}
DEFAULTS = {
    "dagan": {"arch": "small", "base_channels": 32, "critic_channels": 32, "z_dim": 32,
              "n_critic": 5, "gp_weight": 10.0, "dropout": 0.0, "mode_seeking": 0.0,
              "precision": "auto"},
    "cvae": {"latent_dim": 16, "hidden_channels": 32, "beta": 1.0},
    "aae": {"latent_dim": 8, "hidden_channels": 32, "adv_weight": 1.0},
    "cgan": {"z_dim": 32, "base_channels": 32},
    "infogan": {"z_dim": 16, "n_categories": 10, "n_continuous": 2, "base_channels": 32,
                "info_weight": 1.0, "noise_weight": 1.0, "vary": 1.0},
    "latent": {"latent_dim": 32, "hidden_channels": 32, "operation": "extrapolate", "lam": 0.5,
               "sigma": 0.5, "neighbours": 3},
    "began": {"z_dim": 32, "hidden_dim": 16, "base_channels": 16, "eta": 2, "gamma": 0.5,
              "lambda_k": 0.05, "ssim_weight": 1.0, "sigma": 0.3, "latent_weight": 1.0},
    "diffusion": {"base_channels": 16, "levels": 2, "layers_per_block": 1,
                  "train_timesteps": 1000, "sample_steps": 10, "ema_decay": 0.995,
                  "min_snr_gamma": 5.0, "guidance": 1.0, "label_dropout": 0.1},
    "sdedit": {"base_channels": 16, "levels": 2, "layers_per_block": 1, "train_timesteps": 1000,
               "sample_steps": 10, "ema_decay": 0.995, "min_snr_gamma": 5.0,
               "strength": 0.5},
    "cyclegan": {"base_channels": 32, "n_residual": 3, "disc_channels": 32, "lambda_cycle": 10.0,
                 "lambda_identity": 5.0, "dropout": 0.0, "min_minority": 2},
}  # fmt: skip
#: fewer critic steps where 64 x 64 RGB would be slow
FAST = {"dagan": {"n_critic": 1}}


def test_every_generator_is_covered():
    assert set(TINY) == set(LOGGED) == set(DEFAULTS) == set(GENERATORS)


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry_matches_the_class(name):
    cls = get_generator(name)
    assert cls.name == name and cls.modes == GENERATORS[name].modes
    assert cls.__module__ == GENERATORS[name].module and cls.__name__ == GENERATORS[name].cls


def test_unknown_generator():
    with pytest.raises(
        GenaugError, match=r"unknown generator 'gan'.*cvae, cyclegan, dagan.*`generators`"
    ):
        get_generator("gan")


@pytest.mark.parametrize("name", NAMES)
def test_defaults_are_recorded_in_hparams(name):
    cls = get_generator(name)
    assert cls(28, 5).hparams == DEFAULTS[name]
    # config values are cast to the defaults' types
    hparams = cls(28, 5, **{k: str(v) for k, v in DEFAULTS[name].items()}).hparams
    assert hparams == DEFAULTS[name]
    assert all(type(hparams[k]) is type(v) for k, v in DEFAULTS[name].items())


@pytest.mark.parametrize("name", NAMES)
def test_bad_hparams_sizes_and_channels(name):
    cls = get_generator(name)
    with pytest.raises(GenaugError, match=rf"unknown {name} hparams \['z_size'\]"):
        cls(SIZE, 3, z_size=3)
    with pytest.raises(GenaugError, match="divisible by 4"):
        cls(30, 3)
    with pytest.raises(GenaugError, match=r"image_channels=2 is not 1 .* or 3 .*channels"):
        cls(SIZE, 3, image_channels=2)


@pytest.mark.parametrize("channels, size", [(1, SIZE), (3, 64)], ids=["gray16", "rgb64"])
@pytest.mark.parametrize("name", NAMES)
def test_shapes_range_and_modes(name, channels, size):
    """A few steps at the given size and channel count (RGB at the face datasets' 64 x 64),
    then ``augment``: ``n`` images per real one in ``[0, 1]``, fp32 on the CPU, labels copied,
    fresh draws for each, the train/eval mode restored."""
    x, y = toy_data(4, size)
    x = x.expand(-1, channels, -1, -1) * torch.linspace(0.4, 1, channels)[:, None, None]
    model = make(name, size, channels=channels, **FAST.get(name, {}))
    logs = fit(model, x, y, steps=2, every=1, batch_size=6)
    assert [log["step"] for log in logs] == [1, 2]
    assert all(math.isfinite(v) for log in logs for v in log.values())
    assert not model.training  # fit leaves the model in eval mode

    model.train()
    out = augment(model, x[:5], y[:5], n=3)
    assert model.training  # augment restores the mode
    assert out.images.shape == (15, channels, size, size) and out.images.dtype == torch.float32
    assert out.images.device.type == "cpu"
    assert 0 <= out.images.min() and out.images.max() <= 1
    assert out.labels.dtype == torch.int64 and out.source_index.dtype == torch.int64
    # a translator labels every output with its target, the least frequent training label
    # (a tie on the toy data: the smallest, 0)
    labels = [0] * 15 if model.translates else [int(y[i]) for i in range(5) for _ in range(3)]
    assert out.labels.tolist() == labels
    from_source = [i for i in range(5) for _ in range(3)]
    assert out.source_index.tolist() == (from_source if model.from_source else [-1] * 15)
    assert not torch.equal(out.images[0], out.images[1])  # fresh draws for each output
    if channels == 3:  # the channels are not copies of one another: the networks make colour
        assert not torch.equal(out.images[:, 0], out.images[:, 1])
    empty = augment(model, x[:0], y[:0], n=3)
    assert empty.images.shape == (0, channels, size, size) and len(empty.labels) == 0
    wrong = torch.rand(3, 4 - channels, size, size)  # colour for grayscale, and back
    with pytest.raises(GenaugError, match=rf"takes N x {channels} x H x W images, got \(3, "):
        augment(model, wrong, y[:3])


@pytest.mark.parametrize("name", NAMES)
def test_losses_are_finite_and_fall(name):
    falls, others = LOGGED[name]
    x, y = toy_data()
    logs = fit(make(name), x, y, steps=60, lr=2e-3)
    assert [log["step"] for log in logs] == list(range(5, 61, 5))
    for log in logs:
        assert set(log) == {"step", falls, *others}
        assert all(math.isfinite(v) for v in log.values())
    first = sum(log[falls] for log in logs[:3]) / 3
    last = sum(log[falls] for log in logs[-3:]) / 3
    assert last < 0.8 * first


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_round_trip(name, tmp_path):
    x, y = toy_data(4)
    model = make(name)
    fit(model, x, y, steps=2, every=1)
    path = tmp_path / f"{name}.pt"
    model.save(path, seed=3)

    raw = torch.load(path, weights_only=True)
    assert raw["generator"] == name and raw["extra"] == {"seed": 3}
    assert raw["image_size"] == SIZE and raw["image_channels"] == 1
    loaded = load_generator(path)
    assert type(loaded) is type(model) and loaded.hparams == model.hparams
    assert loaded.image_size == SIZE and loaded.n_classes == 3 and loaded.image_channels == 1
    assert loaded.checkpoint_extra == {"seed": 3}
    sd, sd_loaded = model.state_dict(), loaded.state_dict()
    assert sd.keys() == sd_loaded.keys() and all(torch.equal(sd[k], sd_loaded[k]) for k in sd)
    a, b = augment(model, x, y), augment(loaded, x, y)
    assert torch.equal(a.images, b.images)
    assert torch.equal(a.labels, b.labels) and torch.equal(a.source_index, b.source_index)
    other = get_generator("cvae" if name == "dagan" else "dagan")
    with pytest.raises(ValueError, match="not a"):
        other.load(path)
    # a checkpoint saved before RGB (no "image_channels") loads as grayscale
    del raw["image_channels"]
    torch.save(raw, path)
    assert load_generator(path).image_channels == 1
    # one of other layer names (older code) stops with one line
    raw["state_dict"] = {f"old.{k}": v for k, v in raw["state_dict"].items()}
    torch.save(raw, path)
    with pytest.raises(GenaugError, match=rf"{name} weights of another code version .* delete"):
        load_generator(path)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_bits(name):
    x, y = toy_data(4)
    runs = []
    for _ in range(2):
        model = make(name, seed=5)
        logs = fit(model, x, y, steps=4, seed=5, every=2)
        runs.append((model.state_dict(), logs, augment(model, x, y, seed=6).images))
    (sd_a, logs_a, img_a), (sd_b, logs_b, img_b) = runs
    assert sd_a.keys() == sd_b.keys()
    assert all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a)
    assert logs_a == logs_b
    assert torch.equal(img_a, img_b)
    # and a different seed gives a different run
    other = make(name, seed=5)
    fit(other, x, y, steps=4, seed=6, every=2)
    assert not all(torch.equal(sd_a[k], other.state_dict()[k]) for k in sd_a)


# --------------------------------------------------------------------------- resuming
STEPS, EVERY, LOG_EVERY = 12, 4, 3


class Stop(Exception):
    """Stands in for a job killed part-way."""


def train(name: str, resume: Resume | None, *, stop_at: int | None = None, init_seed: int = 0):
    """Fit a tiny ``name`` for STEPS steps on toy data (batch order seeded with 0); raise
    :class:`Stop` when the log reaches ``stop_at``. Returns the model and the logged entries."""
    model = make(name, seed=init_seed)
    torch.manual_seed(1234)  # a global RNG state a resumed run must not depend on
    x, y = toy_data(4)
    history = [] if resume is None else resume.history

    def log(entry):
        history.append(entry)
        if stop_at is not None and entry["step"] >= stop_at:
            raise Stop

    fit(model, x, y, steps=STEPS, every=LOG_EVERY, log=log, resume=resume)
    return model, history


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("name", NAMES)
def test_stopped_and_resumed_run_equals_an_uninterrupted_one(name, tmp_path):
    path = tmp_path / "resume" / f"{name}.pt"
    reference, ref_history = train(name, None)

    # stopped while logging step 9: the last checkpoint is step 8, whose loss meter holds
    # the sums of steps 7 and 8 (logged at 9, with step 9's)
    with pytest.raises(Stop):
        train(name, Resume(path, "run-a", EVERY), stop_at=9)
    assert torch.load(path, weights_only=True)["step"] == 8

    # a new process: other initial weights, other global RNG state; the checkpoint wins
    resume = Resume(path, "run-a", EVERY)
    assert resume.step == 8 and [e["step"] for e in resume.history] == [3, 6]
    resumed, history = train(name, resume, init_seed=99)
    assert_same_state(resumed, reference)
    assert history == ref_history and [e["step"] for e in history] == [3, 6, 9, 12]
    # the last step is checkpointed too, so a job that dies after training skips it
    assert torch.load(path, weights_only=True)["step"] == STEPS
    resume.remove()
    assert not path.exists() and list(path.parent.iterdir()) == []


def test_checkpoint_of_another_run_is_ignored(tmp_path):
    path = tmp_path / "r.pt"
    with pytest.raises(Stop):
        train("cvae", Resume(path, "run-a", EVERY), stop_at=9)
    other = Resume(path, "run-b", EVERY)  # e.g. other settings or training data
    assert other.step == 0 and other.history == []
    model, _ = train("cvae", other)
    reference, _ = train("cvae", None)
    assert_same_state(model, reference)
    assert torch.load(path, weights_only=True)["fingerprint"] == "run-b"  # overwritten

    path.write_bytes(b"not a checkpoint")  # unreadable: a warning, a fresh start
    assert Resume(path, "run-b", EVERY).step == 0


def test_every_zero_writes_nothing(tmp_path):
    model, _ = train("cvae", Resume(tmp_path / "r.pt", "run-a", 0))
    assert not (tmp_path / "r.pt").exists()
    assert_same_state(model, train("cvae", None)[0])
