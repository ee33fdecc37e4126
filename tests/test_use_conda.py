"""`--use-conda` jobs import genaug from the workflow itself: the conda envs (envs/*.yaml) hold
only its dependencies, so each rule script puts the workflow's src/ on sys.path.

conda cannot be installed here (it is on neither PyPI nor Debian, and conda-forge is out of
reach), so these run the rule scripts as a conda job would, in a Python without genaug:
no PYTHONPATH, no editable install.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

SCRIPTS = sorted((REPO / "scripts").glob("*.py"))


def bare_python(folder: Path, with_dependencies: bool) -> Path:
    """A venv without genaug; ``with_dependencies``: this Python's site-packages as plain
    path entries, so their packages import but their .pth files (the editable genaug) do not
    run, as a conda env built from envs/*.yaml."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    if with_dependencies:
        purelib = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        site = [p for p in sys.path if p.endswith("site-packages")]
        Path(purelib, "host.pth").write_text("\n".join(site) + "\n")
    found = run(python, "import genaug")
    if found.returncode == 0:
        pytest.skip("genaug is installed as a package (not editable): no Python without it")
    return python


def run(python: Path, code: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(python), *(["-c", code] if code else []), *args],
        capture_output=True, text=True, env=env, **kwargs,
    )  # fmt: skip


@pytest.fixture(scope="module")
def no_genaug(tmp_path_factory) -> Path:
    return bare_python(tmp_path_factory.mktemp("venv") / "bare", with_dependencies=False)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_rule_script_finds_genaug_by_itself(script, no_genaug):
    """Each script's lines before its first genaug import (with the `snakemake` object a job
    has: its `scriptdir`) make this workflow's genaug importable in a Python without it."""
    lines = script.read_text().splitlines()
    head = lines[: next(i for i, line in enumerate(lines) if line.startswith("from genaug"))]
    stand_in = f"import types\nsnakemake = types.SimpleNamespace(scriptdir={str(script.parent)!r})"
    code = "\n".join([stand_in, *head, "import genaug", "print(genaug.__file__)"])
    proc = run(no_genaug, code)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).resolve() == REPO / "src" / "genaug" / "__init__.py"


def test_a_rule_runs_without_genaug_installed(tmp_path):
    """Snakemake and a real job (prepare) in a Python that has the dependencies but not
    genaug, and no PYTHONPATH: what `--use-conda` gives a job."""
    python = bare_python(tmp_path / "env", with_dependencies=True)
    args = ["-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path / "run")]
    target = "results/data/prepared.parquet"
    proc = run(python, "", *args, "--cores", "1", target, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "run" / target).stat().st_size > 0
