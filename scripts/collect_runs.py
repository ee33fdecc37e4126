"""Rule collect_runs: every classifier run's metrics as one CSV."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    from genaug.report import collect_runs

    collect_runs(smk.input.metrics).to_csv(smk.output.runs, index=False)


run_script(main, snakemake)  # noqa: F821
