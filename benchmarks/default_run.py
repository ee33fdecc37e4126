"""The default run side by side: this checkout's code against an older commit's, on one config.

Both runs use the same config: by default the old commit's ``config/config.yaml``, given as
``--configfile`` so that keys the old commit did not have take this checkout's defaults. They
run one after the other on this machine (``snakemake --cores N all`` into a fresh temporary
output folder each), the old code from a ``git worktree`` of the commit with its own ``src``
first on ``PYTHONPATH``. Setup (the virtual environment) is not counted. Appends one row per
run to a CSV:

    python benchmarks/default_run.py --baseline efc0454 --out benchmarks/default-run-cpu.csv
    python benchmarks/default_run.py --baseline efc0454 --only new   # this checkout alone
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from throughput import cpu_name  # same folder

REPO = Path(__file__).resolve().parents[1]
FIELDS = ["code", "commit", "config", "wall_s", "jobs", "cores", "device_name", "date"]


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def run(workflow: Path, configfile: Path, cores: int, scratch: Path) -> tuple[float, int]:
    """Wall seconds of ``snakemake all`` of ``workflow`` into ``scratch``, and its job count."""
    env = {**os.environ, "PYTHONPATH": f"{workflow / 'src'}"}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(workflow / "Snakefile"), "-d",
           str(scratch), "--cores", str(cores), "all", "--configfile", str(configfile),
           "--config", f"outdir={scratch / 'out'}"]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"the run of {workflow} failed:\n{proc.stderr[-4000:]}")
    jobs = sum(1 for line in proc.stderr.splitlines() if line.startswith("Finished jobid"))
    return wall, jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="efc0454", help="the older commit")
    parser.add_argument("--config", help="config file (default: the baseline's config.yaml)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--only", choices=["old", "new"], help="run one side only")
    parser.add_argument("--out", default="benchmarks/default-run-cpu.csv")
    args = parser.parse_args()
    head = git("rev-parse", "--short", "HEAD")
    base = git("rev-parse", "--short", args.baseline)
    with tempfile.TemporaryDirectory(prefix="genaug-default-run-") as tmp:
        tmp = Path(tmp)
        configfile = tmp / "config.yaml"
        if args.config:
            configfile.write_text(Path(args.config).read_text())
        else:
            configfile.write_text(git("show", f"{base}:config/config.yaml") + "\n")
        old = tmp / "old-code"
        sides = []
        if args.only != "new":
            git("worktree", "add", "--detach", str(old), base)
            sides.append(("old", base, old))
        if args.only != "old":
            dirty = " (uncommitted changes)" if git("status", "--porcelain", "-uno") else ""
            sides.append(("new", head + dirty, REPO))
        rows = []
        try:
            for code, commit, workflow in sides:
                scratch = tmp / f"run-{code}"
                scratch.mkdir()
                wall, jobs = run(workflow, configfile, args.cores, scratch)
                print(f"{code} code ({commit}): {wall / 60:.1f} min wall, {jobs} jobs", flush=True)
                rows.append(
                    {
                        "code": code,
                        "commit": commit,
                        "config": args.config or f"{base}:config/config.yaml",
                        "wall_s": round(wall, 1),
                        "jobs": jobs,
                        "cores": args.cores,
                        "device_name": cpu_name(),
                        "date": datetime.date.today().isoformat(),
                    }
                )
        finally:
            if old.exists():
                git("worktree", "remove", "--force", str(old))
    out = Path(args.out)
    new_file = not out.exists()
    with out.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        if new_file:
            writer.writeheader()
        writer.writerows(rows)
    if len(rows) == 2:
        print(f"speed-up: {rows[0]['wall_s'] / rows[1]['wall_s']:.2f}x")


if __name__ == "__main__":
    main()
