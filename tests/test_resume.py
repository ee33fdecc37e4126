"""Resumable generator training: a run stopped part-way and resumed from its checkpoint ends
bit for bit where an uninterrupted run does, with the same training log.

In-process tests stop every generator by raising from its log callback; the kill tests at the
end SIGKILL real Snakemake training jobs and let a rerun, or Snakemake's retry, finish them.
"""

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
from test_models import CPU, deterministic_cpu, make, toy_data  # noqa: F401 (autouse fixture)

from conftest import REPO, TINY, snakemake
from genaug.models import GENERATORS
from genaug.models.base import LossMeter, NonFiniteLoss, Resume, train_steps

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

    model.fit(
        x,
        y,
        steps=STEPS,
        batch_size=16,
        lr=1e-3,
        generator=torch.Generator().manual_seed(0),
        device=CPU,
        log=log,
        log_every=LOG_EVERY,
        resume=resume,
    )
    return model, history


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("name", sorted(GENERATORS))
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


def test_no_checkpoint_holds_a_diverged_run(tmp_path):
    """Losses are checked before every checkpoint, not only when logged: a run that went NaN
    between two logs stops at the next checkpoint and keeps the last good one."""
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    meter = LossMeter(lambda entry: None, log_every=100, steps=10)
    resume = Resume(tmp_path / "r.pt", "run-a", 2)
    with pytest.raises(NonFiniteLoss, match="non-finite loss at step 6: loss=nan"):
        for step in train_steps(10, resume, model, [opt], torch.Generator(), meter):
            meter.update(step, loss=torch.tensor(float("nan") if step == 5 else 1.0))
    assert torch.load(tmp_path / "r.pt", weights_only=True)["step"] == 4


# --------------------------------------------------------------------------- killed jobs
#: long enough (seconds) that a job is killed part-way, checkpointed often
KILL_CONFIG = {
    "checkpoint_every": 10,
    "generators": {"dagan": {"steps": 60}, "cvae": {"steps": 150}},
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
