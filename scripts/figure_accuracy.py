"""Rule figure_accuracy: accuracy against shots per class, per method, with 95% CIs."""

from genaug.workflow import run_script


def main(smk):
    import pandas as pd

    from genaug import plots

    summary = pd.read_csv(smk.input.describe)
    plots.accuracy_vs_shots(summary, smk.output.figure, metric=smk.params.metric)


run_script(main, snakemake)  # noqa: F821
