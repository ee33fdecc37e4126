"""Shared test helpers: where the repository is, and running the real Snakemake CLI."""

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
    name: yaml.safe_load((REPO / "config" / "config.yaml").read_text())["augment"][name]
    for name in ("classical", "erasing")
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
