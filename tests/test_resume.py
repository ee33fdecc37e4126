"""Resumable generator training in the workflow: SIGKILL real Snakemake training jobs and let
a rerun, or Snakemake's retry, finish them bit for bit where an uninterrupted run ends, with
the same training log. (In-process resume tests of every generator are in
tests/models/test_contract.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, TINY, snakemake

# --------------------------------------------------------------------------- killed jobs
#: long enough (seconds) that a job is killed part-way, checkpointed often
KILL_CONFIG = {
    "checkpoint_every": 10,
    # cvae: finetune mode (the default config's), the fine-tuning killed
    "generators": {"dagan": {"steps": 60}, "cvae": {"steps": 150, "finetune_steps": 150}},
}
KILL_AT = 20  # kill once a checkpoint of this step or later exists
TARGETS = {
    "dagan": "results/generators/dagan/source",
    "cvae": "results/generators/cvae/k1-seed0",
}


def workdir(tmp_path: Path, name: str) -> tuple[Path, list[str]]:
    """A fresh working directory and the arguments that run the kill-test experiment there
    (last on the command line: ``--configfile`` takes every argument after it)."""
    work = tmp_path / name
    work.mkdir()
    (work / "kill.yaml").write_text(yaml.safe_dump(KILL_CONFIG))
    return work, ["--cores", "1", "--configfile", str(TINY), str(work / "kill.yaml")]


def start_snakemake(work: Path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work)]
    return subprocess.Popen(
        [*cmd, *args],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, which a test can kill whole
    )


def wait_for_checkpoint(proc: subprocess.Popen, path: Path, step: int, timeout: float = 300):
    """Block until ``path`` holds a checkpoint of ``step`` or later (the job is mid-run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"snakemake ended before a checkpoint of step {step}:\n{proc.stdout.read()}"
            )
        if path.is_file():
            try:
                if torch.load(path, weights_only=True)["step"] >= step:
                    return
            except (OSError, RuntimeError, EOFError):  # replaced while we read it
                pass
        time.sleep(0.02)
    pytest.fail(f"no checkpoint of step {step} after {timeout} s")


def job_processes(root: int, script: str) -> list[int]:
    """The processes below ``root`` whose command line runs ``script``."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(proc.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            try:
                if script in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace"):
                    found.append(child)
            except OSError:
                pass
    return found


def assert_same_outputs(a: Path, b: Path) -> None:
    """Same weights, bit for bit, and the same training log but for the wall clock."""
    state_a = torch.load(a / "model.pt", weights_only=True)["state_dict"]
    state_b = torch.load(b / "model.pt", weights_only=True)["state_dict"]
    assert list(state_a) == list(state_b)
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key
    log_a, log_b = (pd.read_csv(d / "train_log.csv").drop(columns="seconds") for d in (a, b))
    pd.testing.assert_frame_equal(log_a, log_b, check_exact=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """Both generators trained without interruption."""
    work, args = workdir(tmp_path_factory.mktemp("uninterrupted"), "work")
    targets = [f"{TARGETS[name]}/model.pt" for name in ("dagan", "cvae")]
    snakemake(work, *targets, *args)
    assert not any((work / "results" / "resume").rglob("*.pt"))  # removed when done
    return work


@pytest.mark.slow
def test_killed_workflow_resumes_on_rerun(uninterrupted, tmp_path):
    """SIGKILL the whole Snakemake process group (a crashed node, a requeued cluster job)
    while DAGAN trains; a rerun continues from the checkpoint and ends where the
    uninterrupted run did."""
    work, args = workdir(tmp_path, "work")
    target = f"{TARGETS['dagan']}/model.pt"
    checkpoint = work / "results/resume/generators/dagan/source.pt"
    proc = start_snakemake(work, target, *args)
    try:
        wait_for_checkpoint(proc, checkpoint, KILL_AT)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (work / target).exists()
    killed_at = torch.load(checkpoint, weights_only=True)["step"]
    assert KILL_AT <= killed_at < KILL_CONFIG["generators"]["dagan"]["steps"]

    snakemake(work, "--unlock", *args)  # the killed run left its lock
    snakemake(work, target, *args)
    log = (work / "results/logs/train_generator/dagan/source.log").read_text()
    assert f"resuming from step {killed_at} " in log
    extra = torch.load(work / target, weights_only=True)["extra"]
    assert extra["provenance"]["resumed_from_step"] == killed_at
    assert not checkpoint.exists()
    assert_same_outputs(work / TARGETS["dagan"], uninterrupted / TARGETS["dagan"])


@pytest.mark.slow
def test_killed_job_resumes_in_snakemakes_retry(uninterrupted, tmp_path):
    """SIGKILL only the training job of a conditional model (an out-of-memory kill):
    with ``--retries 1`` Snakemake's second attempt resumes from the checkpoint."""
    work, args = workdir(tmp_path, "work")
    target = f"{TARGETS['cvae']}/model.pt"
    checkpoint = work / "results/resume/generators/cvae/k1-seed0.pt"
    proc = start_snakemake(work, target, "--retries", "1", *args)
    try:
        wait_for_checkpoint(proc, checkpoint, KILL_AT)
        jobs = job_processes(proc.pid, "train_generator.py")
        assert jobs, "no training job found"
        for pid in jobs:
            os.kill(pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, out
    assert "Trying to restart job" in out  # the first attempt failed
    log = (work / "results/logs/train_generator/cvae/k1.log").read_text()  # every seed of k1
    assert "resuming from step " in log
    assert not checkpoint.exists()
    assert_same_outputs(work / TARGETS["cvae"], uninterrupted / TARGETS["cvae"])
