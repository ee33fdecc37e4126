"""Rule figure_metric: one metric against the scenario's regime (shots per class or kept
fraction), per method, with 95% CIs."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821  genaug, in --use-conda jobs too
from genaug.workflow import run_script


def main(smk):
    import pandas as pd

    from genaug import plots
    from genaug.errors import GenaugError

    summary = pd.read_csv(smk.input.describe)
    metric = smk.wildcards.metric
    summary = summary[summary["metric"] == metric]
    if summary.empty:
        raise GenaugError(
            f"no statistics on {metric} in {smk.input.describe}: add it to "
            f"stats.metrics.{smk.params.scenario} in the config"
        )
    plots.metric_vs_level(summary, smk.output.figure, metric=metric, scenario=smk.params.scenario)


run_script(main, snakemake)  # noqa: F821
