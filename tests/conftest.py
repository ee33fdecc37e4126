"""Shared test helpers: where the repository is, running the real Snakemake CLI, and a toy
classifier run's inputs."""

from __future__ import annotations

import contextlib
import http.server
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny.yaml"
#: the transform baselines' settings, as the default config has them
TRANSFORM_SETTINGS = {
    name: block
    for name, block in yaml.safe_load((REPO / "config" / "config.yaml").read_text())[
        "augment"
    ].items()
    if isinstance(block, dict)
}


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900):
    """Run the workflow's Snakefile in ``workdir`` with the CLI, as a user would."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    proc = subprocess.run(
        [*cmd, *args], capture_output=True, text=True, timeout=timeout, cwd=workdir
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def train_into(out: Path, name: str, settings: dict, table, split, seed: int = 1, **kwargs) -> dict:
    """``genaug.generation.train_generator`` on the CPU at 28 x 28 into ``out``/model.pt,
    log.csv and samples.png; returns the checkpoint."""
    import torch

    from genaug.generation import train_generator

    out.mkdir(exist_ok=True)
    train_generator(
        name,
        settings,
        table,
        split,
        seed=seed,
        image_size=28,
        device="cpu",
        threads=1,
        out_model=out / "model.pt",
        out_log=out / "log.csv",
        out_samples=out / "samples.png",
        **kwargs,
    )
    return torch.load(out / "model.pt", weights_only=True)


@pytest.fixture(scope="session")
def embedded() -> pd.DataFrame:
    from genaug.io import read_parquet

    return read_parquet(REPO / "data" / "omniglot_small.parquet")


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tests compare numbers, not speed: one thread is reproducible and avoids two test
    processes fighting over the 2 cores of a CI machine."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def deterministic_cpu():
    """One thread and deterministic kernels, as ``genaug.runtime.setup`` does for a job."""
    import torch

    threads = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(was_deterministic)


def toy_data(n_per_class: int = 16, size: int = 16, seed: int = 0):
    """Three easily told apart classes of grayscale images: a horizontal bar, a vertical bar, a
    diagonal, each at a random offset, on a faintly noisy black background."""
    import torch

    g = torch.Generator().manual_seed(seed)
    images, labels = [], []
    for c in range(3):
        for _ in range(n_per_class):
            im = torch.zeros(size, size)
            o = int(torch.randint(2, size - 4, (1,), generator=g))
            if c == 0:
                im[o : o + 2, 2:-2] = 1
            elif c == 1:
                im[2:-2, o : o + 2] = 1
            else:
                for i in range(2, size - 2):
                    im[i, (i + o) % size] = im[i, (i + o + 1) % size] = 1
            images.append(im)
            labels.append(c)
    x = torch.stack(images)[:, None]
    x = (x + 0.05 * torch.rand(x.shape, generator=g)).clamp(0, 1)
    return x, torch.tensor(labels)


@contextlib.contextmanager
def serve_folder(folder: Path):
    """An HTTP server on 127.0.0.1 serving ``folder``; yields ``(base url, request paths)``."""
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def toy_inputs(method="", *, keep=None, synthetic=None, mix="union"):
    """A run's :class:`genaug.classify.Inputs` on ten constant images (image i is i / 10): class
    0 has 2 training images, classes 1 and 2 have 4 each; the sources are class 0."""
    import numpy as np
    import torch

    from genaug import classify
    from genaug.data.tables import ClassIndex

    y = torch.tensor([0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    x = torch.arange(len(y), dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, 28, 28) / 10
    return classify.Inputs(
        method=method,
        train=(x, y),
        classes=ClassIndex([0, 1, 2]),
        sources=(x[:2], y[:2]),
        source_rows=torch.arange(2),
        copies=3,
        keep=keep,
        minority=0,
        train_ids=np.array([f"img{i}" for i in range(len(y))]),
        synthetic=synthetic,
        augment=TRANSFORM_SETTINGS,
        seed=0,
        mix=mix,
    )
