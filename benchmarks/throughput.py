"""Training throughput (images/s) and peak memory of every generator and classifier.

Each model is measured in its own process, so peak memory is that model's alone (on the
CPU: what building and training it adds to the process's peak resident memory), with
the hyperparameters of a config file (default: config/config.yaml) on the machine at hand:
the GPU when PyTorch sees one, else the CPU with ``--threads`` threads. Writes a CSV.

    python benchmarks/throughput.py --out benchmarks/results-cpu.csv
    python benchmarks/throughput.py --only dagan cvae --steps 10
    python benchmarks/throughput.py --image-size 64 --channels 3   # face-sized colour images
    python benchmarks/throughput.py --only dagan-paper dagan-port dagan-port-layers \
        dagan-paper-bf16 dagan-port-bf16 --steps 3 --out benchmarks/results-dagan-paper-cpu.csv

``dagan-paper`` is DAGAN at ``arch: paper`` with the settings of config/omniglot_dagan.yaml
(batch 32, 5 critic steps); ``dagan-port`` is a re-implementation, written here, of the
training step of the paper's PyTorch port (amurthy1/dagan_torch) on the same networks: its
critic's fakes keep their graph, so the critic loss backpropagates through the generator; the
generator's first encoder layer runs twice; the critic scores real and fake pairs in two calls
and is not frozen for the generator's step; plain Adam, no channels-last. It runs this
project's layer code, so it gains what that code does better than the port's;
``dagan-port-layers`` is the port as written: its step, and its layer code too (every conv on
a padded copy, an encoder block's outputs re-concatenated for each layer; the same numbers).
``dagan-paper-bf16``
and ``dagan-port-bf16`` are both with ``precision: bf16`` (their forward passes in bf16 on the
CPU too, the gradient penalty in fp32). All report ``pairs_per_s`` (as does ``dagan``): real
(source, other) pairs the critic trains on per second. ``cpu_seconds_per_step`` is the median
of the timed steps' CPU seconds (``time.process_time``; on a shared machine with one thread,
steadier than the wall time of ``seconds_per_step``), and ``pairs_per_cpu_s`` is per CPU
second.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CLASSIFIERS = ("conv4", "densenet")
#: DAGAN at the paper's architecture (settings of this config) and the port's step on it
PAPER_CONFIG = REPO / "config" / "omniglot_dagan.yaml"
DAGAN_PAPER = (
    "dagan-paper", "dagan-port", "dagan-port-layers", "dagan-paper-bf16", "dagan-port-bf16"
)  # fmt: skip
FIELDS = [
    "model",
    "kind",
    "device",
    "device_name",
    "threads",
    "batch_size",
    "image_size",
    "channels",
    "steps",
    "images_per_s",
    "pairs_per_s",
    "seconds_per_step",
    "cpu_seconds_per_step",
    "pairs_per_cpu_s",
    "peak_memory_mb",
    "torch",
]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def timed(cpu: list[float]):  # noqa: ANN201
    """A decorator: the step also appends the CPU seconds of each call to ``cpu`` (on a
    shared machine, one thread's CPU time is steadier than the wall time)."""

    def wrap(step):  # noqa: ANN001, ANN202
        @functools.wraps(step)
        def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            tick = time.process_time()
            try:
                return step(*args, **kwargs)
            finally:
                cpu.append(time.process_time() - tick)

        return run

    return wrap


def measure(name: str, config: dict, steps: int, threads: int, channels: int = 1) -> dict:
    """Train ``name`` for a few warm-up steps, then time ``steps`` more (this process)."""
    import torch

    from genaug import runtime
    from genaug.models import GENERATORS, get_generator
    from genaug.models.classifier import make_classifier
    from genaug.optim import Adam

    device = runtime.setup(threads=threads, seed=0, device=config["device"])
    size = config["dataset"]["image_size"]
    n_classes = 20
    x = torch.rand(512, channels, size, size)
    y = torch.arange(512) % n_classes
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    pairs_per_step = 0
    cpu: list[float] = []  # CPU seconds per training step
    if name in GENERATORS or name in DAGAN_PAPER:
        if name in DAGAN_PAPER:
            settings = yaml.safe_load(PAPER_CONFIG.read_text())["generators"]["dagan"]
            if name.endswith("-bf16"):
                settings["hparams"]["precision"] = "bf16"
        else:
            settings = config["generators"][name]
        batch = settings["batch_size"]
        if name.startswith("dagan"):
            pairs_per_step = settings["hparams"]["n_critic"] * batch
        model = get_generator(name.split("-")[0])(
            size, n_classes, image_channels=channels, **settings["hparams"]
        )
        model.training_step = timed(cpu)(model.training_step)

        def fit_steps(n: int) -> None:
            model.fit(
                x,
                y,
                steps=n,
                batch_size=batch,
                lr=settings["lr"],
                rng=runtime.rng(0),
                device=device,
                log=lambda _: None,
                log_every=n,
            )

        if "port" in name:
            train = port_trainer(model, x, settings, device, cpu, name == "dagan-port-layers")
        else:
            train = fit_steps
    else:
        settings = config["classifier"]
        batch = settings["batch_size"]
        model = make_classifier(name, n_classes, size, settings["width"], channels).to(device)
        optimizer = Adam(model.parameters(), lr=settings["lr"])
        xb, yb = x[:batch].to(device), y[:batch].to(device)

        @timed(cpu)
        def step() -> None:
            with runtime.autocast(device):
                loss = torch.nn.functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        def train(n: int) -> None:
            for _ in range(n):
                step()

    train(2)  # warm-up: allocator, kernels
    cpu.clear()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    train(steps)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
        device_name = torch.cuda.get_device_name()
    else:  # what the model, its optimiser and training added to the peak resident memory
        peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline_kib) / 1024
        device_name = cpu_name()
    return {
        "model": name,
        "kind": "generator" if name in GENERATORS or name in DAGAN_PAPER else "classifier",
        "device": device.type,
        "device_name": device_name,
        "threads": threads,
        "batch_size": batch,
        "image_size": size,
        "channels": channels,
        "steps": steps,
        "images_per_s": round(steps * batch / seconds, 1),
        "pairs_per_s": round(steps * pairs_per_step / seconds, 1) if pairs_per_step else "",
        "seconds_per_step": round(seconds / steps, 4),
        "cpu_seconds_per_step": round(statistics.median(cpu), 4),
        "pairs_per_cpu_s": (
            round(pairs_per_step / statistics.median(cpu), 1) if pairs_per_step else ""
        ),
        "peak_memory_mb": round(peak_mb, 1),
        "torch": torch.__version__,
    }


def port_trainer(  # noqa: ANN201
    model,  # noqa: ANN001
    x,  # noqa: ANN001
    settings: dict,
    device,  # noqa: ANN001
    cpu: list[float],
    port_layers: bool = False,
):
    """``train(n)``: ``n`` steps of the port's training loop (``DaganTrainer``: ``n_critic``
    critic iterations, each on its own batch of pairs, then one generator iteration), on
    ``model``'s paper networks, with the port's faults (see the module docstring). With
    ``port_layers`` the networks also run the port's layer code (``_SamePad``: every conv on a
    padded copy; an encoder block re-concatenates all its outputs for each layer), the same
    numbers. Pairs are drawn at random within ``x``'s rows, as the step's cost does not depend
    on which. The CPU seconds of each step are appended to ``cpu``."""
    import torch
    import torch.nn.functional as F

    from genaug import runtime
    from genaug.models.dagan import DenseDown, PaperConv, PaperEncoder, noise_from

    class PortEncoder(PaperEncoder):
        def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            outs = [x, self.first(x)]  # the port: once for the skips ...
            pre, h = x, self.first(x)  # ... and again for the blocks
            for block in self.blocks:
                pre, h = block(pre, h)
                outs.append(h)
            return outs

    class PortConv(PaperConv):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.up(x)
            pad = (0, 1, 0, 1) if self.stride == 2 and x.shape[-1] % 2 == 0 else (1, 1, 1, 1)
            return self.post(self.conv(F.pad(x, pad)))

    class PortDenseDown(DenseDown):
        def forward(self, pre: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            outs = [x, self.convs[0](torch.cat([x, self.pre(pre)], 1))]
            for conv in [*self.convs[1:], self.down]:
                outs.append(conv(torch.cat(outs, 1)))
            return outs[-2], outs[-1]

    g, d = model.net.to(device).train(), model.critic.to(device).train()
    g.encoder.__class__ = PortEncoder
    if port_layers:
        for module in [*g.modules(), *d.modules()]:
            if type(module) is PaperConv:
                module.__class__ = PortConv
            elif type(module) is DenseDown:
                module.__class__ = PortDenseDown
    g_opt = torch.optim.Adam(g.parameters(), lr=settings["lr"], betas=(0.0, 0.9))
    d_opt = torch.optim.Adam(d.parameters(), lr=settings["lr"], betas=(0.0, 0.9))
    hp, batch = settings["hparams"], settings["batch_size"]
    # precision bf16: the forward passes in bf16, the gradient penalty in fp32, as DAGAN's
    autocast = functools.partial(runtime.autocast, device, hp.get("precision") == "bf16")

    def critic_iteration(x1: torch.Tensor, x2: torch.Tensor) -> None:
        with autocast():
            fake = g(x1, torch.randn(len(x1), hp["z_dim"], device=device))  # graph kept
            d_real, d_fake = d(x1, x2).float(), d(x1, fake).float()
        alpha = torch.rand(len(x1), 1, 1, 1, device=device)
        mixed = (alpha * x2.data + (1 - alpha) * fake.data).requires_grad_(True)
        (grad,) = torch.autograd.grad(d(x1, mixed).sum(), mixed, create_graph=True)
        norm = torch.sqrt(grad.flatten(1).pow(2).sum(1) + 1e-12)
        gp = hp["gp_weight"] * ((norm - 1) ** 2).mean()
        d_opt.zero_grad()
        (d_fake.mean() - d_real.mean() + gp).backward()  # reaches the generator too
        d_opt.step()

    def generator_iteration(x1: torch.Tensor) -> None:
        g_opt.zero_grad()
        with autocast():
            fake = g(x1, torch.randn(len(x1), hp["z_dim"], device=device))
            d_fake = d(x1, fake).float()
        (-d_fake.mean()).backward()  # critic not frozen
        g_opt.step()

    @timed(cpu)
    def step() -> None:
        for _ in range(hp["n_critic"]):
            rows = torch.randint(len(x), (2, batch))
            x1, x2 = x[rows[0]].to(device), x[rows[1]].to(device)
            critic_iteration(x1, x2)
        generator_iteration(x1)

    def train(n: int) -> None:
        with noise_from(g, torch.Generator().manual_seed(0)):  # the port's dropout
            for _ in range(n):
                step()

    return train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results.csv"))
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per model")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    parser.add_argument("--only", nargs="+", help="models to measure (default: all)")
    parser.add_argument("--image-size", type=int, help="override dataset.image_size")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=1, help="image channels")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process: one model
    args = parser.parse_args(argv)
    config = yaml.safe_load(Path(args.config).read_text())
    if args.image_size:
        config["dataset"]["image_size"] = args.image_size

    if args.one:
        print(json.dumps(measure(args.one, config, args.steps, args.threads, args.channels)))
        return 0

    names = args.only or [*config["generators"], *CLASSIFIERS]  # dagan-paper/-port: --only
    rows = []
    for name in names:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            name,
            "--config",
            args.config,
            "--steps",
            str(args.steps),
            "--threads",
            str(args.threads),
            "--channels",
            str(args.channels),
            *(["--image-size", str(args.image_size)] if args.image_size else []),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(
            f"{name:10s} {rows[-1]['images_per_s']:>9} images/s "
            f"{rows[-1]['pairs_per_s'] or '-':>8} pairs/s "
            f"{rows[-1]['peak_memory_mb']:>8} MB  ({rows[-1]['device_name']})"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
