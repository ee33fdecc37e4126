"""Shared test helpers: where the repository is, and running the real Snakemake CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny.yaml"


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
