"""Rule figure_quality_gain: each quality metric against the classifier's gain over none."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    import logging

    import pandas as pd

    from genaug import plots
    from genaug.report import QUALITY_METRICS, QUALITY_SHOWN

    by, metric = smk.params.by, smk.params.metric
    points = plots.quality_gain_points(
        pd.read_csv(smk.input.quality), pd.read_csv(smk.input.comparisons), metric, by
    )
    rhos = plots.quality_vs_gain(
        points,
        smk.output.figure,
        {m: QUALITY_METRICS[m][0] for m in QUALITY_SHOWN},
        gain_label=metric.replace("_", " "),
        by=by,
    )
    logging.info("Spearman rank correlations with the gain: %s", rhos)


run_script(main, snakemake)  # noqa: F821
