"""Checks a finished SLURM run of the workflow (tests/slurm/run.sh calls it).

Nothing here lists the workflow's files or rules: the jobs come from the run's own log, the
SLURM side from `scontrol show job` (finished jobs stay there for MinJobAge), so new rules and
scenarios are checked without changes. It checks that

- a dry run afterwards has nothing to do, and the HTML report builds;
- every job's outputs and `log:` files exist;
- every job that is not a local rule ran as a SLURM job that completed, one per job, with its
  SLURM log; local rules (the Snakefile's `localrules:`) ran here and only here;
- a job asks SLURM for a GPU exactly when its rule declares `gpu`, and then for exactly that
  many (`gpu=1` -> one GPU); CPU-only jobs ask for none;
- the rules the profile submits as job arrays (`slurm-array-jobs`) ran as array tasks.

Prints one line per failed check and exits 1, or a one-line summary.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
#: one job in Snakemake's log: "rule NAME:" or "localrule NAME:", then indented "key: value"
JOB_HEADER = re.compile(r"^(rule|localrule) (\w+):$")
GPUS_IN_TRES = re.compile(r"gres[:/]gpu(?::[\w.]+)?[:=](\d+)")


def parse_jobs(log_text: str) -> list[dict]:
    """Every job block of a Snakemake log: kind, rule, and its "key: value" lines."""
    jobs, current = [], None
    for line in log_text.splitlines():
        header = JOB_HEADER.match(line)
        if header:
            current = {"kind": header[1], "rule": header[2]}
            jobs.append(current)
        elif current is not None and line.startswith("    ") and ": " in line:
            key, value = line.strip().split(": ", 1)
            current[key] = value
        else:
            current = None
    return jobs


def gpus_requested(job: dict) -> int:
    """The job's `gpu` resource, 0 when it declares none."""
    resources = dict(
        item.split("=", 1) for item in job.get("resources", "").split(", ") if "=" in item
    )
    return int(resources.get("gpu", 0))


def slurm_jobs() -> list[dict]:
    out = subprocess.run(
        ["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True, check=True
    ).stdout
    jobs = []
    for line in out.splitlines():
        if line.startswith("JobId="):
            jobs.append(dict(re.findall(r"(?:^|\s)([\w/:]+)=(\S*)", line)))
    return jobs


def slurm_rule(job: dict) -> str:
    """The plugin names the rule in the job's comment: rule_<name>[_wildcards_<values>]."""
    comment = job.get("Comment", "")
    return comment.removeprefix("rule_").split("_wildcards_")[0]


def declared_localrules(snakefile: Path) -> set[str]:
    """The names in `localrules:`, on its line or on the indented lines under it."""
    match = re.search(r"^localrules:(.*(?:\n[ \t]+.*)*)", snakefile.read_text(), re.MULTILINE)
    return set(re.findall(r"\w+", match[1])) if match else set()


def split_paths(value: str) -> list[str]:
    return [path for path in value.split(", ") if path]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--run-log", type=Path, required=True, help="the run's stdout+stderr")
    parser.add_argument("--snakefile", type=Path, required=True)
    parser.add_argument("--profile", type=Path, default=REPO / "profiles/slurm/config.yaml")
    parser.add_argument("snakemake_args", nargs="*", help="the run's -s/--configfile/--config")
    args = parser.parse_args()
    workdir, errors = args.workdir, []

    def snakemake(*extra: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "snakemake", *args.snakemake_args, *extra],
            cwd=workdir,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            errors.append(f"snakemake {' '.join(extra)} failed:\n{proc.stdout}{proc.stderr}")
        return proc.stdout + proc.stderr

    if "Nothing to be done" not in snakemake("--dry-run", "all"):
        errors.append("a dry run after the SLURM run still has jobs to run")
    snakemake("--report", "report.html")
    if not (workdir / "report.html").is_file():
        errors.append("the HTML report was not written")

    log_text = args.run_log.read_text()
    if "localrules directive specifies rules that are not present" in log_text:
        errors.append("the Snakefile's localrules: names a rule that does not exist")
    jobs = [job for job in parse_jobs(log_text) if job["rule"] != "all"]
    local = [job for job in jobs if job["kind"] == "localrule"]
    remote = [job for job in jobs if job["kind"] == "rule"]
    if not local or not remote:
        errors.append(f"expected local and SLURM jobs, got {len(local)} and {len(remote)}")

    for job in jobs:
        for path in split_paths(job.get("output", "")) + split_paths(job.get("log", "")):
            if not (workdir / path).exists():
                errors.append(f"{job['rule']} (job {job.get('jobid')}): {path} is missing")

    submitted = slurm_jobs()
    for job in submitted:
        name = f"SLURM job {job['JobId']} ({job.get('Comment')})"
        if job.get("JobState") != "COMPLETED" or job.get("ExitCode") != "0:0":
            errors.append(f"{name}: {job.get('JobState')}, exit code {job.get('ExitCode')}")
        stdout = Path(job.get("StdOut", ""))
        if not stdout.is_file():
            errors.append(f"{name}: its SLURM log {stdout} is missing")
            continue
        inner = [j for j in parse_jobs(stdout.read_text()) if j["kind"] == "rule"]
        if not inner or {j["rule"] for j in inner} != {slurm_rule(job)}:
            errors.append(f"{name}: its log does not show rule {slurm_rule(job)} running")
            continue
        wanted = gpus_requested(inner[0])
        granted = sum(int(n) for n in GPUS_IN_TRES.findall(job.get("TresPerJob", "")))
        if granted != wanted:
            errors.append(f"{name}: the rule declares gpu={wanted}, SLURM allocated {granted}")
        job["gpus"] = granted

    # one SLURM job per non-local job, for every rule; local rules never went to SLURM
    ran_remote = Counter(job["rule"] for job in remote)
    ran_slurm = Counter(slurm_rule(job) for job in submitted)
    if ran_remote != ran_slurm:
        errors.append(f"jobs per rule: Snakemake ran {dict(ran_remote)}, SLURM {dict(ran_slurm)}")
    local_rules = {job["rule"] for job in local}
    if local_rules & set(ran_slurm):
        errors.append(f"local rules went to SLURM: {sorted(local_rules & set(ran_slurm))}")
    declared = declared_localrules(args.snakefile)
    if declared != local_rules:
        errors.append(
            f"localrules: declares {sorted(declared)}, but the local jobs were of "
            f"{sorted(local_rules)}; a rule renamed or added?"
        )
    for job in local:
        if gpus_requested(job):
            errors.append(f"local rule {job['rule']} declares a GPU")

    gpu_jobs = [job for job in submitted if job.get("gpus")]
    if not gpu_jobs or len(gpu_jobs) == len(submitted):
        errors.append(f"expected GPU and CPU-only SLURM jobs, {len(gpu_jobs)} of {len(submitted)}")

    profile = yaml.safe_load(args.profile.read_text())
    for rule in filter(None, re.split(r"[,;\s]+", profile.get("slurm-array-jobs") or "")):
        if ran_slurm[rule] > 1 and not any(
            "ArrayJobId" in job for job in submitted if slurm_rule(job) == rule
        ):
            errors.append(f"the {ran_slurm[rule]} {rule} jobs were not submitted as an array")

    if errors:
        print("\n".join(f"SLURM check failed: {error}" for error in errors))
        return 1
    arrays = {job["ArrayJobId"] for job in submitted if "ArrayJobId" in job}
    print(
        f"SLURM checks passed: {len(submitted)} SLURM jobs ({len(gpu_jobs)} with one GPU each, "
        f"{len(arrays)} array(s)) for {len(ran_slurm)} rules, {len(local)} local jobs of "
        f"{len(local_rules)} rules, nothing left to do, report built"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
