"""Rule figure_training: a generator's loss curves, one line per trained model."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    from pathlib import Path

    import pandas as pd

    from genaug import plots

    logs = {Path(p).parent.name: pd.read_csv(p) for p in smk.input.logs}
    columns = [c for c in next(iter(logs.values())).columns if c not in ("step", "seconds")]
    name = smk.wildcards.generator
    plots.training_curves(logs, smk.output.figure, title=f"{name} training", columns=columns)


run_script(main, snakemake)  # noqa: F821
