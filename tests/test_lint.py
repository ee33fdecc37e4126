"""The workflow follows Snakemake's conventions; the conda envs match pyproject."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import yaml

from conftest import REPO, snakemake


def test_snakemake_lint_is_clean(tmp_path):
    proc = snakemake(tmp_path, "--lint", check=False)
    output = proc.stdout + proc.stderr
    assert "Congratulations, your workflow is in a good condition!" in output, output
    assert "Lints for" not in output


def test_snakefmt_formatted():
    proc = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules/"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_ruff_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].lower()


def test_conda_envs_match_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {_name(r): r for r in project["dependencies"] if _name(r) != "snakemake"}
    conda_name = {"torch": "pytorch"}
    union = set()
    for env in (REPO / "envs").glob("*.yaml"):
        deps = yaml.safe_load(env.read_text())["dependencies"]
        pinned = {_name(d): d for d in deps if isinstance(d, str) and not d.startswith("python")}
        union |= set(pinned)
        for name, requirement in runtime.items():
            conda = conda_name.get(name, name)
            if conda in pinned:  # same lower bound as pyproject
                assert pinned[conda].removeprefix(conda) == requirement.removeprefix(name), env
    assert {conda_name.get(n, n) for n in runtime} <= union
